package shape

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Keep the main goroutine on the process's first thread (m0): the runtime
// never terminates m0, so a throwaway namespace thread (nsthread.Unshare)
// must never be m0. nslab's main does the same.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

const (
	addrA = "198.18.0.1"
	addrB = "198.18.0.2"
	devA  = "veth-a"
	devB  = "veth-b"
)

// pair is two throwaway namespaces joined by a veth: devA (addrA) in A and
// devB (addrB) in B.
type pair struct {
	A, B   vnetns.NsHandle
	hA, hB *netlink.Handle
}

func newPair(t *testing.T) pair {
	t.Helper()
	p := pair{A: nslabtest.NewNS(t), B: nslabtest.NewNS(t)}
	var err error
	if p.hA, err = nl.NewHandle(p.A); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.hA.Close)
	if p.hB, err = nl.NewHandle(p.B); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.hB.Close)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: devA}, PeerName: devB, PeerNamespace: netlink.NsFd(int(p.B))}
	if err := p.hA.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %q: %v", devA, err)
	}
	// The veth lives inside the throwaway namespaces and goes with them.
	for _, s := range []struct {
		h    *netlink.Handle
		dev  string
		addr string
	}{{p.hA, devA, addrA}, {p.hB, devB, addrB}} {
		for _, name := range []string{"lo", s.dev} {
			l, err := s.h.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if name == s.dev {
				a, err := netlink.ParseAddr(s.addr + "/24")
				if err != nil {
					t.Fatal(err)
				}
				if err := s.h.AddrAdd(l, a); err != nil {
					t.Fatalf("add %s to %q: %v", s.addr, name, err)
				}
			}
			if err := s.h.LinkSetUp(l); err != nil {
				t.Fatalf("set %q up: %v", name, err)
			}
		}
	}
	// Permanent neighbour entries: the kernel's neighbour tables are shared
	// by all namespaces, and when other programs fill them ("neighbor table
	// overflow") ARP cannot resolve the peer. Permanent entries are exempt.
	lA, err := p.hA.LinkByName(devA)
	if err != nil {
		t.Fatal(err)
	}
	lB, err := p.hB.LinkByName(devB)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		h      *netlink.Handle
		on, to netlink.Link
		ip     string
	}{{p.hA, lA, lB, addrB}, {p.hB, lB, lA, addrA}} {
		err := n.h.NeighSet(&netlink.Neigh{LinkIndex: n.on.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP(n.ip), HardwareAddr: n.to.Attrs().HardwareAddr})
		if err != nil {
			t.Fatalf("add neighbour %s on %q: %v", n.ip, n.on.Attrs().Name, err)
		}
	}
	return p
}

// qdiscs describes the qdiscs of dev for comparisons.
func qdiscs(t *testing.T, h *netlink.Handle, dev string) []string {
	t.Helper()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := nl.QdiscList(h, l)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, q := range qs {
		a := *q.Attrs()
		a.Statistics, a.Refcnt = nil, 0
		s := fmt.Sprintf("%s %s parent %s", q.Type(), netlink.HandleStr(a.Handle), netlink.HandleStr(a.Parent))
		switch q := q.(type) {
		case *netlink.Tbf:
			s += fmt.Sprintf(" rate %d buffer %d limit %d", q.Rate, q.Buffer, q.Limit)
		case *netlink.Netem:
			c := *q
			c.QdiscAttrs = netlink.QdiscAttrs{}
			s += fmt.Sprintf(" %+v", c)
		}
		out = append(out, s)
	}
	return out
}

// sendBuffer is the sender's SO_SNDBUF in throughput: twice that (the
// kernel doubles it), 1 MiB, is below the queue of TestRate's tbf
// (1000 packets = 1.5 MB), and above what the shaper sends in 300 ms at 20
// Mbit/s, so the queue stays full even when a loaded machine leaves the
// sender without CPU for a while.
const sendBuffer = 512 << 10

// throughput sends TCP data from A to B's addrB for warm+dur and returns the
// payload rate in bit/s measured by the receiver over dur, after warm.
func throughput(t *testing.T, p pair, warm, dur time.Duration) float64 {
	t.Helper()
	var ln net.Listener
	if err := nsthread.Do(p.B, func() (err error) {
		ln, err = net.Listen("tcp4", addrB+":0")
		return err
	}); err != nil {
		t.Fatalf("listen in B: %v", err)
	}
	defer ln.Close()
	var c net.Conn
	if err := nsthread.Do(p.A, func() (err error) {
		// An IP literal: no resolver, no parallel dials, so the socket is
		// made on this thread, in A.
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatalf("dial from A: %v\n%s", err, diag(p))
	}
	defer c.Close()
	// A send buffer smaller than tbf's queue keeps TCP from overflowing
	// it: no losses and no retransmission timeouts, so the measurement sees
	// the shaper and not TCP's recovery from drops (an RTO costs 200 ms of
	// a 1.5 s window). The kernel doubles the value.
	if err := c.(*net.TCPConn).SetWriteBuffer(sendBuffer); err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept in B: %v", err)
	}
	defer srv.Close()

	limit := time.Now().Add(warm + dur + 10*time.Second)
	c.SetWriteDeadline(limit)
	srv.SetReadDeadline(limit)
	sent := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	var total, startBytes int64
	var t0, start time.Time
	for {
		n, err := srv.Read(buf)
		now := time.Now()
		if err != nil {
			t.Fatalf("receive in B: %v", err)
		}
		total += int64(n)
		switch {
		case t0.IsZero():
			t0 = now
		case start.IsZero() && now.Sub(t0) >= warm:
			start, startBytes = now, total
		case !start.IsZero() && now.Sub(start) >= dur:
			c.Close() // stops the sender
			<-sent
			return float64(total-startBytes) * 8 / now.Sub(start).Seconds()
		}
	}
}

func TestRate(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	caps := Detect(nil)
	p := newPair(t)
	const rate = 20e6
	i := Impairment{Rate: rate, Limit: 1000} // the queue must hold sendBuffer: see there
	if err := Apply(p.hA, devA, i, caps); err != nil {
		t.Fatal(err)
	}
	got, err := Get(p.hA, devA)
	if err != nil || got != i {
		t.Fatalf("Get = %v, %v; want %v", got, err, i)
	}
	want := []string{fmt.Sprintf("tbf 6e74:0 parent root rate %d buffer %d limit %d",
		uint64(rate/8), tbfTicks(rate/8, 25000), 1000*1514)}
	if q := qdiscs(t, p.hA, devA); !reflect.DeepEqual(q, want) {
		t.Fatalf("qdiscs of %q = %q, want %q", devA, q, want)
	}

	shaped := throughput(t, p, 500*time.Millisecond, 1500*time.Millisecond)
	// tbf counts whole frames: 1514 bytes on the wire carry 1448 bytes of
	// TCP payload (timestamps on), so the payload rate is ~4.4% below.
	t.Logf("%s: measured %.2f Mbit/s of TCP payload (%.2f Mbit/s of frames)", i, shaped/1e6, shaped*1514/1448/1e6)
	if shaped < rate*0.9 || shaped > rate*1.1 {
		t.Errorf("rate %s: measured %.2f Mbit/s, not within 10%% of %.0f Mbit/s", i, shaped/1e6, rate/1e6)
	}

	if err := Clear(p.hA, devA); err != nil {
		t.Fatal(err)
	}
	if got, err := Get(p.hA, devA); err != nil || !got.IsZero() {
		t.Fatalf("after Clear: Get = %v, %v; want none", got, err)
	}
	if q := qdiscs(t, p.hA, devA); len(q) != 1 || !strings.HasPrefix(q[0], "noqueue none parent root") {
		t.Fatalf("after Clear: qdiscs of %q = %q, want the veth default noqueue", devA, q)
	}
	free := throughput(t, p, 100*time.Millisecond, 500*time.Millisecond)
	t.Logf("after Clear: measured %.0f Mbit/s", free/1e6)
	if free < 3*shaped {
		t.Errorf("after Clear: measured %.2f Mbit/s, not more than 3 times the shaped %.2f Mbit/s", free/1e6, shaped/1e6)
	}
}

func TestApplyChanges(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	caps := Detect(nil)
	p := newPair(t)
	for _, i := range []Impairment{
		{Rate: 20e6},
		{Rate: 20e6}, // again: nothing changes
		{Rate: 10e6, Burst: 32 << 10, Limit: 100},
		{Rate: 1e9, Burst: 1 << 20},
		{Rate: 64e3},
		{},
		{Rate: 20e6, Limit: 50},
	} {
		if err := Apply(p.hA, devA, i, caps); err != nil {
			t.Fatalf("Apply(%s): %v", i, err)
		}
		got, err := Get(p.hA, devA)
		if err != nil || got != i {
			t.Fatalf("after Apply(%s): Get = %v, %v", i, got, err)
		}
		q := qdiscs(t, p.hA, devA)
		if len(q) != 1 {
			t.Fatalf("after Apply(%s): qdiscs %q, want one", i, q)
		}
		if !i.IsZero() && !strings.HasPrefix(q[0], "tbf 6e74:0 parent root ") {
			t.Fatalf("after Apply(%s): qdiscs %q, want nslab's tbf", i, q)
		}
	}
	// The defaults, as the kernel holds them: burst 25000 bytes (10 ms),
	// limit burst + 50 ms at the rate.
	if err := Apply(p.hA, devA, Impairment{Rate: 20e6}, caps); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("tbf 6e74:0 parent root rate 2500000 buffer %d limit %d", tbfTicks(2500000, 25000), 25000+125000)}
	if q := qdiscs(t, p.hA, devA); !reflect.DeepEqual(q, want) {
		t.Errorf("qdiscs of %q = %q, want %q", devA, q, want)
	}
	if err := Clear(p.hA, devA); err != nil {
		t.Fatal(err)
	}
	if err := Clear(p.hA, devA); err != nil {
		t.Fatalf("second Clear: %v", err)
	}
	// A burst smaller than one frame would drop every full-size packet.
	if err := Apply(p.hA, devA, Impairment{Rate: 1e6, Burst: 1000}, caps); err == nil || !strings.Contains(err.Error(), "smaller than a full frame") {
		t.Errorf("Apply(burst 1000b) = %v, want a burst error", err)
	}
	if err := Apply(p.hA, "nosuchdev", Impairment{Rate: 1e6}, caps); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Apply(nosuchdev) = %v, want os.ErrNotExist", err)
	}
	if q := qdiscs(t, p.hA, devA); len(q) != 1 || !strings.HasPrefix(q[0], "noqueue") {
		t.Errorf("after failed Applys: qdiscs %q, want noqueue", q)
	}
}

// TestDetect cross-checks Detect against tc(8) adding the same qdiscs in a
// named namespace.
func TestDetect(t *testing.T) {
	nslabtest.RequireRoot(t)
	caps, err := Probe()
	if err != nil {
		t.Fatal(err)
	}
	if again := Detect(nil); again != caps {
		t.Errorf("Detect = %+v, Probe = %+v", again, caps)
	}
	t.Logf("kernel qdiscs: %+v", caps)
	tc, err := exec.LookPath("tc")
	if err != nil {
		t.Fatalf("tc (iproute2) is needed to cross-check Detect: %v", err)
	}
	name, _ := nslabtest.NewNamedNS(t)
	for _, k := range []struct {
		kind string
		args []string
		got  bool
	}{
		{"tbf", []string{"tbf", "rate", "1mbit", "burst", "10kb", "latency", "50ms"}, caps.TBF},
		{"htb", []string{"htb", "default", "1"}, caps.HTB},
		{"netem", []string{"netem", "delay", "1ms"}, caps.Netem},
	} {
		out, err := exec.Command(tc, append([]string{"-n", name, "qdisc", "add", "dev", "lo", "root", "handle", "1:"}, k.args...)...).CombinedOutput()
		has := err == nil
		if has {
			if out, err := exec.Command(tc, "-n", name, "qdisc", "del", "dev", "lo", "root").CombinedOutput(); err != nil {
				t.Fatalf("tc qdisc del: %v: %s", err, out)
			}
		} else if !strings.Contains(string(out), "Specified qdisc kind is unknown") {
			t.Fatalf("tc qdisc add %s: %v: %s", k.kind, err, out)
		}
		if has != k.got {
			t.Errorf("Detect says %s = %v; tc says %v (%s)", k.kind, k.got, has, strings.TrimSpace(string(out)))
		}
	}
	if !caps.TBF || !caps.HTB {
		t.Errorf("Detect = %+v: rate limiting needs tbf", caps)
	}
}

// TestUnsupported checks that a request needing a missing qdisc fails with
// one line naming it, and changes nothing.
func TestUnsupported(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	caps := Detect(nil)
	if caps.Netem {
		t.Skip("this kernel has netem: the missing-netem path cannot be exercised here")
	}
	p := newPair(t)
	before := qdiscs(t, p.hA, devA)
	i := Impairment{Rate: 10e6, Delay: 20 * time.Millisecond}
	err := Apply(p.hA, devA, i, caps)
	want := `shape "veth-a": delay 20ms needs the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM, module sch_netem)`
	if !errors.Is(err, errors.ErrUnsupported) || err.Error() != want {
		t.Fatalf("Apply(%s) = %v, want %q wrapping errors.ErrUnsupported", i, err, want)
	}
	if after := qdiscs(t, p.hA, devA); !reflect.DeepEqual(before, after) {
		t.Errorf("qdiscs changed by a refused Apply: %q, then %q", before, after)
	}

	shaped := Impairment{Rate: 20e6, Burst: 32 << 10}
	if err := Apply(p.hA, devA, shaped, caps); err != nil {
		t.Fatal(err)
	}
	before = qdiscs(t, p.hA, devA)
	if err := Apply(p.hA, devA, Impairment{Rate: 5e6, Loss: 1}, caps); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Apply(rate 5mbit loss 1%%) = %v, want errors.ErrUnsupported", err)
	}
	if after := qdiscs(t, p.hA, devA); !reflect.DeepEqual(before, after) {
		t.Errorf("qdiscs changed by a refused Apply: %q, then %q", before, after)
	}
	if got, err := Get(p.hA, devA); err != nil || got != shaped {
		t.Errorf("Get = %v, %v; want %v", got, err, shaped)
	}
}

// TestForeign checks that a root qdisc nslab did not set is left alone.
func TestForeign(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	caps := Detect(nil)
	if !caps.HTB {
		t.Skip("needs htb for a foreign qdisc: this kernel lacks it (CONFIG_NET_SCH_HTB)")
	}
	p := newPair(t)
	l, err := p.hA.LinkByName(devA)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.hA.QdiscAdd(netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)})); err != nil {
		t.Fatal(err)
	}
	before := qdiscs(t, p.hA, devA)
	if err := Apply(p.hA, devA, Impairment{Rate: 1e6}, caps); !errors.Is(err, ErrForeign) {
		t.Errorf("Apply = %v, want ErrForeign", err)
	}
	if err := Clear(p.hA, devA); !errors.Is(err, ErrForeign) {
		t.Errorf("Clear = %v, want ErrForeign", err)
	}
	if _, err := Get(p.hA, devA); !errors.Is(err, ErrForeign) {
		t.Errorf("Get = %v, want ErrForeign", err)
	}
	if after := qdiscs(t, p.hA, devA); !reflect.DeepEqual(before, after) {
		t.Errorf("foreign qdisc touched: %q, then %q", before, after)
	}
}

// TestTC cross-checks what Apply set with `tc -j qdisc show` in a named
// namespace.
func TestTC(t *testing.T) {
	nslabtest.RequireRoot(t)
	tc, err := exec.LookPath("tc")
	if err != nil {
		t.Fatalf("tc (iproute2) is needed for this cross-check: %v", err)
	}
	name, ns := nslabtest.NewNamedNS(t)
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	caps := Detect(h)
	i := Impairment{Rate: 20e6}
	if err := Apply(h, "lo", i, caps); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tc, "-j", "-n", name, "qdisc", "show", "dev", "lo").Output()
	if err != nil {
		t.Fatalf("tc qdisc show: %v", err)
	}
	var got []struct {
		Kind    string
		Handle  string
		Root    bool
		Options struct {
			Rate  uint64
			Burst uint64
			Lat   float64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("tc -j output %s: %v", out, err)
	}
	burst := uint64(DefaultBurst(i.Rate, 65536)) // lo's MTU
	if len(got) != 1 || got[0].Kind != "tbf" || got[0].Handle != "6e74:" || !got[0].Root ||
		got[0].Options.Rate != i.Rate/8 || got[0].Options.Burst < burst-1 || got[0].Options.Burst > burst+1 ||
		got[0].Options.Lat < 49000 || got[0].Options.Lat > 51000 {
		t.Errorf("tc -j qdisc show dev lo = %s; want one root tbf 6e74: rate %d bytes/s burst %d lat 50ms", out, i.Rate/8, burst)
	}
	if err := Clear(h, "lo"); err != nil {
		t.Fatal(err)
	}
	// lo's default qdisc (noqueue) is not shown.
	out, err = exec.Command(tc, "-n", name, "qdisc", "show", "dev", "lo").Output()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("after Clear: tc qdisc show dev lo = %q, %v; want nothing", out, err)
	}
}

// TestNetem measures delay and loss through netem where the kernel has it.
func TestNetem(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	caps := Detect(nil)
	if !caps.Netem {
		t.Skip("netem features (delay, jitter, loss, duplicate, corrupt, reorder) not tested: this kernel lacks the netem qdisc (CONFIG_NET_SCH_NETEM, module sch_netem)")
	}
	p := newPair(t)

	// Read back every field, with and without a rate under netem, and
	// switch between the shapes.
	for _, i := range []Impairment{
		{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Duplicate: 0.5, Corrupt: 0.1, Reorder: 25, Limit: 500},
		{Rate: 10e6, Delay: 20 * time.Millisecond, Loss: 1},
		{Rate: 10e6, Burst: 32 << 10, Delay: 20 * time.Millisecond},
		{Rate: 10e6},
		{Delay: 10 * time.Millisecond},
		{Loss: 2},
		{},
	} {
		if err := Apply(p.hA, devA, i, caps); err != nil {
			t.Fatalf("Apply(%s): %v", i, err)
		}
		if got, err := Get(p.hA, devA); err != nil || got != i {
			t.Fatalf("after Apply(%s): Get = %v, %v (qdiscs %q)", i, got, err, qdiscs(t, p.hA, devA))
		}
	}

	// Delay: A's egress is delayed, B's is not, so a round trip takes
	// about the delay.
	const delay = 50 * time.Millisecond
	if err := Apply(p.hA, devA, Impairment{Delay: delay}, caps); err != nil {
		t.Fatal(err)
	}
	rtt := tcpRTT(t, p, 10)
	t.Logf("delay %s: TCP round trip %s (minimum of 10)", delay, rtt)
	if rtt < delay || rtt > delay+30*time.Millisecond {
		t.Errorf("delay %s: TCP round trip %s, want between %s and %s", delay, rtt, delay, delay+30*time.Millisecond)
	}

	// Loss: count UDP datagrams that arrive.
	const loss = 30.0
	if err := Apply(p.hA, devA, Impairment{Loss: loss}, caps); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	got := udpDelivered(t, p, n)
	lost := 100 * float64(n-got) / n
	t.Logf("loss %v%%: %d of %d datagrams lost (%.1f%%)", loss, n-got, n, lost)
	if lost < loss-6 || lost > loss+6 {
		t.Errorf("loss %v%%: lost %.1f%% of %d datagrams", loss, lost, n)
	}
}

// tcpRTT returns the smallest of n one-byte request/response round trips from
// A to an echo server in B.
func tcpRTT(t *testing.T, p pair, n int) time.Duration {
	t.Helper()
	var ln net.Listener
	if err := nsthread.Do(p.B, func() (err error) { ln, err = net.Listen("tcp4", addrB+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	if err := nsthread.Do(p.A, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	best := time.Duration(1<<63 - 1)
	b := []byte{1}
	for range n {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	return best
}

// udpDelivered sends n numbered datagrams from A to an echo server in B, one
// at a time, and returns how many were echoed (B's egress is not impaired). A
// datagram whose echo has not come back within 20 ms, a hundred times the
// round trip of an idle veth, counts as lost.
func udpDelivered(t *testing.T, p pair, n int) int {
	t.Helper()
	var rx, tx net.PacketConn
	if err := nsthread.Do(p.B, func() (err error) { rx, err = net.ListenPacket("udp4", addrB+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := nsthread.Do(p.A, func() (err error) { tx, err = net.ListenPacket("udp4", addrA+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			m, from, err := rx.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			rx.WriteTo(buf[:m], from)
		}
	}()
	got := 0
	buf := make([]byte, 64)
	for k := range n {
		seq := binary.BigEndian.AppendUint32(nil, uint32(k))
		if _, err := tx.WriteTo(seq, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		tx.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			m, _, err := tx.ReadFrom(buf)
			if err != nil {
				break // timed out: lost
			}
			if m == 4 && binary.BigEndian.Uint32(buf) == uint32(k) {
				got++
				break
			}
		}
	}
	return got
}

// diag describes the links, qdiscs, addresses and neighbours of p, for a
// failure message.
func diag(p pair) string {
	var b strings.Builder
	for _, h := range []*netlink.Handle{p.hA, p.hB} {
		ls, _ := nl.LinkList(h)
		for _, l := range ls {
			fmt.Fprintf(&b, "link %s %s flags %v\n", l.Attrs().Name, l.Attrs().OperState, l.Attrs().Flags)
			qs, _ := nl.QdiscList(h, l)
			for _, q := range qs {
				fmt.Fprintf(&b, "  qdisc %s %s\n", q.Type(), netlink.HandleStr(q.Attrs().Handle))
			}
			as, _ := nl.AddrList(h, l, 0)
			for _, a := range as {
				fmt.Fprintf(&b, "  addr %s\n", a.IPNet)
			}
		}
		ns, _ := h.NeighList(0, netlink.FAMILY_V4)
		for _, n := range ns {
			fmt.Fprintf(&b, "  neigh %s %s %d\n", n.IP, n.HardwareAddr, n.State)
		}
	}
	return b.String()
}

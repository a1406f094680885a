package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Keep the main goroutine on the first thread, which the runtime never
// terminates (see internal/nsthread).
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// Probes that must time out wait short; probes that expect an answer (or a
// refusal) get long, which they use only on a very loaded machine: answers
// on a veth take well under 1 ms.
const (
	short = 200 * time.Millisecond
	long  = 3 * time.Second
	port  = 7777
)

// pair is two throwaway namespaces joined by a veth: a (the prober) has
// 198.18.0.1 and fd00::1, b (the target) has .2 and ::2 plus a second
// address of each family (.3, ::3).
type pair struct {
	a, b         vnetns.NsHandle
	b4, b6       netip.Addr
	b4two, b6two netip.Addr
	noRoute4     netip.Addr
	noRoute6     netip.Addr
	a4, a6       netip.Addr
	vethA, vethB string
	hA, hB       *netlink.Handle // netlink in a and b
	linkA, linkB netlink.Link    // the veth ends
	ifindexA     int
}

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{
		a: nslabtest.NewNS(t), b: nslabtest.NewNS(t),
		a4: netip.MustParseAddr("198.18.0.1"), b4: netip.MustParseAddr("198.18.0.2"), b4two: netip.MustParseAddr("198.18.0.3"),
		a6: netip.MustParseAddr("fd00::1"), b6: netip.MustParseAddr("fd00::2"), b6two: netip.MustParseAddr("fd00::3"),
		noRoute4: netip.MustParseAddr("198.19.255.1"), noRoute6: netip.MustParseAddr("fd00:ffff::1"),
		vethA: "eth0", vethB: "eth0",
	}
	ha := handle(t, p.a)
	hb := handle(t, p.b)
	p.hA, p.hB = ha, hb
	// Both ends are born in their namespaces, which the test discards.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.vethA}, PeerName: p.vethB, PeerNamespace: netlink.NsFd(int(p.b))}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	setup := func(h *netlink.Handle, name string, addrs ...string) {
		t.Helper()
		for _, n := range []string{"lo", name} {
			l, err := h.LinkByName(n)
			if err != nil {
				t.Fatalf("find %s: %v", n, err)
			}
			if err := h.LinkSetUp(l); err != nil {
				t.Fatalf("set %s up: %v", n, err)
			}
		}
		l, _ := h.LinkByName(name)
		for _, a := range addrs {
			pfx := netip.MustParsePrefix(a)
			ad := &netlink.Addr{IPNet: prefixNet(pfx)}
			if pfx.Addr().Is6() {
				ad.Flags = unix.IFA_F_NODAD
			}
			if err := h.AddrAdd(l, ad); err != nil {
				t.Fatalf("add %s to %s: %v", a, name, err)
			}
		}
	}
	// Skip DAD for the link-local addresses.
	sysctls := func(ns vnetns.NsHandle, dev string) {
		t.Helper()
		err := nsthread.Do(ns, func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/"+dev+"/accept_dad", []byte("0"), 0)
		})
		if err != nil {
			t.Fatalf("test sysctls: %v", err)
		}
	}
	sysctls(p.a, p.vethA)
	sysctls(p.b, p.vethB)
	setup(ha, p.vethA, "198.18.0.1/24", "fd00::1/64")
	setup(hb, p.vethB, "198.18.0.2/24", "fd00::2/64", "198.18.0.3/24", "fd00::3/64")
	la, _ := ha.LinkByName(p.vethA)
	lb, _ := hb.LinkByName(p.vethB)
	p.ifindexA = la.Attrs().Index
	p.linkA, p.linkB = la, lb
	// Permanent neighbour entries: the kernel's neighbour table is shared
	// by all namespaces and capped (gc_thresh3); on a busy machine a new
	// dynamic entry may fail to allocate, permanent ones are exempt. They
	// also spare the first probe an ARP or NDP round trip.
	for _, a := range []netip.Addr{p.b4, p.b4two, p.b6, p.b6two} {
		permNeigh(t, ha, la, a, lb)
	}
	for _, a := range []netip.Addr{p.a4, p.a6} {
		permNeigh(t, hb, lb, a, la)
	}
	waitUp(t, ha, p.vethA)
	waitUp(t, hb, p.vethB)
	// Wait until both families answer.
	for _, dst := range []netip.Addr{p.b4, p.b6} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			res := Probe(t.Context(), Request{NS: p.a, Proto: ICMP, Dst: dst, Timeout: 50 * time.Millisecond})
			if res.Verdict == OK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not answer pings: %s (%v)", dst, res.Verdict, res.Err)
			}
		}
	}
	return p
}

// permNeigh adds a permanent neighbour entry on link l for ip, with the
// MAC address of peer.
func permNeigh(t *testing.T, h *netlink.Handle, l netlink.Link, ip netip.Addr, peer netlink.Link) {
	t.Helper()
	n := &netlink.Neigh{LinkIndex: l.Attrs().Index, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: peer.Attrs().HardwareAddr}
	if err := h.NeighSet(n); err != nil {
		t.Fatalf("add neighbour %s on %s: %v", ip, l.Attrs().Name, err)
	}
}

func handle(t *testing.T, ns vnetns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// waitUp polls until the link reports carrier (both veth ends up).
func waitUp(t *testing.T, h *netlink.Handle, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come up: operstate %v", name, l.Attrs().OperState)
		}
		time.Sleep(5 * time.Millisecond) // polling kernel state with a deadline
	}
}

// listen starts a responder for the test.
func listen(t *testing.T, ns vnetns.NsHandle, proto Proto, addr netip.Addr, port int) {
	t.Helper()
	l, err := Listen(ns, proto, addr, port)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close responder: %v", err)
		}
	})
}

type ruleKind int

const (
	noRule ruleKind = iota
	dropRule
	resetRule     // reject with tcp reset (tcp only)
	portUnreach   // reject with icmpx port-unreachable
	adminProhibit // reject with icmpx admin-prohibited
)

// firewall installs, in ns, an inet input rule that applies kind to the
// probes of proto (to port for tcp and udp).
func firewall(t *testing.T, ns vnetns.NsHandle, proto Proto, port int, kind ruleKind) {
	t.Helper()
	if kind == noRule {
		return
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		t.Fatalf("nftables: %v", err)
	}
	t.Cleanup(func() { c.CloseLasting() })
	tbl := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "nslt"})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "in", Table: tbl, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	var last expr.Any
	switch kind {
	case dropRule:
		last = &expr.Verdict{Kind: expr.VerdictDrop}
	case resetRule:
		last = &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	case portUnreach:
		last = &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}
	case adminProhibit:
		last = &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	}
	l4 := func(p byte) []expr.Any {
		e := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
		}
		if p == unix.IPPROTO_TCP || p == unix.IPPROTO_UDP {
			e = append(e,
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))})
		}
		return append(e, last)
	}
	switch proto {
	case TCP:
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: l4(unix.IPPROTO_TCP)})
	case UDP:
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: l4(unix.IPPROTO_UDP)})
	case ICMP:
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: l4(unix.IPPROTO_ICMP)})
		c.AddRule(&nftables.Rule{Table: tbl, Chain: ch, Exprs: l4(unix.IPPROTO_ICMPV6)})
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("install nftables rule: %v", err)
	}
}

func TestProbeVerdicts(t *testing.T) {
	type tc struct {
		proto   Proto
		rule    ruleKind
		listen  bool
		noRoute bool
		want    Verdict
	}
	cases := map[string]tc{
		"icmp answered":           {proto: ICMP, want: OK},
		"icmp dropped":            {proto: ICMP, rule: dropRule, want: Timeout},
		"icmp rejected port":      {proto: ICMP, rule: portUnreach, want: Refused},
		"icmp rejected admin":     {proto: ICMP, rule: adminProhibit, want: Refused},
		"icmp no route":           {proto: ICMP, noRoute: true, want: Unreachable},
		"tcp accepted":            {proto: TCP, listen: true, want: OK},
		"tcp closed port":         {proto: TCP, want: Refused},
		"tcp dropped":             {proto: TCP, listen: true, rule: dropRule, want: Timeout},
		"tcp rejected with reset": {proto: TCP, listen: true, rule: resetRule, want: Refused},
		"tcp rejected admin":      {proto: TCP, listen: true, rule: adminProhibit, want: Refused},
		"tcp no route":            {proto: TCP, noRoute: true, want: Unreachable},
		"udp echoed":              {proto: UDP, listen: true, want: OK},
		"udp closed port":         {proto: UDP, want: Refused},
		"udp dropped":             {proto: UDP, listen: true, rule: dropRule, want: Timeout},
		"udp rejected port":       {proto: UDP, listen: true, rule: portUnreach, want: Refused},
		"udp rejected admin":      {proto: UDP, listen: true, rule: adminProhibit, want: Refused},
		"udp no route":            {proto: UDP, noRoute: true, want: Unreachable},
	}
	for name, c := range cases {
		for _, fam := range []string{"ipv4", "ipv6"} {
			t.Run(name+" "+fam, func(t *testing.T) {
				t.Parallel()
				p := newPair(t)
				dst := p.b4
				if fam == "ipv6" {
					dst = p.b6
				}
				if c.noRoute {
					dst = p.noRoute4
					if fam == "ipv6" {
						dst = p.noRoute6
					}
				}
				if c.listen {
					listen(t, p.b, c.proto, netip.Addr{}, port)
				}
				firewall(t, p.b, c.proto, port, c.rule)
				wait := long
				if c.want == Timeout {
					wait = short
				}
				start := time.Now()
				r := Request{NS: p.a, Proto: c.proto, Dst: dst, Port: port, Timeout: wait}
				res := Probe(t.Context(), r)
				el := time.Since(start)
				if res.Verdict != c.want {
					t.Fatalf("Probe(%s) = %s (err %v), want %s", r, res.Verdict, res.Err, c.want)
				}
				switch c.want {
				case OK:
					if res.RTT <= 0 || res.RTT > el || res.Err != nil {
						t.Errorf("ok result: rtt %v (probe took %v) err %v", res.RTT, el, res.Err)
					}
				case Timeout:
					if el < short-10*time.Millisecond {
						t.Errorf("timeout after %v, before the %v deadline", el, short)
					}
					if res.RTT != 0 {
						t.Errorf("timeout with rtt %v", res.RTT)
					}
				case Refused, Unreachable:
					if res.Err == nil {
						t.Errorf("%s without a cause", res.Verdict)
					}
				}
				if el > wait+time.Second {
					t.Errorf("probe took %v with a %v timeout", el, wait)
				}
			})
		}
	}
}

// TestICMPErrorCause checks that a refusal carries the ICMP error that
// caused it.
func TestICMPErrorCause(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	listen(t, p.b, UDP, netip.Addr{}, port)
	firewall(t, p.b, UDP, port, adminProhibit)
	for _, dst := range []netip.Addr{p.b4, p.b6} {
		res := Probe(t.Context(), Request{NS: p.a, Proto: UDP, Dst: dst, Port: port, Timeout: long})
		var ie *ICMPError
		if !errors.As(res.Err, &ie) {
			t.Fatalf("udp %s: err %v is not an *ICMPError", dst, res.Err)
		}
		want := ICMPError{Type: 3, Code: 13, From: dst}
		if dst.Is6() {
			want = ICMPError{IPv6: true, Type: 1, Code: 1, From: dst}
		}
		if *ie != want {
			t.Errorf("udp %s: ICMP error %+v, want %+v", dst, *ie, want)
		}
	}
}

// TestUDPEchoFromSecondAddress probes the target's second address: the
// responder must answer from it, or the connected probe socket ignores the
// answer.
func TestUDPEchoFromSecondAddress(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	listen(t, p.b, UDP, netip.Addr{}, port)
	for _, dst := range []netip.Addr{p.b4two, p.b6two} {
		if res := Probe(t.Context(), Request{NS: p.a, Proto: UDP, Dst: dst, Port: port, Timeout: long}); res.Verdict != OK {
			t.Errorf("udp %s = %s (%v), want ok", dst, res.Verdict, res.Err)
		}
	}
}

func TestListenOnOneAddress(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	listen(t, p.b, TCP, p.b4two, port)
	listen(t, p.b, UDP, p.b6two, port)
	for _, c := range []struct {
		proto Proto
		dst   netip.Addr
		want  Verdict
	}{
		{TCP, p.b4two, OK}, {TCP, p.b4, Refused},
		{UDP, p.b6two, OK}, {UDP, p.b6, Refused},
	} {
		if res := Probe(t.Context(), Request{NS: p.a, Proto: c.proto, Dst: c.dst, Port: port, Timeout: long}); res.Verdict != c.want {
			t.Errorf("%s %s = %s (%v), want %s", c.proto, c.dst, res.Verdict, res.Err, c.want)
		}
	}
}

func TestLinkLocalZone(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	src := linkLocal(t, p.hA, p.vethA)
	ll := linkLocal(t, p.hB, p.vethB)
	permNeigh(t, p.hA, p.linkA, ll, p.linkB)
	permNeigh(t, p.hB, p.linkB, src, p.linkA)
	for _, zone := range []string{p.vethA, fmt.Sprint(p.ifindexA)} {
		res := Probe(t.Context(), Request{NS: p.a, Proto: ICMP, Dst: ll.WithZone(zone), Timeout: long})
		if res.Verdict != OK {
			t.Errorf("icmp %s%%%s = %s (%v), want ok", ll, zone, res.Verdict, res.Err)
		}
	}
}

// linkLocal waits until dev has a usable (not tentative) IPv6 link-local
// address and returns it.
func linkLocal(t *testing.T, h *netlink.Handle, dev string) netip.Addr {
	t.Helper()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		addrs, err := nl.AddrList(h, l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			ip, _ := netip.AddrFromSlice(a.IP)
			if ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
				return ip
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no usable IPv6 link-local address after 5s: %v", dev, addrs)
		}
		time.Sleep(5 * time.Millisecond) // polling kernel state with a deadline
	}
}

// TestUnprivilegedICMP exercises the ICMP datagram socket that is used when
// raw sockets are not permitted.
func TestUnprivilegedICMP(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	err := nsthread.Do(p.a, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0)
	})
	if err != nil {
		t.Fatalf("allow ping sockets: %v", err)
	}
	for _, dst := range []netip.Addr{p.b4, p.b6} {
		r := Request{NS: p.a, Proto: ICMP, Dst: dst, Timeout: long}
		ctx, cancel := context.WithTimeout(t.Context(), long)
		res := probeICMP(ctx, r, true)
		cancel()
		if res.Verdict != OK {
			t.Errorf("datagram icmp %s = %s (%v), want ok", dst, res.Verdict, res.Err)
		}
	}
	firewall(t, p.b, ICMP, 0, adminProhibit)
	for _, dst := range []netip.Addr{p.b4, p.b6} {
		r := Request{NS: p.a, Proto: ICMP, Dst: dst, Timeout: long}
		ctx, cancel := context.WithTimeout(t.Context(), long)
		res := probeICMP(ctx, r, true)
		cancel()
		if res.Verdict != Refused {
			t.Errorf("datagram icmp %s behind a reject = %s (%v), want refused", dst, res.Verdict, res.Err)
		}
	}
}

func TestProbeAll(t *testing.T) {
	p := newPair(t)
	listen(t, p.b, TCP, netip.Addr{}, port)
	listen(t, p.b, UDP, netip.Addr{}, port)
	const n = 200
	rs := make([]Request, n)
	want := make([]Verdict, n)
	for i := range rs {
		dst := []netip.Addr{p.b4, p.b6, p.b4two, p.b6two}[i%4]
		proto := []Proto{ICMP, TCP, UDP}[i%3]
		rs[i] = Request{NS: p.a, Proto: proto, Dst: dst, Port: port, Timeout: 2 * time.Second}
		want[i] = OK
		if i%7 == 0 && proto != ICMP {
			rs[i].Port = port + 1 // closed
			want[i] = Refused
		}
		if i%11 == 0 {
			rs[i].Proto = "sctp"
			want[i] = Error
		}
	}
	got := ProbeAll(t.Context(), rs, n)
	if len(got) != n {
		t.Fatalf("%d results for %d requests", len(got), n)
	}
	for i := range got {
		if got[i].Verdict != want[i] {
			t.Errorf("request %d (%s): %s (%v), want %s", i, rs[i], got[i].Verdict, got[i].Err, want[i])
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	firewall(t, p.b, TCP, port, dropRule)
	firewall(t, p.b, UDP, port, dropRule)
	firewall(t, p.b, ICMP, 0, dropRule)

	for _, proto := range []Proto{ICMP, TCP, UDP} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		res := Probe(ctx, Request{NS: p.a, Proto: proto, Dst: p.b4, Port: port, Timeout: time.Minute})
		cancel()
		if el := time.Since(start); el > time.Second {
			t.Errorf("%s: cancelled probe returned after %v", proto, el)
		}
		if res.Verdict != Error || !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("%s: cancelled probe = %s (%v), want error wrapping context.DeadlineExceeded", proto, res.Verdict, res.Err)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rs := make([]Request, 20)
	for i := range rs {
		rs[i] = Request{NS: p.a, Proto: TCP, Dst: p.b4, Port: port, Timeout: time.Minute}
	}
	start := time.Now()
	for i, res := range ProbeAll(ctx, rs, 4) {
		if res.Verdict != Error || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("request %d after cancel = %s (%v), want error wrapping context.Canceled", i, res.Verdict, res.Err)
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("ProbeAll on a cancelled context took %v", el)
	}
}

func TestBadRequests(t *testing.T) {
	ns := nslabtest.NewNS(t)
	dst := netip.MustParseAddr("198.18.0.2")
	for name, r := range map[string]Request{
		"closed namespace": {NS: vnetns.None(), Proto: ICMP, Dst: dst},
		"no destination":   {NS: ns, Proto: ICMP},
		"unspecified":      {NS: ns, Proto: ICMP, Dst: netip.IPv6Unspecified()},
		"unknown protocol": {NS: ns, Proto: "sctp", Dst: dst},
		"tcp port 0":       {NS: ns, Proto: TCP, Dst: dst},
		"udp port too big": {NS: ns, Proto: UDP, Dst: dst, Port: 70000},
		"negative timeout": {NS: ns, Proto: ICMP, Dst: dst, Timeout: -time.Second},
	} {
		res := Probe(t.Context(), r)
		if res.Verdict != Error || !errors.Is(res.Err, ErrBadRequest) {
			t.Errorf("%s: %s (%v), want error wrapping ErrBadRequest", name, res.Verdict, res.Err)
		}
	}
}

func TestListenErrors(t *testing.T) {
	ns := nslabtest.NewNS(t)
	listen(t, ns, TCP, netip.Addr{}, port)
	if _, err := Listen(ns, TCP, netip.Addr{}, port); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second tcp listener on %d: %v, want EADDRINUSE", port, err)
	}
	if _, err := Listen(ns, ICMP, netip.Addr{}, port); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("icmp listener: %v, want ErrUnsupported", err)
	}
	for _, c := range []struct {
		proto Proto
		port  int
	}{{TCP, 0}, {UDP, 65536}, {"sctp", 80}} {
		if _, err := Listen(ns, c.proto, netip.Addr{}, c.port); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Listen(%s, %d): %v, want ErrBadRequest", c.proto, c.port, err)
		}
	}
	if _, err := Listen(vnetns.None(), TCP, netip.Addr{}, port); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Listen without namespace: %v, want ErrBadRequest", err)
	}
}

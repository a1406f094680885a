package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/nslab/nslab/capture"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Keep the test binary's main goroutine on the process's first thread, which
// the runtime never terminates, so that a throwaway namespace thread can
// never be that one (it would be wedged in its namespace instead of dying).
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

const wait = 10 * time.Second

// link is a veth a0 (198.18.0.1/24, namespace A) <-> b0 (198.18.0.2/24,
// namespace B) between two named throwaway namespaces.
type link struct {
	a, b vnetns.NsHandle
}

func newLink(t *testing.T) link {
	t.Helper()
	_, a := nslabtest.NewNamedNS(t)
	_, b := nslabtest.NewNamedNS(t)
	ha, err := nl.NewHandle(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ha.Close)
	hb, err := nl.NewHandle(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hb.Close)
	// Both ends live in the throwaway namespaces and go with them.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a0"}, PeerName: "b0", PeerNamespace: netlink.NsFd(int(b))}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth a0/b0: %v", err)
	}
	for _, e := range []struct {
		h    *netlink.Handle
		name string
		addr string
	}{{ha, "a0", "198.18.0.1/24"}, {hb, "b0", "198.18.0.2/24"}} {
		l, err := e.h.LinkByName(e.name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(e.addr)
		if err := e.h.AddrAdd(l, a); err != nil {
			t.Fatalf("add %s to %s: %v", e.addr, e.name, err)
		}
		if err := e.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	// Packets sent before the kernel's link watch has activated the
	// device are dropped: wait until both ends are operationally up.
	deadline := time.Now().Add(wait)
	for _, e := range []struct {
		h    *netlink.Handle
		name string
	}{{ha, "a0"}, {hb, "b0"}} {
		for {
			l, err := e.h.LinkByName(e.name)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is still %v", e.name, l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond) // polling the kernel, with a deadline
		}
	}
	return link{a, b}
}

// udpPair returns a socket in ns a connected to dst:port and a socket in ns
// b listening on dst:port.
func udpPair(t *testing.T, a, b vnetns.NsHandle, dst net.IP, port int) (send, recv *net.UDPConn) {
	t.Helper()
	err := nsthread.Do(b, func() error {
		var err error
		recv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst, Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { recv.Close() })
	err = nsthread.Do(a, func() error {
		var err error
		send, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: dst, Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { send.Close() })
	return send, recv
}

// exchange sends n distinct datagrams and checks that all arrive, in order.
func exchange(t *testing.T, send, recv *net.UDPConn, n int) [][]byte {
	t.Helper()
	var sent [][]byte
	for i := range n {
		p := []byte(fmt.Sprintf("nslab capture test datagram %d of %d", i, n))
		p = append(p, bytes.Repeat([]byte{byte(i)}, 100*i)...) // distinct lengths too
		if _, err := send.Write(p); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	recv.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	for i := range n {
		m, err := recv.Read(buf)
		if err != nil {
			t.Fatalf("receive datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:m], sent[i]) {
			t.Fatalf("datagram %d arrived as %q", i, buf[:m])
		}
	}
	return sent
}

// recordWriter records what Run writes; writes counts Write calls: one for
// the header, then one per packet.
type recordWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	dst    io.Writer // also written to, when set
	writes int
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	w.buf.Write(p)
	if w.dst != nil {
		return w.dst.Write(p)
	}
	return len(p), nil
}

func (w *recordWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes
}

// waitWrites polls until w has seen at least n writes or Run ended.
func waitWrites(t *testing.T, w *recordWriter, n int, done <-chan result) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for w.count() < n {
		select {
		case r := <-done:
			t.Fatalf("Run ended early after %d writes: %d packets, %v", w.count(), r.n, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes after %v, want %d", w.count(), wait, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type result struct {
	n   int
	err error
}

func start(ctx context.Context, ns vnetns.NsHandle, dev string, w io.Writer, o capture.Options) <-chan result {
	done := make(chan result, 1)
	go func() {
		n, err := capture.Run(ctx, ns, dev, w, o)
		done <- result{n, err}
	}()
	return done
}

func finish(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(wait):
		t.Fatalf("Run did not stop within %v", wait)
	}
	return result{}
}

type packet struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readAll(t *testing.T, format string, file []byte) []packet {
	t.Helper()
	var src interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		LinkType() layers.LinkType
	}
	var err error
	if format == capture.FormatPcapng {
		src, err = pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	} else {
		src, err = pcapgo.NewReader(bytes.NewReader(file))
	}
	if err != nil {
		t.Fatalf("read %s header: %v", format, err)
	}
	if lt := src.LinkType(); lt != layers.LinkTypeEthernet {
		t.Errorf("link type %v, want Ethernet", lt)
	}
	var out []packet
	for {
		data, ci, err := src.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read %s packet %d: %v", format, len(out), err)
		}
		out = append(out, packet{ci, data})
	}
}

// checkUDP checks that pkts are exactly the datagrams sent, in order, whole.
func checkUDP(t *testing.T, pkts []packet, sent [][]byte, src, dst net.IP, port int) {
	t.Helper()
	if len(pkts) != len(sent) {
		t.Fatalf("%d packets in the file, want %d", len(pkts), len(sent))
	}
	for i, p := range pkts {
		if p.ci.CaptureLength != p.ci.Length || len(p.data) != p.ci.Length {
			t.Errorf("packet %d truncated: caplen %d, len %d, data %d bytes", i, p.ci.CaptureLength, p.ci.Length, len(p.data))
		}
		if want := 14 + 20 + 8 + len(sent[i]); p.ci.Length != want {
			t.Errorf("packet %d is %d bytes long, want %d", i, p.ci.Length, want)
		}
		pk := gopacket.NewPacket(p.data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp, _ := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip == nil || udp == nil {
			t.Fatalf("packet %d is not UDP over IPv4: %v", i, pk)
		}
		if !ip.SrcIP.Equal(src) || !ip.DstIP.Equal(dst) || int(udp.DstPort) != port {
			t.Errorf("packet %d: %v -> %v:%d, want %v -> %v:%d", i, ip.SrcIP, ip.DstIP, udp.DstPort, src, dst, port)
		}
		if !bytes.Equal(udp.Payload, sent[i]) {
			t.Errorf("packet %d payload %q, want %q", i, udp.Payload, sent[i])
		}
		if i > 0 && p.ci.Timestamp.Before(pkts[i-1].ci.Timestamp) {
			t.Errorf("packet %d is older than packet %d", i, i-1)
		}
	}
}

func randomPort() int { return 20000 + rand.IntN(20000) }

var (
	ipA = net.IPv4(198, 18, 0, 1)
	ipB = net.IPv4(198, 18, 0, 2)
)

func TestRunCountFilter(t *testing.T) {
	for _, format := range []string{capture.FormatPcap, capture.FormatPcapng} {
		t.Run(format, func(t *testing.T) {
			l := newLink(t)
			port := randomPort()
			send, recv := udpPair(t, l.a, l.b, ipB, port)
			const n = 5
			w := &recordWriter{}
			o := capture.Options{Filter: fmt.Sprintf("udp port %d", port), Count: n, Format: format}
			done := start(t.Context(), l.a, "a0", w, o)
			waitWrites(t, w, 1, done) // the header: the socket is bound
			sent := exchange(t, send, recv, n)
			r := finish(t, done)
			if r.err != nil || r.n != n {
				t.Fatalf("Run = %d, %v; want %d, nil", r.n, r.err, n)
			}
			if w.writes != 1+n {
				t.Errorf("%d writes, want one per packet plus the header (%d)", w.writes, 1+n)
			}
			file := w.buf.Bytes()
			checkUDP(t, readAll(t, format, file), sent, ipA, ipB, port)
			if format == capture.FormatPcapng {
				r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatal(err)
				}
				if ifc, err := r.Interface(0); err != nil || ifc.Name != "a0" || ifc.Filter != o.Filter {
					t.Errorf("pcapng interface = %+v, %v; want name a0, filter %q", ifc, err, o.Filter)
				}
			}
			checkTshark(t, file, port, n)
		})
	}
}

// checkTshark reads the file with Wireshark's tshark, when installed.
func checkTshark(t *testing.T, file []byte, port, n int) {
	t.Helper()
	const tshark = "/usr/bin/tshark"
	if _, err := os.Stat(tshark); err != nil {
		t.Logf("no %s: file not cross-checked", tshark)
		return
	}
	p := filepath.Join(t.TempDir(), "c.pcap")
	if err := os.WriteFile(p, file, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), tshark, "-n", "-r", p, "-T", "fields", "-e", "udp.dstport")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	got := strings.Fields(string(out))
	want := strings.Fields(strings.Repeat(fmt.Sprintf("%d ", port), n))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("tshark udp.dstport = %q, want %q", got, want)
	}
}

func TestRunDuration(t *testing.T) {
	l := newLink(t)
	var out bytes.Buffer
	const d = 300 * time.Millisecond
	t0 := time.Now()
	n, err := capture.Run(t.Context(), l.a, "a0", &out, capture.Options{Duration: d})
	el := time.Since(t0)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if el < d || el > wait {
		t.Errorf("Run took %v, want %v", el, d)
	}
	// The link may carry IPv6 neighbour discovery: whatever was caught
	// must be in the file, whole.
	if pkts := readAll(t, capture.FormatPcap, out.Bytes()); len(pkts) != n {
		t.Errorf("%d packets in the file, Run said %d", len(pkts), n)
	}
}

func TestRunCancel(t *testing.T) {
	l := newLink(t)
	port := randomPort()
	send, recv := udpPair(t, l.a, l.b, ipB, port)
	path := filepath.Join(t.TempDir(), "cancel.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := &recordWriter{dst: f}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := start(ctx, l.a, "a0", w, capture.Options{Filter: fmt.Sprintf("udp dst port %d", port)})
	waitWrites(t, w, 1, done)
	sent := exchange(t, send, recv, 3)
	waitWrites(t, w, 4, done)
	cancel()
	r := finish(t, done)
	if !errors.Is(r.err, context.Canceled) || r.n != 3 {
		t.Fatalf("Run = %d, %v; want 3, context.Canceled", r.n, r.err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkUDP(t, readAll(t, capture.FormatPcap, file), sent, ipA, ipB, port)
}

// On lo every packet passes twice (out and back in); the file must hold it once.
func TestRunLoopback(t *testing.T) {
	ns := nslabtest.NewNS(t)
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	port := randomPort()
	loIP := net.IPv4(127, 0, 0, 1)
	send, recv := udpPair(t, ns, ns, loIP, port)
	w := &recordWriter{}
	done := start(t.Context(), ns, "lo", w, capture.Options{Filter: fmt.Sprintf("udp port %d", port), Count: 4})
	waitWrites(t, w, 1, done)
	sent := exchange(t, send, recv, 4)
	if r := finish(t, done); r.err != nil || r.n != 4 {
		t.Fatalf("Run = %d, %v; want 4, nil", r.n, r.err)
	}
	checkUDP(t, readAll(t, capture.FormatPcap, w.buf.Bytes()), sent, loIP, loIP, port)
}

func TestRunBadInput(t *testing.T) {
	ns := nslabtest.NewNS(t)
	for _, tc := range []struct {
		name string
		dev  string
		o    capture.Options
		is   error  // errors.Is target, if any
		msg  string // part of the message
	}{
		{"no such interface", "eth9", capture.Options{}, capture.ErrNoInterface, `"eth9"`},
		{"name too long", "a-very-long-interface", capture.Options{}, nil, "IFNAMSIZ"},
		{"bad filter", "lo", capture.Options{Filter: "udp prot 53"}, capture.ErrBadFilter, `"udp prot 53"`},
		{"bad format", "lo", capture.Options{Format: "pcapx"}, nil, `"pcapx"`},
		{"negative count", "lo", capture.Options{Count: -1}, nil, "count -1"},
		{"huge snaplen", "lo", capture.Options{Snaplen: 1 << 20}, nil, "snaplen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.is == capture.ErrBadFilter {
				capture.RequireLibpcap(t)
			}
			var out bytes.Buffer
			n, err := capture.Run(t.Context(), ns, tc.dev, &out, tc.o)
			if err == nil {
				t.Fatalf("Run = %d, nil; want an error", n)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line that says %s", err, tc.msg)
			}
			if out.Len() != 0 || n != 0 {
				t.Errorf("wrote %d bytes and counted %d packets on failure", out.Len(), n)
			}
		})
	}
}

func TestRunClosedNamespace(t *testing.T) {
	_, err := capture.Run(t.Context(), vnetns.None(), "lo", io.Discard, capture.Options{})
	if err == nil || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("Run on a closed handle: %v", err)
	}
}

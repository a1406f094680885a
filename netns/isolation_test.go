package netns_test

// One test per statement of network_namespaces(7): "Network namespaces
// provide isolation of the system resources associated with networking:
// network devices, IPv4 and IPv6 protocol stacks, IP routing tables, firewall
// rules, the /proc/net directory, the /sys/class/net directory, various files
// under /proc/sys/net, port numbers (sockets), and so on. [...] the abstract
// UNIX domain socket namespace [...] When a network namespace is freed [...]
// virtual network devices are destroyed". Every test works in namespaces it
// makes, never in the root namespace.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nsexec"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// veth makes a veth pair with both ends in h's namespace, sets both ends
// and lo up, and returns the two names and the first end.
func veth(t *testing.T, h *netlink.Handle) (string, string, netlink.Link) {
	t.Helper()
	a, b := nslabtest.Name(t, 15), nslabtest.Name(t, 15)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
		t.Fatalf("add veth %q: %v", a, err)
	}
	// The veth dies with its namespace; delete it earlier only if the
	// namespace outlives the test (it does not).
	for _, n := range []string{a, b, "lo"} {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatalf("find %q: %v", n, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("set %q up: %v", n, err)
		}
	}
	l, err := h.LinkByName(a)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, l
}

// addAddr adds p to l, without duplicate address detection (so an IPv6
// address can be bound at once).
func addAddr(t *testing.T, h *netlink.Handle, l netlink.Link, p netip.Prefix) *netlink.Addr {
	t.Helper()
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Flags: unix.IFA_F_NODAD,
	}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("add address %s to %q: %v", p, l.Attrs().Name, err)
	}
	// Even without DAD, the kernel adds an IPv6 address's local route from
	// a work queue, a little later: until then traffic to the address
	// leaves through the veth. Wait until it routes locally.
	waitFor(t, fmt.Sprintf("a local route to %s", p.Addr()), func() bool {
		rs, err := h.RouteGet(a.IP)
		return err == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL
	})
	return a
}

// hasAddr reports whether ip is configured on any link of h's namespace.
func hasAddr(t *testing.T, h *netlink.Handle, ip netip.Addr) bool {
	t.Helper()
	as, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("list addresses: %v", err)
	}
	return slices.ContainsFunc(as, func(a netlink.Addr) bool {
		x, _ := netip.AddrFromSlice(a.IP)
		return x.Unmap() == ip
	})
}

// linkNames lists the names of the links of h's namespace.
func linkNames(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	ls, err := h.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out
}

// sysctl reads a /proc/sys/net file (path relative to /proc/sys/net) on a
// thread in ns.
func sysctl(t *testing.T, ns netns.Handle, path string) string {
	t.Helper()
	var v string
	in(t, ns, func() error {
		b, err := os.ReadFile("/proc/sys/net/" + path)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

func setSysctl(t *testing.T, ns netns.Handle, path, v string) {
	t.Helper()
	in(t, ns, func() error { return os.WriteFile("/proc/sys/net/"+path, []byte(v), 0) })
}

// 1. Network devices.
func TestIsolationDevices(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	ha, hb, hr := handle(t, a), handle(t, b), handle(t, rootNS(t))
	n0, n1, l := veth(t, ha)
	idx := l.Attrs().Index
	if got := linkNames(t, ha); !slices.Contains(got, n0) || !slices.Contains(got, n1) {
		t.Fatalf("A's links %v lack the veth %q/%q made there", got, n0, n1)
	}
	if got := linkNames(t, hb); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("B's links = %v, want only lo", got)
	}
	if l, err := hb.LinkByIndex(idx); err == nil {
		t.Errorf("B has a link with A's veth ifindex %d: %q", idx, l.Attrs().Name)
	}
	root := linkNames(t, hr)
	for _, n := range []string{n0, n1} {
		if slices.Contains(root, n) {
			t.Errorf("the root namespace shows %q, made in A", n)
		}
	}
	// ifindexes are per namespace: the same number in the root is another
	// device, with another name and address.
	if rl, err := hr.LinkByIndex(idx); err == nil {
		if rl.Attrs().Name == n0 || bytes.Equal(rl.Attrs().HardwareAddr, l.Attrs().HardwareAddr) {
			t.Errorf("root link %d is A's veth %q", idx, n0)
		}
	}
}

// 2, 3. IPv4 and IPv6 protocol stacks.
func TestIsolationIPStacks(t *testing.T) {
	for _, tc := range []struct {
		family  string
		prefix  netip.Prefix
		forward string // the family's forwarding switch
	}{
		{"IPv4", netip.MustParsePrefix("198.18.0.1/24"), "ipv4/ip_forward"},
		{"IPv6", netip.MustParsePrefix("fd00::1/64"), "ipv6/conf/all/forwarding"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			_, a := newNamed(t)
			_, b := newNamed(t)
			t.Parallel()
			ha, hb := handle(t, a), handle(t, b)
			_, _, la := veth(t, ha)
			_, _, lb := veth(t, hb)
			addAddr(t, ha, la, tc.prefix)
			addrB := addAddr(t, hb, lb, tc.prefix) // the same address, independently
			ip := tc.prefix.Addr()
			if !hasAddr(t, ha, ip) || !hasAddr(t, hb, ip) {
				t.Fatalf("%s is not configured in both namespaces", ip)
			}
			// A listener on the address in A answers in A.
			var ln net.Listener
			in(t, a, func() error {
				var err error
				ln, err = net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
				return err
			})
			t.Cleanup(func() { ln.Close() })
			go serve(ln, "A")
			addr := ln.Addr().String()
			if got := dialRead(t, a, addr); got != "A" {
				t.Errorf("dial %s in A: got %q, want A's listener", addr, got)
			}
			// From B, the same address is B's own, where nothing listens.
			in(t, b, func() error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.Close()
					return fmt.Errorf("dial %s in B reached a listener", addr)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					return fmt.Errorf("dial %s in B: %w, want ECONNREFUSED", addr, err)
				}
				return nil
			})
			// Without the address B has no route to it at all; A keeps it.
			if err := hb.AddrDel(lb, addrB); err != nil {
				t.Fatal(err)
			}
			if !hasAddr(t, ha, ip) {
				t.Errorf("removing %s in B removed it in A", ip)
			}
			in(t, b, func() error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.Close()
					return fmt.Errorf("dial %s in B with no route reached a listener", addr)
				}
				if !errors.Is(err, syscall.ENETUNREACH) {
					return fmt.Errorf("dial %s in B: %w, want ENETUNREACH", addr, err)
				}
				return nil
			})
			// Forwarding is a per-namespace switch.
			fa, fb := sysctl(t, a, tc.forward), sysctl(t, b, tc.forward)
			setSysctl(t, a, tc.forward, flip(fa))
			if got := sysctl(t, a, tc.forward); got != flip(fa) {
				t.Errorf("%s in A = %s after writing %s", tc.forward, got, flip(fa))
			}
			if got := sysctl(t, b, tc.forward); got != fb {
				t.Errorf("%s in B changed from %s to %s when A's was set", tc.forward, fb, got)
			}
		})
	}
}

func flip(v string) string {
	if v == "0" {
		return "1"
	}
	return "0"
}

// serve answers every connection on ln with who.
func serve(ln net.Listener, who string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, who)
		c.Close()
	}
}

// dialRead connects to addr from a thread in ns and returns what the server
// says.
func dialRead(t *testing.T, ns netns.Handle, addr string) string {
	t.Helper()
	var got []byte
	in(t, ns, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got)
}

// 4. IP routing tables.
func TestIsolationRoutes(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	ha, hb := handle(t, a), handle(t, b)
	_, _, la := veth(t, ha)
	veth(t, hb)
	dst := netip.MustParsePrefix("198.18.64.0/24")
	r := &netlink.Route{
		LinkIndex: la.Attrs().Index,
		Dst:       &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
	}
	if err := ha.RouteAdd(r); err != nil {
		t.Fatalf("add route %s in A: %v", dst, err)
	}
	has := func(h *netlink.Handle) bool {
		rs, err := h.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(rs, func(r netlink.Route) bool { return r.Dst != nil && r.Dst.String() == dst.String() })
	}
	if !has(ha) {
		t.Fatalf("A's table lacks %s", dst)
	}
	if has(hb) {
		t.Errorf("B's table has %s, added in A", dst)
	}
}

// 5. Firewall rules.
func TestIsolationFirewall(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	conn := func(ns netns.Handle) *nftables.Conn {
		c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
		if err != nil {
			t.Fatalf("nftables: %v", err)
		}
		t.Cleanup(func() { c.CloseLasting() })
		return c
	}
	ca, cb, cr := conn(a), conn(b), conn(rootNS(t))
	name := nslabtest.Name(t, 20)
	ca.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
	if err := ca.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("this kernel has no nf_tables (CONFIG_NF_TABLES): %v", err)
		}
		t.Fatalf("add nftables table %q in A: %v", name, err)
	}
	has := func(c *nftables.Conn) bool {
		ts, err := c.ListTables()
		if err != nil {
			t.Fatalf("list nftables tables: %v", err)
		}
		return slices.ContainsFunc(ts, func(tb *nftables.Table) bool { return tb.Name == name })
	}
	if !has(ca) {
		t.Fatalf("A's ruleset lacks table %q", name)
	}
	if has(cb) {
		t.Errorf("B's ruleset has table %q, added in A", name)
	}
	if has(cr) {
		t.Errorf("the root ruleset has table %q, added in A", name)
	}
}

// procNetDevNames parses the device names out of /proc/net/dev.
func procNetDevNames(t *testing.T, data string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(data))
	for i := 0; sc.Scan(); i++ {
		if i < 2 { // two header lines
			continue
		}
		name, _, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			t.Fatalf("bad /proc/net/dev line %q", sc.Text())
		}
		out = append(out, strings.TrimSpace(name))
	}
	slices.Sort(out)
	return out
}

// run runs argv with nsexec in target and returns its standard output.
func run(t *testing.T, target nsexec.Target, argv ...string) string {
	t.Helper()
	cmd := nsexec.Command(t.Context(), target, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q in %s: %v: %s", argv, target.Path, err, stderr.Bytes())
	}
	return string(out)
}

// 6. The /proc/net directory.
func TestIsolationProcNet(t *testing.T) {
	nameA, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	a0, a1, _ := veth(t, handle(t, a))
	b0, _, _ := veth(t, handle(t, b))
	want := []string{a0, a1, "lo"}
	slices.Sort(want)
	var data []byte
	in(t, a, func() error {
		var err error
		data, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	})
	if got := procNetDevNames(t, string(data)); !slices.Equal(got, want) {
		t.Errorf("/proc/thread-self/net/dev in A lists %v, want %v", got, want)
	}
	target, err := nsexec.Named(nameA)
	if err != nil {
		t.Fatal(err)
	}
	if got := procNetDevNames(t, run(t, target, "cat", "/proc/net/dev")); !slices.Equal(got, want) {
		t.Errorf("cat /proc/net/dev in A lists %v, want %v", got, want)
	}
	// The test process's own /proc/net (its main thread's) knows neither.
	own, err := os.ReadFile("/proc/self/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{a0, a1, b0} {
		if slices.Contains(procNetDevNames(t, string(own)), n) {
			t.Errorf("the root /proc/net/dev lists %q", n)
		}
	}
}

// 7. The /sys/class/net directory (through an exec, which remounts /sys).
func TestIsolationSysClassNet(t *testing.T) {
	nameA, a := newNamed(t)
	t.Parallel()
	a0, a1, _ := veth(t, handle(t, a))
	want := []string{a0, a1, "lo"}
	slices.Sort(want)
	target, err := nsexec.Named(nameA)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(run(t, target, "ls", "/sys/class/net"))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ls /sys/class/net in A = %v, want %v", got, want)
	}
	// The host's devices (eth0 and the like) are not there, and the host's
	// /sys still shows them: the remount stayed inside the exec.
	root := linkNames(t, handle(t, rootNS(t)))
	host, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range host {
		if e.Name() != "lo" && slices.Contains(got, e.Name()) {
			t.Errorf("A's /sys/class/net shows the host's %q", e.Name())
		}
		if e.Name() == a0 || e.Name() == a1 {
			t.Errorf("the host's /sys/class/net shows A's %q", e.Name())
		}
	}
	rh := handle(t, rootNS(t))
	for _, n := range root {
		if _, err := os.Stat("/sys/class/net/" + n); err != nil {
			if _, gone := rh.LinkByName(n); gone != nil {
				continue // removed meanwhile by a parallel test
			}
			t.Errorf("the host's /sys/class/net lost %q after an exec: %v", n, err)
		}
	}
}

// 8. Various files under /proc/sys/net.
func TestIsolationSysctl(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	root := rootNS(t)
	for _, key := range []string{
		"ipv4/ip_forward",
		"ipv4/conf/all/forwarding",
		"ipv6/conf/all/disable_ipv6",
		"ipv4/ip_unprivileged_port_start",
	} {
		t.Run(key, func(t *testing.T) {
			va, vb, vr := sysctl(t, a, key), sysctl(t, b, key), sysctl(t, root, key)
			nv := flip(va)
			if key == "ipv4/ip_unprivileged_port_start" {
				n, err := strconv.Atoi(va)
				if err != nil {
					t.Fatal(err)
				}
				nv = strconv.Itoa(n + 7)
			}
			setSysctl(t, a, key, nv)
			if got := sysctl(t, a, key); got != nv {
				t.Errorf("A: %s = %s after writing %s", key, got, nv)
			}
			if got := sysctl(t, b, key); got != vb {
				t.Errorf("B: %s changed from %s to %s", key, vb, got)
			}
			if got := sysctl(t, root, key); got != vr {
				t.Errorf("root: %s changed from %s to %s", key, vr, got)
			}
		})
	}
}

// 9. Port numbers: the same port bound at once in two namespaces.
func TestIsolationPorts(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	for _, ns := range []netns.Handle{a, b} {
		veth(t, handle(t, ns)) // brings lo up
	}
	listen := func(ns netns.Handle, addr string) net.Listener {
		var ln net.Listener
		in(t, ns, func() error {
			var err error
			ln, err = net.Listen("tcp4", addr)
			return err
		})
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	la := listen(a, "0.0.0.0:0")
	port := la.Addr().(*net.TCPAddr).Port
	lb := listen(b, fmt.Sprintf("0.0.0.0:%d", port))
	go serve(la, "A")
	go serve(lb, "B")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if got := dialRead(t, a, addr); got != "A" {
		t.Errorf("port %d in A answered %q, want A", port, got)
	}
	if got := dialRead(t, b, addr); got != "B" {
		t.Errorf("port %d in B answered %q, want B", port, got)
	}
}

// 10. The abstract UNIX domain socket namespace.
func TestIsolationAbstractUnix(t *testing.T) {
	_, a := newNamed(t)
	_, b := newNamed(t)
	t.Parallel()
	addr := "@" + nslabtest.Name(t, 30)
	var ln net.Listener
	in(t, a, func() error {
		var err error
		ln, err = net.Listen("unix", addr)
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go serve(ln, "A")
	in(t, b, func() error {
		c, err := net.Dial("unix", addr)
		if err == nil {
			c.Close()
			return fmt.Errorf("connected to A's abstract socket %s from B", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("dial %s from B: %w, want ECONNREFUSED", addr, err)
		}
		return nil
	})
	var got []byte
	in(t, a, func() error {
		c, err := net.Dial("unix", addr)
		if err != nil {
			return fmt.Errorf("dial %s in A: %w", addr, err)
		}
		defer c.Close()
		got, err = io.ReadAll(c)
		return err
	})
	if string(got) != "A" {
		t.Errorf("A's abstract socket answered %q", got)
	}
	// B may bind the same abstract name: it is another namespace.
	in(t, b, func() error {
		l, err := net.Listen("unix", addr)
		if err != nil {
			return fmt.Errorf("bind %s in B: %w", addr, err)
		}
		return l.Close()
	})
}

// 11. A veth is destroyed when its namespace is freed: its peer elsewhere
// goes too.
func TestIsolationVethDiesWithNamespace(t *testing.T) {
	nslabtest.RequireRoot(t)
	_, b := newNamed(t)
	t.Parallel()
	nameA := nslabtest.Name(t, 20)
	a, err := netns.Create(nameA, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		if netns.Exists(nameA) {
			netns.Delete(nameA)
		}
	})
	hb := handle(t, b)
	ha, err := nl.NewHandle(a) // closed below, to free A
	if err != nil {
		t.Fatal(err)
	}
	end, peer := nslabtest.Name(t, 15), nslabtest.Name(t, 15)
	err = ha.LinkAdd(&netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: end},
		PeerName:      peer,
		PeerNamespace: netlink.NsFd(int(b)),
	})
	if err != nil {
		ha.Close()
		t.Fatalf("add veth %q in A, peer %q in B: %v", end, peer, err)
	}
	pl, err := hb.LinkByName(peer)
	if err != nil {
		t.Fatalf("peer %q is not in B: %v", peer, err)
	}
	// Watch B's links with a socket opened inside B.
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	subErr := make(chan error, 1)
	in(t, b, func() error {
		return netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
			ErrorCallback: func(err error) {
				select {
				case subErr <- err:
				default:
				}
			},
		})
	})
	// Free A: drop every reference we hold.
	ha.Close()
	a.Close()
	if err := netns.Delete(nameA); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for gone := false; !gone; {
		select {
		case u := <-updates:
			gone = u.Header.Type == unix.RTM_DELLINK && u.Attrs().Index == pl.Attrs().Index
		case err := <-subErr:
			t.Fatalf("link subscription in B: %v", err)
		case <-timeout:
			t.Fatalf("peer %q still in B 10s after A was deleted", peer)
		}
	}
	if l, err := hb.LinkByName(peer); err == nil {
		t.Errorf("peer %q (index %d) still in B after its RTM_DELLINK", peer, l.Attrs().Index)
	}
}

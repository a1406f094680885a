package netdev_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Keep the main goroutine on the process's first thread, which the runtime
// never terminates, so that no test goroutine that dies locked in a
// throwaway namespace can wedge it there.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// handle returns a netlink handle in ns, closed when the test ends.
func handle(t *testing.T, ns vnetns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// newNS returns a throwaway namespace and a handle in it.
func newNS(t *testing.T) (vnetns.NsHandle, *netlink.Handle) {
	t.Helper()
	ns := nslabtest.NewNS(t)
	return ns, handle(t, ns)
}

func get(t *testing.T, h *netlink.Handle, name string) netdev.Info {
	t.Helper()
	i, err := netdev.Get(h, name)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// waitFor polls cond until it holds or 5 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func devNames(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	is, err := netdev.List(h)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range is {
		out = append(out, i.Name)
	}
	return out
}

func TestAddVethBornInTwoOtherNamespaces(t *testing.T) {
	t.Parallel()
	_, hc := newNS(t)
	nsA, hA := newNS(t)
	nsB, hB := newNS(t)
	if err := netdev.AddBridge(hA, "br0", netdev.BridgeOptions{Up: true}); err != nil {
		t.Fatal(err)
	}
	a := netdev.End{NS: nsA, Name: "eth0", MTU: 1400, Up: true, Alias: "nslab:test-a", Group: 7, Master: "br0"}
	b := netdev.End{NS: nsB, Name: "eth0", MTU: 1300, Up: true, Alias: "nslab:test-b", Group: 8}
	if err := netdev.AddVeth(hc, a, b, nil); err != nil {
		t.Fatal(err)
	}
	if got := devNames(t, hc); len(got) != 1 || got[0] != "lo" {
		t.Errorf("creating namespace has %v, want only lo", got)
	}
	ia, ib := get(t, hA, "eth0"), get(t, hB, "eth0")
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"a kind", ia.Kind, "veth"}, {"b kind", ib.Kind, "veth"},
		{"a MTU", ia.MTU, 1400}, {"b MTU", ib.MTU, 1300},
		{"a up", ia.Up, true}, {"b up", ib.Up, true},
		{"a alias", ia.Alias, "nslab:test-a"}, {"b alias", ib.Alias, "nslab:test-b"},
		{"a group", ia.Group, uint32(7)}, {"b group", ib.Group, uint32(8)},
		{"a master", ia.Master, "br0"}, {"b master", ib.Master, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if ia.PeerNSID < 0 || ib.PeerNSID < 0 {
		t.Errorf("peer nsids %d, %d: want both ends to see the other's namespace", ia.PeerNSID, ib.PeerNSID)
	}
	// Peers: each end's IFLA_LINK is the other's ifindex.
	la, _ := hA.LinkByName("eth0")
	lb, _ := hB.LinkByName("eth0")
	if la.Attrs().ParentIndex != lb.Attrs().Index || lb.Attrs().ParentIndex != la.Attrs().Index {
		t.Errorf("ends are not peers: a link %d index %d, b link %d index %d",
			la.Attrs().ParentIndex, la.Attrs().Index, lb.Attrs().ParentIndex, lb.Attrs().Index)
	}
	waitFor(t, "carrier on both ends", func() bool {
		return get(t, hA, "eth0").OperUp && get(t, hB, "eth0").OperUp
	})
}

func TestAddVethPeerHandleAndMasterHere(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	nsB, hB := newNS(t)
	if err := netdev.AddBridge(h, "br0", netdev.BridgeOptions{Up: true, Alias: "nslab:x"}); err != nil {
		t.Fatal(err)
	}
	err := netdev.AddVeth(h,
		netdev.End{Name: "p0", Master: "br0", Up: true},
		netdev.End{NS: nsB, Name: "eth1", Up: true}, hB)
	if err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "p0"); i.Master != "br0" || !i.Up {
		t.Errorf("p0: master %q up %v, want br0 and up", i.Master, i.Up)
	}
	if i := get(t, hB, "eth1"); !i.Up || i.MTU != 1500 {
		t.Errorf("eth1: up %v MTU %d, want up and 1500", i.Up, i.MTU)
	}
	if i := get(t, h, "br0"); i.Alias != "nslab:x" || !i.Up || i.Kind != "bridge" {
		t.Errorf("br0 = %+v, want an up bridge with alias nslab:x", i)
	}
}

func TestAddVethUndoesOnFailure(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	nsB, hB := newNS(t)
	err := netdev.AddVeth(h,
		netdev.End{Name: "v0", Up: true},
		netdev.End{NS: nsB, Name: "v1", Master: "nosuchbr", Up: true}, hB)
	if err == nil {
		t.Fatal("AddVeth with a missing master in the peer's namespace succeeded")
	}
	if !errors.Is(err, netdev.ErrNotFound) || !strings.Contains(err.Error(), `"nosuchbr"`) {
		t.Errorf("err = %v, want a not-found error naming the bridge", err)
	}
	for _, hh := range []*netlink.Handle{h, hB} {
		if got := devNames(t, hh); len(got) != 1 {
			t.Errorf("left behind: %v", got)
		}
	}
}

func TestAddVethExists(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	if err := netdev.AddVeth(h, netdev.End{Name: "v0"}, netdev.End{Name: "v1"}, nil); err != nil {
		t.Fatal(err)
	}
	err := netdev.AddVeth(h, netdev.End{Name: "v0"}, netdev.End{Name: "v2"}, nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second AddVeth: %v, want fs.ErrExist", err)
	}
	if !strings.HasPrefix(err.Error(), `add veth "v0": `) {
		t.Errorf("message %q does not start with the operation and name", err)
	}
	if got := devNames(t, h); len(got) != 3 {
		t.Errorf("devices %v, want lo v0 v1", got)
	}
}

func TestNamesCheckedBeforeKernel(t *testing.T) {
	// A handle without sockets: any request would fail with ErrNoHandle,
	// so a name error proves the check came first.
	h := &netlink.Handle{}
	for _, c := range []struct{ a, b string }{
		{"averylongname16b", "ok"},
		{"ok", "bad/name"},
		{"ok", ""},
		{"same", "same"},
	} {
		err := netdev.AddVeth(h, netdev.End{Name: c.a}, netdev.End{Name: c.b}, nil)
		if err == nil || errors.Is(err, netdev.ErrNoHandle) {
			t.Errorf("AddVeth(%q, %q) = %v, want a name error", c.a, c.b, err)
		}
		var e *netdev.Error
		if !errors.As(err, &e) || e.Op != "add" || e.Kind != "veth" {
			t.Errorf("AddVeth(%q, %q) = %#v, want *netdev.Error add veth", c.a, c.b, err)
		}
	}
	for _, mac := range []net.HardwareAddr{{1, 2, 3, 4, 5, 6}, {2, 0, 0, 0, 1}} {
		err := netdev.AddVeth(h, netdev.End{Name: "ok", HardwareAddr: mac}, netdev.End{Name: "ok2"}, nil)
		if err == nil || errors.Is(err, netdev.ErrNoHandle) || !strings.Contains(err.Error(), "MAC address") {
			t.Errorf("AddVeth with MAC %v = %v, want a MAC error", mac, err)
		}
	}
	if err := netdev.SetUp(h, "averylongname16b"); err == nil || !strings.Contains(err.Error(), "IFNAMSIZ") {
		t.Errorf("SetUp with a 16-byte name: %v", err)
	}
}

func TestMissingKindIsUnsupported(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	err := netdev.AddDummy(h, "d0", netdev.Options{})
	if err == nil {
		t.Skip("this kernel has dummy devices")
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("AddDummy: %v, want errors.ErrUnsupported", err)
	}
	want := `add dummy "d0": this kernel has no "dummy" link type (CONFIG_DUMMY / module dummy): unsupported operation`
	if err.Error() != want {
		t.Errorf("message\n got %s\nwant %s", err, want)
	}
}

func TestBridgePorts(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	if err := netdev.AddBridge(h, "br0", netdev.BridgeOptions{MTU: 1400, Up: true, Group: 3}); err != nil {
		t.Fatal(err)
	}
	if err := netdev.AddVeth(h, netdev.End{Name: "p0", MTU: 1400}, netdev.End{Name: "p1", MTU: 1400}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p0", "p1"} {
		if err := netdev.SetMaster(h, p, "br0"); err != nil {
			t.Fatal(err)
		}
		if err := netdev.SetUp(h, p); err != nil {
			t.Fatal(err)
		}
		if i := get(t, h, p); i.Master != "br0" || !i.Up {
			t.Errorf("%s: master %q up %v", p, i.Master, i.Up)
		}
	}
	if err := netdev.SetMaster(h, "p0", "p1"); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Errorf("SetMaster to a veth: %v, want 'not a bridge'", err)
	}
	if err := netdev.SetNoMaster(h, "p0"); err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "p0"); i.Master != "" {
		t.Errorf("p0 master after SetNoMaster = %q", i.Master)
	}
	if i := get(t, h, "br0"); i.Group != 3 || i.MTU != 1400 {
		t.Errorf("br0 group %d MTU %d, want 3 and 1400", i.Group, i.MTU)
	}
	if err := netdev.SetMTU(h, "p1", 9000); err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "p1"); i.MTU != 9000 {
		t.Errorf("p1 MTU = %d, want 9000", i.MTU)
	}
	if err := netdev.SetMTU(h, "p1", 10); !errors.Is(err, fs.ErrInvalid) && !strings.Contains(fmt.Sprint(err), "range") {
		t.Errorf("SetMTU 10: %v, want an out-of-range error", err)
	}
	if err := netdev.SetDown(h, "br0"); err != nil {
		t.Fatal(err)
	}
	if get(t, h, "br0").Up {
		t.Error("br0 still up after SetDown")
	}
}

func TestSetMulticastSnooping(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	if err := netdev.AddBridge(h, "br0", netdev.BridgeOptions{Up: true}); err != nil {
		t.Fatal(err)
	}
	snooping := func() bool {
		t.Helper()
		l, err := h.LinkByName("br0")
		if err != nil {
			t.Fatal(err)
		}
		s := l.(*netlink.Bridge).MulticastSnooping
		if s == nil {
			t.Fatal("br0: the kernel reported no multicast snooping setting")
		}
		return *s
	}
	if !snooping() {
		t.Fatal("a new bridge has multicast snooping off; the kernel's default is on")
	}
	for _, on := range []bool{false, true} {
		if err := netdev.SetMulticastSnooping(h, "br0", on); err != nil {
			t.Fatal(err)
		}
		if got := snooping(); got != on {
			t.Errorf("after SetMulticastSnooping(%v): snooping %v", on, got)
		}
	}
	if err := netdev.AddVeth(h, netdev.End{Name: "v0"}, netdev.End{Name: "v1"}, nil); err != nil {
		t.Fatal(err)
	}
	want := `set multicast snooping of "v0": a veth device, not a bridge`
	if err := netdev.SetMulticastSnooping(h, "v0", false); err == nil || err.Error() != want {
		t.Errorf("on a veth: %v, want %q", err, want)
	}
}

func TestMoveComesUpDownAndFlushed(t *testing.T) {
	t.Parallel()
	_, hA := newNS(t)
	nsB, hB := newNS(t)
	if err := netdev.AddVeth(hA, netdev.End{Name: "m0", Up: true}, netdev.End{Name: "m1", Up: true}, nil); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.18.7.1/24")
	if err := ipaddr.Add(hA, "m0", p, ipaddr.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := netdev.Move(hA, "m0", nsB, "eth9"); err != nil {
		t.Fatal(err)
	}
	if _, err := netdev.Get(hA, "m0"); !errors.Is(err, netdev.ErrNotFound) {
		t.Errorf("m0 still in the source namespace: %v", err)
	}
	i := get(t, hB, "eth9")
	if i.Up {
		t.Error("moved device is up, want DOWN")
	}
	ps, err := ipaddr.ListGlobal(hB, "eth9")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Errorf("moved device kept addresses %v", ps)
	}
	// A name taken in the target.
	if err := netdev.Move(hA, "m1", nsB, "eth9"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Move onto a taken name: %v, want fs.ErrExist", err)
	}
	if _, err := netdev.Get(hA, "m1"); err != nil {
		t.Errorf("failed move lost the device: %v", err)
	}
	// Bridges cannot move.
	if err := netdev.AddBridge(hA, "br0", netdev.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := netdev.Move(hA, "br0", nsB, ""); err == nil || !strings.Contains(err.Error(), "cannot change namespace") {
		t.Errorf("Move bridge: %v", err)
	}
}

func TestDeleteGroup(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	const n = 20
	for i := range n {
		a := netdev.End{Name: fmt.Sprintf("g%da", i), Group: 42}
		b := netdev.End{Name: fmt.Sprintf("g%db", i), Group: 42}
		if err := netdev.AddVeth(h, a, b, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := netdev.AddVeth(h, netdev.End{Name: "keep0"}, netdev.End{Name: "keep1"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := len(devNames(t, h)); got != 2*n+3 {
		t.Fatalf("%d devices before, want %d", got, 2*n+3)
	}
	if err := netdev.DeleteGroup(h, 42); err != nil {
		t.Fatal(err)
	}
	if got := devNames(t, h); len(got) != 3 {
		t.Errorf("after DeleteGroup: %v, want lo keep0 keep1", got)
	}
	if err := netdev.DeleteGroup(h, 42); err != nil {
		t.Errorf("DeleteGroup of an empty group: %v", err)
	}
	if err := netdev.DeleteGroup(h, 0); err == nil {
		t.Error("DeleteGroup(0) succeeded")
	}
	if err := netdev.DeleteGroup(&netlink.Handle{}, 5); !errors.Is(err, netdev.ErrNoHandle) {
		t.Errorf("DeleteGroup on a socketless handle: %v, want ErrNoHandle", err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	for name, f := range map[string]func() error{
		"SetUp":  func() error { return netdev.SetUp(h, "nosuch0") },
		"Delete": func() error { return netdev.Delete(h, "nosuch0") },
		"Get":    func() error { _, err := netdev.Get(h, "nosuch0"); return err },
		"Move":   func() error { return netdev.Move(h, "nosuch0", vnetns.None(), "") },
	} {
		err := f()
		if !errors.Is(err, netdev.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		if !strings.Contains(fmt.Sprint(err), `"nosuch0"`) {
			t.Errorf("%s: %v does not name the device", name, err)
		}
	}
	err := netdev.WithNetNS(netdev.SetUp(h, "nosuch0"), "r1")
	if want := `bring up "nosuch0" in netns "r1": no such device`; fmt.Sprint(err) != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestSetUpLo(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	if get(t, h, "lo").Up {
		t.Fatal("lo is up in a fresh namespace")
	}
	if err := netdev.SetUp(h, "lo"); err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "lo"); !i.Up || !i.OperUp || i.Kind != "device" {
		t.Errorf("lo = %+v, want up", i)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, c := range []struct {
		e    *netdev.Error
		want string
	}{
		{&netdev.Error{Op: "add", Kind: "veth", Name: "eth0", NetNS: "demo-r1", Err: fs.ErrExist}, `add veth "eth0" in netns "demo-r1": file already exists`},
		{&netdev.Error{Op: "bring up", Name: "eth0", Err: netdev.ErrNotFound}, `bring up "eth0": no such device`},
		{&netdev.Error{Op: "delete", Kind: "group", Name: "5", Err: errors.New("x")}, `delete group "5": x`},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
}

func TestAddVethFixedIndexes(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	nsB, hB := newNS(t)
	if err := netdev.AddBridge(h, "br0", netdev.BridgeOptions{Up: true}); err != nil {
		t.Fatal(err)
	}
	br, err := h.LinkByName("br0")
	if err != nil {
		t.Fatal(err)
	}
	err = netdev.AddVeth(h,
		netdev.End{Name: "p0", Master: "br0", MasterIndex: int32(br.Attrs().Index), Up: true, Index: 40},
		netdev.End{NS: nsB, Name: "eth0", Up: true, Index: 7, Alias: "nslab:idx"}, hB)
	if err != nil {
		t.Fatal(err)
	}
	p0, err := h.LinkByName("p0")
	if err != nil {
		t.Fatal(err)
	}
	eth0, err := hB.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if p0.Attrs().Index != 40 || eth0.Attrs().Index != 7 {
		t.Errorf("indexes p0 %d eth0 %d, want 40 and 7", p0.Attrs().Index, eth0.Attrs().Index)
	}
	if i := get(t, h, "p0"); i.Master != "br0" || !i.Up {
		t.Errorf("p0: master %q up %v, want br0 and up", i.Master, i.Up)
	}
	if i := get(t, hB, "eth0"); !i.Up || i.Alias != "nslab:idx" {
		t.Errorf("eth0: up %v alias %q, want up and nslab:idx", i.Up, i.Alias)
	}
	// An index in use is refused, wrapping EEXIST (EBUSY before 6.6), and
	// leaves nothing.
	err = netdev.AddVeth(h,
		netdev.End{Name: "p1", Up: true, Index: 40},
		netdev.End{NS: nsB, Name: "eth1"}, hB)
	if !(errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY)) || !strings.Contains(err.Error(), "index 40") {
		t.Errorf("index in use: got %v, want an error wrapping EEXIST or EBUSY that names index 40", err)
	}
	if _, err := hB.LinkByName("eth1"); err == nil {
		t.Error("eth1 exists after a refused pair")
	}
}

func TestSetByIndexLo(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	if err := netdev.SetByIndex(h, 1, "lo", false, "nslab:mark"); err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "lo"); i.Up || i.Alias != "nslab:mark" {
		t.Errorf("lo: up %v alias %q, want down and nslab:mark", i.Up, i.Alias)
	}
	if err := netdev.SetByIndex(h, 1, "lo", true, ""); err != nil {
		t.Fatal(err)
	}
	if i := get(t, h, "lo"); !i.Up || i.Alias != "nslab:mark" {
		t.Errorf("lo: up %v alias %q, want up and nslab:mark", i.Up, i.Alias)
	}
	if err := netdev.SetByIndex(h, 99, "nope", true, ""); !errors.Is(err, netdev.ErrNotFound) {
		t.Errorf("missing index: got %v, want ErrNotFound", err)
	}
}

func TestAddVethMACs(t *testing.T) {
	nsA, _ := newNS(t)
	_, hb := newNS(t)
	ha := handle(t, nsA)
	ma, mb := net.HardwareAddr{0x02, 0, 0x5e, 1, 2, 3}, net.HardwareAddr{0x06, 0xaa, 0, 0, 0, 9}
	err := netdev.AddVeth(hb, netdev.End{Name: "m0", HardwareAddr: mb}, netdev.End{NS: nsA, Name: "m1", HardwareAddr: ma}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := ha.LinkByName("m1"); err != nil || l.Attrs().HardwareAddr.String() != ma.String() {
		t.Errorf("m1 in A: %v, %v; want MAC %v", l, err, ma)
	}
	if l, err := hb.LinkByName("m0"); err != nil || l.Attrs().HardwareAddr.String() != mb.String() {
		t.Errorf("m0 in B: %v, %v; want MAC %v", l, err, mb)
	}
}

// A device set to addrgenmode none before it comes up gets no IPv6
// link-local address, while its peer, left as the kernel makes it, does.
func TestQueueAddrGenNone(t *testing.T) {
	t.Parallel()
	_, ha := newNS(t)
	nsB, hb := newNS(t)
	if err := netdev.AddVeth(ha, netdev.End{Name: "a0", Index: 20}, netdev.End{NS: nsB, Name: "b0", Index: 21}, hb); err != nil {
		t.Fatal(err)
	}
	b := nl.NewBatch(ha)
	if err := netdev.QueueAddrGenNone(b, 20, "a0"); err != nil {
		t.Fatal(err)
	}
	if err := netdev.QueueSetByIndex(b, 20, "a0", true, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(); err != nil {
		t.Fatal(err)
	}
	if err := netdev.SetByIndex(hb, 21, "b0", true, ""); err != nil {
		t.Fatal(err)
	}
	v6 := func(h *netlink.Handle, dev string) []netip.Prefix {
		t.Helper()
		all, err := ipaddr.List(h, dev)
		if err != nil {
			t.Fatal(err)
		}
		var out []netip.Prefix
		for _, p := range all {
			if p.Addr().Is6() {
				out = append(out, p)
			}
		}
		return out
	}
	// b0 gets its link-local address when the pair's carrier comes up, as
	// a0 would have.
	waitFor(t, "b0's link-local address", func() bool { return len(v6(hb, "b0")) > 0 })
	if got := v6(ha, "a0"); len(got) > 0 {
		t.Errorf("a0 has IPv6 addresses %v; want none (addrgenmode none)", got)
	}
	if i := get(t, ha, "a0"); !i.Up {
		t.Error("a0 is not up")
	}
	if err := netdev.QueueAddrGenNone(b, 0, "a0"); err == nil || !strings.Contains(err.Error(), "a0") {
		t.Errorf("index 0: got %v, want an error naming a0", err)
	}
}

// Both ends get one transmit and one receive queue unless told otherwise
// (the kernel would allocate one per CPU, then drop to one with a grace
// period per end), and the number asked for when it is.
func TestAddVethQueues(t *testing.T) {
	t.Parallel()
	_, h := newNS(t)
	nsB, hB := newNS(t)
	if err := netdev.AddVeth(h, netdev.End{Name: "q0"}, netdev.End{NS: nsB, Name: "q0"}, hB); err != nil {
		t.Fatal(err)
	}
	if err := netdev.AddVeth(h, netdev.End{Name: "q4", Queues: 4}, netdev.End{NS: nsB, Name: "q4", Queues: 2}, hB); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    *netlink.Handle
		name string
		want int
	}{{h, "q0", 1}, {hB, "q0", 1}, {h, "q4", 4}, {hB, "q4", 2}} {
		l, err := c.h.LinkByName(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if a := l.Attrs(); a.NumTxQueues != c.want || a.NumRxQueues != c.want {
			t.Errorf("%s: %d transmit and %d receive queues, want %d of each", c.name, a.NumTxQueues, a.NumRxQueues, c.want)
		}
	}
	err := netdev.AddVeth(h, netdev.End{Name: "qbad", Queues: -1}, netdev.End{NS: nsB, Name: "qbad"}, hB)
	if err == nil || !strings.Contains(err.Error(), "queues") {
		t.Errorf("Queues -1: error %v, want one about queues", err)
	}
	if _, lerr := h.LinkByName("qbad"); lerr == nil {
		t.Error("qbad exists after the refused request")
	}
}

// SetDownIn brings a bridge down in another namespace, and names the
// device when the kernel has none of that name there.
func TestSetDownIn(t *testing.T) {
	t.Parallel()
	ns, h := newNS(t)
	if err := netdev.AddBridge(h, "br0", netdev.BridgeOptions{Up: true}); err != nil {
		t.Fatal(err)
	}
	if !get(t, h, "br0").Up {
		t.Fatal("br0 is down after AddBridge with Up")
	}
	if err := netdev.SetDownIn(ns, "br0"); err != nil {
		t.Fatal(err)
	}
	if get(t, h, "br0").Up {
		t.Error("br0 still up after SetDownIn")
	}
	err := netdev.SetDownIn(ns, "nosuch0")
	if !errors.Is(err, netdev.ErrNotFound) || !strings.Contains(fmt.Sprint(err), `"nosuch0"`) {
		t.Errorf("SetDownIn of a missing device: %v, want ErrNotFound naming it", err)
	}
	if err := netdev.SetDownIn(ns, "a-name-far-too-long"); err == nil {
		t.Error("SetDownIn accepted a name longer than 15 bytes")
	}
}

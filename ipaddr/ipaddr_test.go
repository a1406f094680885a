package ipaddr_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Keep main on m0 so no goroutine dying in a throwaway namespace wedges it.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// veth returns a handle in a fresh namespace holding an up veth pair v0/v1.
func veth(t *testing.T, ns vnetns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := netdev.AddVeth(h, netdev.End{Name: "v0", Up: true}, netdev.End{Name: "v1", Up: true}, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

func detail(t *testing.T, h *netlink.Handle, dev string, p netip.Prefix) (ipaddr.Address, bool) {
	t.Helper()
	as, err := ipaddr.ListDetail(h, dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Prefix == p {
			return a, true
		}
	}
	return ipaddr.Address{}, false
}

func TestAddV4V6NoDAD(t *testing.T) {
	t.Parallel()
	h := veth(t, nslabtest.NewNS(t))
	v4 := netip.MustParsePrefix("198.18.0.1/24")
	v6 := netip.MustParsePrefix("fd00:18::1/64")
	v6dad := netip.MustParsePrefix("fd00:18::2/64")
	if err := ipaddr.Add(h, "v0", v4, ipaddr.Options{NoDAD: true}); err != nil {
		t.Fatal(err)
	}
	if err := ipaddr.Add(h, "v0", v6, ipaddr.Options{NoDAD: true}); err != nil {
		t.Fatal(err)
	}
	// Right after Add: the NODAD address must not be tentative.
	if a, ok := detail(t, h, "v0", v6); !ok || a.Tentative {
		t.Errorf("NODAD address %v: present %v, tentative %v; want present, not tentative", v6, ok, a.Tentative)
	}
	// Control: without NoDAD on an up device with carrier, DAD runs.
	if err := ipaddr.Add(h, "v0", v6dad, ipaddr.Options{}); err != nil {
		t.Fatal(err)
	}
	if a, ok := detail(t, h, "v0", v6dad); !ok || !a.Tentative {
		t.Errorf("address %v added with DAD: present %v, tentative %v; want tentative", v6dad, ok, a.Tentative)
	}
	ps, err := ipaddr.ListGlobal(h, "v0")
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	want := []netip.Prefix{v4, v6, v6dad}
	if !slices.Equal(ps, want) {
		t.Errorf("ListGlobal = %v, want %v", ps, want)
	}
	all, err := ipaddr.List(h, "v0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() }) {
		t.Errorf("List = %v, want the fe80::/64 link-local address too", all)
	}

	// Duplicates, Replace, Del.
	if err := ipaddr.Add(h, "v0", v4, ipaddr.Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("duplicate Add: %v, want fs.ErrExist", err)
	} else if want := `add address 198.18.0.1/24 on "v0": file exists`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if err := ipaddr.Replace(h, "v0", v4, ipaddr.Options{}); err != nil {
		t.Errorf("Replace of an existing address: %v", err)
	}
	if err := ipaddr.Del(h, "v0", v4); err != nil {
		t.Fatal(err)
	}
	if _, ok := detail(t, h, "v0", v4); ok {
		t.Error("address still there after Del")
	}
	if err := ipaddr.Del(h, "v0", v4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Del: %v, want fs.ErrNotExist", err)
	}
}

func TestMissingDevice(t *testing.T) {
	t.Parallel()
	h := veth(t, nslabtest.NewNS(t))
	err := ipaddr.Add(h, "nosuch", netip.MustParsePrefix("198.18.0.1/24"), ipaddr.Options{})
	if !errors.Is(err, netdev.ErrNotFound) {
		t.Fatalf("Add on a missing device: %v, want netdev.ErrNotFound", err)
	}
	err = ipaddr.WithNetNS(err, "r1")
	if want := `add address 198.18.0.1/24 on "nosuch" in netns "r1": no such device`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if _, err := ipaddr.List(h, "nosuch"); !errors.Is(err, netdev.ErrNotFound) {
		t.Errorf("List on a missing device: %v", err)
	}
	if err := ipaddr.Add(h, "v0", netip.Prefix{}, ipaddr.Options{}); err == nil {
		t.Error("Add of the zero prefix succeeded")
	}
}

// TestCrossCheckIP compares List with `ip -j addr show` in a named namespace.
func TestCrossCheckIP(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	t.Parallel()
	name, ns := nslabtest.NewNamedNS(t)
	h := veth(t, ns)
	ps := []netip.Prefix{netip.MustParsePrefix("198.19.1.5/16"), netip.MustParsePrefix("fd00:19::5/120")}
	for _, p := range ps {
		if err := ipaddr.Add(h, "v1", p, ipaddr.Options{NoDAD: true}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("ip", "-j", "-n", name, "addr", "show", "dev", "v1").Output()
	if err != nil {
		t.Fatal(err)
	}
	var js []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatal(err)
	}
	var fromIP []string
	for _, a := range js[0].AddrInfo {
		if a.Scope != "link" {
			fromIP = append(fromIP, netip.PrefixFrom(netip.MustParseAddr(a.Local), a.Prefixlen).String())
		}
	}
	got, err := ipaddr.ListGlobal(h, "v1")
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, p := range got {
		ours = append(ours, p.String())
	}
	slices.Sort(fromIP)
	slices.Sort(ours)
	if strings.Join(ours, " ") != strings.Join(fromIP, " ") {
		t.Errorf("ipaddr.ListGlobal = %v, ip says %v", ours, fromIP)
	}
}

func TestReplaceByIndex(t *testing.T) {
	t.Parallel()
	h := veth(t, nslabtest.NewNS(t))
	v1, err := h.LinkByName("v1")
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("198.18.7.1/24")
	// The index wins over the name, which only labels errors.
	if err := ipaddr.Replace(h, "v1", p, ipaddr.Options{Index: int32(v1.Attrs().Index)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := detail(t, h, "v1", p); !ok {
		t.Errorf("v1 lacks %s after Replace by index", p)
	}
	err = ipaddr.Replace(h, "gone", p, ipaddr.Options{Index: 999})
	if !errors.Is(err, netdev.ErrNotFound) || !strings.Contains(err.Error(), "index 999") {
		t.Errorf("Replace on a missing index: %v, want netdev.ErrNotFound naming index 999", err)
	}
}

// QueueReplace sends what Replace sends: `ip -j addr` shows the same
// addresses, flags and broadcast addresses either way.
func TestQueueReplaceMatchesReplace(t *testing.T) {
	t.Parallel()
	ps := []netip.Prefix{
		netip.MustParsePrefix("198.18.3.1/16"), netip.MustParsePrefix("198.18.5.1/30"),
		netip.MustParsePrefix("198.19.0.4/31"), netip.MustParsePrefix("198.18.9.9/32"),
		netip.MustParsePrefix("fd00:18::3/64"),
	}
	show := func(name string) string {
		t.Helper()
		out, err := exec.Command("ip", "-j", "-n", name, "addr", "show", "dev", "v0").Output()
		if err != nil {
			t.Fatal(err)
		}
		var js []struct {
			AddrInfo []map[string]any `json:"addr_info"`
		}
		if err := json.Unmarshal(out, &js); err != nil || len(js) != 1 {
			t.Fatalf("ip -j addr: %v (%s)", err, out)
		}
		var s []string
		for _, a := range js[0].AddrInfo {
			if a["scope"] == "link" {
				continue // fe80:: from the random MAC address
			}
			delete(a, "valid_life_time")
			delete(a, "preferred_life_time")
			b, _ := json.Marshal(a)
			s = append(s, string(b))
		}
		slices.Sort(s)
		return strings.Join(s, "\n")
	}
	one, ns1 := nslabtest.NewNamedNS(t)
	h1 := veth(t, ns1)
	for _, p := range ps {
		if err := ipaddr.Replace(h1, "v0", p, ipaddr.Options{NoDAD: true}); err != nil {
			t.Fatal(err)
		}
	}
	batched, ns2 := nslabtest.NewNamedNS(t)
	h2 := veth(t, ns2)
	b := nl.NewBatch(h2)
	for _, p := range ps {
		if err := ipaddr.QueueReplace(b, "v0", p, ipaddr.Options{NoDAD: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Exec(); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	want, got := show(one), show(batched)
	if got != want {
		t.Errorf("after QueueReplace:\n%s\nafter Replace:\n%s", got, want)
	}
	if !strings.Contains(got, `"broadcast":"198.18.255.255"`) {
		t.Errorf("no broadcast address for 198.18.3.1/16:\n%s", got)
	}

	// A missing device fails when queued (looked up by name) or when sent
	// (by index), naming the address and the device.
	if err := ipaddr.QueueReplace(b, "gone", ps[0], ipaddr.Options{}); !errors.Is(err, netdev.ErrNotFound) {
		t.Errorf("QueueReplace on a missing device: %v, want netdev.ErrNotFound", err)
	}
	if err := ipaddr.QueueReplace(b, "gone", ps[0], ipaddr.Options{Index: 999}); err != nil {
		t.Fatal(err)
	}
	err := b.Exec()
	if want := `replace address 198.18.3.1/16 on "gone": no device with index 999: no such device`; err == nil || err.Error() != want {
		t.Errorf("Exec on a missing index: %v, want %q", err, want)
	}
}

package iproute_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/iproute"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Keep main on m0 so no goroutine dying in a throwaway namespace wedges it.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// setup returns a handle in ns with an up veth v0/v1, 198.18.0.1/24 and
// fd00:18::1/64 on v0.
func setup(t *testing.T, ns vnetns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := netdev.AddVeth(h, netdev.End{Name: "v0", Up: true}, netdev.End{Name: "v1", Up: true}, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"198.18.0.1/24", "fd00:18::1/64"} {
		if err := ipaddr.Add(h, "v0", netip.MustParsePrefix(p), ipaddr.Options{NoDAD: true}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func mustParse(t *testing.T, s ...string) iproute.Route {
	t.Helper()
	r, err := iproute.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ipRoutes returns `ip -j [-6] -n NS route` as Routes (main table, proto
// other than kernel).
func ipRoutes(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		b, err := exec.Command("ip", "-j", fam, "-n", ns, "route", "show", "table", "main").Output()
		if err != nil {
			t.Fatal(err)
		}
		var rs []struct {
			Dst      string `json:"dst"`
			Gateway  string `json:"gateway"`
			Dev      string `json:"dev"`
			Metric   int    `json:"metric"`
			Protocol string `json:"protocol"`
			Type     string `json:"type"`
		}
		if err := json.Unmarshal(b, &rs); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Protocol == "kernel" || (r.Type != "" && r.Type != "unicast") {
				continue
			}
			s := r.Dst
			if r.Gateway != "" {
				s += " via " + r.Gateway
			}
			s += " dev " + r.Dev
			if r.Metric != 0 {
				s += fmt.Sprintf(" metric %d", r.Metric)
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func ours(t *testing.T, h *netlink.Handle) []string {
	t.Helper()
	rs, err := iproute.List(h)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	slices.Sort(out)
	return out
}

func TestAddListDelCrossCheck(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 not installed")
	}
	t.Parallel()
	name, ns := nslabtest.NewNamedNS(t)
	h := setup(t, ns)
	routes := []iproute.Route{
		mustParse(t, "default", "via", "198.18.0.254"),
		mustParse(t, "198.19.0.0/16", "dev", "v0"),
		mustParse(t, "198.18.128.0/17", "via", "198.18.0.2", "dev", "v0", "metric", "50"),
		mustParse(t, "fd00:99::/48", "via", "fd00:18::2"),
		mustParse(t, "default", "via", "fd00:18::fe", "metric", "7"),
	}
	for _, r := range routes {
		if err := iproute.Add(h, r); err != nil {
			t.Fatal(err)
		}
	}
	got, want := ours(t, h), ipRoutes(t, name)
	if len(got) != len(routes) || !slices.Equal(got, want) {
		t.Errorf("iproute.List:\n%q\nip route:\n%q", got, want)
	}
	// Kernel routes appear only in ListAll.
	all, err := iproute.ListAll(h)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(all, iproute.Route{To: netip.MustParsePrefix("198.18.0.0/24"), Dev: "v0"}) {
		t.Errorf("ListAll = %v, want the connected route of v0", all)
	}

	if err := iproute.Add(h, routes[1]); !errors.Is(err, fs.ErrExist) {
		t.Errorf("duplicate Add: %v, want fs.ErrExist", err)
	}
	if err := iproute.Replace(h, iproute.Route{To: routes[1].To, Via: netip.MustParseAddr("198.18.0.3")}); err != nil {
		t.Errorf("Replace: %v", err)
	}
	for _, r := range routes {
		if err := iproute.Del(h, iproute.Route{To: r.To, Via: r.Via}); err != nil {
			t.Errorf("Del %v: %v", r, err)
		}
	}
	if err := iproute.Del(h, routes[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Del of a missing route: %v, want fs.ErrNotExist", err)
	}
	if got, want := ours(t, h), ipRoutes(t, name); len(got) != 0 || len(want) != 0 {
		t.Errorf("after Del: ours %q, ip %q; want none", got, want)
	}
}

func TestAddErrors(t *testing.T) {
	t.Parallel()
	h := setup(t, nslabtest.NewNS(t))
	err := iproute.Add(h, mustParse(t, "198.20.0.0/16", "via", "198.51.0.1"))
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("gateway off-subnet: %v, want ENETUNREACH", err)
	}
	err = iproute.Add(h, iproute.Route{To: netip.MustParsePrefix("198.20.0.0/16"), Dev: "nosuch"})
	if !errors.Is(err, netdev.ErrNotFound) {
		t.Errorf("missing dev: %v, want netdev.ErrNotFound", err)
	}
	err = iproute.WithNetNS(err, "r1")
	if want := `add route 198.20.0.0/16 dev nosuch in netns "r1": device "nosuch": no such device`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string // String() of the result, or "error"
	}{
		{[]string{"default", "via", "198.18.0.1"}, "default via 198.18.0.1"},
		{[]string{"default", "via", "fd00::1", "dev", "eth0"}, "default via fd00::1 dev eth0"},
		{[]string{"198.18.1.0/24", "dev", "eth0", "metric", "10"}, "198.18.1.0/24 dev eth0 metric 10"},
		{[]string{"198.18.1.7", "dev", "eth0"}, "198.18.1.7/32 dev eth0"},
		{[]string{"198.18.1.7/24", "dev", "eth0"}, "error"},          // host bits
		{[]string{"198.18.1.0/24"}, "error"},                         // neither via nor dev
		{[]string{"198.18.1.0/24", "via", "fd00::1"}, "error"},       // mixed families
		{[]string{"198.18.1.0/24", "via"}, "error"},                  // missing value
		{[]string{"198.18.1.0/24", "dev", "a", "dev", "b"}, "error"}, // repeated
		{[]string{"198.18.1.0/24", "gw", "198.18.0.1"}, "error"},     // unknown word
		{[]string{"198.18.1.0/24", "dev", "averylongname16b"}, "error"},
		{[]string{}, "error"},
	} {
		r, err := iproute.Parse(c.in)
		got := r.String()
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %q (%v), want %q", c.in, got, err, c.want)
		}
	}
}

// FuzzParse checks that whatever Parse accepts formats back to fields that
// parse to the same route.
func FuzzParse(f *testing.F) {
	for _, s := range [][4]string{
		{"default", "via", "198.18.0.1", ""},
		{"fd00::/8", "dev", "eth0", ""},
		{"198.18.1.7", "metric", "4294967295", ""},
		{"::ffff:198.18.0.1", "via", "::ffff:198.18.0.2", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		fields := []string{a, b, c}
		if d != "" {
			fields = append(fields, d)
		}
		r, err := iproute.Parse(fields)
		if err != nil {
			return
		}
		r2, err := iproute.Parse(strings.Fields(r.String()))
		if err != nil {
			t.Fatalf("Parse(%q) = %v, but its String %q does not parse: %v", fields, r, r.String(), err)
		}
		if r2 != r {
			t.Fatalf("round trip: %q -> %#v -> %q -> %#v", fields, r, r.String(), r2)
		}
	})
}

// QueueReplace sends what Replace sends: `ip -j route` shows the same routes
// either way, for every form the package accepts.
func TestQueueReplaceMatchesReplace(t *testing.T) {
	t.Parallel()
	rs := []iproute.Route{
		mustParse(t, "default", "via", "198.18.0.254"),
		mustParse(t, "198.19.0.0/24", "via", "198.18.0.2", "dev", "v0"),
		mustParse(t, "198.19.1.0/24", "dev", "v0"),
		mustParse(t, "198.19.2.0/24", "via", "198.18.0.3", "metric", "7"),
		mustParse(t, "fd00:19::/64", "via", "fd00:18::2"),
		mustParse(t, "::/0", "via", "fd00:18::fe", "dev", "v0"),
	}
	one, ns1 := nslabtest.NewNamedNS(t)
	h1 := setup(t, ns1)
	for _, r := range rs {
		if err := iproute.Replace(h1, r); err != nil {
			t.Fatal(err)
		}
	}
	batched, ns2 := nslabtest.NewNamedNS(t)
	h2 := setup(t, ns2)
	b := nl.NewBatch(h2)
	for _, r := range rs {
		if err := iproute.QueueReplace(b, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Exec(); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	want, got := ipRoutes(t, one), ipRoutes(t, batched)
	if !slices.Equal(got, want) || len(got) != len(rs) {
		t.Errorf("after QueueReplace: %q\nafter Replace: %q", got, want)
	}
	// A gateway off every subnet fails when sent, with the same hint.
	if err := iproute.QueueReplace(b, mustParse(t, "198.19.9.0/24", "via", "198.20.0.1"), 0); err != nil {
		t.Fatal(err)
	}
	err := b.Exec()
	if !errors.Is(err, syscall.ENETUNREACH) || !strings.Contains(err.Error(), "replace route 198.19.9.0/24 via 198.20.0.1") ||
		!strings.Contains(err.Error(), "not on a connected subnet") {
		t.Errorf("Exec of an unreachable gateway: %v", err)
	}
}

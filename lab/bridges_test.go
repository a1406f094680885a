package lab

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
)

// A switch with bigBridgePorts ports is recorded in the state with its
// bridge, and down's first step brings that bridge down; a switch with fewer
// ports, and a namespace whose identity changed, are left alone.
func TestDownBigBridges(t *testing.T) {
	nslabtest.RequireRoot(t)
	var y strings.Builder
	y.WriteString("name: x\nnodes:\n  a: {}\n")
	for i := range bigBridgePorts {
		fmt.Fprintf(&y, "  h%d: {}\n", i)
	}
	y.WriteString("switches:\n  big: {subnets: [198.18.40.0/24]}\n  small: {subnets: [198.18.41.0/24]}\nlinks:\n")
	y.WriteString("  - endpoints: [a:eth0, small]\n")
	for i := range bigBridgePorts {
		fmt.Fprintf(&y, "  - endpoints: [h%d:eth0, big]\n", i)
	}
	spec, err := topo.Parse([]byte(y.String()), "bridges.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = nslabtest.Name(t, topo.MaxLabName)
	t.Cleanup(func() { Down(context.WithoutCancel(t.Context()), spec.Name, Options{}) })
	if _, err := Up(t.Context(), spec, Options{}); err != nil {
		t.Fatal(err)
	}
	full, err := loadState(spec.Name)
	if err != nil || full == nil {
		t.Fatalf("state: %v", err)
	}
	big, small := full.Model.Nodes["big"], full.Model.Nodes["small"]
	st, err := loadStateForDown(spec.Name) // what down reads: no model
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{big.NS: big.Bridge}; !maps.Equal(st.BigBridges, want) {
		t.Fatalf("state's big bridges %v, want %v", st.BigBridges, want)
	}
	bridge := func(n *NodeModel) *netlink.Bridge {
		t.Helper()
		ns, err := netns.Open(n.NS)
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		l, err := h.LinkByName(n.Bridge)
		if err != nil {
			t.Fatalf("switch %s: %v", n.Name, err)
		}
		return l.(*netlink.Bridge)
	}
	isUp := func(n *NodeModel) bool { return bridge(n).Flags&net.FlagUp != 0 }
	if !isUp(big) || !isUp(small) {
		t.Fatal("a bridge is down after up")
	}
	// Built quiet (quietSwitches), the big switch ends like the small one:
	// with the kernel's default, multicast snooping on.
	for _, n := range []*NodeModel{big, small} {
		if s := bridge(n).MulticastSnooping; s == nil || !*s {
			t.Errorf("switch %s: multicast snooping off after up", n.Name)
		}
	}
	s, err := newSession(spec.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()

	changed := *st
	changed.Owned = maps.Clone(st.Owned)
	changed.Owned[big.NS]++ // not the namespace the lab made
	s.downBigBridges(&changed)()
	if !isUp(big) {
		t.Error("the bridge of a namespace that is not the lab's was brought down")
	}
	s.downBigBridges(st)()
	if isUp(big) {
		t.Errorf("switch big (%d ports): bridge still up", bigBridgePorts)
	}
	if !isUp(small) {
		t.Error("switch small (1 port): bridge brought down")
	}
	if len(s.nss) != 0 {
		t.Errorf("%d namespace handles kept open: the delete loop pins namespaces itself", len(s.nss))
	}
}

// quietSwitches picks new switches with bigBridgePorts ports or more whose
// ports all lead to nodes without IPv6. (Links between switches are refused
// by the parser.)
func TestQuietSwitches(t *testing.T) {
	star := func(hosts int, extra string) string {
		var y strings.Builder
		y.WriteString("name: q\nnodes:\n")
		for i := range hosts {
			fmt.Fprintf(&y, "  h%d: {}\n", i)
		}
		y.WriteString(extra)
		y.WriteString("switches:\n  sw: {subnets: [198.18.40.0/24]}\nlinks:\n")
		for i := range hosts {
			fmt.Fprintf(&y, "  - endpoints: [h%d:eth0, sw]\n", i)
		}
		return y.String()
	}
	big := star(bigBridgePorts, "")
	for _, tc := range []struct {
		name, y string
		quiet   bool
	}{
		{"IPv4 hosts", big, true},
		{"one port fewer", star(bigBridgePorts-1, ""), false},
		{"an IPv6 host", strings.Replace(big, "  h0: {}", "  h0: {interfaces: {eth0: {addresses: [\"fd00:40::9/64\"]}}}", 1), false},
		{"IPv6 hosts, numbered by the switch", strings.Replace(big, "198.18.40.0/24]", "198.18.40.0/24, \"fd00:40::/64\"]", 1), false},
		{"an IPv6 sysctl", strings.Replace(big, "  h0: {}", "  h0: {sysctls: {net.ipv6.conf.all.disable_ipv6: 0}}", 1), false},
		{"a host device", strings.Replace(big, "  sw: {", "  sw: {host_device: nslq0, ", 1), false},
		{"a port to the host", big + "  - endpoints: [host:nslq1, sw]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := topo.Parse([]byte(tc.y), "q.yaml")
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewModel(spec)
			if err != nil {
				t.Fatal(err)
			}
			got := quietSwitches(NewPlan(nil, m), m)
			sw := m.Nodes["sw"]
			if tc.quiet && !maps.Equal(got, map[string]string{sw.NS: sw.Bridge}) || !tc.quiet && len(got) != 0 {
				t.Errorf("quietSwitches = %v, want quiet %v", got, tc.quiet)
			}
			// Adding a host to the running lab builds no switch.
			if tc.quiet {
				old := model(t, star(bigBridgePorts-1, ""))
				if got := quietSwitches(NewPlan(old, m), m); len(got) != 0 {
					t.Errorf("a change adding one port: quietSwitches = %v, want none", got)
				}
			}
		})
	}
}

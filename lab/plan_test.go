package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab/topo"
)

const planBase = `
name: pl
nodes:
  r1:
    sysctls: {net.ipv4.ip_forward: 1}
    interfaces:
      eth0: {addresses: [198.18.1.1/24]}
      eth1: {addresses: [198.18.2.1/24]}
  h1:
    routes: [{to: default, via: 198.18.1.1}]
  h2:
    interfaces: {eth0: {addresses: [198.18.2.10/24]}}
    routes: [{to: default, via: 198.18.2.1}]
switches:
  lan1: {subnet: 198.18.1.0/24}
links:
  - endpoints: [h1:eth0, lan1]
  - endpoints: [r1:eth0, lan1]
  - endpoints: [r1:eth1, h2:eth0]
`

func model(t *testing.T, y string) *Model {
	t.Helper()
	spec, err := topo.Parse([]byte(y), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlanFresh(t *testing.T) {
	p := NewPlan(nil, model(t, planBase))
	if !p.Fresh || len(p.AddNodes) != 4 || len(p.AddLinks) != 3 || len(p.DelNodes) != 0 {
		t.Fatalf("fresh plan: %d nodes, %d links, %d deletes:\n%s", len(p.AddNodes), len(p.AddLinks), len(p.DelNodes), p)
	}
	// The switch end of a link is created from the switch's side.
	for _, l := range p.AddLinks {
		if l.Ends[0].Master != "" {
			t.Errorf("link %s: switch end first", l)
		}
	}
}

func TestPlanUnchangedIsEmpty(t *testing.T) {
	p := NewPlan(model(t, planBase), model(t, planBase))
	if !p.Empty() {
		t.Fatalf("unchanged lab: plan not empty:\n%s", p)
	}
}

func TestPlanChanges(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(string) string
		want   []string // substrings of the printed plan
		nodes  int      // AddNodes
		dels   int      // DelNodes
		links  int      // AddLinks
		dlinks int      // DelLinks
	}{
		{
			name:  "address changed",
			edit:  func(s string) string { return strings.Replace(s, "198.18.2.10/24", "198.18.2.11/24", 1) },
			want:  []string{"~ node h2: + address 198.18.2.11/24 on eth0; - address 198.18.2.10/24 on eth0"},
			nodes: 0,
		},
		{
			name: "node added on a switch",
			edit: func(s string) string {
				s = strings.Replace(s, "  h1:\n", "  h3: {}\n  h1:\n", 1)
				return s + "  - endpoints: [h3:eth0, lan1]\n"
			},
			want:  []string{"+ node h3 (netns pl-h3)", "+ link h3:eth0 <-> lan1"},
			nodes: 1, links: 1,
		},
		{
			name: "node removed",
			edit: func(s string) string {
				s = strings.Replace(s, "  - endpoints: [h1:eth0, lan1]\n", "", 1)
				return strings.Replace(s, "  h1:\n    routes: [{to: default, via: 198.18.1.1}]\n", "", 1)
			},
			want: []string{"- node h1 (netns pl-h1)"},
			dels: 1,
		},
		{
			name: "sysctl changed",
			edit: func(s string) string { return strings.Replace(s, "ip_forward: 1", "ip_forward: 0", 1) },
			want: []string{"~ node r1: sysctl net.ipv4.ip_forward=0"},
		},
		{
			name: "route changed",
			edit: func(s string) string {
				return strings.Replace(s, "routes: [{to: default, via: 198.18.2.1}]", "routes: [{to: 198.18.1.0/24, via: 198.18.2.1}]", 1)
			},
			want: []string{"- route default via 198.18.2.1", "+ route 198.18.1.0/24 via 198.18.2.1"},
		},
		{
			// IPv6 is set up when the namespace is made (silentIPv6).
			name: "node gains IPv6",
			edit: func(s string) string {
				return strings.Replace(s, "198.18.2.10/24]", `198.18.2.10/24, "fd00:2::10/64"]`, 1)
			},
			want:  []string{"- node h2 (netns pl-h2)", "+ node h2 (netns pl-h2)", "+ link h2:eth0 <-> r1:eth1"},
			nodes: 1, dels: 1, links: 1,
		},
		{
			name: "node without IPv6 gets an IPv6 sysctl",
			edit: func(s string) string {
				return strings.Replace(s, "  h1:\n", "  h1:\n    sysctls: {net.ipv6.conf.all.disable_ipv6: 0}\n", 1)
			},
			want:  []string{"- node h1 (netns pl-h1): made again, its IPv6 set-up changes", "+ node h1 (netns pl-h1)"},
			nodes: 1, dels: 1, links: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := model(t, planBase)
			want := model(t, tc.edit(planBase))
			p := NewPlan(old, want)
			s := p.String()
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("plan lacks %q:\n%s", w, s)
				}
			}
			if len(p.AddNodes) != tc.nodes || len(p.DelNodes) != tc.dels || len(p.AddLinks) != tc.links || len(p.DelLinks) != tc.dlinks {
				t.Errorf("plan: +%d -%d nodes, +%d -%d links; want +%d -%d, +%d -%d\n%s",
					len(p.AddNodes), len(p.DelNodes), len(p.AddLinks), len(p.DelLinks), tc.nodes, tc.dels, tc.links, tc.dlinks, s)
			}
			// Applying the plan's result again must plan nothing.
			if p2 := NewPlan(want, want); !p2.Empty() {
				t.Errorf("second plan not empty:\n%s", p2)
			}
		})
	}
}

// TestPlanLostNode: a node whose namespace vanished is made again with its
// links; the ends of those links that outlive it are deleted by up itself
// (StaleEnds), not waited for, since a process left in the lost namespace
// may keep them for ever.
func TestPlanLostNode(t *testing.T) {
	m := model(t, planBase)
	p := newPlan(m, model(t, planBase), map[string]bool{"r1": true})
	s := p.String()
	if !strings.Contains(s, "- node r1 (netns pl-r1): made again, its namespace pl-r1 is gone") || !strings.Contains(s, "+ node r1 (netns pl-r1)") {
		t.Errorf("plan:\n%s", s)
	}
	if len(p.AddNodes) != 1 || len(p.DelNodes) != 1 || len(p.AddLinks) != 2 || len(p.DelLinks) != 0 {
		t.Errorf("plan: +%d -%d nodes, +%d -%d links; want +1 -1, +2 -0\n%s", len(p.AddNodes), len(p.DelNodes), len(p.AddLinks), len(p.DelLinks), s)
	}
	var stale []string
	for _, e := range p.StaleEnds {
		stale = append(stale, e.Node+":"+e.If)
	}
	slices.Sort(stale)
	if strings.Join(stale, " ") != "h2:eth0 lan1:"+PortName("r1", "eth0") {
		t.Errorf("stale ends %v; want the switch port and h2:eth0", stale)
	}
	if len(p.PeerEndsGone) != 0 || len(p.RootEndsGone) != 0 {
		t.Errorf("ends waited for: %v, root %v; want none", p.PeerEndsGone, p.RootEndsGone)
	}
	// A lost node that also leaves the lab is deleted, not made again.
	without := strings.Replace(planBase, "  h1:\n    routes: [{to: default, via: 198.18.1.1}]\n", "", 1)
	without = strings.Replace(without, "  - endpoints: [h1:eth0, lan1]\n", "", 1)
	p = newPlan(m, model(t, without), map[string]bool{"h1": true})
	if len(p.AddNodes) != 0 || len(p.DelNodes) != 1 || len(p.Remade) != 0 || len(p.StaleEnds) != 1 {
		t.Errorf("lost h1, no longer wanted:\n%s", p)
	}
}

func TestPortName(t *testing.T) {
	if got := PortName("h1", "eth0"); got != "h1-eth0" {
		t.Errorf("PortName(h1, eth0) = %q", got)
	}
	long := PortName("averylongnode", "eth0")
	if len(long) > 15 || long != PortName("averylongnode", "eth0") || long == PortName("averylongnode", "eth1") {
		t.Errorf("PortName for long names: %q", long)
	}
}

func TestIfSysctl(t *testing.T) {
	for k, want := range map[string]bool{
		"net.ipv4.ip_forward":               false,
		"net.ipv4.conf.all.forwarding":      false,
		"net.ipv6.conf.default.accept_dad":  false,
		"net.ipv4.conf.eth0.forwarding":     true,
		"net/ipv4/conf/eth0.5/rp_filter":    true,
		"net.ipv4.neigh.eth1.gc_stale_time": true,
	} {
		if got := ifSysctl(k); got != want {
			t.Errorf("ifSysctl(%q) = %v, want %v", k, got, want)
		}
	}
}

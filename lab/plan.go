package lab

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// A Plan is the difference between a running lab and the wanted one: what
// `nslab up` will do, and what `nslab up --dry-run` prints. It is a plain
// value; Apply carries it out.
type Plan struct {
	Lab      string
	Fresh    bool         // nothing runs yet: everything is added
	DelNodes []*NodeModel // namespaces to delete, with their processes and links
	DelLinks []*LinkModel // links to delete whose namespaces both stay
	AddNodes []*NodeModel // namespaces (nodes and switches) to create
	AddLinks []*LinkModel // veth pairs to create
	Configs  []*NodeConfig
	// Impairs are the link ends whose impairment is set or changed (an
	// empty Impair clears it).
	Impairs []EndModel
	// RootEndsGone are root-namespace ends of links that go away with a
	// deleted namespace; their names must be free before AddLinks runs.
	RootEndsGone []string
	// PeerEndsGone are the ends, in namespaces that stay, of links that go
	// away with a deleted namespace, which the kernel removes only once it
	// has freed that namespace: up deletes the switch ports among them
	// itself, and waits for the others whose names it needs again.
	PeerEndsGone []EndModel
	// Remade says why each node that is deleted and added again is remade
	// (by node name): its namespace vanished, IPv6 is turned on, ...
	Remade map[string]string
	// StaleEnds are the ends, in namespaces that stay or in the root
	// namespace, of the links of nodes whose namespace vanished behind
	// nslab's back (`ip netns del`). The kernel removes them only when it
	// frees that namespace, which a process left in it may keep alive for
	// ever, so up deletes those still there itself.
	StaleEnds []EndModel
}

// NodeConfig is what changes inside one node (or the host, NS "").
type NodeConfig struct {
	Node      *NodeModel // the wanted node
	New       bool
	Sysctls   map[string]string         // keys to write (for new nodes: the keys naming an interface)
	AddAddrs  map[string][]netip.Prefix // by interface
	DelAddrs  map[string][]netip.Prefix
	MTU       map[string]int // interfaces whose MTU changes (or is set on a new end)
	Up        []string       // interfaces to bring up: the ends of new links
	AddRoutes []RouteModel
	DelRoutes []RouteModel
	Restart   bool // the run commands changed (or the node is new and has some)
	Firewall  bool // the firewall policy changed (or the node is new and has one)
	BridgeMTU int  // switches: new bridge MTU, 0 = unchanged
}

func (c *NodeConfig) empty() bool {
	return len(c.Sysctls) == 0 && len(c.AddAddrs) == 0 && len(c.DelAddrs) == 0 && len(c.MTU) == 0 &&
		len(c.Up) == 0 && len(c.AddRoutes) == 0 && len(c.DelRoutes) == 0 && !c.Restart && c.BridgeMTU == 0 && !c.Firewall
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.DelNodes) == 0 && len(p.DelLinks) == 0 && len(p.AddNodes) == 0 && len(p.AddLinks) == 0 && len(p.Configs) == 0 && len(p.Impairs) == 0
}

// NewPlan computes the plan that turns the running lab old (nil when the lab
// does not run) into want.
func NewPlan(old, want *Model) *Plan { return newPlan(old, want, nil) }

// newPlan is NewPlan for a running lab whose nodes named in lost have lost
// their namespace: they are made again, with their links.
func newPlan(old, want *Model, lost map[string]bool) *Plan {
	p := &Plan{Lab: want.Name, Fresh: old == nil}
	if old == nil {
		old = &Model{Name: want.Name, Nodes: map[string]*NodeModel{}, Links: map[string]*LinkModel{}, Host: &NodeModel{Name: "host"}}
	}
	deleted := map[string]bool{}
	for _, on := range old.sortedNodes() {
		nn := want.Nodes[on.Name]
		if nn == nil && !lost[on.Name] {
			p.DelNodes = append(p.DelNodes, on)
			deleted[on.Name] = true
			continue
		}
		if why := remade(on, nn, lost[on.Name]); why != "" {
			p.DelNodes = append(p.DelNodes, on)
			deleted[on.Name] = true
			if nn != nil {
				if p.Remade == nil {
					p.Remade = map[string]string{}
				}
				p.Remade[on.Name] = why
			}
		}
	}
	for _, nn := range want.sortedNodes() {
		if old.Nodes[nn.Name] == nil || deleted[nn.Name] {
			p.AddNodes = append(p.AddNodes, nn)
		}
	}
	survives := func(e EndModel) bool { return e.NS == "" || !deleted[e.Node] }
	newLinks := map[string]bool{}
	for _, ol := range old.sortedLinks() {
		wl := want.Links[ol.Key]
		gone := wl == nil || !survives(ol.Ends[0]) || !survives(ol.Ends[1])
		if !gone {
			continue
		}
		if survives(ol.Ends[0]) && survives(ol.Ends[1]) {
			p.DelLinks = append(p.DelLinks, ol)
		} else {
			orphaned := lost[ol.Ends[0].Node] || lost[ol.Ends[1].Node]
			for _, e := range ol.Ends {
				switch {
				case orphaned && survives(e) && !lost[e.Node]:
					p.StaleEnds = append(p.StaleEnds, e)
				case e.NS == "":
					p.RootEndsGone = append(p.RootEndsGone, e.If)
				case survives(e):
					p.PeerEndsGone = append(p.PeerEndsGone, e)
				}
			}
		}
	}
	for _, wl := range want.sortedLinks() {
		ol := old.Links[wl.Key]
		recreated := func(e EndModel) bool { return e.NS != "" && deleted[e.Node] }
		if ol == nil || recreated(wl.Ends[0]) || recreated(wl.Ends[1]) {
			p.AddLinks = append(p.AddLinks, wl)
			newLinks[wl.Key] = true
		}
	}
	for _, wl := range want.sortedLinks() {
		ol := old.Links[wl.Key]
		for i, e := range wl.Ends {
			if newLinks[wl.Key] || ol == nil {
				if e.Impair != "" {
					p.Impairs = append(p.Impairs, e)
				}
			} else if ol.Ends[i].Impair != e.Impair {
				p.Impairs = append(p.Impairs, e)
			}
		}
	}
	for _, nn := range append(want.sortedNodes(), want.Host) {
		var on *NodeModel
		if nn.NS == "" {
			on = old.Host
		} else if !deleted[nn.Name] {
			on = old.Nodes[nn.Name]
		}
		if c := nodeConfig(on, nn, newLinks); !c.empty() {
			p.Configs = append(p.Configs, c)
		}
	}
	return p
}

// remade says why node on, running, must be made again to become nn, or
// "" if it need not be. lost: its namespace vanished.
func remade(on, nn *NodeModel, lost bool) string {
	switch {
	case lost && nn == nil:
		return "its namespace is gone" // and it leaves the lab
	case lost:
		return "its namespace " + on.NS + " is gone"
	case nn.Switch != on.Switch:
		return "it becomes a " + kind(nn)
	case nn.NS != on.NS:
		return "its namespace is renamed to " + nn.NS
	case nn.HostDev != on.HostDev:
		return "its host device changes"
	// IPv6 is set up when a namespace is made (nodeSysctls, silentIPv6): a
	// node that gains or loses it is made again.
	case nn.IPv6 != on.IPv6 || silentIPv6(nn) != silentIPv6(on):
		return "its IPv6 set-up changes"
	}
	return ""
}

func nodeConfig(on, nn *NodeModel, newLinks map[string]bool) *NodeConfig {
	c := &NodeConfig{Node: nn, New: on == nil && nn.NS != "",
		Sysctls: map[string]string{}, AddAddrs: map[string][]netip.Prefix{}, DelAddrs: map[string][]netip.Prefix{}, MTU: map[string]int{}}
	if on == nil {
		on = &NodeModel{}
	}
	for _, k := range slices.Sorted(maps.Keys(nn.Sysctls)) {
		v := nn.Sysctls[k]
		if c.New {
			if ifSysctl(k) {
				c.Sysctls[k] = v // the interface exists only once links are made
			}
			continue
		}
		if ov, ok := on.Sysctls[k]; !ok || ov != v {
			c.Sysctls[k] = v
		}
	}
	if nn.Switch {
		if nn.MTU != on.MTU && !c.New && nn.MTU != 0 {
			c.BridgeMTU = nn.MTU
		}
		return c
	}
	for _, name := range slices.Sorted(maps.Keys(nn.Ifs)) {
		wi := nn.Ifs[name]
		oi := on.Ifs[name]
		fresh := oi == nil || newLinks[wi.Link] || oi.Link != wi.Link
		if fresh {
			c.Up = append(c.Up, name)
			if len(wi.Addrs) > 0 {
				c.AddAddrs[name] = wi.Addrs
			}
			continue
		}
		for _, a := range wi.Addrs {
			if !slices.Contains(oi.Addrs, a) {
				c.AddAddrs[name] = append(c.AddAddrs[name], a)
			}
		}
		for _, a := range oi.Addrs {
			if !slices.Contains(wi.Addrs, a) {
				c.DelAddrs[name] = append(c.DelAddrs[name], a)
			}
		}
		if wi.MTU != oi.MTU && wi.MTU != 0 {
			c.MTU[name] = wi.MTU
		}
	}
	routesChanged := len(c.AddAddrs) > 0 || len(c.DelAddrs) > 0
	for _, r := range nn.Routes {
		// Routes are re-added when addresses changed: the kernel drops a
		// route whose gateway's subnet went away.
		if !slices.Contains(on.Routes, r) || routesChanged {
			c.AddRoutes = append(c.AddRoutes, r)
		}
	}
	for _, r := range on.Routes {
		if !slices.Contains(nn.Routes, r) {
			c.DelRoutes = append(c.DelRoutes, r)
		}
	}
	if !slices.EqualFunc(on.Run, nn.Run, slices.Equal) || (c.New && len(nn.Run) > 0) {
		c.Restart = true
	}
	if !nn.Firewall.equal(on.Firewall) {
		c.Firewall = true
	}
	return c
}

// ifSysctl reports whether key names a specific interface
// (net.ipv4.conf.eth0.forwarding), which exists only after links are made.
func ifSysctl(key string) bool {
	f := strings.FieldsFunc(key, func(r rune) bool { return r == '.' || r == '/' })
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "conf" || f[i] == "neigh" {
			return f[i+1] != "all" && f[i+1] != "default"
		}
	}
	return false
}

// String prints the plan, one change a line.
func (p *Plan) String() string {
	var b strings.Builder
	changed := 0
	for _, c := range p.Configs {
		if !c.New && !p.Fresh {
			changed++
		}
	}
	fmt.Fprintf(&b, "lab %s: %d namespaces and %d links to add, %d nodes to change, %d namespaces and %d links to remove\n",
		p.Lab, len(p.AddNodes), len(p.AddLinks), changed, len(p.DelNodes), len(p.DelLinks))
	const many = 40 // a big lab's plan is summarised, not listed
	list := func(n int) bool { return n <= many }
	for _, n := range p.DelNodes {
		if list(len(p.DelNodes)) {
			why := ""
			if w := p.Remade[n.Name]; w != "" {
				why = ": made again, " + w
			}
			fmt.Fprintf(&b, "  - %s %s (netns %s)%s\n", kind(n), n.Name, n.NS, why)
		}
	}
	for _, l := range p.DelLinks {
		if list(len(p.DelLinks)) {
			fmt.Fprintf(&b, "  - link %s\n", l)
		}
	}
	for _, n := range p.AddNodes {
		if list(len(p.AddNodes)) {
			fmt.Fprintf(&b, "  + %s %s (netns %s)\n", kind(n), n.Name, n.NS)
		}
	}
	for _, l := range p.AddLinks {
		if list(len(p.AddLinks)) {
			fmt.Fprintf(&b, "  + link %s\n", l)
		}
	}
	for _, e := range p.Impairs {
		if list(len(p.Impairs)) {
			imp := e.Impair
			if imp == "" {
				imp = "none"
			}
			fmt.Fprintf(&b, "  ~ impair %s:%s: %s\n", e.Node, e.If, imp)
		}
	}
	for _, c := range p.Configs {
		if c.New {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(c.Sysctls)) {
			parts = append(parts, "sysctl "+k+"="+c.Sysctls[k])
		}
		for _, i := range slices.Sorted(maps.Keys(c.AddAddrs)) {
			if slices.Contains(c.Up, i) {
				continue
			}
			for _, a := range c.AddAddrs[i] {
				parts = append(parts, "+ address "+a.String()+" on "+i)
			}
		}
		for _, i := range slices.Sorted(maps.Keys(c.DelAddrs)) {
			for _, a := range c.DelAddrs[i] {
				parts = append(parts, "- address "+a.String()+" on "+i)
			}
		}
		for _, i := range slices.Sorted(maps.Keys(c.MTU)) {
			parts = append(parts, fmt.Sprintf("mtu %d on %s", c.MTU[i], i))
		}
		for _, r := range c.DelRoutes {
			parts = append(parts, "- route "+r.String())
		}
		for _, r := range c.AddRoutes {
			parts = append(parts, "+ route "+r.String())
		}
		if c.Restart {
			parts = append(parts, "restart run commands")
		}
		if c.Firewall {
			parts = append(parts, "firewall policy")
		}
		if c.BridgeMTU != 0 {
			parts = append(parts, fmt.Sprintf("bridge mtu %d", c.BridgeMTU))
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "  ~ %s %s: %s\n", kind(c.Node), c.Node.Name, strings.Join(parts, "; "))
		}
	}
	return b.String()
}

func kind(n *NodeModel) string {
	switch {
	case n.Switch:
		return "switch"
	case n.NS == "":
		return "host"
	}
	return "node"
}

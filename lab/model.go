// Package lab brings declarative labs of network namespaces up and down.
//
// A lab is a topology (package lab/topo) made real: each node is a named
// network namespace "<lab>-<node>" (visible to `ip netns`), each switch a
// Linux bridge in a namespace of its own, each link a veth pair whose ends
// are born in their namespaces. The engine works in four steps: parse (topo),
// model (a flat, comparable description of the kernel objects), plan (the
// difference between the running lab's model and the wanted one: a plain,
// printable value) and apply (netlink, in parallel across namespaces).
//
// State lives under /run/nslab/<lab>/ (a tmpfs: a reboot clears namespaces
// and state alike): an ownership record written before anything is created,
// updated atomically, and guarded by a per-lab lock, so that a killed nslab
// never leaks and a second nslab on the same lab waits or fails clearly.
package lab

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/lab/topo"
)

// Model is the flat description of a lab's kernel objects, derived from a
// topo.Spec. It is what the state file records and what plans compare.
type Model struct {
	Name  string                `json:"name"`
	File  string                `json:"file,omitempty"`
	Nodes map[string]*NodeModel `json:"nodes"` // nodes and switches, by name
	Links map[string]*LinkModel `json:"links"` // by Key
	Host  *NodeModel            `json:"host"`  // root-namespace ends (NS "")
	// Expect holds the reachability expectations, as written.
	Expect []string `json:"expect,omitempty"`
}

// NodeModel is one namespace of the lab.
type NodeModel struct {
	Name    string              `json:"name"`
	NS      string              `json:"netns"` // "" for the host (root namespace)
	Switch  bool                `json:"switch,omitempty"`
	Bridge  string              `json:"bridge,omitempty"`      // bridge name, for switches
	HostDev string              `json:"host_device,omitempty"` // host device enslaved to the bridge
	MTU     int                 `json:"mtu,omitempty"`         // bridge MTU
	Sysctls map[string]string   `json:"sysctls,omitempty"`
	Ifs     map[string]*IfModel `json:"interfaces,omitempty"`
	Routes  []RouteModel        `json:"routes,omitempty"`
	Run     [][]string          `json:"run,omitempty"`
	IPv6    bool                `json:"ipv6,omitempty"` // some interface has an IPv6 address
	// Firewall is the node's policy from the topology; nil for none.
	Firewall *FirewallModel `json:"firewall,omitempty"`
}

// FirewallModel is a node's firewall policy, with node names in rules
// already replaced by addresses.
type FirewallModel struct {
	Rules      []string          `json:"rules,omitempty"`
	Default    map[string]string `json:"default,omitempty"`
	Masquerade []string          `json:"masquerade,omitempty"`
}

func (f *FirewallModel) equal(g *FirewallModel) bool {
	if f == nil || g == nil {
		return f == g
	}
	return slices.Equal(f.Rules, g.Rules) && maps.Equal(f.Default, g.Default) && slices.Equal(f.Masquerade, g.Masquerade)
}

// IfModel is one veth end in a node or on the host.
type IfModel struct {
	Name  string         `json:"name"`
	Addrs []netip.Prefix `json:"addresses,omitempty"`
	MTU   int            `json:"mtu,omitempty"`
	Link  string         `json:"link"` // the LinkModel key
}

// RouteModel is one static route.
type RouteModel struct {
	To  netip.Prefix `json:"to"`
	Via netip.Addr   `json:"via,omitzero"`
	Dev string       `json:"dev,omitempty"`
}

func (r RouteModel) String() string {
	s := r.To.String()
	if r.To.Bits() == 0 {
		s = "default"
		if r.To.Addr().Is6() {
			s = "default6"
		}
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// EndModel is one end of a veth pair.
type EndModel struct {
	Node   string `json:"node"`             // node or switch name, "host" for the root namespace
	NS     string `json:"netns"`            // namespace name, "" for the root namespace
	If     string `json:"if"`               // device name in NS
	Master string `json:"master,omitempty"` // bridge in NS the end is a port of
	Impair string `json:"impair,omitempty"` // egress impairment (package shape's text form)
}

func (e EndModel) String() string {
	if e.Master != "" {
		return e.Node
	}
	return e.Node + ":" + e.If
}

// LinkModel is one veth pair.
type LinkModel struct {
	Key  string      `json:"key"`
	Ends [2]EndModel `json:"ends"`
	MTU  int         `json:"mtu,omitempty"`
}

func (l *LinkModel) String() string { return l.Ends[0].String() + " <-> " + l.Ends[1].String() }

// NewModel derives the model of spec. It fails only on name clashes that
// the topology format allows but namespaces do not (a node and a switch
// with the same name).
func NewModel(spec *topo.Spec) (*Model, error) {
	m := &Model{Name: spec.Name, File: spec.File, Nodes: map[string]*NodeModel{}, Links: map[string]*LinkModel{}}
	for _, n := range spec.Nodes {
		m.Nodes[n.Name] = nodeModel(spec, n, spec.NetNSName(n.Name))
	}
	m.Host = nodeModel(spec, spec.Host, "")
	for _, sw := range spec.Switches {
		if _, dup := m.Nodes[sw.Name]; dup {
			return nil, fmt.Errorf("lab %q: switch %q has the name of a node: rename one of them", spec.Name, sw.Name)
		}
		m.Nodes[sw.Name] = &NodeModel{
			Name: sw.Name, NS: spec.NetNSName(sw.Name), Switch: true, Bridge: bridgeName(sw.Name),
			HostDev: sw.HostDevice, MTU: sw.MTU,
		}
	}
	for _, e := range spec.Expect {
		m.Expect = append(m.Expect, e.Line)
	}
	for _, l := range spec.Links {
		lm := &LinkModel{MTU: l.MTU}
		for i, e := range l.Endpoints {
			lm.Ends[i] = endModel(spec, l, e)
			lm.Ends[i].Impair = l.Impair
			if n := spec.Node(e.Node); n != nil && e.Kind != topo.EndpointSwitch {
				if ifc := n.Interface(e.Interface); ifc != nil && ifc.Impair != "" {
					lm.Ends[i].Impair = ifc.Impair
				}
			}
		}
		if lm.Ends[1].Node < lm.Ends[0].Node || (lm.Ends[1].Node == lm.Ends[0].Node && lm.Ends[1].If < lm.Ends[0].If) {
			lm.Ends[0], lm.Ends[1] = lm.Ends[1], lm.Ends[0]
		}
		// A switch end is always the second, so the pair is created from
		// the switch's namespace with the port born enslaved.
		if lm.Ends[0].Master != "" {
			lm.Ends[0], lm.Ends[1] = lm.Ends[1], lm.Ends[0]
		}
		lm.Key = lm.Ends[0].String() + "=" + lm.Ends[1].String()
		if lm.MTU == 0 {
			// A switch's MTU applies to its ports when the link sets none.
			for _, e := range lm.Ends {
				if sw := spec.Switch(e.Node); sw != nil && e.Master != "" {
					lm.MTU = sw.MTU
				}
			}
		}
		m.Links[lm.Key] = lm
	}
	// Interfaces point at their link by key.
	for _, lm := range m.Links {
		for _, e := range lm.Ends {
			var nm *NodeModel
			if e.NS == "" {
				nm = m.Host
			} else {
				nm = m.Nodes[e.Node]
			}
			if nm == nil || nm.Switch {
				continue
			}
			if im := nm.Ifs[e.If]; im != nil {
				im.Link = lm.Key
				if im.MTU == 0 {
					im.MTU = lm.MTU
				}
			}
		}
	}
	return m, nil
}

func nodeModel(spec *topo.Spec, n *topo.Node, ns string) *NodeModel {
	nm := &NodeModel{Name: n.Name, NS: ns, Sysctls: maps.Clone(n.Sysctls), Ifs: map[string]*IfModel{}}
	for _, i := range n.Interfaces {
		im := &IfModel{Name: i.Name, Addrs: slices.Clone(i.Addresses), MTU: i.MTU}
		slices.SortFunc(im.Addrs, func(a, b netip.Prefix) int { return cmp.Compare(a.String(), b.String()) })
		for _, a := range im.Addrs {
			if a.Addr().Is6() {
				nm.IPv6 = true
			}
		}
		nm.Ifs[i.Name] = im
	}
	for _, r := range n.Routes {
		nm.Routes = append(nm.Routes, RouteModel{To: r.To, Via: r.Via, Dev: r.Dev})
		if r.To.Addr().Is6() {
			nm.IPv6 = true
		}
	}
	for _, argv := range n.Run {
		nm.Run = append(nm.Run, slices.Clone(argv))
	}
	if fw := n.Firewall; fw != nil && (len(fw.Resolved) > 0 || len(fw.Default) > 0 || len(fw.Masquerade) > 0) {
		nm.Firewall = &FirewallModel{Rules: slices.Clone(fw.Resolved), Default: maps.Clone(fw.Default), Masquerade: slices.Clone(fw.Masquerade)}
	}
	return nm
}

func endModel(spec *topo.Spec, l *topo.Link, e *topo.Endpoint) EndModel {
	switch e.Kind {
	case topo.EndpointSwitch:
		other := l.Peer(e)
		return EndModel{Node: e.Node, NS: spec.NetNSName(e.Node), If: PortName(other.Node, other.Interface), Master: bridgeName(e.Node)}
	case topo.EndpointHost:
		return EndModel{Node: topo.HostName, If: e.Interface}
	}
	return EndModel{Node: e.Node, NS: spec.NetNSName(e.Node), If: e.Interface}
}

// bridgeName is the name of a switch's bridge inside its namespace.
func bridgeName(sw string) string { return sw }

// PortName is the name, in a switch's namespace, of the bridge port that
// leads to node:ifname: "node-ifname" when that fits in 15 bytes, else a
// stable hash of both.
func PortName(node, ifname string) string {
	n := node + "-" + ifname
	if len(n) <= 15 {
		return n
	}
	h := sha1.Sum([]byte(node + ":" + ifname))
	return "p" + hex.EncodeToString(h[:])[:14]
}

// Namespaces returns the namespace names of the model, sorted.
func (m *Model) Namespaces() []string {
	var out []string
	for _, n := range m.Nodes {
		out = append(out, n.NS)
	}
	slices.Sort(out)
	return out
}

// sortedNodes returns the nodes (and switches) sorted by name.
func (m *Model) sortedNodes() []*NodeModel {
	out := slices.Collect(maps.Values(m.Nodes))
	slices.SortFunc(out, func(a, b *NodeModel) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (m *Model) sortedLinks() []*LinkModel {
	out := slices.Collect(maps.Values(m.Links))
	slices.SortFunc(out, func(a, b *LinkModel) int { return strings.Compare(a.Key, b.Key) })
	return out
}

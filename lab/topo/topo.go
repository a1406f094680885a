// Package topo reads nslab topology files: a YAML description of a lab's
// nodes (network namespaces), switches (bridges), links (veth pairs),
// addresses, routes, sysctls, commands and reachability expectations.
//
// [Parse] turns a file into a validated, resolved [Spec]: every name a link
// uses exists, switch ports have addresses, MTUs are propagated, and every
// route's gateway is on an attached subnet. It needs no privileges and makes
// no kernel objects; the lab engine (package lab) plans and applies a Spec.
//
// A file with mistakes yields a nil Spec and an [*Error] that lists every
// problem found, each with file:line:column, so a user fixes them in one pass.
// The format is documented in docs/topology.md.
package topo

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Pos is a position in a topology file; Line and Col start at 1.
type Pos struct{ Line, Col int }

// String returns "line:col".
func (p Pos) String() string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// A Spec is a parsed, validated and resolved topology.
// Parse returns a Spec only when the file has no problem; a Spec is not
// modified by this package afterwards and is safe for concurrent reads.
type Spec struct {
	Name     string         // lab name: 1-12 bytes of [a-z0-9-], no '-' at either end
	File     string         // path it was read from ("" for bytes)
	Nodes    []*Node        // sorted by Name
	Switches []*Switch      // sorted by Name
	Host     *Node          // root-namespace link ends; Name "host"; never nil after Parse (may have no interfaces)
	Links    []*Link        // file order
	Expect   []*Expectation // file order
}

// A Node is a network namespace of the lab, named [Spec.NetNSName].
// The Spec's Host is a Node too, standing for the root namespace: it has
// only Interfaces.
type Node struct {
	Name       string
	Sysctls    map[string]string // "net.ipv4.ip_forward" -> "1"; values as strings (true -> "1", false -> "0")
	Interfaces []*Interface      // sorted by Name; includes interfaces only named in links
	Routes     []*Route          // file order
	Run        [][]string        // argv lists, file order, started after the lab is up
	Firewall   *Firewall         // nil: nslab sets no rules in the node
	Pos        Pos
}

// Firewall is a node's firewall policy as written: rules in the text form of
// package firewall (for example "deny in tcp 5432 from h1"), where a node
// name stands for all of that node's addresses; default actions by
// direction ("in", "out", "forward"); interfaces to masquerade out of.
type Firewall struct {
	Rules      []string
	RulePos    []Pos
	Resolved   []string // Rules with node names replaced by addresses, as package firewall parses them
	Default    map[string]string
	Masquerade []string
	Pos        Pos
}

// An Interface is one end of a link: a veth end in its node's namespace.
type Interface struct {
	Name      string
	Addresses []netip.Prefix // explicit addresses, or those assigned from a switch's subnets
	MTU       int            // 0 = default: the link's MTU, else the switch's MTU, else the kernel default
	Impair    string         // egress impairment of this end, in shape's text form; "" = none
	Link      *Link          // the link this interface is an end of; never nil after Parse
	Pos       Pos            // where it was declared, or first named in a link
}

// A Route is a static route in a node's main table.
// Equivalent to: ip route add <To> [via <Via>] [dev <Dev>].
type Route struct {
	To  netip.Prefix // masked; default is 0.0.0.0/0, default6 is ::/0
	Via netip.Addr   // gateway; invalid (zero) for a device route
	Dev string       // interface of the node; "" if not given
	Pos Pos
}

// A Switch is a Linux bridge that node and host ends attach to.
type Switch struct {
	Name       string
	Subnets    []netip.Prefix // masked; ports without addresses are numbered from them
	MTU        int            // 0 = kernel default
	HostDevice string         // host device enslaved to the bridge; "" = none
	Ports      []*Endpoint    // the node and host ends linked to this switch, in link order
	Pos        Pos
}

// EndpointKind says what a link end attaches to.
type EndpointKind int

// The kinds of link ends.
const (
	EndpointNode   EndpointKind = iota // an interface of a node: "node:iface"
	EndpointSwitch                     // a switch: "switch"
	EndpointHost                       // an interface in the root namespace: "host:iface"
)

// String returns "node", "switch" or "host".
func (k EndpointKind) String() string {
	switch k {
	case EndpointNode:
		return "node"
	case EndpointSwitch:
		return "switch"
	case EndpointHost:
		return "host"
	}
	return "EndpointKind(" + strconv.Itoa(int(k)) + ")"
}

// An Endpoint is one end of a link as written in the file.
// For EndpointSwitch, Node is the switch name and Interface is "";
// for EndpointHost, Node is "host".
type Endpoint struct {
	Kind      EndpointKind
	Node      string
	Interface string
	Pos       Pos
}

// String returns the endpoint as written: "h1:eth0", "lan1" or "host:nsl0".
func (e *Endpoint) String() string {
	if e.Kind == EndpointSwitch {
		return e.Node
	}
	return e.Node + ":" + e.Interface
}

// A Link joins two endpoints: a veth pair, or a veth whose second end is a
// bridge port when one endpoint is a switch.
type Link struct {
	Endpoints [2]*Endpoint
	MTU       int    // 0 = not set
	Impair    string // impairment of both directions (each end's egress), in shape's text form; "" = none
	Pos       Pos
}

// An Expectation is one line of the expect list, checked by `nslab check`:
// From sends to To (ICMP echo, or a TCP/UDP port) and the result must match.
type Expectation struct {
	From, To string
	Port     int    // 0 for icmp
	Proto    string // "icmp", "tcp" or "udp"
	Allow    bool   // "allow": the probe must get through
	Reject   bool   // "reject": refused (TCP RST / ICMP unreachable), distinct from "deny" (dropped)
	Line     string // the line as written, trimmed
	Pos      Pos
}

// Verdict returns "allow", "deny" or "reject".
func (e *Expectation) Verdict() string {
	switch {
	case e.Allow:
		return "allow"
	case e.Reject:
		return "reject"
	}
	return "deny"
}

// A Problem is one mistake in a topology file.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

// Error returns "file:line:col: msg", without "file:" when File is "".
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(p.Line))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(p.Col))
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Error is returned by Parse and Load for an invalid file. It holds every
// problem found, sorted by position.
type Error struct {
	Problems []Problem
}

// Error returns the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems as errors.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Load reads and parses the topology file at path. Problems in the file are
// reported as an [*Error] whose problems carry path; a read failure is
// returned as is (test it with errors.Is(err, fs.ErrNotExist)).
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// Node returns the node with the given name, the Spec's Host for "host",
// or nil.
func (s *Spec) Node(name string) *Node {
	if name == HostName {
		return s.Host
	}
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Switch returns the switch with the given name, or nil.
func (s *Spec) Switch(name string) *Switch {
	for _, sw := range s.Switches {
		if sw.Name == name {
			return sw
		}
	}
	return nil
}

// Interface returns the node's interface with the given name, or nil.
func (n *Node) Interface(name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// NetNSName returns the name of the network namespace of node:
// the lab name, '-', the node name ("demo-r1").
func (s *Spec) NetNSName(node string) string { return s.Name + "-" + node }

// Peer returns the other end of the link.
func (l *Link) Peer(e *Endpoint) *Endpoint {
	if l.Endpoints[0] == e {
		return l.Endpoints[1]
	}
	return l.Endpoints[0]
}

// HostName is the reserved node name of the root namespace in endpoints ("host:ifname").
const HostName = "host"

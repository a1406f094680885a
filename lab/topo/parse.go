package topo

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/nslab/nslab/shape"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nslab/nslab/internal/names"
	"go.yaml.in/yaml/v3"
)

// Limits of the names a topology file chooses.
const (
	MaxLabName  = 12 // bytes in a lab name
	MaxNodeName = 15 // bytes in a node or switch name
)

// The patterns are compiled on first use, not at start-up: every nslab
// command (such as exec, whose start-up time counts) links this package.
var (
	labNameRE  = lazyRE(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	nodeNameRE = lazyRE(`^[A-Za-z0-9_-]+$`)
	sysctlRE   = lazyRE(`^net[./][A-Za-z0-9_.:/@-]+$`)
	yamlLineRE = lazyRE(`^yaml: line (\d+): (.*)$`)
)

func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// Parse parses and validates a topology file. file names it in problems and
// in Spec.File; it may be "". On any problem Parse returns a nil Spec and an
// [*Error] listing them all.
func Parse(data []byte, file string) (*Spec, error) {
	p := &parser{
		file:      file,
		nodes:     map[string]*Node{},
		switches:  map[string]*Switch{},
		declared:  map[*Interface]bool{},
		addrPos:   map[*Interface][]Pos{},
		used:      map[netip.Addr]string{},
		mentioned: map[string]bool{},
		badNames:  map[string]bool{},
	}
	root := p.decode(data)
	var s *Spec
	if root != nil {
		s = p.spec(root)
	}
	if len(p.probs) > 0 {
		slices.SortStableFunc(p.probs, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, &Error{Problems: p.probs}
	}
	return s, nil
}

type parser struct {
	file  string
	probs []Problem

	name      string
	nodes     map[string]*Node
	switches  map[string]*Switch
	host      *Node
	declared  map[*Interface]bool  // declared under nodes: or host:, not only named in a link
	addrPos   map[*Interface][]Pos // positions of explicit addresses, parallel to Addresses
	used      map[netip.Addr]string
	mentioned map[string]bool // link ends as written, in good and bad links
	badNames  map[string]bool // nodes and switches already reported as invalid
	routes    []routeInfo
}

type routeInfo struct {
	node          *Node
	r             *Route
	toPos, viaPos Pos
	devPos        Pos
	toText        string
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: pos.Line, Col: pos.Col, Msg: fmt.Sprintf(format, args...)})
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// decode parses the YAML and returns the top-level node, or nil after
// reporting a syntax error.
func (p *parser) decode(data []byte) *yaml.Node {
	if root, ok := decodeParallel(data); ok {
		return root
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(Pos{1, 1}, "file is empty: a topology needs at least name: and nodes:")
			return nil
		}
		p.syntax(err)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.errorf(posOf(&next), "a second YAML document starts here; a topology file holds one document")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	if len(doc.Content) == 0 {
		p.errorf(Pos{1, 1}, "file is empty: a topology needs at least name: and nodes:")
		return nil
	}
	return doc.Content[0]
}

func (p *parser) syntax(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.errorf(Pos{line, 1}, "YAML syntax error: %s", msg)
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

type entry struct {
	name     string
	key, val *yaml.Node
}

// entries returns the key/value pairs of a mapping in file order, reporting
// duplicate and non-scalar keys. A null value counts as an empty mapping.
func (p *parser) entries(n *yaml.Node, what string) []entry {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(posOf(n), "%s must be a mapping (key: value), not %s", what, kindName(n))
		return nil
	}
	out := make([]entry, 0, len(n.Content)/2)
	var seen map[string]Pos // for big mappings; small ones are scanned
	if len(n.Content) > 32 {
		seen = make(map[string]Pos, len(n.Content)/2)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(posOf(k), "%s: a key must be a plain name, not %s", what, kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			p.errorf(posOf(k), "%s: merge keys (<<) are not supported; repeat the keys or use an alias (*name) for the whole value", what)
			continue
		}
		first, dup := seen[k.Value]
		if seen == nil {
			for _, o := range out {
				if o.name == k.Value {
					first, dup = posOf(o.key), true
					break
				}
			}
		}
		if dup {
			p.errorf(posOf(k), "%s: duplicate key %q (first at line %d); remove one", what, k.Value, first.Line)
			continue
		}
		if seen != nil {
			seen[k.Value] = posOf(k)
		}
		out = append(out, entry{k.Value, k, v})
	}
	return out
}

// fields is entries for a mapping with a fixed set of keys: unknown keys are
// reported with the allowed ones.
func (p *parser) fields(n *yaml.Node, what string, allowed ...string) fieldSet {
	es := p.entries(n, what)
	out := es[:0]
	for _, e := range es {
		if !slices.Contains(allowed, e.name) {
			p.errorf(posOf(e.key), "%s: unknown key %q; allowed keys: %s", what, e.name, strings.Join(allowed, ", "))
			continue
		}
		out = append(out, e)
	}
	return out
}

// A fieldSet is the entries of a mapping with a fixed set of keys: a few,
// searched in order (a map per mapping made a 1000-router file's parse
// allocate a fifth more).
type fieldSet []entry

func (f fieldSet) get(name string) (entry, bool) {
	for _, e := range f {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
}

// str returns the value of a scalar, reporting anything else.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(posOf(n), "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// seq returns the items of a list; a null value is an empty list. With
// scalarOK, a single scalar counts as a list of one.
func (p *parser) seq(n *yaml.Node, what string, scalarOK bool) []*yaml.Node {
	n = deref(n)
	switch {
	case isNull(n):
		return nil
	case n.Kind == yaml.SequenceNode:
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = deref(c)
		}
		return out
	case scalarOK && n.Kind == yaml.ScalarNode:
		return []*yaml.Node{n}
	}
	p.errorf(posOf(n), "%s must be a list ([a, b] or lines starting with '- '), not %s", what, kindName(n))
	return nil
}

// mtu parses an MTU value.
func (p *parser) mtu(n *yaml.Node, what string) int {
	n = deref(n)
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		p.errorf(posOf(n), "%s: mtu must be a whole number of bytes, not %s", what, kindName(n))
		return 0
	}
	if v < 68 || v > 65535 {
		p.errorf(posOf(n), "%s: mtu %d is out of range; use 68 to 65535 (1280 or more with IPv6)", what, v)
		return 0
	}
	return v
}

// spec walks the top-level mapping.
func (p *parser) spec(root *yaml.Node) *Spec {
	root = deref(root)
	s := &Spec{File: p.file}
	if root.Kind != yaml.MappingNode {
		p.errorf(posOf(root), "a topology must be a mapping with keys name, nodes, switches, host, links, expect; found %s", kindName(root))
		return nil
	}
	f := p.fields(root, "topology", "name", "nodes", "switches", "host", "links", "expect")

	if e, ok := f.get("name"); !ok {
		p.errorf(Pos{1, 1}, "missing lab name: add name: <lab> (1-%d characters a-z, 0-9, '-')", MaxLabName)
	} else if v, ok := p.str(e.val, "name"); ok {
		switch {
		case v == "":
			p.errorf(posOf(e.val), "lab name is empty; use 1-%d characters a-z, 0-9, '-'", MaxLabName)
		case len(v) > MaxLabName:
			p.errorf(posOf(e.val), "lab name %q is %d bytes long; use at most %d (it prefixes every namespace name)", v, len(v), MaxLabName)
		case !labNameRE().MatchString(v):
			p.errorf(posOf(e.val), "lab name %q is invalid; use a-z, 0-9 and '-' (not first or last)", v)
		default:
			p.name = v
		}
	}
	s.Name = p.name

	p.host = &Node{Name: HostName, Sysctls: map[string]string{}}
	if e, ok := f.get("nodes"); ok {
		for _, ne := range p.entries(e.val, "nodes") {
			p.node(ne)
		}
	}
	if len(p.nodes) == 0 {
		pos := Pos{1, 1}
		if e, ok := f.get("nodes"); ok {
			pos = posOf(e.key)
		}
		p.errorf(pos, "the lab has no nodes; add at least one under nodes:")
	}
	if e, ok := f.get("switches"); ok {
		for _, se := range p.entries(e.val, "switches") {
			p.switch_(se)
		}
	}
	if e, ok := f.get("host"); ok {
		p.host.Pos = posOf(e.key)
		hf := p.fields(e.val, "host", "interfaces")
		if ie, ok := hf.get("interfaces"); ok {
			for _, ie := range p.entries(ie.val, "host interfaces") {
				p.iface(p.host, ie)
			}
		}
	}
	if e, ok := f.get("links"); ok {
		for _, ln := range p.seq(e.val, "links", false) {
			if l := p.link(ln); l != nil {
				s.Links = append(s.Links, l)
			}
		}
	}
	if e, ok := f.get("expect"); ok {
		for _, en := range p.seq(e.val, "expect", false) {
			if x := p.expect(en); x != nil {
				s.Expect = append(s.Expect, x)
			}
		}
	}

	p.resolve(s)

	for _, n := range p.nodes {
		s.Nodes = append(s.Nodes, n)
	}
	for _, sw := range p.switches {
		s.Switches = append(s.Switches, sw)
	}
	slices.SortFunc(s.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(s.Switches, func(a, b *Switch) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range append(s.Nodes, p.host) {
		slices.SortFunc(n.Interfaces, func(a, b *Interface) int { return strings.Compare(a.Name, b.Name) })
	}
	s.Host = p.host
	return s
}

// checkName reports a bad node or switch name.
func (p *parser) checkName(kind, name string, pos Pos) bool {
	if name != HostName {
		p.badNames[name] = true
	}
	switch {
	case name == HostName:
		p.errorf(pos, "%s name %q is reserved for the root namespace; pick another name", kind, name)
	case name == "":
		p.errorf(pos, "%s name is empty", kind)
	case len(name) > MaxNodeName:
		p.errorf(pos, "%s name %q is %d bytes long; use at most %d", kind, name, len(name), MaxNodeName)
	case !nodeNameRE().MatchString(name):
		p.errorf(pos, "%s name %q is invalid; use letters, digits, '_' and '-'", kind, name)
	default:
		delete(p.badNames, name)
		return true
	}
	return false
}

func (p *parser) node(e entry) {
	pos := posOf(e.key)
	if !p.checkName("node", e.name, pos) {
		return
	}
	n := &Node{Name: e.name, Sysctls: map[string]string{}, Pos: pos}
	p.nodes[n.Name] = n
	if p.name != "" {
		if err := names.CheckNetNS(p.name + "-" + n.Name); err != nil {
			p.errorf(pos, "node %q: %v", n.Name, err)
		}
	}
	what := fmt.Sprintf("node %q", n.Name)
	f := p.fields(e.val, what, "sysctls", "interfaces", "routes", "run", "firewall")
	if fe, ok := f.get("firewall"); ok {
		n.Firewall = p.firewall(fe.val, what)
	}
	if se, ok := f.get("sysctls"); ok {
		for _, kv := range p.entries(se.val, what+" sysctls") {
			p.sysctl(n, kv)
		}
	}
	if ie, ok := f.get("interfaces"); ok {
		for _, ie := range p.entries(ie.val, what+" interfaces") {
			p.iface(n, ie)
		}
	}
	if re, ok := f.get("routes"); ok {
		for _, rn := range p.seq(re.val, what+" routes", false) {
			p.route(n, rn)
		}
	}
	if re, ok := f.get("run"); ok {
		p.run(n, re.val)
	}
}

func (p *parser) sysctl(n *Node, kv entry) {
	if !sysctlRE().MatchString(kv.name) || strings.Contains(kv.name, "..") {
		p.errorf(posOf(kv.key), "node %q: sysctl %q is not a network sysctl; only net.* keys (like net.ipv4.ip_forward) are per namespace", n.Name, kv.name)
		return
	}
	v := kv.val
	if v.Kind != yaml.ScalarNode || isNull(v) {
		p.errorf(posOf(v), "node %q: sysctl %s needs a number, boolean or string value, not %s", n.Name, kv.name, kindName(v))
		return
	}
	val := v.Value
	if v.ShortTag() == "!!bool" {
		var b bool
		if v.Decode(&b) == nil {
			val = "0"
			if b {
				val = "1"
			}
		}
	}
	if strings.ContainsAny(val, "\n\x00") {
		p.errorf(posOf(v), "node %q: sysctl %s: the value must be one line", n.Name, kv.name)
		return
	}
	n.Sysctls[kv.name] = val
}

// owner names an interface in messages: "h1:eth0" or "host:nsl0".
func owner(n *Node, ifname string) string { return n.Name + ":" + ifname }

func (p *parser) iface(n *Node, e entry) {
	pos := posOf(e.key)
	if err := names.CheckIf(e.name); err != nil {
		p.errorf(pos, "interface %s: %v", owner(n, e.name), err)
		return
	}
	i := &Interface{Name: e.name, Pos: pos}
	n.Interfaces = append(n.Interfaces, i)
	p.declared[i] = true
	what := "interface " + owner(n, e.name)
	f := p.fields(e.val, what, "addresses", "mtu", "impair")
	if ie, ok := f.get("impair"); ok {
		i.Impair = p.impair(ie.val, what)
	}
	if ae, ok := f.get("addresses"); ok {
		for _, an := range p.seq(ae.val, what+" addresses", true) {
			text, ok := p.str(an, what+": address")
			if !ok {
				continue
			}
			if a, ok := p.address(what, text, posOf(an)); ok {
				i.Addresses = append(i.Addresses, a)
				p.addrPos[i] = append(p.addrPos[i], posOf(an))
			}
		}
	}
	if me, ok := f.get("mtu"); ok {
		i.MTU = p.mtu(me.val, what)
	}
}

// address parses and checks an interface address.
func (p *parser) address(what, text string, pos Pos) (netip.Prefix, bool) {
	a, err := netip.ParsePrefix(text)
	if err != nil {
		if _, aerr := netip.ParseAddr(text); aerr == nil {
			p.errorf(pos, "%s: address %q needs a prefix length, like 198.18.1.1/24 or fd00:1::1/64", what, text)
		} else {
			p.errorf(pos, "%s: address %q is not an address with a prefix length (like 198.18.1.1/24 or \"fd00:1::1/64\")", what, text)
		}
		return netip.Prefix{}, false
	}
	ip := a.Addr()
	switch {
	case ip.Is4In6():
		p.errorf(pos, "%s: address %q is IPv4-mapped; write the IPv4 address (%s/%d)", what, text, ip.Unmap(), a.Bits()-96)
	case ip.IsUnspecified(), ip.IsLoopback(), ip.IsMulticast():
		p.errorf(pos, "%s: address %q cannot be assigned to an interface (unspecified, loopback or multicast)", what, text)
	case ip.Is4() && a.Bits() <= 30 && ip == a.Masked().Addr():
		p.errorf(pos, "%s: address %q is the network address of %s; pick a host address", what, text, a.Masked())
	case ip.Is4() && a.Bits() <= 30 && ip == lastAddr(a):
		p.errorf(pos, "%s: address %q is the broadcast address of %s; pick a host address", what, text, a.Masked())
	default:
		return a, true
	}
	return netip.Prefix{}, false
}

// lastAddr returns the highest address of the prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (p *parser) route(n *Node, rn *yaml.Node) {
	what := fmt.Sprintf("node %q route", n.Name)
	f := p.fields(rn, what, "to", "via", "dev")
	ri := routeInfo{node: n, r: &Route{Pos: posOf(rn)}}
	ok := true
	if te, have := f.get("to"); !have {
		p.errorf(posOf(rn), "%s: missing to: (default, default6 or a prefix like 198.18.2.0/24)", what)
		ok = false
	} else if text, good := p.str(te.val, what+" to"); !good {
		ok = false
	} else {
		ri.toPos, ri.toText = posOf(te.val), text
		switch to, err := parseTo(text); {
		case err != nil:
			p.errorf(ri.toPos, "%s: to %q: %v", what, text, err)
			ok = false
		default:
			ri.r.To = to
		}
	}
	if ve, have := f.get("via"); have {
		if text, good := p.str(ve.val, what+" via"); !good {
			ok = false
		} else if via, err := netip.ParseAddr(text); err != nil || via.Zone() != "" || via.Is4In6() || via.IsUnspecified() || via.IsMulticast() {
			p.errorf(posOf(ve.val), "%s: via %q is not a gateway address (like 198.18.1.1 or \"fd00:1::1\")", what, text)
			ok = false
		} else {
			ri.r.Via, ri.viaPos = via, posOf(ve.val)
		}
	}
	if de, have := f.get("dev"); have {
		if text, good := p.str(de.val, what+" dev"); !good {
			ok = false
		} else {
			ri.r.Dev, ri.devPos = text, posOf(de.val)
		}
	}
	if !ok {
		return
	}
	if !ri.r.Via.IsValid() && ri.r.Dev == "" {
		p.errorf(posOf(rn), "%s to %s: needs via: (a gateway) or dev: (an interface), or both", what, ri.toText)
		return
	}
	if ri.r.Via.IsValid() && ri.r.Via.Is4() != ri.r.To.Addr().Is4() {
		hint := ""
		if ri.toText == "default" {
			hint = "; write to: default6 for the IPv6 default route"
		}
		p.errorf(ri.viaPos, "%s to %s: via %s is not in the same address family as the destination%s", what, ri.toText, ri.r.Via, hint)
		return
	}
	// Only this node's routes: a scan of every route in the file made a
	// 1000-router line quadratic.
	for _, o := range n.Routes {
		if o.To == ri.r.To {
			p.errorf(ri.toPos, "%s: a route to %s is already defined at line %d; remove one", what, ri.r.To, o.Pos.Line)
			return
		}
	}
	n.Routes = append(n.Routes, ri.r)
	p.routes = append(p.routes, ri)
}

// parseTo parses a route destination.
func parseTo(s string) (netip.Prefix, error) {
	switch s {
	case "default":
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	case "default6":
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("want default, default6 or a prefix like 198.18.2.0/24")
		}
		pf = netip.PrefixFrom(a, a.BitLen())
	}
	if pf.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("IPv4-mapped prefix; write the IPv4 form")
	}
	if pf != pf.Masked() {
		return netip.Prefix{}, fmt.Errorf("host bits are set; write %s", pf.Masked())
	}
	return pf, nil
}

// run parses a node's commands: a string, or a list whose items are strings
// or argv lists.
func (p *parser) run(n *Node, v *yaml.Node) {
	what := fmt.Sprintf("node %q run", n.Name)
	for _, c := range p.seq(v, what, true) {
		switch c.Kind {
		case yaml.ScalarNode:
			if isNull(c) {
				p.errorf(posOf(c), "%s: a command is empty", what)
				continue
			}
			argv, err := SplitCommand(c.Value)
			if err != nil {
				p.errorf(posOf(c), "%s: %v", what, err)
				continue
			}
			if len(argv) == 0 {
				p.errorf(posOf(c), "%s: a command is empty", what)
				continue
			}
			n.Run = append(n.Run, argv)
		case yaml.SequenceNode:
			var argv []string
			good := true
			for _, a := range c.Content {
				s, ok := p.str(a, what+": an argv item")
				if !ok {
					good = false
					continue
				}
				if strings.IndexByte(s, 0) >= 0 {
					p.errorf(posOf(a), "%s: an argument contains a NUL byte", what)
					good = false
					continue
				}
				argv = append(argv, s)
			}
			if !good {
				continue
			}
			if len(argv) == 0 {
				p.errorf(posOf(c), "%s: a command is empty", what)
				continue
			}
			n.Run = append(n.Run, argv)
		default:
			p.errorf(posOf(c), "%s: a command must be a string or a list of arguments, not %s", what, kindName(c))
		}
	}
}

func (p *parser) switch_(e entry) {
	pos := posOf(e.key)
	if !p.checkName("switch", e.name, pos) {
		return
	}
	if _, clash := p.nodes[e.name]; clash {
		p.errorf(pos, "switch %q has the name of a node; names of nodes and switches must differ", e.name)
		return
	}
	sw := &Switch{Name: e.name, Pos: pos}
	p.switches[sw.Name] = sw
	what := fmt.Sprintf("switch %q", sw.Name)
	f := p.fields(e.val, what, "subnet", "subnets", "mtu", "host_device")
	var subnets []*yaml.Node
	se, one := f.get("subnet")
	ses, many := f.get("subnets")
	switch {
	case one && many:
		p.errorf(posOf(ses.key), "%s: give subnet or subnets, not both", what)
	case one:
		if _, ok := p.str(se.val, what+" subnet"); ok {
			subnets = []*yaml.Node{deref(se.val)}
		}
	case many:
		subnets = p.seq(ses.val, what+" subnets", true)
	}
	for _, sn := range subnets {
		text, ok := p.str(sn, what+" subnet")
		if !ok {
			continue
		}
		pf, err := netip.ParsePrefix(text)
		switch {
		case err != nil:
			p.errorf(posOf(sn), "%s: subnet %q is not a prefix (like 198.18.1.0/24 or \"fd00:1::/64\")", what, text)
		case pf.Addr().Is4In6() || pf.Addr().IsMulticast() || pf.Addr().IsLoopback():
			p.errorf(posOf(sn), "%s: subnet %q cannot number interfaces", what, text)
		case pf != pf.Masked():
			p.errorf(posOf(sn), "%s: subnet %q has host bits set; write %s", what, text, pf.Masked())
		default:
			if o, other := p.overlap(pf); o.IsValid() {
				p.errorf(posOf(sn), "%s: subnet %s overlaps %s of switch %q; use disjoint subnets", what, pf, o, other)
				continue
			}
			sw.Subnets = append(sw.Subnets, pf)
		}
	}
	if me, ok := f.get("mtu"); ok {
		sw.MTU = p.mtu(me.val, what)
	}
	if he, ok := f.get("host_device"); ok {
		if text, ok := p.str(he.val, what+" host_device"); ok {
			if err := names.CheckIf(text); err != nil {
				p.errorf(posOf(he.val), "%s host_device: %v", what, err)
			} else {
				for _, o := range p.switches {
					if o.HostDevice == text {
						p.errorf(posOf(he.val), "%s: host_device %q is already bridged by switch %q; a device joins one bridge only", what, text, o.Name)
					}
				}
				sw.HostDevice = text
			}
		}
	}
}

// overlap returns a subnet of a known switch that overlaps pf.
func (p *parser) overlap(pf netip.Prefix) (netip.Prefix, string) {
	for _, sw := range p.switches {
		for _, o := range sw.Subnets {
			if o.Overlaps(pf) {
				return o, sw.Name
			}
		}
	}
	return netip.Prefix{}, ""
}

func (p *parser) link(ln *yaml.Node) *Link {
	f := p.fields(ln, "link", "endpoints", "mtu", "impair")
	l := &Link{Pos: posOf(ln)}
	if ie, ok := f.get("impair"); ok {
		l.Impair = p.impair(ie.val, "link")
	}
	if me, ok := f.get("mtu"); ok {
		l.MTU = p.mtu(me.val, "link")
	}
	ee, ok := f.get("endpoints")
	if !ok {
		if ln.Kind == yaml.MappingNode {
			p.errorf(posOf(ln), "link: missing endpoints: [a, b]")
		}
		return nil
	}
	if v := deref(ee.val); v.Kind != yaml.SequenceNode && !isNull(v) {
		p.seq(v, "link endpoints", false) // reports the error
		return nil
	}
	items := p.seq(ee.val, "link endpoints", false)
	if len(items) != 2 {
		p.errorf(posOf(ee.val), "link endpoints: a link has 2 ends, not %d; write them like [h1:eth0, lan1]", len(items))
		return nil
	}
	for i, it := range items {
		l.Endpoints[i] = p.endpoint(it)
		if e := l.Endpoints[i]; e != nil {
			p.mentioned[e.String()] = true // no "in no link" problem if the link is bad
		}
	}
	a, b := l.Endpoints[0], l.Endpoints[1]
	if a == nil || b == nil {
		return nil
	}
	switch {
	case a.Kind == EndpointSwitch && b.Kind == EndpointSwitch:
		p.errorf(b.Pos, "link %s - %s: links between switches are not supported; join them through a node with an interface on each", a, b)
		return nil
	case a.Kind == b.Kind && a.Node == b.Node && a.Interface == b.Interface:
		p.errorf(b.Pos, "link %s - %s joins an interface to itself; use two different interfaces", a, b)
		return nil
	}
	attached := true
	for _, e := range l.Endpoints {
		if !p.attach(l, e) {
			attached = false
		}
	}
	if !attached {
		return nil
	}
	for _, e := range l.Endpoints {
		if e.Kind == EndpointSwitch {
			sw := p.switches[e.Node]
			sw.Ports = append(sw.Ports, l.Peer(e))
		}
	}
	return l
}

// endpoint parses one link end.
func (p *parser) endpoint(n *yaml.Node) *Endpoint {
	text, ok := p.str(n, "link endpoint")
	if !ok {
		return nil
	}
	pos := posOf(n)
	e := &Endpoint{Pos: pos}
	name, ifname, hasIf := strings.Cut(text, ":")
	if p.badNames[name] {
		return nil // already reported where it is defined
	}
	switch {
	case strings.Contains(ifname, ":") || (hasIf && (name == "" || ifname == "")):
		p.errorf(pos, "link endpoint %q: write node:interface (h1:eth0), host:interface, or a switch name", text)
		return nil
	case !hasIf:
		if _, ok := p.switches[name]; ok {
			e.Kind, e.Node = EndpointSwitch, name
			return e
		}
		switch _, isNode := p.nodes[name]; {
		case name == HostName:
			p.errorf(pos, "link endpoint %q: a root-namespace end needs an interface name: write host:<ifname>", text)
		case isNode:
			p.errorf(pos, "link endpoint %q: node %q needs an interface: write %s:<ifname>, like %s:eth0", text, name, name, name)
		default:
			p.errorf(pos, "link endpoint %q: unknown switch %q; define it under switches: (or write node:interface for a node)", text, name)
		}
		return nil
	}
	e.Node, e.Interface = name, ifname
	switch _, isNode := p.nodes[name]; {
	case name == HostName:
		e.Kind = EndpointHost
	case isNode:
		e.Kind = EndpointNode
	default:
		if _, ok := p.switches[name]; ok {
			p.errorf(pos, "link endpoint %q: %q is a switch, and switches have no named interfaces; write just %s", text, name, name)
		} else {
			p.errorf(pos, "link endpoint %q: unknown node %q; define it under nodes:", text, name)
		}
		return nil
	}
	if err := names.CheckIf(ifname); err != nil {
		p.errorf(pos, "link endpoint %q: %v", text, err)
		return nil
	}
	return e
}

// attach makes e's interface an end of l, creating the interface if it was
// not declared.
func (p *parser) attach(l *Link, e *Endpoint) bool {
	if e.Kind == EndpointSwitch {
		return true
	}
	n := p.host
	if e.Kind == EndpointNode {
		n = p.nodes[e.Node]
	}
	var i *Interface
	for _, c := range n.Interfaces {
		if c.Name == e.Interface {
			i = c
		}
	}
	if i == nil {
		i = &Interface{Name: e.Interface, Pos: e.Pos}
		n.Interfaces = append(n.Interfaces, i)
	}
	if i.Link != nil {
		if e.Kind == EndpointHost {
			p.errorf(e.Pos, "link endpoint %q: host interface %q is already an end of the link at line %d; names in the root namespace must be unique", e, e.Interface, i.Link.Pos.Line)
		} else {
			p.errorf(e.Pos, "link endpoint %q: interface %s is already an end of the link at line %d; an interface is in one link only", e, e, i.Link.Pos.Line)
		}
		return false
	}
	i.Link = l
	return true
}

// impair reads an impairment ("rate=10mbit delay=20ms loss=1%") and checks
// it with package shape; it returns the normalised text.
func (p *parser) impair(v *yaml.Node, what string) string {
	text, ok := p.str(v, what+" impair")
	if !ok {
		return ""
	}
	imp, err := shape.Parse(strings.Fields(text))
	if err != nil {
		p.errorf(posOf(v), "%s impair: %v", what, err)
		return ""
	}
	return imp.String()
}

// firewall reads a node's firewall section. Rules are checked once every
// node is known (node names may stand for their addresses).
func (p *parser) firewall(v *yaml.Node, what string) *Firewall {
	fw := &Firewall{Default: map[string]string{}, Pos: posOf(v)}
	f := p.fields(v, what+" firewall", "rules", "default", "masquerade")
	if re, ok := f.get("rules"); ok {
		for _, rn := range p.seq(re.val, what+" firewall rules", false) {
			if text, ok := p.str(rn, what+" firewall rule"); ok {
				fw.Rules = append(fw.Rules, text)
				fw.RulePos = append(fw.RulePos, posOf(rn))
			}
		}
	}
	if de, ok := f.get("default"); ok {
		for _, kv := range p.entries(de.val, what+" firewall default") {
			val, ok := p.str(kv.val, what+" firewall default "+kv.name)
			if !ok {
				continue
			}
			switch {
			case kv.name != "in" && kv.name != "out" && kv.name != "forward":
				p.errorf(posOf(kv.key), "%s firewall default: unknown direction %q; use in, out or forward", what, kv.name)
			case val != "allow" && val != "deny" && val != "reject":
				p.errorf(posOf(kv.val), "%s firewall default %s: unknown action %q; use allow, deny or reject", what, kv.name, val)
			default:
				fw.Default[kv.name] = val
			}
		}
	}
	if me, ok := f.get("masquerade"); ok {
		for _, mn := range p.seq(me.val, what+" firewall masquerade", true) {
			if text, ok := p.str(mn, what+" firewall masquerade"); ok {
				if err := names.CheckIf(text); err != nil {
					p.errorf(posOf(mn), "%s firewall masquerade: %v", what, err)
					continue
				}
				fw.Masquerade = append(fw.Masquerade, text)
			}
		}
	}
	return fw
}

package topo

import (
	"cmp"
	"fmt"
	"github.com/nslab/nslab/firewall"
	"net/netip"
	"slices"
	"strings"
)

// resolve checks what needs the whole file and fills in what the file
// leaves implicit: switch-port addresses and MTUs.
func (p *parser) resolve(s *Spec) {
	all := make([]*Node, 0, len(p.nodes)+1)
	for _, n := range p.nodes {
		all = append(all, n)
	}
	slices.SortFunc(all, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	all = append(all, p.host)
	owners := make(map[*Interface]*Node, len(all))
	for _, n := range all {
		for _, i := range n.Interfaces {
			owners[i] = n
			if i.Link == nil && p.declared[i] && !p.mentioned[owner(n, i.Name)] {
				p.errorf(i.Pos, "interface %s is in no link; add a link with endpoint %s, or remove it", owner(n, i.Name), owner(n, i.Name))
			}
		}
	}
	for _, sw := range p.switches {
		if sw.HostDevice == "" {
			continue
		}
		for _, i := range p.host.Interfaces {
			if i.Name == sw.HostDevice {
				p.errorf(i.Pos, "host interface %q is also the host_device of switch %q; pick another name for the link end", i.Name, sw.Name)
			}
		}
	}

	// Explicit addresses, each once in the lab, in file order.
	type use struct {
		i   *Interface
		a   netip.Prefix
		pos Pos
	}
	uses := make([]use, 0, len(p.addrPos))
	for i, ps := range p.addrPos {
		for k, pos := range ps {
			uses = append(uses, use{i, i.Addresses[k], pos})
		}
	}
	slices.SortFunc(uses, func(a, b use) int {
		return cmp.Or(cmp.Compare(a.pos.Line, b.pos.Line), cmp.Compare(a.pos.Col, b.pos.Col))
	})
	first := make(map[netip.Addr]use, len(uses))
	for _, u := range uses {
		if f, dup := first[u.a.Addr()]; dup {
			p.errorf(u.pos, "interface %s: address %s is already used by %s (line %d); use each address once in the lab",
				owner(owners[u.i], u.i.Name), u.a.Addr(), owner(owners[f.i], f.i.Name), f.pos.Line)
			continue
		}
		first[u.a.Addr()] = u
		p.used[u.a.Addr()] = owner(owners[u.i], u.i.Name)
	}

	// Switch ports: explicit addresses inside the switch's subnets, or
	// addresses assigned from them in link order.
	cursor := map[netip.Prefix]netip.Addr{}
	for _, l := range s.Links {
		for _, e := range l.Endpoints {
			if e.Kind != EndpointSwitch {
				continue
			}
			sw := p.switches[e.Node]
			pe := l.Peer(e)
			n := p.nodeOf(pe)
			i := ifaceOf(n, pe.Interface)
			name := owner(n, i.Name)
			if len(i.Addresses) > 0 {
				p.checkInSubnets(sw, i, name)
				continue
			}
			for _, pf := range sw.Subnets {
				a, ok := p.nextFree(pf, cursor)
				if !ok {
					p.errorf(pe.Pos, "switch %q: subnet %s has no free address left for %s; use a larger subnet or give %s an address", sw.Name, pf, name, name)
					continue
				}
				p.used[a] = name
				i.Addresses = append(i.Addresses, netip.PrefixFrom(a, pf.Bits()))
			}
		}
	}

	// MTUs: the interface's own, else the link's, else the switch's.
	for _, l := range s.Links {
		for _, e := range l.Endpoints {
			if e.Kind == EndpointSwitch {
				continue
			}
			i := ifaceOf(p.nodeOf(e), e.Interface)
			if i.MTU == 0 {
				i.MTU = l.MTU
			}
			if pe := l.Peer(e); i.MTU == 0 && pe.Kind == EndpointSwitch {
				i.MTU = p.switches[pe.Node].MTU
			}
		}
	}
	for _, n := range all {
		for _, i := range n.Interfaces {
			if i.MTU == 0 || i.MTU >= 1280 {
				continue
			}
			for _, a := range i.Addresses {
				if a.Addr().Is6() {
					p.errorf(i.Pos, "interface %s has IPv6 address %s but MTU %d; IPv6 needs an MTU of at least 1280", owner(n, i.Name), a, i.MTU)
					break
				}
			}
		}
	}

	for _, ri := range p.routes {
		p.checkRoute(ri)
	}
	for _, n := range all {
		if n.Firewall != nil {
			p.checkFirewall(n)
		}
	}
	for _, sw := range p.switches {
		if len(sw.Ports) > MaxSwitchPorts {
			p.errorf(sw.Pos, "switch %q has %d ports; a Linux bridge takes at most %d: spread the nodes over several switches joined through router nodes", sw.Name, len(sw.Ports), MaxSwitchPorts)
		}
	}
}

// MaxSwitchPorts is the most ports a Linux bridge takes (BR_MAX_PORTS - 1).
const MaxSwitchPorts = 1023

// checkFirewall resolves node names in a node's firewall rules to their
// addresses and checks every rule with package firewall.
func (p *parser) checkFirewall(n *Node) {
	fw := n.Firewall
	fw.Resolved = nil
	for i, text := range fw.Rules {
		pos := fw.Pos
		if i < len(fw.RulePos) {
			pos = fw.RulePos[i]
		}
		res, err := p.resolveRule(text)
		if err == nil {
			_, err = firewall.ParseRule(res)
		}
		if err != nil {
			p.errorf(pos, "node %q: %v", n.Name, err)
			continue
		}
		fw.Resolved = append(fw.Resolved, res)
	}
	for _, m := range fw.Masquerade {
		if n.Interface(m) == nil {
			p.errorf(fw.Pos, "node %q firewall masquerade: no interface %q on the node", n.Name, m)
		}
	}
}

// resolveRule replaces node names after "from" and "to" with the node's
// addresses: "deny in tcp 5432 from h1" -> "... from 198.18.1.10,fd00:1::10".
func (p *parser) resolveRule(text string) (string, error) {
	w := strings.Fields(text)
	for i := 1; i < len(w); i++ {
		if w[i-1] != "from" && w[i-1] != "to" {
			continue
		}
		var out []string
		for _, item := range strings.Split(w[i], ",") {
			n := p.nodes[item]
			if n == nil {
				out = append(out, item)
				continue
			}
			var addrs []string
			for _, ifc := range n.Interfaces {
				for _, a := range ifc.Addresses {
					addrs = append(addrs, a.Addr().String())
				}
			}
			if len(addrs) == 0 {
				return "", fmt.Errorf("firewall rule %q: node %q has no addresses to match", text, item)
			}
			out = append(out, addrs...)
		}
		w[i] = strings.Join(out, ",")
	}
	return strings.Join(w, " "), nil
}

func (p *parser) nodeOf(e *Endpoint) *Node {
	if e.Kind == EndpointHost {
		return p.host
	}
	return p.nodes[e.Node]
}

func ifaceOf(n *Node, name string) *Interface {
	for _, i := range n.Interfaces {
		if i.Name == name {
			return i
		}
	}
	return nil
}

// checkInSubnets reports a switch port whose explicit addresses of a family
// lie outside every subnet of that family of its switch.
func (p *parser) checkInSubnets(sw *Switch, i *Interface, name string) {
	for _, v4 := range []bool{true, false} {
		var subnets []string
		inside, have := false, -1
		for _, pf := range sw.Subnets {
			if pf.Addr().Is4() != v4 {
				continue
			}
			subnets = append(subnets, pf.String())
			for k, a := range i.Addresses {
				if a.Addr().Is4() != v4 {
					continue
				}
				if have < 0 {
					have = k
				}
				if pf.Contains(a.Addr()) {
					inside = true
				}
			}
		}
		if len(subnets) > 0 && have >= 0 && !inside {
			pos := i.Pos
			if ps := p.addrPos[i]; have < len(ps) {
				pos = ps[have]
			}
			p.errorf(pos, "interface %s: address %s is outside the subnets of switch %q (%s); use an address inside, or no addresses to have one assigned",
				name, i.Addresses[have], sw.Name, strings.Join(subnets, ", "))
		}
	}
}

// nextFree returns the next unused host address of pf after the last one
// handed out, skipping the IPv4 network and broadcast addresses and the IPv6
// subnet-router anycast address.
func (p *parser) nextFree(pf netip.Prefix, cursor map[netip.Prefix]netip.Addr) (netip.Addr, bool) {
	a, started := cursor[pf]
	if !started {
		a = pf.Addr()
		whole := pf.Bits() >= pf.Addr().BitLen()-1 // /31, /32, /127, /128: every address is a host
		if !whole {
			a = a.Next()
		}
	} else {
		a = a.Next()
	}
	bcast := pf.Addr().Is4() && pf.Bits() <= 30
	last := lastAddr(pf)
	for ; a.IsValid() && pf.Contains(a); a = a.Next() {
		if bcast && a == last {
			break
		}
		if _, used := p.used[a]; used {
			continue
		}
		cursor[pf] = a
		return a, true
	}
	cursor[pf] = last
	return netip.Addr{}, false
}

// checkRoute checks a route's device and that its gateway is on a subnet of
// the node's interfaces.
func (p *parser) checkRoute(ri routeInfo) {
	n, r := ri.node, ri.r
	what := fmt.Sprintf("node %q route to %s", n.Name, ri.toText)
	cands := n.Interfaces
	if r.Dev != "" {
		i := ifaceOf(n, r.Dev)
		if i == nil {
			var have []string
			for _, c := range n.Interfaces {
				have = append(have, c.Name)
			}
			slices.Sort(have)
			p.errorf(ri.devPos, "%s: dev %q is not an interface of %s (it has: %s)", what, r.Dev, n.Name, strings.Join(have, ", "))
			return
		}
		cands = []*Interface{i}
	}
	if !r.Via.IsValid() {
		return
	}
	if r.Via.IsLinkLocalUnicast() {
		if r.Dev == "" {
			p.errorf(ri.viaPos, "%s: link-local gateway %s needs dev: (the interface it is reached on)", what, r.Via)
		}
		return
	}
	var attached []string
	for _, i := range cands {
		for _, a := range i.Addresses {
			if a.Addr() == r.Via {
				p.errorf(ri.viaPos, "%s: gateway %s is an address of %s itself; use a neighbour's address", what, r.Via, owner(n, i.Name))
				return
			}
			if a.Masked().Contains(r.Via) {
				return
			}
			attached = append(attached, a.String())
		}
	}
	have := "it has no addresses"
	if len(attached) > 0 {
		have = "its addresses: " + strings.Join(attached, ", ")
	}
	on := n.Name
	if r.Dev != "" {
		on = owner(n, r.Dev)
	}
	p.errorf(ri.viaPos, "%s: gateway %s not on any attached subnet of %s (%s); use the address of a neighbour on one of its links", what, r.Via, on, have)
}

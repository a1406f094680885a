package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/nslab/nslab/firewall"
)

// Partition cuts all traffic, IPv4 and IPv6, between the nodes of group a
// and those of group b, with nftables rules (in nslab's own table) in every
// node of both groups, until Heal.
func Partition(ctx context.Context, lab string, a, b []string) error {
	return withState(ctx, lab, func(s *session, st *State) error {
		for _, g := range [][]string{a, b} {
			if len(g) == 0 {
				return errors.New("a partition needs two non-empty groups of nodes")
			}
			for _, n := range g {
				if nm := st.Model.Nodes[n]; nm == nil || nm.Switch {
					return fmt.Errorf("lab %q has no node %q (nodes: %s)", lab, n, strings.Join(nodeNames(st.Model), ", "))
				}
			}
		}
		for _, n := range a {
			if slices.Contains(b, n) {
				return fmt.Errorf("node %q is in both groups of the partition", n)
			}
		}
		st.Faults.Partitions = append(st.Faults.Partitions, [2][]string{slices.Clone(a), slices.Clone(b)})
		if err := s.applyFirewalls(st, append(slices.Clone(a), b...)); err != nil {
			return err
		}
		appendEvents(lab, []Event{{Kind: "partition", Detail: strings.Join(a, ",") + " | " + strings.Join(b, ",")}})
		return nil
	})
}

// Heal removes every partition of a running lab.
func Heal(ctx context.Context, lab string) error {
	return withState(ctx, lab, func(s *session, st *State) error {
		var touched []string
		for _, p := range st.Faults.Partitions {
			touched = append(append(touched, p[0]...), p[1]...)
		}
		st.Faults.Partitions = nil
		if err := s.applyFirewalls(st, touched); err != nil {
			return err
		}
		appendEvents(lab, []Event{{Kind: "heal"}})
		return nil
	})
}

// applyFirewalls sets, in the given nodes, their policy from the topology
// plus the rules of the current partitions (or clears nslab's tables where
// that leaves nothing).
func (s *session) applyFirewalls(st *State, nodes []string) error {
	addrs := func(node string) []netip.Prefix {
		var out []netip.Prefix
		for _, a := range addrsOf(st.Model.Nodes[node]) {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
		return out
	}
	extra := map[string][]firewall.Rule{}
	var partitions [][2][]string
	if st.Faults != nil {
		partitions = st.Faults.Partitions
	}
	for _, p := range partitions {
		for side := range 2 {
			var other []netip.Prefix
			for _, n := range p[1-side] {
				other = append(other, addrs(n)...)
			}
			for _, n := range p[side] {
				extra[n] = append(extra[n],
					firewall.Rule{Action: firewall.Deny, Direction: firewall.In, From: other},
					firewall.Rule{Action: firewall.Deny, Direction: firewall.Out, To: other},
					firewall.Rule{Action: firewall.Deny, Direction: firewall.Forward, From: other},
					firewall.Rule{Action: firewall.Deny, Direction: firewall.Forward, To: other})
			}
		}
	}
	for _, name := range nodes {
		n := st.Model.Nodes[name]
		if n == nil || n.Switch {
			continue
		}
		pol, err := n.policy()
		if err != nil {
			return err
		}
		pol.Rules = append(extra[n.Name], pol.Rules...)
		h, err := s.get(n.NS)
		if err != nil {
			return err
		}
		if len(pol.Rules) == 0 && len(pol.Default) == 0 && len(pol.Masquerade) == 0 {
			if err := firewall.Clear(h.ns); err != nil {
				return fmt.Errorf("node %q: %w", n.Name, err)
			}
			continue
		}
		if err := firewall.Apply(h.ns, pol); err != nil {
			return fmt.Errorf("node %q: %w", n.Name, err)
		}
	}
	return nil
}

// policy is the node's firewall policy from its topology.
func (n *NodeModel) policy() (firewall.Policy, error) {
	var pol firewall.Policy
	fw := n.Firewall
	if fw == nil {
		return pol, nil
	}
	for _, text := range fw.Rules {
		r, err := firewall.ParseRule(text)
		if err != nil {
			return pol, fmt.Errorf("node %q: %w", n.Name, err)
		}
		pol.Rules = append(pol.Rules, r)
	}
	if len(fw.Default) > 0 {
		pol.Default = map[firewall.Direction]firewall.Action{}
		for d, a := range fw.Default {
			pol.Default[firewall.Direction(d)] = firewall.Action(a)
		}
	}
	pol.Masquerade = fw.Masquerade
	return pol, nil
}

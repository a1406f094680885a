package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/probe"
)

// CheckOptions tune Check. The zero value is the default.
type CheckOptions struct {
	Timeout  time.Duration // per probe; 0 = 1s
	Parallel int           // probes at once; 0 = 64
	// AllPairs adds the all-pairs ICMP check even when the lab has
	// expectations.
	AllPairs bool
}

// ProbeResult is one probe of a check and whether it met its expectation.
type ProbeResult struct {
	From   string        `json:"from"`
	To     string        `json:"to"`
	Addr   netip.Addr    `json:"addr"`
	Proto  string        `json:"proto"`
	Port   int           `json:"port,omitempty"`
	Want   string        `json:"want"` // allow, deny, reject
	Got    probe.Verdict `json:"got"`
	RTT    time.Duration `json:"rtt_ns,omitempty"`
	Pass   bool          `json:"pass"`
	Line   string        `json:"expect,omitempty"` // the expect line, if any
	Detail string        `json:"detail,omitempty"`
}

// Report is the outcome of Check.
type Report struct {
	Lab     string        `json:"lab"`
	Nodes   []string      `json:"nodes"`
	Probes  []ProbeResult `json:"probes"`
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// OK reports whether every probe met its expectation.
func (r *Report) OK() bool { return r.Failed == 0 }

// Check probes a running lab from inside its namespaces. Without expect
// lines it checks that every node reaches, by ICMP echo, every address of
// every other node that its addresses and routes say it should reach (IPv4
// and IPv6). With expect lines it checks each line (allow: the probe gets
// through; deny: no answer; reject: an active refusal), starting short-lived
// listeners for tcp and udp expectations on nodes that do not serve the
// port themselves.
func Check(ctx context.Context, lab string, o CheckOptions) (*Report, error) {
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.Parallel == 0 {
		o.Parallel = 64
	}
	st, err := loadState(lab)
	if err != nil {
		return nil, err
	}
	if st == nil || st.Model == nil {
		return nil, fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	m := st.Model
	s, err := newSession(lab, nil)
	if err != nil {
		return nil, err
	}
	defer s.close()
	start := time.Now()
	rep := &Report{Lab: lab}
	var nodes []*NodeModel
	for _, n := range m.sortedNodes() {
		if !n.Switch {
			nodes = append(nodes, n)
			rep.Nodes = append(rep.Nodes, n.Name)
		}
	}
	var cases []ProbeResult
	if len(m.Expect) == 0 || o.AllPairs {
		for _, from := range nodes {
			for _, to := range nodes {
				if from == to {
					continue
				}
				for _, a := range addrsOf(to) {
					if reaches(from, a) {
						cases = append(cases, ProbeResult{From: from.Name, To: to.Name, Addr: a, Proto: "icmp", Want: "allow"})
					}
				}
			}
		}
	}
	var listeners []io.Closer
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, line := range m.Expect {
		e, err := topo.ParseExpectation(line)
		if err != nil {
			return nil, fmt.Errorf("lab %q: expect %q: %w", lab, line, err)
		}
		from, to := m.Nodes[e.From], m.Nodes[e.To]
		if from == nil || to == nil {
			return nil, fmt.Errorf("lab %q: expect %q: unknown node", lab, line)
		}
		if e.Proto != "icmp" {
			tn, err := s.get(to.NS)
			if err != nil {
				return nil, err
			}
			l, err := probe.Listen(tn.ns, probe.Proto(e.Proto), netip.Addr{}, e.Port)
			switch {
			case err == nil:
				listeners = append(listeners, l)
			case errors.Is(err, syscall.EADDRINUSE):
				// The node serves the port itself.
			default:
				return nil, fmt.Errorf("lab %q: expect %q: listen on %s: %w", lab, line, e.To, err)
			}
		}
		n := 0
		for _, a := range addrsOf(to) {
			if !hasFamily(from, a) {
				continue
			}
			cases = append(cases, ProbeResult{From: e.From, To: e.To, Addr: a, Proto: e.Proto, Port: e.Port, Want: e.Verdict(), Line: e.Line})
			n++
		}
		if n == 0 {
			rep.Probes = append(rep.Probes, ProbeResult{From: e.From, To: e.To, Proto: e.Proto, Port: e.Port, Want: e.Verdict(), Line: e.Line,
				Detail: "no address of " + e.To + " in a family " + e.From + " has"})
		}
	}
	reqs := make([]probe.Request, len(cases))
	for i, c := range cases {
		n, err := s.get(m.Nodes[c.From].NS)
		if err != nil {
			return nil, err
		}
		reqs[i] = probe.Request{NS: n.ns, Proto: probe.Proto(c.Proto), Dst: c.Addr, Port: c.Port, Timeout: o.Timeout}
	}
	results := probe.ProbeAll(ctx, reqs, o.Parallel)
	// A probe that should pass but got no answer is tried once more: on a
	// freshly made link the first neighbour solicitation can be lost.
	var again []int
	for i, r := range results {
		if cases[i].Want == "allow" && r.Verdict != probe.OK && ctx.Err() == nil {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		retry := make([]probe.Request, len(again))
		for j, i := range again {
			retry[j] = reqs[i]
		}
		for j, r := range probe.ProbeAll(ctx, retry, o.Parallel) {
			results[again[j]] = r
		}
	}
	for i, r := range results {
		c := cases[i]
		c.Got, c.RTT = r.Verdict, r.RTT
		if r.Err != nil {
			c.Detail = r.Err.Error()
		}
		switch c.Want {
		case "allow":
			c.Pass = r.Verdict == probe.OK
		case "deny":
			c.Pass = r.Verdict == probe.Timeout
		case "reject":
			c.Pass = r.Verdict == probe.Refused
		}
		rep.Probes = append(rep.Probes, c)
	}
	for _, p := range rep.Probes {
		if p.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, ctx.Err()
}

func addrsOf(n *NodeModel) []netip.Addr {
	var out []netip.Addr
	for _, name := range slicesSorted(n.Ifs) {
		for _, p := range n.Ifs[name].Addrs {
			if !p.Addr().IsLinkLocalUnicast() {
				out = append(out, p.Addr())
			}
		}
	}
	return out
}

func hasFamily(n *NodeModel, a netip.Addr) bool {
	for _, i := range n.Ifs {
		for _, p := range i.Addrs {
			if p.Addr().Is4() == a.Is4() {
				return true
			}
		}
	}
	return false
}

// reaches reports whether n's own addresses and routes should carry traffic
// to a: a is on a subnet of one of n's interfaces, or a route covers it.
func reaches(n *NodeModel, a netip.Addr) bool {
	if !hasFamily(n, a) {
		return false
	}
	for _, i := range n.Ifs {
		if slices.ContainsFunc(i.Addrs, func(p netip.Prefix) bool { return p.Masked().Contains(a) }) {
			return true
		}
	}
	for _, r := range n.Routes {
		if r.To.Contains(a) {
			return true
		}
	}
	return false
}

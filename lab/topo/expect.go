package topo

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

const expectForms = `"<from> -> <to> icmp <verdict>" or "<from> -> <to>:<port>/<tcp|udp> <verdict>", verdict allow, deny or reject`

// ParseExpectation parses one expect line, like "h1 -> h2:8080/tcp allow".
// It checks the form only, not that the nodes exist.
func ParseExpectation(line string) (*Expectation, error) {
	x, _, err := parseExpect(line)
	return x, err
}

// parseExpect also returns the byte offset in line of the token at fault.
func parseExpect(line string) (*Expectation, int, error) {
	type tok struct {
		s   string
		off int
	}
	var toks []tok
	for i := 0; i < len(line); {
		if line[i] == ' ' || line[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		toks = append(toks, tok{line[i:j], i})
		i = j
	}
	x := &Expectation{Line: strings.TrimSpace(line)}
	bad := func(off int, format string, args ...any) (*Expectation, int, error) {
		return nil, off, fmt.Errorf(format, args...)
	}
	if len(toks) < 4 || len(toks) > 5 || toks[1].s != "->" {
		return bad(0, "expect %q: want %s", x.Line, expectForms)
	}
	x.From = toks[0].s
	target, verdict := toks[2], toks[len(toks)-1]
	host, port, hasPort := strings.Cut(target.s, ":")
	x.To = host
	if host == "" {
		return bad(target.off, "expect %q: the destination node is missing; want %s", x.Line, expectForms)
	}
	if hasPort {
		if len(toks) != 4 {
			return bad(toks[3].off, "expect %q: unexpected %q; want %s", x.Line, toks[3].s, expectForms)
		}
		num, proto, ok := strings.Cut(port, "/")
		n, err := strconv.Atoi(num)
		switch {
		case !ok || (proto != "tcp" && proto != "udp"):
			return bad(target.off, "expect %q: %q: write <node>:<port>/tcp or <node>:<port>/udp (ICMP takes no port: <node> icmp)", x.Line, target.s)
		case err != nil || n < 1 || n > 65535 || num[0] == '+' || num[0] == '-':
			return bad(target.off+len(host)+1, "expect %q: port %q must be a number from 1 to 65535", x.Line, num)
		}
		x.Port, x.Proto = n, proto
	} else {
		if len(toks) != 5 || toks[3].s != "icmp" {
			return bad(target.off, "expect %q: without a port the protocol is icmp; want %s", x.Line, expectForms)
		}
		x.Proto = "icmp"
	}
	switch verdict.s {
	case "allow":
		x.Allow = true
	case "deny":
	case "reject":
		x.Reject = true
	default:
		return bad(verdict.off, "expect %q: verdict %q must be allow, deny or reject", x.Line, verdict.s)
	}
	return x, 0, nil
}

// expect parses an item of the expect list and checks its nodes.
func (p *parser) expect(n *yaml.Node) *Expectation {
	text, ok := p.str(n, "expect item")
	if !ok {
		return nil
	}
	// col returns the position of byte off of the scalar, when the scalar
	// is written on one line so that the offset maps to a column.
	col := func(off int) Pos {
		pos := posOf(n)
		switch n.Style {
		case 0:
		case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
			if strings.ContainsAny(text, "\\'\"\n") {
				return pos
			}
			pos.Col++
		default:
			return pos
		}
		pos.Col += off
		return pos
	}
	x, off, err := parseExpect(text)
	if err != nil {
		p.errorf(col(off), "%v", err)
		return nil
	}
	x.Pos = posOf(n)
	good := true
	for _, name := range []string{x.From, x.To} {
		if _, ok := p.nodes[name]; ok || p.badNames[name] {
			if !ok {
				good = false
			}
			continue
		}
		off := strings.Index(text, name)
		if name == x.To {
			off = strings.Index(text, "->") + 2
			off += strings.Index(text[off:], name)
		}
		if name == HostName {
			p.errorf(col(off), "expect %q: the root namespace cannot be probed; name a node", x.Line)
		} else {
			p.errorf(col(off), "expect %q: unknown node %q; define it under nodes:", x.Line, name)
		}
		good = false
	}
	if !good {
		return nil
	}
	return x
}

package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// An Action says what happens to a packet a rule matches.
type Action string

// The actions.
const (
	// Allow accepts the packet (nft "accept").
	Allow Action = "allow"
	// Deny drops the packet silently (nft "drop"): a TCP connect times out.
	Deny Action = "deny"
	// Reject drops the packet and tells the sender: a TCP reset for TCP
	// (connect fails at once with ECONNREFUSED), ICMP(v6) port unreachable
	// for UDP, and ICMP(v6) administratively prohibited otherwise
	// (nft "reject with tcp reset" / "reject with icmpx ...").
	Reject Action = "reject"
)

// A Direction says which traffic of a namespace a rule looks at.
type Direction string

// The directions, named after the netfilter hooks they use.
const (
	// In is traffic addressed to the namespace itself (hook input).
	In Direction = "in"
	// Out is traffic the namespace itself sends (hook output).
	Out Direction = "out"
	// Forward is traffic the namespace routes between its interfaces
	// (hook forward); it only flows when IP forwarding is on.
	Forward Direction = "forward"
)

// Protocols a Rule can match, besides "" (any).
const (
	TCP  = "tcp"
	UDP  = "udp"
	ICMP = "icmp" // ICMP for IPv4 and ICMPv6 for IPv6
)

// A Rule matches packets by direction, protocol, destination port and
// source/destination prefixes, and says what to do with them. Its text form,
// used in topology files, is
//
//	ACTION DIRECTION [PROTO [PORT]] [from PREFIX[,PREFIX...]] [to PREFIX[,PREFIX...]]
//
// for example "deny in tcp 5432 from 198.18.1.0/24", "reject in udp 53",
// "allow out icmp to fd00::/8" or "deny forward from 198.18.1.10". A bare
// address stands for a single-address prefix. The zero value is not valid:
// Action and Direction are required.
type Rule struct {
	Action    Action
	Direction Direction
	Proto     string         // "", "tcp", "udp" or "icmp" (ICMP and ICMPv6, by family)
	Port      int            // destination port, 0 = any; tcp and udp only
	From, To  []netip.Prefix // source / destination; empty = any; IPv4 and IPv6 may be mixed
}

// ParseRule parses the text form of a rule (see Rule). Words are separated
// by white space; prefixes in a list by commas without spaces. The error is
// one line that quotes the rule and says what is wrong.
func ParseRule(s string) (Rule, error) {
	r, err := parseRule(s)
	if err != nil {
		return Rule{}, fmt.Errorf("firewall rule %q: %w", s, err)
	}
	return r, nil
}

func parseRule(s string) (Rule, error) {
	var r Rule
	w := strings.Fields(s)
	if len(w) < 2 {
		return r, errors.New(`want "ACTION DIRECTION [PROTO [PORT]] [from PREFIXES] [to PREFIXES]", e.g. "deny in tcp 22 from 198.18.0.0/24"`)
	}
	r.Action = Action(w[0])
	if err := checkAction(r.Action); err != nil {
		return r, err
	}
	r.Direction = Direction(w[1])
	if err := checkDirection(r.Direction); err != nil {
		return r, err
	}
	w = w[2:]
	if len(w) > 0 && (w[0] == TCP || w[0] == UDP || w[0] == ICMP) {
		r.Proto = w[0]
		w = w[1:]
		if r.Proto != ICMP && len(w) > 0 && w[0] != "from" && w[0] != "to" {
			p, err := strconv.Atoi(w[0])
			if err != nil || p < 1 || p > 65535 {
				return r, fmt.Errorf("port %q is not a number in 1-65535", w[0])
			}
			r.Port = p
			w = w[1:]
		}
	}
	var seenFrom, seenTo bool
	for len(w) > 0 {
		kw := w[0]
		var dst *[]netip.Prefix
		switch {
		case kw == "from" && !seenFrom:
			seenFrom, dst = true, &r.From
		case kw == "to" && !seenTo:
			seenTo, dst = true, &r.To
		case kw == "from" || kw == "to":
			return r, fmt.Errorf("%q given twice: list its prefixes once, separated by commas", kw)
		default:
			return r, unexpected(kw, r)
		}
		if len(w) < 2 {
			return r, fmt.Errorf("%q needs a prefix or address, e.g. %q", kw, kw+" 198.18.0.0/24")
		}
		ps, err := parsePrefixes(w[1])
		if err != nil {
			return r, err
		}
		*dst = ps
		w = w[2:]
	}
	return r, r.Validate()
}

// unexpected explains a word found where a protocol, port, "from" or "to"
// was possible.
func unexpected(word string, r Rule) error {
	switch {
	case r.Proto == "" && r.From == nil && r.To == nil:
		if _, err := strconv.Atoi(word); err == nil {
			return fmt.Errorf("port %s needs a protocol before it: tcp or udp", word)
		}
		return fmt.Errorf("unknown word %q: want a protocol (tcp, udp, icmp), \"from\" or \"to\"", word)
	case r.Proto == ICMP && r.From == nil && r.To == nil:
		return fmt.Errorf("unknown word %q: icmp takes no port; want \"from\" or \"to\"", word)
	default:
		return fmt.Errorf("unknown word %q: want \"from\" or \"to\"", word)
	}
}

func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s == "" {
			return nil, fmt.Errorf("empty prefix in list %q", list)
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix parses "198.18.1.0/24", "fd00::/8" or a bare address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q: want an address or address/length such as 198.18.0.0/24 or fd00::/8", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q: want an address or address/length such as 198.18.0.0/24 or fd00::/8", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// String returns the rule's text form, which ParseRule reads back to an
// equal Rule.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(string(r.Action))
	b.WriteByte(' ')
	b.WriteString(string(r.Direction))
	if r.Proto != "" {
		b.WriteByte(' ')
		b.WriteString(r.Proto)
	}
	if r.Port != 0 {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(r.Port))
	}
	for _, l := range []struct {
		kw string
		ps []netip.Prefix
	}{{"from", r.From}, {"to", r.To}} {
		if len(l.ps) == 0 {
			continue
		}
		b.WriteString(" " + l.kw + " ")
		for i, p := range l.ps {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(formatPrefix(p))
		}
	}
	return b.String()
}

func formatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Validate reports the first problem of a rule built in Go rather than
// parsed: unknown action, direction or protocol, a port out of range or
// without tcp/udp, an invalid prefix or one with host bits set, or From and
// To lists that have no address family in common (the rule could never
// match).
func (r Rule) Validate() error {
	if err := checkAction(r.Action); err != nil {
		return err
	}
	if err := checkDirection(r.Direction); err != nil {
		return err
	}
	switch r.Proto {
	case "", TCP, UDP, ICMP:
	default:
		return fmt.Errorf("unknown protocol %q: want tcp, udp, icmp or none for any", r.Proto)
	}
	switch {
	case r.Port < 0 || r.Port > 65535:
		return fmt.Errorf("port %d is not in 1-65535 (0 = any)", r.Port)
	case r.Port != 0 && r.Proto != TCP && r.Proto != UDP:
		return fmt.Errorf("port %d needs protocol tcp or udp", r.Port)
	}
	for _, p := range append(append([]netip.Prefix(nil), r.From...), r.To...) {
		switch {
		case !p.IsValid():
			return fmt.Errorf("invalid prefix %v", p)
		case p.Addr().Zone() != "":
			return fmt.Errorf("prefix %v has a zone, which rules cannot match", p)
		case p.Masked() != p:
			return fmt.Errorf("prefix %v has host bits set: use %v", p, p.Masked())
		}
	}
	if len(r.families()) == 0 {
		return errors.New(`"from" and "to" have no address family in common: the rule could never match`)
	}
	return nil
}

// families returns the address families (4, 6) the rule can match, given its
// prefixes: both when it has none.
func (r Rule) families() []int {
	var out []int
	for _, f := range []int{4, 6} {
		if hasFamily(r.From, f) && hasFamily(r.To, f) {
			out = append(out, f)
		}
	}
	return out
}

// hasFamily reports whether ps is empty (any) or holds a prefix of family f.
func hasFamily(ps []netip.Prefix, f int) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if family(p) == f {
			return true
		}
	}
	return false
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

func checkAction(a Action) error {
	switch a {
	case Allow, Deny, Reject:
		return nil
	}
	return fmt.Errorf("unknown action %q: want allow, deny or reject", string(a))
}

func checkDirection(d Direction) error {
	switch d {
	case In, Out, Forward:
		return nil
	}
	return fmt.Errorf("unknown direction %q: want in, out or forward", string(d))
}

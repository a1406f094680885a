package firewall

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// An nftRule is one compiled nftables rule: its expressions and a comment
// (shown by `nft list ruleset`) that says which nslab rule it comes from.
type nftRule struct {
	exprs   []expr.Any
	comment string
}

// chainOf maps a direction to the name of its base chain in table "nslab".
var chainOf = map[Direction]string{In: "input", Out: "output", Forward: "forward"}

// directions in the order their chains are created.
var directions = []Direction{In, Out, Forward}

// compile turns a valid policy into the rules of each filter chain, in
// order: the built-in preamble (conntrack, loopback, neighbour discovery),
// the policy's rules, then the default action.
func compile(p Policy) map[string][]nftRule {
	out := make(map[string][]nftRule, len(directions))
	for _, d := range directions {
		out[chainOf[d]] = preamble(d)
	}
	for _, r := range p.Rules {
		c := chainOf[r.Direction]
		out[c] = append(out[c], compileRule(r)...)
	}
	for _, d := range directions {
		a, ok := p.Default[d]
		if !ok || a == Allow {
			continue
		}
		c := chainOf[d]
		for _, nr := range compileRule(Rule{Action: a, Direction: d}) {
			nr.comment = "nslab: default " + string(d) + " " + string(a)
			out[c] = append(out[c], nr)
		}
	}
	return out
}

// preamble returns the rules every chain starts with:
//   - packets of established or related connections are accepted, so that
//     replies to allowed connections pass and rules only judge new ones;
//   - traffic on the loopback interface is accepted (in, out);
//   - ICMPv6 neighbour discovery (router/neighbour solicitation and
//     advertisement, types 133-136) is accepted (in, out), since IPv6 does
//     not work without it.
func preamble(d Direction) []nftRule {
	rs := []nftRule{{
		comment: "nslab: allow established,related",
		exprs: []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
	}}
	if d == Forward {
		return rs
	}
	key := expr.MetaKeyIIFNAME
	if d == Out {
		key = expr.MetaKeyOIFNAME
	}
	rs = append(rs, nftRule{
		comment: "nslab: allow loopback",
		exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
	}, nftRule{
		comment: "nslab: allow icmpv6 neighbour discovery",
		exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{133}},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{136}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
	})
	return rs
}

// compileRule turns one rule into nftables rules: one per address family
// and per (from, to) prefix pair, so that lists of prefixes and mixed
// families need no sets. All of them share the rule's verdict and are
// consecutive, so first-match-wins order is kept.
func compileRule(r Rule) []nftRule {
	var out []nftRule
	add := func(m []expr.Any) {
		for _, v := range verdicts(r, m) {
			out = append(out, nftRule{exprs: v, comment: r.String()})
		}
	}
	if len(r.From) == 0 && len(r.To) == 0 && r.Proto != ICMP {
		add(match(r, 0, netip.Prefix{}, netip.Prefix{}))
		return out
	}
	for _, f := range r.families() {
		for _, from := range ofFamily(r.From, f) {
			for _, to := range ofFamily(r.To, f) {
				add(match(r, f, from, to))
			}
		}
	}
	return out
}

// ofFamily returns the prefixes of ps of family f, or one invalid (any)
// prefix when ps is empty.
func ofFamily(ps []netip.Prefix, f int) []netip.Prefix {
	if len(ps) == 0 {
		return []netip.Prefix{{}}
	}
	var out []netip.Prefix
	for _, p := range ps {
		if family(p) == f {
			out = append(out, p)
		}
	}
	return out
}

// match returns the match expressions of r for family f (0 = any family),
// source from and destination to (invalid = any).
func match(r Rule, f int, from, to netip.Prefix) []expr.Any {
	var m []expr.Any
	switch f {
	case 4:
		m = append(m, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
	case 6:
		m = append(m, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}})
	}
	switch r.Proto {
	case TCP:
		m = append(m, l4proto(unix.IPPROTO_TCP)...)
	case UDP:
		m = append(m, l4proto(unix.IPPROTO_UDP)...)
	case ICMP:
		if f == 4 {
			m = append(m, l4proto(unix.IPPROTO_ICMP)...)
		} else {
			m = append(m, l4proto(unix.IPPROTO_ICMPV6)...)
		}
	}
	m = append(m, addrMatch(from, true)...)
	m = append(m, addrMatch(to, false)...)
	if r.Port != 0 {
		m = append(m,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, uint16(r.Port))})
	}
	return m
}

func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// addrMatch matches the source (src) or destination address against p
// (ip saddr/daddr, ip6 saddr/daddr), with a mask for a partial prefix. It
// returns nothing for an invalid (any) prefix or a /0.
func addrMatch(p netip.Prefix, src bool) []expr.Any {
	if !p.IsValid() || p.Bits() == 0 {
		return nil
	}
	var off uint32
	switch {
	case p.Addr().Is4() && src:
		off = 12
	case p.Addr().Is4():
		off = 16
	case src:
		off = 8
	default:
		off = 24
	}
	addr := p.Addr().AsSlice()
	n := uint32(len(addr))
	m := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if p.Bits() < p.Addr().BitLen() {
		m = append(m, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n,
			Mask: mask(p.Bits(), int(n)), Xor: make([]byte, n)})
	}
	return append(m, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr})
}

// mask returns n bytes whose first bits bits are ones.
func mask(bits, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		switch {
		case bits >= 8:
			b[i] = 0xff
			bits -= 8
		case bits > 0:
			b[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return b
}

// verdicts appends r's action to the match expressions m. A reject of any
// protocol becomes two rules: a TCP reset for TCP, then ICMP
// administratively prohibited for the rest.
func verdicts(r Rule, m []expr.Any) [][]expr.Any {
	with := func(m []expr.Any, e ...expr.Any) []expr.Any {
		return append(append([]expr.Any(nil), m...), e...)
	}
	switch r.Action {
	case Allow:
		return [][]expr.Any{with(m, &expr.Verdict{Kind: expr.VerdictAccept})}
	case Deny:
		return [][]expr.Any{with(m, &expr.Verdict{Kind: expr.VerdictDrop})}
	}
	rst := &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	prohibited := &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED}
	switch r.Proto {
	case TCP:
		return [][]expr.Any{with(m, rst)}
	case UDP:
		return [][]expr.Any{with(m, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH})}
	case ICMP:
		return [][]expr.Any{with(m, prohibited)}
	}
	return [][]expr.Any{
		with(with(m, l4proto(unix.IPPROTO_TCP)...), rst),
		with(m, prohibited),
	}
}

// natRules returns the masquerade rules of the nat tables' postrouting
// chains: one per interface, the same for IPv4 and IPv6.
func natRules(ifaces []string) []nftRule {
	var out []nftRule
	for _, name := range ifaces {
		out = append(out, nftRule{
			comment: "nslab: masquerade out of " + name,
			exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
				&expr.Masq{},
			},
		})
	}
	return out
}

// ifname returns an interface name as meta iifname/oifname hold it: NUL
// padded to IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

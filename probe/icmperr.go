package probe

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ICMP and ICMPv6 message types used here (RFC 792, RFC 4443).
const (
	icmp4EchoReply    = 0
	icmp4DstUnreach   = 3
	icmp4Echo         = 8
	icmp4TimeExceeded = 11
	icmp4ParamProb    = 12

	icmp6DstUnreach   = 1
	icmp6PacketTooBig = 2
	icmp6TimeExceeded = 3
	icmp6ParamProb    = 4
	icmp6Echo         = 128
	icmp6EchoReply    = 129
)

// An ICMPError is an ICMP or ICMPv6 error message that answered a probe,
// such as "destination unreachable, port unreachable" from a firewall's
// reject rule. It is the Err of Refused and Unreachable results that came
// from the network rather than from the sender's own routing table.
type ICMPError struct {
	IPv6 bool       // ICMPv6 rather than ICMP
	Type int        // ICMP type, e.g. 3 (ICMP) or 1 (ICMPv6) for destination unreachable
	Code int        // ICMP code, e.g. 3 (ICMP) or 4 (ICMPv6) for port unreachable
	From netip.Addr // the node that sent it: the destination or a router on the way
}

// Error describes the message, e.g. "icmp destination unreachable (port
// unreachable) from 198.18.0.2".
func (e *ICMPError) Error() string {
	s := "icmp " + e.describe()
	if e.IPv6 {
		s = "icmpv6 " + e.describe()
	}
	if e.From.IsValid() {
		s += " from " + e.From.String()
	}
	return s
}

var (
	icmp4Unreach = map[int]string{
		0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
		4: "fragmentation needed", 5: "source route failed", 6: "destination net unknown",
		7: "destination host unknown", 8: "source host isolated", 9: "net administratively prohibited",
		10: "host administratively prohibited", 11: "net unreachable for tos", 12: "host unreachable for tos",
		13: "communication administratively prohibited", 14: "host precedence violation", 15: "precedence cutoff",
	}
	icmp6Unreach = map[int]string{
		0: "no route to destination", 1: "administratively prohibited", 2: "beyond scope of source address",
		3: "address unreachable", 4: "port unreachable", 5: "source address failed ingress/egress policy",
		6: "reject route to destination",
	}
)

func (e *ICMPError) describe() string {
	var name string
	var codes map[int]string
	switch {
	case !e.IPv6 && e.Type == icmp4DstUnreach, e.IPv6 && e.Type == icmp6DstUnreach:
		name = "destination unreachable"
		codes = icmp4Unreach
		if e.IPv6 {
			codes = icmp6Unreach
		}
	case !e.IPv6 && e.Type == icmp4TimeExceeded, e.IPv6 && e.Type == icmp6TimeExceeded:
		name = "time exceeded"
	case !e.IPv6 && e.Type == icmp4ParamProb, e.IPv6 && e.Type == icmp6ParamProb:
		name = "parameter problem"
	case e.IPv6 && e.Type == icmp6PacketTooBig:
		name = "packet too big"
	default:
		return fmt.Sprintf("type %d code %d", e.Type, e.Code)
	}
	if c, ok := codes[e.Code]; ok {
		return name + " (" + c + ")"
	}
	return fmt.Sprintf("%s (code %d)", name, e.Code)
}

// Verdict classifies the error: port, protocol and administratively
// prohibited unreachables are an active refusal (Refused); the rest (no
// route, host unreachable, time exceeded...) are Unreachable.
func (e *ICMPError) Verdict() Verdict {
	if e.IPv6 {
		if e.Type == icmp6DstUnreach {
			switch e.Code {
			case 1, 4, 5, 6: // admin prohibited, port, policy, reject route
				return Refused
			}
		}
		return Unreachable
	}
	if e.Type == icmp4DstUnreach {
		switch e.Code {
		case 2, 3, 9, 10, 13, 14, 15: // protocol, port, admin prohibited, precedence
			return Refused
		}
	}
	return Unreachable
}

// icmpError returns the ICMP error behind an error-queue entry, or nil when
// the entry is a local error.
func (e extErr) icmpError() *ICMPError {
	switch e.origin {
	case unix.SO_EE_ORIGIN_ICMP:
		return &ICMPError{Type: int(e.typ), Code: int(e.code), From: e.from}
	case unix.SO_EE_ORIGIN_ICMP6:
		return &ICMPError{IPv6: true, Type: int(e.typ), Code: int(e.code), From: e.from}
	}
	return nil
}

// quotedEcho parses the start of the datagram quoted in an ICMP error (its
// IP header and at least 8 bytes of payload) and returns the destination,
// and, when it was an echo request, its identifier and sequence number.
func quotedEcho(b []byte, v6 bool) (dst netip.Addr, id, seq int, echo bool) {
	var hdr int
	if v6 {
		if len(b) < 40 || b[0]>>4 != 6 {
			return netip.Addr{}, 0, 0, false
		}
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		if b[6] != unix.IPPROTO_ICMPV6 {
			return dst, 0, 0, false
		}
		hdr = 40
	} else {
		if len(b) < 20 || b[0]>>4 != 4 {
			return netip.Addr{}, 0, 0, false
		}
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		hdr = int(b[0]&0x0f) * 4
		if hdr < 20 || b[9] != unix.IPPROTO_ICMP {
			return dst, 0, 0, false
		}
	}
	p := b[min(hdr, len(b)):]
	want := icmp4Echo
	if v6 {
		want = icmp6Echo
	}
	if len(p) < 8 || int(p[0]) != want {
		return dst, 0, 0, false
	}
	return dst, int(p[4])<<8 | int(p[5]), int(p[6])<<8 | int(p[7]), true
}

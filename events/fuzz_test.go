package events

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// attr encodes one rtnetlink attribute, padded.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func routeMsg(dst netip.Prefix, gw netip.Addr, oif uint32) []byte {
	fam := byte(unix.AF_INET)
	if dst.Addr().Is6() {
		fam = unix.AF_INET6
	}
	b := make([]byte, unix.SizeofRtMsg)
	b[0], b[1], b[4] = fam, byte(dst.Bits()), unix.RT_TABLE_MAIN
	if dst.Bits() > 0 {
		b = append(b, attr(unix.RTA_DST, dst.Addr().AsSlice())...)
	}
	if gw.IsValid() {
		b = append(b, attr(unix.RTA_GATEWAY, gw.AsSlice())...)
	}
	o := make([]byte, 4)
	binary.NativeEndian.PutUint32(o, oif)
	return append(b, attr(unix.RTA_OIF, o)...)
}

func addrMsg(p netip.Prefix, idx uint32) []byte {
	fam := byte(unix.AF_INET)
	if p.Addr().Is6() {
		fam = unix.AF_INET6
	}
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0], b[1] = fam, byte(p.Bits())
	binary.NativeEndian.PutUint32(b[4:8], idx)
	return append(b, attr(unix.IFA_ADDRESS, p.Addr().AsSlice())...)
}

func TestParseMessages(t *testing.T) {
	r, err := ParseRouteMsg(routeMsg(netip.MustParsePrefix("198.18.3.0/24"), netip.MustParseAddr("198.18.1.1"), 7))
	if err != nil || r.Dst.String() != "198.18.3.0/24" || r.Gateway.String() != "198.18.1.1" || r.OIF != 7 || r.Table != unix.RT_TABLE_MAIN {
		t.Errorf("ParseRouteMsg = %+v, %v", r, err)
	}
	r, err = ParseRouteMsg(routeMsg(netip.MustParsePrefix("::/0"), netip.MustParseAddr("fd00:1::1"), 2))
	if err != nil || r.Dst.String() != "::/0" || r.Gateway.String() != "fd00:1::1" {
		t.Errorf("ParseRouteMsg(default6) = %+v, %v", r, err)
	}
	a, err := ParseAddrMsg(addrMsg(netip.MustParsePrefix("fd00:2::10/64"), 3))
	if err != nil || a.Prefix.String() != "fd00:2::10/64" || a.Index != 3 {
		t.Errorf("ParseAddrMsg = %+v, %v", a, err)
	}
	link := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(link[4:8], 5)
	binary.NativeEndian.PutUint32(link[8:12], unix.IFF_UP)
	link = append(link, attr(unix.IFLA_IFNAME, []byte("eth0\x00"))...)
	link = append(link, attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte("veth\x00")))...)
	l, err := ParseLinkMsg(link)
	if err != nil || l != (LinkMsg{Index: 5, Name: "eth0", Kind: "veth", Up: true}) {
		t.Errorf("ParseLinkMsg = %+v, %v", l, err)
	}
	for _, short := range [][]byte{nil, {1, 2, 3}} {
		if _, err := ParseLinkMsg(short); err == nil {
			t.Errorf("ParseLinkMsg(%v) accepted a short message", short)
		}
	}
}

// FuzzParseRouteMsg round-trips routes through their wire form and checks
// that arbitrary bytes never panic and never yield an invalid prefix.
func FuzzParseRouteMsg(f *testing.F) {
	f.Add([]byte{198, 18, 3, 0}, byte(24), []byte{198, 18, 1, 1}, uint32(7))
	f.Add(make([]byte, 16), byte(0), []byte{0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint32(1))
	f.Fuzz(func(t *testing.T, dst []byte, bits byte, gw []byte, oif uint32) {
		d, ok1 := netip.AddrFromSlice(dst)
		g, ok2 := netip.AddrFromSlice(gw)
		if ok1 && ok2 && d.Is4() == g.Is4() && int(bits) <= d.BitLen() {
			p, _ := d.Prefix(int(bits))
			r, err := ParseRouteMsg(routeMsg(p, g, oif))
			if err != nil || r.Dst != p || r.Gateway != g || r.OIF != int32(oif) {
				t.Errorf("round trip of %v via %v dev %d: got %+v, %v", p, g, oif, r, err)
			}
		}
		// Arbitrary bytes: no panic, and a result is valid.
		raw := append(append(append([]byte{}, dst...), bits), gw...)
		if r, err := ParseRouteMsg(raw); err == nil && !r.Dst.IsValid() {
			t.Errorf("ParseRouteMsg(%x) = invalid prefix without error", raw)
		}
		ParseAddrMsg(raw)
		ParseLinkMsg(raw)
		ParseLine(raw)
	})
}

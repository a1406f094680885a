// Package iproute adds, replaces, deletes and lists the routes of the main
// routing table, IPv4 and IPv6, through a caller's per-namespace netlink
// handle (see internal/nl.NewHandle). It is the Go counterpart of
// `ip route` for the plain unicast routes a lab needs: a destination, an
// optional gateway, an optional device and a metric.
//
// Functions act in the namespace of the handle and never switch the calling
// thread's namespace; they may be called from several goroutines.
package iproute

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netdev"
	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// A Route is a unicast route of the main table.
type Route struct {
	// To is the destination, without host bits. 0.0.0.0/0 or ::/0 is the
	// default route.
	To netip.Prefix `json:"to"`
	// Via is the gateway, of To's family; the zero Addr means on-link
	// (the destination is reached directly through Dev).
	Via netip.Addr `json:"via,omitzero"`
	// Dev is the output device; "" lets the kernel pick it from Via.
	Dev string `json:"dev,omitempty"`
	// Metric is the route's priority (lower wins); 0 is the kernel default
	// (0 for IPv4, 1024 for IPv6). Del with Metric 0 matches any metric.
	Metric int `json:"metric,omitempty"`
}

// IsDefault reports whether r is a default route.
func (r Route) IsDefault() bool { return r.To.IsValid() && r.To.Bits() == 0 }

// String formats r as `ip route` does: "default via 198.18.0.1 dev eth0",
// "198.18.1.0/24 dev eth0 metric 10".
func (r Route) String() string {
	var b strings.Builder
	switch {
	case !r.To.IsValid():
		b.WriteString("invalid")
	case r.IsDefault():
		b.WriteString("default")
	default:
		b.WriteString(r.To.String())
	}
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.Itoa(r.Metric))
	}
	return b.String()
}

// Parse reads a route in `ip route` syntax, as fields:
//
//	TO|default [via ADDR] [dev DEV] [metric N]
//
// TO is a prefix such as 198.18.1.0/24, or an address for a host route
// (/32, /128). "default" is 0.0.0.0/0, or ::/0 when ADDR is IPv6.
func Parse(fields []string) (Route, error) {
	r, err := parse(fields)
	if err != nil {
		return r, err
	}
	return r, r.check(false)
}

func parse(fields []string) (Route, error) {
	var r Route
	if len(fields) == 0 {
		return r, errors.New("no destination: give a prefix such as 198.18.1.0/24, or default")
	}
	to := fields[0]
	seen := map[string]bool{}
	for i := 1; i < len(fields); i += 2 {
		k := fields[i]
		if i+1 >= len(fields) {
			return r, fmt.Errorf("%q needs a value", k)
		}
		if seen[k] {
			return r, fmt.Errorf("%q given twice", k)
		}
		seen[k] = true
		v := fields[i+1]
		switch k {
		case "via":
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return r, fmt.Errorf("via %q is not an IP address", v)
			}
			r.Via = a.Unmap()
		case "dev":
			if err := names.CheckIf(v); err != nil {
				return r, fmt.Errorf("dev: %w", err)
			}
			r.Dev = v
		case "metric":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return r, fmt.Errorf("metric %q is not a number from 0 to 4294967295", v)
			}
			r.Metric = int(n)
		default:
			return r, fmt.Errorf("unknown word %q: expected via, dev or metric", k)
		}
	}
	if to == "default" {
		r.To = netip.MustParsePrefix("0.0.0.0/0")
		if r.Via.Is6() {
			r.To = netip.MustParsePrefix("::/0")
		}
	} else {
		p, err := parsePrefix(to)
		if err != nil {
			return r, err
		}
		r.To = p
	}
	return r, nil
}

// ParseAny is Parse without the rule that a route needs a gateway or a
// device: for the routes to delete (`ip route del 198.18.1.0/24`).
func ParseAny(fields []string) (Route, error) {
	r, err := parse(fields)
	if err != nil {
		return r, err
	}
	return r, r.check(true)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("destination %q is not a prefix such as 198.18.1.0/24, an address, or default", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("destination %q is not a prefix such as 198.18.1.0/24, an address, or default", s)
	}
	return p, nil
}

// check validates r without the kernel; a route to delete needs no via or
// dev.
func (r Route) check(del bool) error {
	switch {
	case !r.To.IsValid():
		return errors.New("no destination: give a prefix such as 198.18.1.0/24, or default")
	case r.To.Addr().Is4In6():
		return fmt.Errorf("destination %s is IPv4-mapped: give the IPv4 form", r.To)
	case r.To.Masked() != r.To:
		return fmt.Errorf("destination %s has host bits set: did you mean %s?", r.To, r.To.Masked())
	case r.Via.IsValid() && r.Via.Is4() != r.To.Addr().Is4():
		return fmt.Errorf("gateway %s and destination %s are of different IP families", r.Via, r.To)
	case !del && !r.Via.IsValid() && r.Dev == "":
		return errors.New("give a gateway (via ADDR), a device (dev DEV), or both")
	case r.Metric < 0 || int64(r.Metric) > 1<<32-1:
		return fmt.Errorf("metric %d is out of range 0..4294967295", r.Metric)
	}
	return nil
}

// An Error describes a failed operation on a route. It prints as
// `add route 198.18.1.0/24 via 198.18.0.1: network is unreachable`.
type Error struct {
	Op    string // "add", "replace", "delete", "list"
	Route Route  // the route; zero for "list"
	NetNS string // the namespace's name when known, else ""
	Err   error  // the cause; a unix.Errno for kernel failures
}

func (e *Error) Error() string {
	s := e.Op + " route"
	if e.Op == "list" {
		s = "list routes"
	} else {
		s += " " + e.Route.String()
	}
	if e.NetNS != "" {
		s += " in netns " + strconv.Quote(e.NetNS)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WithNetNS sets the namespace name of err's *Error when it has none, and
// returns err.
func WithNetNS(err error, netns string) error {
	var e *Error
	if errors.As(err, &e) && e.NetNS == "" {
		e.NetNS = netns
	}
	return err
}

// absent is the cause of deleting a route that does not exist (ESRCH),
// which also matches fs.ErrNotExist.
type absent struct{ errno unix.Errno }

func (a absent) Error() string        { return "no such route: " + a.errno.Error() }
func (a absent) Unwrap() error        { return a.errno }
func (a absent) Is(target error) bool { return target == fs.ErrNotExist }

func toNetlink(h *netlink.Handle, r Route, del bool) (*netlink.Route, error) {
	if err := r.check(del); err != nil {
		return nil, err
	}
	nr := &netlink.Route{
		Dst: &net.IPNet{
			IP:   net.IP(r.To.Addr().AsSlice()),
			Mask: net.CIDRMask(r.To.Bits(), r.To.Addr().BitLen()),
		},
		Priority: r.Metric,
		Table:    unix.RT_TABLE_MAIN,
		Protocol: unix.RTPROT_BOOT,
		Type:     unix.RTN_UNICAST,
		Family:   netlink.FAMILY_V4,
	}
	if r.To.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	} else if r.To.Addr().Is4() {
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Dev != "" {
		i, err := devIndex(h, r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = int(i)
	}
	return nr, nil
}

// devIndex looks up the interface index of a route's device.
func devIndex(h *netlink.Handle, dev string) (int32, error) {
	l, err := netdev.Lookup(h, dev)
	if err != nil {
		if errors.Is(err, netdev.ErrNotFound) {
			return 0, fmt.Errorf("device %q: %w", dev, netdev.ErrNotFound)
		}
		return 0, err
	}
	return int32(l.Attrs().Index), nil
}

func do(h *netlink.Handle, op string, r Route, fn func(*netlink.Route) error) error {
	nr, err := toNetlink(h, r, op == "delete")
	if err == nil {
		err = fn(nr)
	}
	if err == nil {
		return nil
	}
	return &Error{Op: op, Route: r, Err: kernelError(err, op)}
}

// kernelError explains the kernel's errors that have a common cause.
func kernelError(err error, op string) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		switch {
		case errno == unix.ESRCH && op == "delete":
			return absent{errno}
		case errno == unix.ENETUNREACH:
			return fmt.Errorf("the gateway is not on a connected subnet (add an address on its subnet, or give dev): %w", err)
		}
	}
	return err
}

// Add adds route r to the main table, like
// `ip route add TO [via VIA] [dev DEV] [metric N]`. An existing route
// gives an error wrapping fs.ErrExist.
func Add(h *netlink.Handle, r Route) error {
	return do(h, "add", r, h.RouteAdd)
}

// Replace adds route r or replaces the route to the same destination and
// metric, like `ip route replace ...`.
func Replace(h *netlink.Handle, r Route) error {
	return do(h, "replace", r, h.RouteReplace)
}

// QueueReplace queues on b what Replace does, to be sent with the batch's
// other requests. index is r.Dev's interface index when the caller knows
// it; 0 looks r.Dev up now (when set).
func QueueReplace(b *nl.Batch, r Route, index int32) error {
	fail := func(err error) error { return &Error{Op: "replace", Route: r, Err: err} }
	if err := r.check(false); err != nil {
		return fail(err)
	}
	if r.Dev != "" && index <= 0 {
		var err error
		if index, err = devIndex(b.Handle(), r.Dev); err != nil {
			return fail(err)
		}
	}
	// As toNetlink and vishvananda/netlink's RouteReplace encode it.
	req := nl.NewRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	msg := vnl.NewRtMsg() // main table, boot protocol, universe scope, unicast
	msg.Family = unix.AF_INET
	if r.To.Addr().Is6() {
		msg.Family = unix.AF_INET6
	}
	msg.Dst_len = uint8(r.To.Bits())
	if !r.Via.IsValid() && r.To.Addr().Is4() {
		msg.Scope = unix.RT_SCOPE_LINK
	}
	req.AddData(msg)
	req.AddData(vnl.NewRtAttr(unix.RTA_DST, r.To.Addr().AsSlice()))
	if r.Via.IsValid() {
		req.AddData(vnl.NewRtAttr(unix.RTA_GATEWAY, r.Via.AsSlice()))
	}
	if index > 0 {
		req.AddData(vnl.NewRtAttr(unix.RTA_OIF, vnl.Uint32Attr(uint32(index))))
	}
	if r.Metric > 0 {
		req.AddData(vnl.NewRtAttr(unix.RTA_PRIORITY, vnl.Uint32Attr(uint32(r.Metric))))
	}
	b.Add(req, func(err error) error { return fail(kernelError(err, "replace")) })
	return nil
}

// Del deletes route r, like `ip route del ...`; Via, Dev and Metric narrow
// the match when set. A missing route gives an error wrapping
// fs.ErrNotExist.
func Del(h *netlink.Handle, r Route) error {
	return do(h, "delete", r, func(nr *netlink.Route) error {
		nr.Protocol = 0 // match whoever made it
		nr.Scope = netlink.SCOPE_NOWHERE
		return h.RouteDel(nr)
	})
}

// List returns the unicast routes of the main table, IPv4 then IPv6, like
// `ip route; ip -6 route`, leaving out the routes the kernel made itself for
// addresses and devices (proto kernel: connected subnets, fe80::/64). A
// multipath route gives one Route per next hop.
func List(h *netlink.Handle) ([]Route, error) { return list(h, false) }

// ListAll is List with the kernel-made routes included.
func ListAll(h *netlink.Handle) ([]Route, error) { return list(h, true) }

func list(h *netlink.Handle, all bool) ([]Route, error) {
	fail := func(err error) error { return &Error{Op: "list", Err: err} }
	ls, err := nl.LinkList(h)
	if err != nil {
		return nil, fail(err)
	}
	devs := map[int]string{}
	for _, l := range ls {
		devs[l.Attrs().Index] = l.Attrs().Name
	}
	out := []Route{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := nl.RouteList(h, fam)
		if err != nil {
			return nil, fail(err)
		}
		for _, nr := range rs {
			if nr.Type != unix.RTN_UNICAST || (!all && nr.Protocol == unix.RTPROT_KERNEL) {
				continue
			}
			to := defaultOf(fam)
			if nr.Dst != nil {
				a, ok := netip.AddrFromSlice(nr.Dst.IP)
				if !ok {
					continue
				}
				if fam == netlink.FAMILY_V4 {
					a = a.Unmap()
				}
				bits, _ := nr.Dst.Mask.Size()
				to = netip.PrefixFrom(a, bits)
			}
			if to.Addr().IsMulticast() {
				continue
			}
			hops := []*netlink.NexthopInfo{{LinkIndex: nr.LinkIndex, Gw: nr.Gw}}
			if len(nr.MultiPath) > 0 {
				hops = nr.MultiPath
			}
			for _, hop := range hops {
				r := Route{To: to, Dev: devs[hop.LinkIndex], Metric: nr.Priority}
				if v, ok := netip.AddrFromSlice(hop.Gw); ok && len(hop.Gw) > 0 {
					r.Via = v.Unmap()
				}
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func defaultOf(fam int) netip.Prefix {
	if fam == netlink.FAMILY_V6 {
		return netip.MustParsePrefix("::/0")
	}
	return netip.MustParsePrefix("0.0.0.0/0")
}

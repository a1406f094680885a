// Package ipaddr adds, replaces, deletes and lists the IPv4 and IPv6
// addresses of a device, as netip.Prefix values, through a caller's
// per-namespace netlink handle (see internal/nl.NewHandle). It is the Go
// counterpart of `ip addr`.
//
// A prefix keeps its host bits: 198.18.0.1/24 is address 198.18.0.1 on
// 198.18.0.0/24, as `ip addr add 198.18.0.1/24` means it.
//
// Functions act in the namespace of the handle and never switch the calling
// thread's namespace; they may be called from several goroutines.
package ipaddr

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"strconv"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netdev"
	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Options change how an address is added. The zero value adds it as
// `ip addr add` does.
type Options struct {
	// NoDAD sets IFA_F_NODAD on IPv6 addresses (`ip addr add ... nodad`):
	// the address is usable at once instead of tentative for about a
	// second, so a fresh lab never stalls on duplicate address detection.
	// It has no effect on IPv4.
	NoDAD bool
	// Index is the device's interface index when the caller knows it:
	// the device is then not looked up by name (the name only labels
	// errors), which saves a request. 0 = look the device up.
	Index int32
}

// An Error describes a failed operation on an address of a device. It
// prints as `add address 198.18.0.1/24 on "eth0": file exists`.
type Error struct {
	Op     string       // "add", "replace", "delete", "list"
	Prefix netip.Prefix // the address; invalid for "list"
	Dev    string       // the device
	NetNS  string       // the namespace's name when known, else ""
	Err    error        // the cause; a unix.Errno for kernel failures
}

func (e *Error) Error() string {
	s := e.Op + " address"
	if e.Op == "list" {
		s = "list addresses"
	}
	if e.Prefix.IsValid() {
		s += " " + e.Prefix.String()
	}
	if e.Dev != "" {
		s += " on " + strconv.Quote(e.Dev)
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
	return netdev.WithNetNS(err, netns)
}

// absent is the cause of deleting an address a device does not have: the
// kernel's EADDRNOTAVAIL, which also matches fs.ErrNotExist.
type absent struct{ errno unix.Errno }

func (a absent) Error() string        { return "no such address on the device: " + a.errno.Error() }
func (a absent) Unwrap() error        { return a.errno }
func (a absent) Is(target error) bool { return target == fs.ErrNotExist }

func link(h *netlink.Handle, dev string) (netlink.Link, error) {
	l, err := netdev.Lookup(h, dev)
	if errors.Is(err, netdev.ErrNotFound) {
		return nil, netdev.ErrNotFound
	}
	return l, err
}

func toAddr(p netip.Prefix, o Options) (*netlink.Addr, error) {
	if !p.IsValid() {
		return nil, fmt.Errorf("invalid prefix: give an address with its length, such as 198.18.0.1/24")
	}
	if p.Addr().Zone() != "" {
		return nil, fmt.Errorf("prefix %s has a zone: give the device instead", p)
	}
	if p.Addr().Is4In6() {
		return nil, fmt.Errorf("prefix %s is an IPv4-mapped IPv6 address: give the IPv4 form", p)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}}
	if o.NoDAD && p.Addr().Is6() {
		a.Flags |= unix.IFA_F_NODAD
	}
	return a, nil
}

func do(h *netlink.Handle, op, dev string, p netip.Prefix, o Options, fn func(netlink.Link, *netlink.Addr) error) error {
	fail := func(err error) error { return &Error{Op: op, Prefix: p, Dev: dev, Err: err} }
	a, err := toAddr(p, o)
	if err != nil {
		return fail(err)
	}
	var l netlink.Link
	if o.Index > 0 {
		l = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: int(o.Index), Name: dev}}
	} else if l, err = link(h, dev); err != nil {
		return fail(err)
	}
	if err := fn(l, a); err != nil {
		if errors.Is(err, unix.ENODEV) && o.Index > 0 {
			err = fmt.Errorf("no device with index %d: %w", o.Index, netdev.ErrNotFound)
		}
		if errno, ok := err.(unix.Errno); ok && errno == unix.EADDRNOTAVAIL && op == "delete" {
			err = absent{errno}
		}
		return fail(err)
	}
	return nil
}

// Add adds address p to device dev, like `ip addr add P dev DEV [nodad]`.
// Adding an address the device has already gives an error wrapping
// fs.ErrExist. A missing device gives one wrapping netdev.ErrNotFound.
func Add(h *netlink.Handle, dev string, p netip.Prefix, o Options) error {
	return do(h, "add", dev, p, o, func(l netlink.Link, a *netlink.Addr) error { return h.AddrAdd(l, a) })
}

// Replace adds address p to device dev, or updates it when present, like
// `ip addr replace P dev DEV [nodad]`.
func Replace(h *netlink.Handle, dev string, p netip.Prefix, o Options) error {
	return do(h, "replace", dev, p, o, func(l netlink.Link, a *netlink.Addr) error { return h.AddrReplace(l, a) })
}

// QueueReplace queues on b what Replace does, to be sent with the batch's
// other requests. The device is looked up now unless o.Index is set.
func QueueReplace(b *nl.Batch, dev string, p netip.Prefix, o Options) error {
	fail := func(err error) error { return &Error{Op: "replace", Prefix: p, Dev: dev, Err: err} }
	a, err := toAddr(p, o)
	if err != nil {
		return fail(err)
	}
	index := o.Index
	if index <= 0 {
		l, err := link(b.Handle(), dev)
		if err != nil {
			return fail(err)
		}
		index = int32(l.Attrs().Index)
	}
	// As vishvananda/netlink's AddrReplace encodes it (with the
	// broadcast address it derives for IPv4 prefixes up to /30).
	fam := unix.AF_INET
	if p.Addr().Is6() {
		fam = unix.AF_INET6
	}
	req := nl.NewRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	msg := vnl.NewIfAddrmsg(fam)
	msg.Index = uint32(index)
	msg.Prefixlen = uint8(p.Bits())
	msg.IfAddrmsg.Flags = uint8(a.Flags)
	req.AddData(msg)
	local := p.Addr().AsSlice()
	req.AddData(vnl.NewRtAttr(unix.IFA_LOCAL, local))
	req.AddData(vnl.NewRtAttr(unix.IFA_ADDRESS, local))
	if fam == unix.AF_INET && p.Bits() < 31 {
		brd := netip.PrefixFrom(p.Addr(), p.Bits()).Masked().Addr().As4()
		host := ^uint32(0) >> p.Bits()
		for i := range brd {
			brd[i] |= byte(host >> (24 - 8*i))
		}
		req.AddData(vnl.NewRtAttr(unix.IFA_BROADCAST, brd[:]))
	}
	b.Add(req, func(err error) error {
		if errors.Is(err, unix.ENODEV) {
			err = fmt.Errorf("no device with index %d: %w", index, netdev.ErrNotFound)
		}
		return fail(err)
	})
	return nil
}

// Del removes address p from device dev, like `ip addr del P dev DEV`. An
// address the device does not have gives an error wrapping fs.ErrNotExist.
func Del(h *netlink.Handle, dev string, p netip.Prefix) error {
	return do(h, "delete", dev, p, Options{}, func(l netlink.Link, a *netlink.Addr) error { return h.AddrDel(l, a) })
}

// An Address is an address of a device with the state List reports.
type Address struct {
	Prefix    netip.Prefix `json:"prefix"`
	Dev       string       `json:"dev"`
	Tentative bool         `json:"tentative,omitempty"` // IPv6 duplicate address detection still running (IFA_F_TENTATIVE)
	Flags     int          `json:"flags"`               // IFA_F_* flags
}

// List returns every address of device dev, IPv4 and IPv6, link-local
// (fe80::/10) included, like `ip addr show dev DEV`. With dev "" it lists
// the addresses of every device of h's namespace.
func List(h *netlink.Handle, dev string) ([]netip.Prefix, error) {
	as, err := ListDetail(h, dev)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, len(as))
	for i, a := range as {
		out[i] = a.Prefix
	}
	return out, nil
}

// ListGlobal is List without link-local addresses (fe80::/10 and
// 169.254.0.0/16): the addresses a user or a lab configured.
func ListGlobal(h *netlink.Handle, dev string) ([]netip.Prefix, error) {
	ps, err := List(h, dev)
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p)
		}
	}
	return out, nil
}

// ListDetail is List with each address's device and flags.
func ListDetail(h *netlink.Handle, dev string) ([]Address, error) {
	fail := func(err error) error { return &Error{Op: "list", Dev: dev, Err: err} }
	var l netlink.Link
	names := map[int]string{}
	if dev != "" {
		var err error
		if l, err = link(h, dev); err != nil {
			return nil, fail(err)
		}
		names[l.Attrs().Index] = dev
	} else {
		ls, err := nl.LinkList(h)
		if err != nil {
			return nil, fail(err)
		}
		for _, x := range ls {
			names[x.Attrs().Index] = x.Attrs().Name
		}
	}
	as, err := nl.AddrList(h, l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fail(err)
	}
	out := make([]Address, 0, len(as))
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		bits, _ := a.Mask.Size()
		out = append(out, Address{
			Prefix:    netip.PrefixFrom(ip, bits),
			Dev:       names[a.LinkIndex],
			Tentative: a.Flags&unix.IFA_F_TENTATIVE != 0,
			Flags:     a.Flags,
		})
	}
	return out, nil
}

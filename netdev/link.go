package netdev

import (
	"errors"
	"fmt"
	"net"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options are the settings AddBridge and AddDummy give a new device. The
// zero value means kernel defaults, down, no alias, default group.
type Options struct {
	MTU   int    // 0 = kernel default
	Up    bool   // bring the device up
	Alias string // IFLA_IFALIAS, such as an ownership mark; "" = none
	Group uint32 // IFLA_GROUP; 0 = default group
}

// BridgeOptions are the settings of a new bridge (see Options).
type BridgeOptions = Options

// Add creates link in h's namespace, like `ip link add NAME type KIND ...`.
// It is a thin wrapper over (*netlink.Handle).LinkAdd that checks the name
// first and reports a link type the kernel lacks as an error wrapping
// errors.ErrUnsupported that names the kernel option and module, for example
//
//	add dummy "d0": this kernel has no "dummy" link type (CONFIG_DUMMY / module dummy): unsupported
//
// The kernel ignores IFLA_IFALIAS when creating a device: use SetAlias.
func Add(h *netlink.Handle, link netlink.Link) error {
	name, kind := link.Attrs().Name, link.Type()
	if err := names.CheckIf(name); err != nil {
		return &Error{Op: "add", Kind: kind, Name: name, Err: err}
	}
	if err := h.LinkAdd(link); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = unsupportedKind(kind)
		}
		return &Error{Op: "add", Kind: kind, Name: name, Err: err}
	}
	return nil
}

// AddBridge creates a bridge in h's namespace, like
// `ip link add NAME [mtu N] [group G] [up] type bridge` followed by
// `ip link set NAME alias A`. On failure nothing is left behind.
func AddBridge(h *netlink.Handle, name string, o BridgeOptions) error {
	return addSimple(h, &netlink.Bridge{LinkAttrs: attrs(name, o)}, o)
}

// AddDummy creates a dummy device in h's namespace, like
// `ip link add NAME type dummy`. Kernels without CONFIG_DUMMY give an error
// wrapping errors.ErrUnsupported.
func AddDummy(h *netlink.Handle, name string, o Options) error {
	return addSimple(h, &netlink.Dummy{LinkAttrs: attrs(name, o)}, o)
}

func attrs(name string, o Options) netlink.LinkAttrs {
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU, la.Group = name, o.MTU, o.Group
	if o.Up {
		la.Flags = net.FlagUp
	}
	return la
}

func addSimple(h *netlink.Handle, link netlink.Link, o Options) error {
	name, kind := link.Attrs().Name, link.Type()
	if o.MTU < 0 {
		return &Error{Op: "add", Kind: kind, Name: name, Err: fmt.Errorf("MTU %d is negative: give 0 for the kernel default", o.MTU)}
	}
	if err := Add(h, link); err != nil {
		return err
	}
	if o.Alias == "" {
		return nil
	}
	if err := h.LinkSetAlias(link, o.Alias); err != nil {
		err = fmt.Errorf("set alias: %w", err)
		if derr := h.LinkDel(link); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo: delete: %w", derr))
		}
		return &Error{Op: "add", Kind: kind, Name: name, Err: err}
	}
	return nil
}

// Lookup returns the device called name in h's namespace, or an *Error
// wrapping ErrNotFound.
func Lookup(h *netlink.Handle, name string) (netlink.Link, error) {
	if err := names.CheckIf(name); err != nil {
		return nil, &Error{Op: "find", Kind: "device", Name: name, Err: err}
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, newError("find", "device", name, err)
	}
	return l, nil
}

// change looks name up and runs fn on it, reporting failures as op on name.
func change(h *netlink.Handle, op, name string, fn func(netlink.Link) error) error {
	if err := names.CheckIf(name); err != nil {
		return &Error{Op: op, Name: name, Err: err}
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return newError(op, "", name, err)
	}
	return newError(op, "", name, fn(l))
}

// SetMulticastSnooping turns a bridge's multicast snooping on or off, like
// `ip link set NAME type bridge mcast_snooping 1|0`. A device that is not a
// bridge is an error.
func SetMulticastSnooping(h *netlink.Handle, name string, on bool) error {
	return change(h, "set multicast snooping of", name, func(l netlink.Link) error {
		if _, ok := l.(*netlink.Bridge); !ok {
			return fmt.Errorf("a %s device, not a bridge", l.Type())
		}
		// Only the index and the setting: the device as read back carries
		// attributes the kernel refuses to change (EOPNOTSUPP).
		la := netlink.NewLinkAttrs()
		la.Index, la.Name = l.Attrs().Index, l.Attrs().Name
		return h.BridgeSetMcastSnoop(&netlink.Bridge{LinkAttrs: la}, on)
	})
}

// SetUp brings a device up, like `ip link set NAME up`. It works for lo.
func SetUp(h *netlink.Handle, name string) error {
	return change(h, "bring up", name, h.LinkSetUp)
}

// SetByIndex changes the device with interface index index in one
// request, without looking it up by name: up brings it up, a non-empty alias
// sets its alias, like `ip link set dev NAME [up] [alias ALIAS]` (name only
// labels errors). It works for lo (index 1). Like every function here, it
// may be called from several goroutines at once, on one handle or several.
func SetByIndex(h *netlink.Handle, index int32, name string, up bool, alias string) error {
	op, err := checkIndex(index, name, up)
	if err != nil {
		return err
	}
	req, err := newRequest(h, unix.RTM_NEWLINK, unix.NLM_F_ACK)
	if err != nil {
		return newError(op, "", name, err)
	}
	setByIndex(req, index, up, alias)
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return newError(op, "", name, err)
}

// QueueSetByIndex queues on b what SetByIndex does, to be sent with the
// batch's other requests.
func QueueSetByIndex(b *nl.Batch, index int32, name string, up bool, alias string) error {
	op, err := checkIndex(index, name, up)
	if err != nil {
		return err
	}
	req := nl.NewRequest(unix.RTM_NEWLINK, 0)
	setByIndex(req, index, up, alias)
	b.Add(req, func(err error) error { return newError(op, "", name, err) })
	return nil
}

// QueueAddrGenNone queues on b what `ip link set dev NAME addrgenmode none`
// does, for the device with interface index index (name labels errors):
// the kernel then gives the device no IPv6 link-local address when it comes
// up, so the device sends no duplicate address detection, router
// solicitation or MLD report, while IPv6 itself stays on (addresses can
// still be added). Queue it before the device comes up. It cannot be part
// of the device's creation (the kernel refuses IFLA_AF_SPEC there), and a
// kernel without IPv6 refuses it (EAFNOSUPPORT).
func QueueAddrGenNone(b *nl.Batch, index int32, name string) error {
	const op = "set addrgenmode none on"
	if index <= 0 {
		return badIndex(op, name, index)
	}
	req := nl.NewRequest(unix.RTM_NEWLINK, 0)
	msg := vnl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = index
	req.AddData(msg)
	spec := vnl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	spec.AddRtAttr(unix.AF_INET6, nil).AddRtAttr(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{addrGenModeNone})
	req.AddData(spec)
	b.Add(req, func(err error) error { return newError(op, "", name, err) })
	return nil
}

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h).
const addrGenModeNone = 1

// checkIndex names SetByIndex's operation for errors and refuses an index
// that cannot be a device's.
func checkIndex(index int32, name string, up bool) (op string, err error) {
	op = "change"
	if up {
		op = "bring up"
	}
	if index <= 0 {
		return op, badIndex(op, name, index)
	}
	return op, nil
}

func badIndex(op, name string, index int32) error {
	return newError(op, "", name, fmt.Errorf("interface index %d: want a positive index", index))
}

func setByIndex(req *vnl.NetlinkRequest, index int32, up bool, alias string) {
	msg := vnl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = index
	if up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	if alias != "" {
		req.AddData(vnl.NewRtAttr(unix.IFLA_IFALIAS, []byte(alias)))
	}
}

// SetDown brings a device down, like `ip link set NAME down`.
func SetDown(h *netlink.Handle, name string) error {
	return change(h, "bring down", name, h.LinkSetDown)
}

// SetMTU sets a device's MTU, like `ip link set NAME mtu MTU`.
func SetMTU(h *netlink.Handle, name string, mtu int) error {
	return change(h, fmt.Sprintf("set MTU %d of", mtu), name, func(l netlink.Link) error {
		if mtu <= 0 {
			return fmt.Errorf("MTU must be positive, such as 1500")
		}
		if err := h.LinkSetMTU(l, mtu); err != nil {
			if errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("out of this device's range (veth: 68 to 65535): %w", err)
			}
			return err
		}
		return nil
	})
}

// SetAlias sets a device's alias (IFLA_IFALIAS), like
// `ip link set NAME alias ALIAS`; "" removes it.
func SetAlias(h *netlink.Handle, name, alias string) error {
	return change(h, "set alias of", name, func(l netlink.Link) error { return h.LinkSetAlias(l, alias) })
}

// SetGroup puts a device in a group (IFLA_GROUP), like
// `ip link set NAME group GROUP`.
func SetGroup(h *netlink.Handle, name string, group uint32) error {
	return change(h, "set group of", name, func(l netlink.Link) error { return h.LinkSetGroup(l, int(group)) })
}

// SetMaster enslaves a device to a bridge in the same namespace, like
// `ip link set NAME master BRIDGE`.
func SetMaster(h *netlink.Handle, name, bridge string) error {
	return change(h, "set master of", name, func(l netlink.Link) error {
		if err := names.CheckIf(bridge); err != nil {
			return fmt.Errorf("master: %w", err)
		}
		return setMaster(h, l, bridge)
	})
}

// SetNoMaster releases a device from its bridge, like
// `ip link set NAME nomaster`.
func SetNoMaster(h *netlink.Handle, name string) error {
	return change(h, "release", name, h.LinkSetNoMaster)
}

// Delete deletes a device, like `ip link del NAME`. Deleting either end of
// a veth pair deletes both. Each delete waits for an RCU grace period in the
// kernel (about 16 ms): to remove many devices use DeleteGroup, or delete
// their namespace.
func Delete(h *netlink.Handle, name string) error {
	return change(h, "delete", name, h.LinkDel)
}

// DeleteGroup deletes every device of group in h's namespace with one
// RTM_DELLINK request (ifindex 0 and IFLA_GROUP), like
// `ip link del group GROUP`: the kernel unregisters them in one batch,
// which is far faster than one Delete per device. An empty group is not an
// error. Group 0, the default group of every device, is refused.
func DeleteGroup(h *netlink.Handle, group uint32) error {
	name := fmt.Sprint(group)
	if group == 0 {
		return &Error{Op: "delete", Kind: "group", Name: name, Err: errors.New("group 0 is the default group of every device; refusing to delete it")}
	}
	req, err := newRequest(h, unix.RTM_DELLINK, unix.NLM_F_ACK)
	if err != nil {
		return &Error{Op: "delete", Kind: "group", Name: name, Err: err}
	}
	req.AddData(vnl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(vnl.NewRtAttr(unix.IFLA_GROUP, vnl.Uint32Attr(group)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return nil
		}
		if errors.Is(err, unix.EOPNOTSUPP) {
			err = fmt.Errorf("the group holds a device that cannot be deleted (such as lo): %w", err)
		}
		return &Error{Op: "delete", Kind: "group", Name: name, Err: err}
	}
	return nil
}

// Move moves a device from h's namespace to the namespace to, renaming it
// to newName on the way when newName is not "", in one request, like
// `ip link set NAME netns NS [name NEWNAME]`.
//
// The kernel closes the device on the way: it arrives DOWN, with its
// addresses and routes flushed and its master released; its ifindex is kept
// when free in the target. A name taken in the target gives an error
// wrapping fs.ErrExist (pass newName to avoid it). Bridges and lo cannot
// change namespace.
func Move(h *netlink.Handle, name string, to vnetns.NsHandle, newName string) error {
	return change(h, "move", name, func(l netlink.Link) error {
		if newName != "" {
			if err := names.CheckIf(newName); err != nil {
				return fmt.Errorf("new name: %w", err)
			}
		}
		if !to.IsOpen() || to == 0 {
			return fmt.Errorf("no target namespace given")
		}
		if l.Type() == "bridge" || name == "lo" {
			return fmt.Errorf("a %s cannot change namespace (the kernel marks it netns-local): %w", l.Type(), unix.EINVAL)
		}
		target := name
		if newName != "" {
			target = newName
		}
		// The kernel checks a clash of the current name before moving, but
		// (6.18) applies the new name after the move: a clash of newName
		// leaves the device moved under its old name. Check first.
		ht, err := nl.NewHandle(to)
		if err != nil {
			return fmt.Errorf("open target namespace: %w", err)
		}
		defer ht.Close()
		if _, err := ht.LinkByName(target); err == nil {
			return fmt.Errorf("the target namespace has a device named %q already (give a new name): %w", target, unix.EEXIST)
		}
		req, err := newRequest(h, unix.RTM_SETLINK, unix.NLM_F_ACK)
		if err != nil {
			return err
		}
		msg := vnl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(l.Attrs().Index)
		req.AddData(msg)
		req.AddData(vnl.NewRtAttr(unix.IFLA_NET_NS_FD, vnl.Uint32Attr(uint32(to))))
		if newName != "" {
			req.AddData(vnl.NewRtAttr(unix.IFLA_IFNAME, vnl.ZeroTerminated(newName)))
		}
		if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
			if errors.Is(err, unix.EEXIST) {
				err = fmt.Errorf("the target namespace has a device named %q already (give a new name): %w", target, err)
				if _, lerr := h.LinkByIndex(l.Attrs().Index); lerr != nil {
					err = fmt.Errorf("%w; the device did move, under its old name %q", err, name)
				}
			}
			return err
		}
		return nil
	})
}

// SetDownIn brings down the device called name in the namespace ns, like
// `ip -n NS link set NAME down`, with an ioctl on a socket made for it in ns
// rather than through netlink. A lab's down uses it for a bridge in a
// namespace about to be freed: a netlink socket keeps its namespace alive
// until a grace period after it is closed (the kernel frees it in an RCU
// callback), long enough for that namespace to miss the batch that frees
// the others and to cost a batch of its own; a UNIX socket lets go of it when
// it is closed.
func SetDownIn(ns vnetns.NsHandle, name string) error {
	const op = "bring down"
	if err := names.CheckIf(name); err != nil {
		return newError(op, "", name, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return newError(op, "", name, err)
	}
	err = nsthread.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		ifr.SetUint16(ifr.Uint16() &^ unix.IFF_UP)
		return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	})
	return newError(op, "", name, err) // ENODEV: ErrNotFound
}

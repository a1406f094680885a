package netdev

import (
	"errors"
	"fmt"
	"net"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// An End is one end of a veth pair, as AddVeth creates it.
type End struct {
	// NS is the namespace the end is born in. vnetns.None() or the zero
	// value means the namespace of the handle the request is sent on.
	NS vnetns.NsHandle
	// NetNSName names NS in error messages only ("" = not named).
	NetNSName string
	// Name is the interface name, checked against the kernel's rules
	// (15 bytes, no '/', ':' or white space) before any system call.
	Name string
	// MTU is the end's MTU; 0 means the kernel default (for the second end:
	// the first end's MTU when that is set).
	MTU int
	// Master is a bridge to enslave this end to. It must live in the
	// namespace the end is born in (for an end born in the handle's
	// namespace, the handle's). "" = none.
	Master string
	// Up brings the end up.
	Up bool
	// Alias sets IFLA_IFALIAS, such as an ownership mark "nslab:demo".
	Alias string
	// HardwareAddr is the end's MAC address (6 bytes); nil lets the kernel
	// pick a random one.
	HardwareAddr net.HardwareAddr
	// Group sets IFLA_GROUP; 0 is the default group.
	Group uint32
	// Index is the interface index the end is born with, like
	// `ip link add NAME index N`; 0 lets the kernel pick one. An index in
	// use in the end's namespace makes the kernel refuse the pair with an
	// error wrapping fs.ErrExist (unix.EEXIST; older kernels: unix.EBUSY). With a known index, the follow-up requests
	// for the end go by index, without a lookup by name.
	Index int32
	// MasterIndex is Master's interface index in the end's namespace, when
	// the caller knows it: it saves a lookup by name (and the check that
	// Master is a bridge, which is then the caller's). 0 = look Master up.
	MasterIndex int32
	// Queues is the end's number of transmit and receive queues, like
	// `ip link add ... numtxqueues N numrxqueues N`; 0 means 1. A veth
	// uses one of each unless told otherwise, but without the numbers the
	// kernel allocates one per CPU and then, the device registered, drops
	// to one, which waits for an RCU grace period per end: 300 pairs took
	// 170-270 ms that way against 95-105 ms with the numbers given (ip
	// -batch, 2 CPUs). More queues only matter to multi-queue tests (XDP,
	// `ethtool -L`).
	Queues int
}

// queues returns the queue count to ask the kernel for.
func (e End) queues() uint32 { return uint32(max(e.Queues, 1)) }

// bornHere reports whether an end with namespace ns is born in the
// namespace of the handle (None, or the zero value: fd 0 is never a
// namespace handle nslab opened).
func bornHere(ns vnetns.NsHandle) bool { return ns <= 0 }

func (e End) check() error {
	if err := names.CheckIf(e.Name); err != nil {
		return err
	}
	if e.HardwareAddr != nil && (len(e.HardwareAddr) != 6 || e.HardwareAddr[0]&1 != 0) {
		return fmt.Errorf("MAC address %v of %q is not a unicast Ethernet address: give six bytes with the lowest bit of the first clear, or none", e.HardwareAddr, e.Name)
	}
	if e.MTU < 0 {
		return fmt.Errorf("MTU %d of %q is negative: give 0 for the kernel default or a value such as 1500", e.MTU, e.Name)
	}
	if e.Queues < 0 || e.Queues > 4096 {
		return fmt.Errorf("%d queues for %q: give 1 to 4096 (0 means 1)", e.Queues, e.Name)
	}
	if e.Master != "" {
		if err := names.CheckIf(e.Master); err != nil {
			return fmt.Errorf("master of %q: %w", e.Name, err)
		}
	}
	return nil
}

// AddVeth creates a veth pair whose ends a and b are born in their
// namespaces (a.NS, b.NS), in one RTM_NEWLINK request sent on h, like
//
//	ip link add A netns X type veth peer name B netns Y
//
// run in h's namespace. The ends are never created in one namespace and
// moved, so they skip the DOWN state and address flush of a move and cannot
// clash with names in h's namespace. Names are checked before any system
// call.
//
// The creating request also carries both MTUs and groups, brings a up and,
// when a is born in h's namespace, enslaves it to a.Master. The kernel
// ignores an alias in a creating request and refuses to bring the peer up
// in it, so the rest (aliases, b's master and up state, a's master when a is
// born elsewhere) is set by follow-up requests on a handle in the end's
// namespace: h for an end born in h's namespace, peerH for b (peerH may be
// nil; AddVeth then opens a handle in b.NS for as long as it needs one), and
// a handle AddVeth opens for a in a.NS.
//
// On failure the pair is deleted again: nothing is left behind, and a
// failure to delete is joined to the returned error. An existing name gives
// an error that wraps fs.ErrExist.
func AddVeth(h *netlink.Handle, a, b End, peerH *netlink.Handle) (err error) {
	fail := func(err error) error {
		return &Error{Op: "add", Kind: "veth", Name: a.Name, NetNS: a.NetNSName, Err: err}
	}
	if err := a.check(); err != nil {
		return fail(err)
	}
	if err := b.check(); err != nil {
		return fail(fmt.Errorf("peer: %w", err))
	}
	if a.Name == b.Name && (bornHere(a.NS) && bornHere(b.NS) || a.NS == b.NS) {
		return fail(fmt.Errorf("both ends are named %q in the same namespace: give the peer another name", a.Name))
	}
	req, err := newRequest(h, unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	if err != nil {
		return fail(err)
	}
	msg := vnl.NewIfInfomsg(unix.AF_UNSPEC)
	if a.Up {
		msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	}
	msg.Index = a.Index
	req.AddData(msg)
	req.AddData(vnl.NewRtAttr(unix.IFLA_IFNAME, vnl.ZeroTerminated(a.Name)))
	if a.MTU > 0 {
		req.AddData(vnl.NewRtAttr(unix.IFLA_MTU, vnl.Uint32Attr(uint32(a.MTU))))
	}
	if a.Group != 0 {
		req.AddData(vnl.NewRtAttr(unix.IFLA_GROUP, vnl.Uint32Attr(a.Group)))
	}
	req.AddData(vnl.NewRtAttr(unix.IFLA_NUM_TX_QUEUES, vnl.Uint32Attr(a.queues())))
	req.AddData(vnl.NewRtAttr(unix.IFLA_NUM_RX_QUEUES, vnl.Uint32Attr(a.queues())))
	if a.HardwareAddr != nil {
		req.AddData(vnl.NewRtAttr(unix.IFLA_ADDRESS, a.HardwareAddr))
	}
	if !bornHere(a.NS) {
		req.AddData(vnl.NewRtAttr(unix.IFLA_NET_NS_FD, vnl.Uint32Attr(uint32(a.NS))))
	} else if a.Master != "" && a.MasterIndex > 0 {
		req.AddData(vnl.NewRtAttr(unix.IFLA_MASTER, vnl.Uint32Attr(uint32(a.MasterIndex))))
	} else if a.Master != "" {
		br, err := h.LinkByName(a.Master)
		if err != nil {
			return fail(fmt.Errorf("master %q: %w", a.Master, cause(err)))
		}
		if !canEnslave(br) {
			return fail(fmt.Errorf("master %q is a %s, not a bridge: give a bridge (see 'nslab link list')", a.Master, br.Type()))
		}
		req.AddData(vnl.NewRtAttr(unix.IFLA_MASTER, vnl.Uint32Attr(uint32(br.Attrs().Index))))
	}
	info := vnl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(vnl.IFLA_INFO_KIND, vnl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(vnl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(vnl.VETH_INFO_PEER, nil)
	vnl.NewIfInfomsgChild(peer, unix.AF_UNSPEC).Index = b.Index
	peer.AddRtAttr(unix.IFLA_IFNAME, vnl.ZeroTerminated(b.Name))
	switch {
	case b.MTU > 0:
		peer.AddRtAttr(unix.IFLA_MTU, vnl.Uint32Attr(uint32(b.MTU)))
	case a.MTU > 0:
		peer.AddRtAttr(unix.IFLA_MTU, vnl.Uint32Attr(uint32(a.MTU)))
	}
	if b.Group != 0 {
		peer.AddRtAttr(unix.IFLA_GROUP, vnl.Uint32Attr(b.Group))
	}
	peer.AddRtAttr(unix.IFLA_NUM_TX_QUEUES, vnl.Uint32Attr(b.queues()))
	peer.AddRtAttr(unix.IFLA_NUM_RX_QUEUES, vnl.Uint32Attr(b.queues()))
	if b.HardwareAddr != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, b.HardwareAddr)
	}
	if !bornHere(b.NS) {
		peer.AddRtAttr(unix.IFLA_NET_NS_FD, vnl.Uint32Attr(uint32(b.NS)))
	}
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		switch {
		case (a.Index > 0 || b.Index > 0) && (errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY)):
			err = fmt.Errorf("a device named %q or %q (peer), or with index %d or %d (peer), exists already in its namespace (give index 0 to let the kernel pick): %w", a.Name, b.Name, a.Index, b.Index, err)
		case errors.Is(err, unix.EEXIST):
			err = fmt.Errorf("a device named %q or %q (peer) exists already in its namespace: %w", a.Name, b.Name, err)
		case errors.Is(err, unix.EOPNOTSUPP):
			err = unsupportedKind("veth")
		case a.Master != "" && bornHere(a.NS) && errors.Is(err, unix.EXFULL):
			err = bridgeFull(a.Master, err)
		case a.Master != "" && bornHere(a.NS) && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EBUSY)):
			err = fmt.Errorf("enslave to %q (is it a bridge?): %w", a.Master, err)
		}
		return fail(err)
	}

	// Follow-up requests, each on a handle in the end's namespace.
	var closers []*netlink.Handle
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	handleFor := func(e End, given *netlink.Handle) (*netlink.Handle, error) {
		if bornHere(e.NS) {
			return h, nil
		}
		if given != nil {
			return given, nil
		}
		t, err := nl.NewHandle(e.NS)
		if err != nil {
			return nil, err
		}
		closers = append(closers, t)
		return t, nil
	}
	var ha *netlink.Handle
	undo := func(err error) error {
		if ha == nil {
			var herr error
			if ha, herr = handleFor(a, nil); herr != nil {
				return fail(errors.Join(err, fmt.Errorf("undo: %w", herr)))
			}
		}
		if derr := deleteByName(ha, a.Name); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo: delete %q: %w", a.Name, derr))
		}
		return fail(err)
	}
	if a.Alias != "" || (a.Master != "" && !bornHere(a.NS)) {
		if ha, err = handleFor(a, nil); err != nil {
			return undo(err)
		}
		if err := configure(ha, a, !bornHere(a.NS), false); err != nil {
			return undo(err)
		}
	}
	if b.Alias != "" || b.Master != "" || b.Up {
		hb, err := handleFor(b, peerH)
		if err != nil {
			return undo(fmt.Errorf("peer %q: %w", b.Name, err))
		}
		if err := configure(hb, b, true, b.Up); err != nil {
			return undo(fmt.Errorf("peer %q: %w", b.Name, err))
		}
	}
	return nil
}

// configure sets e's alias, then (if master) its master, then (if up) brings
// it up, on a handle in e's namespace. An end with a known index is
// addressed by it, without a lookup.
func configure(h *netlink.Handle, e End, master, up bool) error {
	var l netlink.Link
	if e.Index > 0 {
		l = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: int(e.Index), Name: e.Name}}
	} else {
		var err error
		if l, err = h.LinkByName(e.Name); err != nil {
			return cause(err)
		}
	}
	if e.Alias != "" {
		if err := h.LinkSetAlias(l, e.Alias); err != nil {
			return fmt.Errorf("set alias: %w", err)
		}
	}
	if master && e.Master != "" && e.MasterIndex > 0 {
		if err := h.LinkSetMasterByIndex(l, int(e.MasterIndex)); err != nil {
			if errors.Is(err, unix.EXFULL) {
				return bridgeFull(e.Master, err)
			}
			return fmt.Errorf("enslave to %q: %w", e.Master, err)
		}
	} else if master && e.Master != "" {
		if err := setMaster(h, l, e.Master); err != nil {
			return err
		}
	}
	if up {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set up: %w", err)
		}
	}
	return nil
}

func setMaster(h *netlink.Handle, l netlink.Link, bridge string) error {
	br, err := h.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("master %q: %w", bridge, cause(err))
	}
	if !canEnslave(br) {
		return fmt.Errorf("master %q is a %s, not a bridge: give a bridge (see 'nslab link list')", bridge, br.Type())
	}
	if err := h.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
		if errors.Is(err, unix.EXFULL) {
			return bridgeFull(bridge, err)
		}
		return fmt.Errorf("enslave to %q: %w", bridge, err)
	}
	return nil
}

// bridgeFull explains EXFULL from the bridge driver: a Linux bridge has at
// most 1023 ports (BR_MAX_PORTS, port numbers are 10 bits).
func bridgeFull(bridge string, err error) error {
	return fmt.Errorf("enslave to %q: the bridge is full (the kernel allows 1023 ports per bridge): spread the ports over several bridges: %w", bridge, err)
}

// canEnslave reports whether l is a device that takes ports.
func canEnslave(l netlink.Link) bool {
	switch l.Type() {
	case "bridge", "bond", "team", "vrf", "openvswitch":
		return true
	}
	return false
}

func deleteByName(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return cause(err)
	}
	return h.LinkDel(l)
}

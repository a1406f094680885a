package events

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	vnl "github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// groups are the rtnetlink multicast groups followed in each namespace.
var groups = []uint{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE}

// nsWatch is the subscription of one lab namespace.
type nsWatch struct {
	cancel context.CancelFunc
}

func (w *nsWatch) stop() { w.cancel() }

// linkState is what is remembered of a device to report changes only.
type linkState struct {
	name        string
	up, carrier bool
}

// watchNS subscribes to the rtnetlink groups in the namespace ns of node
// and reports its events until the lab forgets it.
func (s *streamer) watchNS(ctx context.Context, labName, node, ns string) (*nsWatch, error) {
	h, err := netns.Open(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var sock *vnl.NetlinkSocket
	err = nsthread.Do(h, func() error {
		var err error
		sock, err = vnl.Subscribe(unix.NETLINK_ROUTE, groups...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to netlink events in netns %q: %w", ns, err)
	}
	// A receive timeout lets the reader notice cancellation: closing a
	// socket does not wake a thread blocked on it.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := sock.SetReceiveTimeout(&tv); err != nil {
		sock.Close()
		return nil, fmt.Errorf("subscribe to netlink events in netns %q: %w", ns, err)
	}
	// The devices as they are now, so that only changes are reported.
	links := map[int32]*linkState{}
	if nh, err := nl.NewHandle(h); err == nil {
		ls, err := nl.LinkList(nh)
		nh.Close()
		if err != nil {
			sock.Close()
			return nil, fmt.Errorf("list devices in netns %q: %w", ns, err)
		}
		for _, l := range ls {
			a := l.Attrs()
			links[int32(a.Index)] = &linkState{name: a.Name, up: a.RawFlags&unix.IFF_UP != 0, carrier: a.RawFlags&unix.IFF_LOWER_UP != 0}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	d := &decoder{lab: labName, node: node, links: links}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sock.Close()
		for wctx.Err() == nil {
			msgs, from, err := sock.Receive()
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				if errors.Is(err, unix.ENOBUFS) {
					s.report(fmt.Errorf("lab %q node %q: netlink events lost (receive buffer overrun)", labName, node))
					continue
				}
				if wctx.Err() == nil {
					s.report(fmt.Errorf("lab %q node %q: receive netlink events: %w", labName, node, err))
				}
				return
			}
			if from.Pid != vnl.PidKernel {
				continue
			}
			for _, m := range msgs {
				for _, e := range d.decode(m.Header.Type, m.Data) {
					s.emit(wctx, e)
				}
			}
		}
	}()
	return &nsWatch{cancel: cancel}, nil
}

// decoder turns rtnetlink messages of one namespace into events.
type decoder struct {
	lab, node string
	links     map[int32]*linkState
}

func (d *decoder) ev(kind, ifname, detail string) Event {
	return Event{Time: time.Now().UTC(), Lab: d.lab, Source: SourceKernel, Kind: kind, Node: d.node, If: ifname, Detail: detail}
}

func (d *decoder) ifName(idx int32) string {
	if l := d.links[idx]; l != nil {
		return l.name
	}
	return fmt.Sprintf("if%d", idx)
}

// decode returns the events a message means; nothing for messages it does
// not know or that change nothing worth reporting.
func (d *decoder) decode(typ uint16, data []byte) []Event {
	switch typ {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		li, err := ParseLinkMsg(data)
		if err != nil {
			return nil
		}
		old := d.links[li.Index]
		if typ == unix.RTM_DELLINK {
			delete(d.links, li.Index)
			name := li.Name
			if name == "" && old != nil {
				name = old.name
			}
			return []Event{d.ev("link-removed", name, "")}
		}
		cur := &linkState{name: li.Name, up: li.Up, carrier: li.Carrier}
		if cur.name == "" && old != nil {
			cur.name = old.name
		}
		d.links[li.Index] = cur
		if old == nil {
			return []Event{d.ev("link-created", cur.name, li.Kind)}
		}
		var evs []Event
		if old.name != cur.name {
			evs = append(evs, d.ev("link-renamed", cur.name, "from "+old.name))
		}
		if old.up != cur.up {
			if cur.up {
				evs = append(evs, d.ev("link-up", cur.name, "admin up"))
			} else {
				evs = append(evs, d.ev("link-down", cur.name, "admin down"))
			}
		}
		if old.carrier != cur.carrier && cur.up && old.up == cur.up {
			if cur.carrier {
				evs = append(evs, d.ev("carrier-up", cur.name, ""))
			} else {
				evs = append(evs, d.ev("carrier-down", cur.name, "no carrier (peer down?)"))
			}
		}
		return evs
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		a, err := ParseAddrMsg(data)
		if err != nil {
			return nil
		}
		kind := "address-added"
		if typ == unix.RTM_DELADDR {
			kind = "address-removed"
		}
		return []Event{d.ev(kind, d.ifName(a.Index), a.Prefix.String())}
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		r, err := ParseRouteMsg(data)
		if err != nil || r.Table != unix.RT_TABLE_MAIN {
			return nil
		}
		kind := "route-added"
		if typ == unix.RTM_DELROUTE {
			kind = "route-removed"
		}
		detail := r.Dst.String()
		if r.Dst.Bits() == 0 {
			detail = "default"
		}
		if r.Gateway.IsValid() {
			detail += " via " + r.Gateway.String()
		}
		ifname := ""
		if r.OIF != 0 {
			ifname = d.ifName(r.OIF)
		}
		return []Event{d.ev(kind, ifname, detail)}
	}
	return nil
}

// LinkMsg is the part of an RTM_NEWLINK/RTM_DELLINK message events uses.
type LinkMsg struct {
	Index   int32
	Name    string
	Kind    string
	Up      bool // IFF_UP
	Carrier bool // IFF_LOWER_UP
}

// AddrMsg is the part of an RTM_NEWADDR/RTM_DELADDR message events uses.
type AddrMsg struct {
	Index  int32
	Prefix netip.Prefix
}

// RouteMsg is the part of an RTM_NEWROUTE/RTM_DELROUTE message events uses.
type RouteMsg struct {
	Table   uint32
	Dst     netip.Prefix
	Gateway netip.Addr
	OIF     int32
}

var errShort = errors.New("message too short")

// attrs splits rtnetlink attributes; nested attributes are not descended.
func attrs(b []byte) (map[uint16][]byte, error) {
	out := map[uint16][]byte{}
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			return nil, fmt.Errorf("bad attribute length %d", l)
		}
		if _, dup := out[typ]; !dup {
			out[typ] = b[4:l]
		}
		al := (l + 3) &^ 3
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return out, nil
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ParseLinkMsg decodes the body of an RTM_NEWLINK or RTM_DELLINK message.
func ParseLinkMsg(b []byte) (LinkMsg, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return LinkMsg{}, errShort
	}
	var m LinkMsg
	m.Index = int32(binary.NativeEndian.Uint32(b[4:8]))
	flags := binary.NativeEndian.Uint32(b[8:12])
	m.Up = flags&unix.IFF_UP != 0
	m.Carrier = flags&unix.IFF_LOWER_UP != 0
	as, err := attrs(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return LinkMsg{}, err
	}
	m.Name = cstr(as[unix.IFLA_IFNAME])
	if li, ok := as[unix.IFLA_LINKINFO]; ok {
		if in, err := attrs(li); err == nil {
			m.Kind = cstr(in[unix.IFLA_INFO_KIND])
		}
	}
	return m, nil
}

func addrOf(family uint8, b []byte) (netip.Addr, bool) {
	switch {
	case family == unix.AF_INET && len(b) == 4:
		return netip.AddrFrom4([4]byte(b)), true
	case family == unix.AF_INET6 && len(b) == 16:
		return netip.AddrFrom16([16]byte(b)), true
	}
	return netip.Addr{}, false
}

// ParseAddrMsg decodes the body of an RTM_NEWADDR or RTM_DELADDR message.
func ParseAddrMsg(b []byte) (AddrMsg, error) {
	if len(b) < unix.SizeofIfAddrmsg {
		return AddrMsg{}, errShort
	}
	family, plen := b[0], int(b[1])
	as, err := attrs(b[unix.SizeofIfAddrmsg:])
	if err != nil {
		return AddrMsg{}, err
	}
	raw, ok := as[unix.IFA_LOCAL]
	if !ok {
		raw = as[unix.IFA_ADDRESS]
	}
	a, ok := addrOf(family, raw)
	if !ok {
		return AddrMsg{}, errors.New("no address")
	}
	p, err := a.Prefix(plen)
	if err != nil {
		return AddrMsg{}, err
	}
	return AddrMsg{Index: int32(binary.NativeEndian.Uint32(b[4:8])), Prefix: netip.PrefixFrom(a, p.Bits())}, nil
}

// ParseRouteMsg decodes the body of an RTM_NEWROUTE or RTM_DELROUTE message.
func ParseRouteMsg(b []byte) (RouteMsg, error) {
	if len(b) < unix.SizeofRtMsg {
		return RouteMsg{}, errShort
	}
	family, dlen := b[0], int(b[1])
	r := RouteMsg{Table: uint32(b[4])}
	as, err := attrs(b[unix.SizeofRtMsg:])
	if err != nil {
		return RouteMsg{}, err
	}
	if t, ok := as[unix.RTA_TABLE]; ok && len(t) == 4 {
		r.Table = binary.NativeEndian.Uint32(t)
	}
	dst, ok := addrOf(family, as[unix.RTA_DST])
	if !ok {
		switch family {
		case unix.AF_INET:
			dst = netip.IPv4Unspecified()
		case unix.AF_INET6:
			dst = netip.IPv6Unspecified()
		default:
			return RouteMsg{}, fmt.Errorf("route family %d", family)
		}
	}
	if r.Dst, err = dst.Prefix(dlen); err != nil {
		return RouteMsg{}, err
	}
	r.Gateway, _ = addrOf(family, as[unix.RTA_GATEWAY])
	if o, ok := as[unix.RTA_OIF]; ok && len(o) == 4 {
		r.OIF = int32(binary.NativeEndian.Uint32(o))
	}
	return r, nil
}

// scanProcs watches the processes of a lab's nodes for their exit. The
// processes are not children of this one (the `nslab up` that started them
// has exited), so their exit status is not known; a pidfd says when they
// end. Only done when the lab's state changed since the last look.
func (s *streamer) scanProcs(ctx context.Context, lf *labFollower) {
	mt, err := statState(lf.name)
	if err != nil || mt.Equal(lf.stamp) {
		return
	}
	lf.stamp = mt
	st, err := lab.GetStatus(lf.name)
	if err != nil {
		return
	}
	for _, n := range st.Nodes {
		for _, p := range n.Procs {
			if !p.Running || lf.procs[p.PID] != nil {
				continue
			}
			fd, err := unix.PidfdOpen(p.PID, 0)
			if err != nil {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			lf.procs[p.PID] = cancel
			node, argv, pid := n.Name, strings.Join(p.Argv, " "), p.PID
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer unix.Close(fd)
				fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				for pctx.Err() == nil {
					n, err := unix.Poll(fds, 200)
					if err != nil && !errors.Is(err, unix.EINTR) {
						return
					}
					if n > 0 {
						s.emit(pctx, Event{Time: time.Now().UTC(), Lab: lf.name, Source: SourceKernel, Kind: "process-exited", Node: node,
							Detail: fmt.Sprintf("pid %d (%s) exited; status unknown: not a child of this process, see its log", pid, argv)})
						return
					}
				}
			}()
		}
	}
}

// statState returns the modification time of a lab's state file, which the
// engine replaces on every change.
func statState(name string) (time.Time, error) {
	fi, err := os.Stat(filepath.Join(lab.StateDir, name, "state.json"))
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

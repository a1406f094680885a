package lab

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/netdev"
	vnl "github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// announceWait bounds how long an apply waits for new switch ports to
// forward before it tells their bridges what is behind them.
const announceWait = 200 * time.Millisecond

// A portAnnouncer tells the bridges of a running lab's switches, as soon as
// a port added by a change forwards, the MAC address of the node end behind
// it (netdev.Announce): what the bridge would learn from that end's first
// frame. Every link end keeps its MAC across a remake (endMAC), so the
// neighbours of a node made again still have its address and send to it at
// once; until the bridge has learned it, each such frame went to every port
// (a 1000-port switch: a new host's first answer 7.8 ms against 5.6 ms with
// the entry there). A first up has no such neighbours and skips this.
//
// A port can be told only once it forwards, which it does when its peer,
// brought up by the node's configuration, gives it a carrier, a moment
// later (the kernel's link watch): the announcer subscribes to link events
// in the switches' namespaces before that, and waits for them, not for time.
type portAnnouncer struct {
	ports []announce
	socks map[string]*vnl.NetlinkSocket // by switch namespace
}

type announce struct {
	ns   string
	n    *nsh
	port int32
	mac  net.HardwareAddr
}

// newPortAnnouncer prepares the announcements for the links p adds to a
// running lab, subscribing to link events where they are due; call it
// before the nodes' configuration, and run on the result. It returns nil
// when there is nothing to announce (or no way to: an announcement only
// saves a flood).
func (s *session) newPortAnnouncer(p *Plan) *portAnnouncer {
	if p.Fresh {
		return nil
	}
	a := &portAnnouncer{socks: map[string]*vnl.NetlinkSocket{}}
	for _, l := range p.AddLinks {
		port, end := l.Ends[1], l.Ends[0] // addLink: the second end is the switch's
		if port.Master == "" || end.Master != "" || port.NS == "" {
			continue
		}
		n, err := s.get(port.NS)
		if err != nil {
			continue
		}
		s.mu.Lock()
		idx := s.index[ifKey(port.NS, port.If)]
		s.mu.Unlock()
		if idx == 0 {
			l, err := n.h.LinkByName(port.If)
			if err != nil {
				continue
			}
			idx = int32(l.Attrs().Index)
		}
		if _, ok := a.socks[port.NS]; !ok {
			var sock *vnl.NetlinkSocket
			err := nsthread.Do(n.ns, func() error {
				var err error
				sock, err = vnl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
				return err
			})
			if err != nil {
				continue
			}
			tv := unix.NsecToTimeval((10 * time.Millisecond).Nanoseconds())
			if err := sock.SetReceiveTimeout(&tv); err != nil {
				sock.Close()
				continue
			}
			a.socks[port.NS] = sock
		}
		a.ports = append(a.ports, announce{ns: port.NS, n: n, port: idx, mac: endMAC(s.lab, end)})
	}
	if len(a.ports) == 0 {
		a.close()
		return nil
	}
	return a
}

// run announces every port, each once it forwards, and gives up on those
// that do not within announceWait (the bridge then learns as usual).
func (a *portAnnouncer) run(ctx context.Context) {
	if a == nil {
		return
	}
	defer a.close()
	pending := a.ports
	try := func() {
		left := pending[:0]
		for _, p := range pending {
			err := netdev.Announce(p.n.h, p.port, p.mac)
			if errors.Is(err, unix.EPERM) { // not forwarding yet
				left = append(left, p)
			}
		}
		pending = left
	}
	try()
	deadline := time.Now().Add(announceWait)
	for len(pending) > 0 && ctx.Err() == nil && time.Now().Before(deadline) {
		// Wait for a link event in the namespace of the first port left;
		// each event is a reason to try again.
		msgs, _, err := a.socks[pending[0].ns].Receive()
		if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.ENOBUFS) {
			return
		}
		if err == nil && len(msgs) == 0 {
			continue
		}
		try()
	}
}

// close closes the subscriptions; it may be called more than once, and on
// nil.
func (a *portAnnouncer) close() {
	if a == nil {
		return
	}
	for _, s := range a.socks {
		s.Close()
	}
	a.socks = nil
}

package probe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/nslab/nslab/internal/nsthread"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// responder is a running Listen: its socket and the goroutine serving it.
type responder struct {
	close func() error
	wg    sync.WaitGroup
	once  sync.Once
	err   error
}

// Close stops the responder and waits for its goroutine; it is safe to call
// more than once.
func (r *responder) Close() error {
	r.once.Do(func() {
		r.err = r.close()
		r.wg.Wait()
	})
	return r.err
}

// Listen starts a responder in namespace ns for the probes of this package,
// bound to addr (the unspecified or zero Addr means every address, IPv4 and
// IPv6) and port (1-65535). A TCP responder accepts every connection and
// closes it at once; a UDP responder sends each datagram back to its sender,
// from the address it was sent to. ICMP needs no responder (the kernel
// answers echo requests) and gives an error wrapping errors.ErrUnsupported.
//
// The socket is created inside ns and served by one goroutine until Close,
// which closes the socket and waits for that goroutine; the open socket keeps
// ns alive until then.
// When the port is taken, the error wraps syscall.EADDRINUSE. Equivalent to
// `ip netns exec NS socat TCP-LISTEN:PORT,fork /dev/null` or `... socat
// UDP-RECVFROM:PORT,fork PIPE` (without the subprocess).
func Listen(ns vnetns.NsHandle, proto Proto, addr netip.Addr, port int) (io.Closer, error) {
	where := "*"
	if addr.IsValid() {
		where = addr.String()
	}
	what := fmt.Sprintf("listen %s %s port %d", proto, where, port)
	switch {
	case !ns.IsOpen():
		return nil, fmt.Errorf("%s: %w: namespace handle is not open", what, ErrBadRequest)
	case port < 1 || port > 65535:
		return nil, fmt.Errorf("%s: %w: port %d is not in 1-65535", what, ErrBadRequest, port)
	case proto == ICMP:
		return nil, fmt.Errorf("%s: %w: the kernel answers icmp echo itself", what, errors.ErrUnsupported)
	case proto != TCP && proto != UDP:
		return nil, fmt.Errorf("listen %q: %w: unknown protocol (use tcp or udp)", proto, ErrBadRequest)
	}
	network := string(proto)
	var ip net.IP
	if addr.IsValid() && !addr.IsUnspecified() {
		addr = addr.Unmap()
		ip = addr.AsSlice()
		if addr.Is4() {
			network += "4"
		} else {
			network += "6"
		}
	}
	r := &responder{}
	var tl *net.TCPListener
	var uc *net.UDPConn
	// Dial and listen calls on IP literals start no goroutine and do no
	// name lookup, so they stay on the namespace's thread.
	err := nsthread.Do(ns, func() error {
		var err error
		if proto == TCP {
			tl, err = net.ListenTCP(network, &net.TCPAddr{IP: ip, Port: port, Zone: addr.Zone()})
		} else {
			uc, err = net.ListenUDP(network, &net.UDPAddr{IP: ip, Port: port, Zone: addr.Zone()})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if tl != nil {
		r.close = tl.Close
		r.wg.Go(func() { serveTCP(tl) })
		return r, nil
	}
	r.close = uc.Close
	pc, err := newEchoConn(uc)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s: %w", what, err), uc.Close())
	}
	r.wg.Go(func() { pc.serve() })
	return r, nil
}

func serveTCP(l *net.TCPListener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ECONNABORTED, EMFILE and the like: keep serving.
			continue
		}
		c.Close()
	}
}

// echoConn is a UDP socket that answers each datagram from the address it
// arrived on, so that a connected probe socket accepts the answer even when
// the responder's node has several addresses.
type echoConn struct {
	uc *net.UDPConn
	v6 bool // an AF_INET6 socket (possibly dual-stack)
}

func newEchoConn(uc *net.UDPConn) (*echoConn, error) {
	e := &echoConn{uc: uc}
	la := uc.LocalAddr().(*net.UDPAddr)
	if la.IP.To4() != nil {
		return e, ipv4.NewPacketConn(uc).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	}
	e.v6 = true
	if err := ipv6.NewPacketConn(uc).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return nil, err
	}
	if la.IP.IsUnspecified() {
		// A dual-stack socket: IPv4 datagrams carry IP_PKTINFO.
		if err := ipv4.NewPacketConn(uc).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *echoConn) serve() {
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		n, oobn, _, from, err := e.uc.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. a pending ICMP error
		}
		e.uc.WriteMsgUDPAddrPort(buf[:n], e.replyOOB(oob[:oobn]), from)
	}
}

// replyOOB turns the packet-info of a received datagram into the control
// message that sends the answer from the same local address.
func (e *echoConn) replyOOB(oob []byte) []byte {
	if len(oob) == 0 {
		return nil
	}
	var cm4 ipv4.ControlMessage
	if cm4.Parse(oob) == nil && cm4.Dst != nil {
		return (&ipv4.ControlMessage{Src: cm4.Dst}).Marshal()
	}
	if e.v6 {
		var cm6 ipv6.ControlMessage
		if cm6.Parse(oob) == nil && cm6.Dst != nil {
			return (&ipv6.ControlMessage{Src: cm6.Dst, IfIndex: cm6.IfIndex}).Marshal()
		}
	}
	return nil
}

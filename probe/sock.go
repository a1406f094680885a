package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// sock is a non-blocking socket created inside a namespace and driven from
// any goroutine through the runtime poller, so deadlines work and no thread
// is held while it waits.
type sock struct {
	f  *os.File
	rc syscall.RawConn
	v6 bool
}

// sockSpec says what socket openSock makes.
type sockSpec struct {
	typ, proto int
	recvErr    bool   // IP_RECVERR / IPV6_RECVERR: ICMP errors on the error queue
	icmpFilter bool   // raw ICMP: pass only echo replies and errors
	name       string // for os.NewFile and error messages
}

// openSock creates the socket described by s in namespace ns for the
// family of dst, and resolves dst's zone (an interface name or index) in
// that namespace. It returns the destination's zone index (0 without zone).
func openSock(ns vnetns.NsHandle, dst netip.Addr, s sockSpec) (*sock, uint32, error) {
	v6 := dst.Is6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	fd := -1
	var zone uint32
	err := nsthread.Do(ns, func() error {
		var err error
		if z := dst.Zone(); z != "" {
			if zone, err = zoneIndex(z); err != nil {
				return err
			}
		}
		fd, err = unix.Socket(family, s.typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, s.proto)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		if err := s.setup(fd, v6); err != nil {
			unix.Close(fd)
			fd = -1
			return err
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	f := os.NewFile(uintptr(fd), s.name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("poll %s socket: %w", s.name, err)
	}
	return &sock{f: f, rc: rc, v6: v6}, zone, nil
}

// zoneIndex turns an IPv6 zone into an interface index of the calling
// thread's namespace. It must run inside nsthread.Do: the standard library's
// own zone cache would look the name up in the process's namespace instead.
func zoneIndex(z string) (uint32, error) {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", z, err)
	}
	return uint32(ifi.Index), nil
}

func (s sockSpec) setup(fd int, v6 bool) error {
	if s.recvErr {
		level, opt := unix.SOL_IP, unix.IP_RECVERR
		if v6 {
			level, opt = unix.SOL_IPV6, unix.IPV6_RECVERR
		}
		if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
			return os.NewSyscallError("setsockopt recverr", err)
		}
	}
	if s.icmpFilter {
		// Each raw ICMP socket gets a copy of every ICMP packet of the
		// namespace; keep only what a probe reads. A set bit blocks a type.
		var err error
		if v6 {
			var f [8]uint32
			for i := range f {
				f[i] = ^uint32(0)
			}
			for _, t := range []int{icmp6EchoReply, icmp6DstUnreach, icmp6PacketTooBig, icmp6TimeExceeded, icmp6ParamProb} {
				f[t>>5] &^= 1 << (t & 31)
			}
			b := make([]byte, 32)
			for i, w := range f {
				binary.NativeEndian.PutUint32(b[4*i:], w)
			}
			err = unix.SetsockoptString(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, string(b))
		} else {
			mask := ^uint32(1<<icmp4EchoReply | 1<<icmp4DstUnreach | 1<<icmp4TimeExceeded | 1<<icmp4ParamProb)
			err = unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(mask)))
		}
		if err != nil {
			return os.NewSyscallError("setsockopt icmp filter", err)
		}
	}
	return nil
}

func (s *sock) Close() error { return s.f.Close() }

// watch makes every blocked call on s return once ctx ends, and sets ctx's
// deadline on s. Call the returned stop when done.
func (s *sock) watch(ctx context.Context) (stop func() bool) {
	s.f.SetDeadline(deadline(ctx))
	return context.AfterFunc(ctx, func() { s.f.SetDeadline(time.Unix(1, 0)) })
}

func sockaddr(a netip.Addr, port int, zone uint32) unix.Sockaddr {
	if a.Is4() {
		return &unix.SockaddrInet4{Port: port, Addr: a.As4()}
	}
	return &unix.SockaddrInet6{Port: port, Addr: a.As16(), ZoneId: zone}
}

func addrOf(sa unix.Sockaddr) netip.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// connect starts a non-blocking connect and waits until it completes, fails,
// or the deadline passes (os.ErrDeadlineExceeded).
func (s *sock) connect(sa unix.Sockaddr) error {
	var cerr error
	if err := s.rc.Control(func(fd uintptr) { cerr = unix.Connect(int(fd), sa) }); err != nil {
		return err
	}
	switch cerr {
	case nil:
		return nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
	default:
		return os.NewSyscallError("connect", cerr)
	}
	var result error
	err := s.rc.Write(func(fd uintptr) bool {
		soerr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			result = os.NewSyscallError("getsockopt", err)
			return true
		}
		switch e := unix.Errno(soerr); e {
		case 0:
			// Writable and no error means connected; not yet
			// writable shows as ENOTCONN from getpeername.
			if _, err := unix.Getpeername(int(fd)); err == nil {
				return true
			} else if err != unix.ENOTCONN {
				result = os.NewSyscallError("getpeername", err)
				return true
			}
			return false
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			result = os.NewSyscallError("connect", e)
			return true
		}
	})
	if err != nil {
		return err
	}
	return result
}

// send writes b to sa (or to the connected peer when sa is nil).
func (s *sock) send(b []byte, sa unix.Sockaddr) error {
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		if sa == nil {
			_, serr = unix.Write(int(fd), b)
		} else {
			serr = unix.Sendto(int(fd), b, 0, sa)
		}
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("sendto", serr)
	}
	return nil
}

// recv reads one datagram into b.
func (s *sock) recv(b []byte) (int, netip.Addr, error) {
	var (
		n    int
		from unix.Sockaddr
		rerr error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), b, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, netip.Addr{}, err
	}
	if rerr != nil {
		return 0, netip.Addr{}, os.NewSyscallError("recvfrom", rerr)
	}
	return n, addrOf(from), nil
}

// recvErr takes the oldest entry off the socket's error queue, without
// waiting.
func (s *sock) recvErr() (extErr, bool) {
	var e extErr
	var ok bool
	s.rc.Control(func(fd uintptr) {
		b := make([]byte, 512)
		oob := make([]byte, 512)
		_, oobn, _, _, err := unix.Recvmsg(int(fd), b, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err == nil {
			e, ok = parseErrQueue(oob[:oobn])
		}
	})
	return e, ok
}

// extErr is a struct sock_extended_err from the socket error queue, with the
// address of the node that reported it.
type extErr struct {
	errno  unix.Errno
	origin uint8
	typ    uint8
	code   uint8
	from   netip.Addr
}

// parseErrQueue finds the IP_RECVERR or IPV6_RECVERR message in oob, the
// control data of a recvmsg(MSG_ERRQUEUE).
func parseErrQueue(oob []byte) (extErr, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return extErr{}, false
	}
	for _, m := range msgs {
		if !(m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) &&
			!(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR) {
			continue
		}
		return parseExtErr(m.Data)
	}
	return extErr{}, false
}

// parseExtErr decodes struct sock_extended_err (16 bytes) followed by the
// offender's sockaddr_in or sockaddr_in6 (SO_EE_OFFENDER).
func parseExtErr(d []byte) (extErr, bool) {
	const size = 16
	if len(d) < size {
		return extErr{}, false
	}
	e := extErr{
		errno:  unix.Errno(binary.NativeEndian.Uint32(d[0:4])),
		origin: d[4],
		typ:    d[5],
		code:   d[6],
	}
	sa := d[size:]
	if len(sa) >= 2 {
		switch binary.NativeEndian.Uint16(sa[0:2]) {
		case unix.AF_INET:
			if len(sa) >= 8 {
				e.from = netip.AddrFrom4([4]byte(sa[4:8]))
			}
		case unix.AF_INET6:
			if len(sa) >= 24 {
				e.from = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
			}
		}
	}
	return e, true
}

// failure turns an error from a socket call into a Result: ICMP errors from
// the error queue when there is one, else the errno.
func (s *sock) failure(r Request, start time.Time, err error) Result {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return Result{Verdict: Timeout}
	}
	rtt := time.Since(start)
	if e, ok := s.recvErr(); ok {
		if ie := e.icmpError(); ie != nil {
			return Result{Verdict: ie.Verdict(), RTT: rtt, Err: fmt.Errorf("probe %s: %w", r, ie)}
		}
	}
	v := errnoVerdict(err)
	if v == Error || v == Timeout {
		rtt = 0
	}
	if errors.Is(err, unix.ENOBUFS) {
		// Seen when the kernel's neighbour table (shared by all
		// namespaces) is full.
		err = fmt.Errorf("%w (neighbour table full? see net.ipv4.neigh.default.gc_thresh3)", err)
	}
	return Result{Verdict: v, RTT: rtt, Err: fmt.Errorf("probe %s: %w", r, err)}
}

// errnoVerdict classifies the error of a connect, send or receive.
func errnoVerdict(err error) Verdict {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return Error
	}
	switch errno {
	case unix.ECONNREFUSED, unix.ECONNRESET:
		return Refused // TCP RST, or ICMP port unreachable on a connected socket
	case unix.EACCES:
		return Refused // a local "prohibit" route
	case unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EHOSTDOWN, unix.ENETDOWN, unix.ENONET:
		return Unreachable
	case unix.EPERM:
		return Timeout // dropped by the sender's own firewall before it left
	case unix.ETIMEDOUT:
		return Timeout
	}
	return Error
}

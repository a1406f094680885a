package nl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ErrNoHandle is returned for a handle whose NETLINK_ROUTE socket cannot be
// reached (nil, or not made by NewHandle).
var ErrNoHandle = errors.New("netlink handle has no NETLINK_ROUTE socket: open it with internal/nl.NewHandle")

// Sockets returns the sockets of h. vishvananda/netlink keeps them
// unexported but offers neither raw requests on them nor batches; this reads
// the field (its layout is checked by netdev's TestRawRequestUsesHandleSocket
// and this package's tests). It returns nil when that fails.
func Sockets(h *netlink.Handle) map[int]*vnl.SocketHandle {
	if h == nil {
		return nil
	}
	f := reflect.ValueOf(h).Elem().FieldByName("sockets")
	if !f.IsValid() || f.Type() != reflect.TypeFor[map[int]*vnl.SocketHandle]() {
		return nil
	}
	return *(*map[int]*vnl.SocketHandle)(unsafe.Pointer(f.UnsafeAddr()))
}

// A Batch queues rtnetlink requests for one namespace and sends them in a
// single sendmsg, as `ip -batch` would if it could: the kernel runs them in
// order in that call, acknowledges failures one by one and, asked only on the
// last request, success once. A node's links up, addresses and routes cost
// one round trip instead of one each. A Batch is not safe for concurrent
// use; its handle may be used by others meanwhile.
type Batch struct {
	h    *netlink.Handle
	reqs []*vnl.NetlinkRequest
	wrap []func(error) error
}

// NewBatch returns an empty batch for h's namespace.
func NewBatch(h *netlink.Handle) *Batch { return &Batch{h: h} }

// Handle returns the batch's handle, for lookups a request needs first.
func (b *Batch) Handle() *netlink.Handle { return b.h }

// Len returns how many requests are queued.
func (b *Batch) Len() int { return len(b.reqs) }

// NewRequest returns a request of the given type and flags (besides
// NLM_F_REQUEST and NLM_F_ACK, which the batch sets), to fill and Add.
func NewRequest(typ, flags int) *vnl.NetlinkRequest {
	return &vnl.NetlinkRequest{NlMsghdr: unix.NlMsghdr{
		Len:   unix.SizeofNlMsghdr,
		Type:  uint16(typ),
		Flags: unix.NLM_F_REQUEST | uint16(flags),
	}}
}

// Add queues req. wrap turns the kernel's error for req into the caller's
// error (nil: the error as it is).
func (b *Batch) Add(req *vnl.NetlinkRequest, wrap func(error) error) {
	if wrap == nil {
		wrap = func(err error) error { return err }
	}
	b.reqs = append(b.reqs, req)
	b.wrap = append(b.wrap, wrap)
}

// maxSend bounds one sendmsg (the socket's send buffer is ~200 KiB): a
// sendmsg takes requests until it holds this many bytes, or maxPerSend
// requests: each failing request is answered with an error message of
// ~1 KiB of the receive buffer (~200 KiB), and a full buffer drops the
// answers after it, the final acknowledgement with them.
const (
	maxSend    = 32 << 10
	maxPerSend = 64
)

// Exec sends the queued requests and empties the batch. It returns the
// wrapped error of the first request that failed; the kernel still ran the
// requests after it.
func (b *Batch) Exec() error {
	errs, err := b.ExecAll()
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ExecAll is Exec that reports the outcome of each request: errs[i] is the
// wrapped error of request i, or nil; errs is nil when every request
// succeeded. err is a failure to talk to the kernel at all.
func (b *Batch) ExecAll() (errs []error, err error) {
	reqs, wrap := b.reqs, b.wrap
	b.reqs, b.wrap = nil, nil
	if len(reqs) == 0 {
		return nil, nil
	}
	socks := Sockets(b.h)
	sh := socks[unix.NETLINK_ROUTE]
	if sh == nil {
		return nil, ErrNoHandle
	}
	s := sh.Socket
	s.Lock()
	defer s.Unlock()
	pid, err := s.GetPid()
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	for start := 0; start < len(reqs); {
		// One sendmsg of up to maxSend bytes; only its last request asks
		// for an acknowledgement.
		bySeq := map[uint32]int{}
		var buf []byte
		end, lastAt := start, 0
		for end < len(reqs) && (end == start || len(buf) < maxSend && end-start < maxPerSend) {
			r := reqs[end]
			r.Seq = atomic.AddUint32(&sh.Seq, 1)
			r.Flags &^= unix.NLM_F_ACK
			bySeq[r.Seq] = end
			lastAt = len(buf)
			buf = append(buf, r.Serialize()...)
			end++
		}
		// nlmsghdr: len u32, type u16, flags u16 at offset 6.
		flags := binary.NativeEndian.Uint16(buf[lastAt+6:])
		binary.NativeEndian.PutUint16(buf[lastAt+6:], flags|unix.NLM_F_ACK)
		if err := unix.Sendto(s.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return errs, fmt.Errorf("netlink send: %w", err)
		}
		for done := false; !done; {
			msgs, from, err := s.Receive()
			if err != nil {
				return errs, fmt.Errorf("netlink receive: %w", err)
			}
			if from.Pid != vnl.PidKernel {
				continue
			}
			for _, m := range msgs {
				i, ours := bySeq[m.Header.Seq]
				if !ours || m.Header.Pid != pid || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
					continue
				}
				if errno := -int32(vnl.NativeEndian().Uint32(m.Data[:4])); errno != 0 {
					if errs == nil {
						errs = make([]error, len(reqs))
					}
					errs[i] = wrap[i](ackError(syscall.Errno(errno), m))
				}
				if i == end-1 {
					done = true
				}
			}
		}
		start = end
	}
	return errs, nil
}

// ackError is errno annotated with the kernel's extended message, if any.
func ackError(errno syscall.Errno, m syscall.NetlinkMessage) error {
	var err error = errno
	data := m.Data[4:]
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(data) < unix.SizeofNlMsghdr {
		return err
	}
	echo := (*unix.NlMsghdr)(unsafe.Pointer(&data[0]))
	data = data[min(len(data), align(int(echo.Len))):]
	if m.Header.Flags&unix.NLM_F_CAPPED != 0 {
		data = m.Data[4+unix.SizeofNlMsghdr:]
	}
	for len(data) >= unix.SizeofRtAttr {
		a := (*unix.RtAttr)(unsafe.Pointer(&data[0]))
		if int(a.Len) < unix.SizeofRtAttr || int(a.Len) > len(data) {
			break
		}
		if a.Type == vnl.NLMSGERR_ATTR_MSG {
			err = fmt.Errorf("%w: %s", errno, unix.ByteSliceToString(data[unix.SizeofRtAttr:a.Len]))
		}
		data = data[min(len(data), align(int(a.Len))):]
	}
	return err
}

func align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

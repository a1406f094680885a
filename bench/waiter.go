package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// freeWaiter tells when the kernel has freed namespaces (the method of
// lab/free.go and the baseline's `limit watch`): each watched namespace gets
// an NSID in the root namespace; the kernel sends RTM_DELNSID when a cleanup
// batch starts destroying it; once every watched one was announced, a
// sentinel namespace is made and dropped, and its own RTM_DELNSID can only
// come after the last batch has finished. The socket has a large receive
// buffer and is drained by a goroutine from the start, so that a burst of
// thousands of notices is not lost (ENOBUFS).
type freeWaiter struct {
	fd   int
	root *netlink.Handle

	mu      sync.Mutex
	pending map[int32]bool
	gone    map[int32]bool // announced, maybe before watch returned
	changed chan struct{}
	times   []time.Time // of each RTM_DELNSID, for batches
	stop    chan struct{}
	done    chan struct{}
}

func newFreeWaiter() (*freeWaiter, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("nsid waiter: socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nsid waiter: bind: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, unix.RTNLGRP_NSID); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nsid waiter: subscribe to RTNLGRP_NSID: %w", err)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	root, err := netlink.NewHandle()
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nsid waiter: %w", err)
	}
	w := &freeWaiter{fd: fd, root: root, pending: map[int32]bool{}, gone: map[int32]bool{},
		changed: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *freeWaiter) read() {
	defer close(w.done)
	buf := make([]byte, 1<<20)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			if err == unix.ENOBUFS {
				panic("nsid waiter: notices lost (ENOBUFS): the receive buffer is too small")
			}
			continue
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == unix.RTM_DELNSID {
				if id, ok := nsidOf(b[unix.NLMSG_HDRLEN:l]); ok {
					w.mu.Lock()
					w.gone[id] = true
					w.times = append(w.times, time.Now())
					w.mu.Unlock()
					select {
					case w.changed <- struct{}{}:
					default:
					}
				}
			}
			b = b[(l+3)&^3:]
		}
	}
}

// nsidOf reads NETNSA_NSID from an rtgenmsg (padded to 4) plus attributes.
func nsidOf(d []byte) (int32, bool) {
	if len(d) < 4 {
		return 0, false
	}
	for a := d[4:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		typ := binary.NativeEndian.Uint16(a[2:])
		if l < 4 || l > len(a) {
			return 0, false
		}
		if typ == unix.NETNSA_NSID && l >= 8 {
			return int32(binary.NativeEndian.Uint32(a[4:])), true
		}
		a = a[(l+3)&^3:]
	}
	return 0, false
}

// watch gives h an NSID in the root namespace (if it has none) and watches
// it. The caller closes h before the teardown, so as not to pin it.
func (w *freeWaiter) watch(h vnetns.NsHandle) error {
	id, err := w.root.GetNetNsIdByFd(int(h))
	if err != nil || id < 0 {
		if err := w.root.SetNetNsIdByFd(int(h), -1); err != nil {
			return fmt.Errorf("assign nsid: %w", err)
		}
		if id, err = w.root.GetNetNsIdByFd(int(h)); err != nil || id < 0 {
			return fmt.Errorf("read nsid back: %v", err)
		}
	}
	w.mu.Lock()
	w.pending[int32(id)] = true
	// The kernel reuses the lowest free NSID: the sentinel usually gets the
	// id of a namespace already announced, which must not count for it.
	delete(w.gone, int32(id))
	w.mu.Unlock()
	return nil
}

// left counts the watched namespaces not yet announced.
func (w *freeWaiter) left() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id := range w.pending {
		if !w.gone[id] {
			n++
		}
	}
	return n
}

// wait returns once every watched namespace and then the sentinel were
// announced, or fails after limit.
func (w *freeWaiter) wait(ctx context.Context, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	sentinel := false
	for {
		if w.left() == 0 {
			if sentinel {
				return nil
			}
			h, err := nsthread.Unshare(nil)
			if err != nil {
				return fmt.Errorf("sentinel namespace: %w", err)
			}
			err = w.watch(h)
			h.Close()
			if err != nil {
				return fmt.Errorf("sentinel namespace: %w", err)
			}
			sentinel = true
			continue
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("the kernel did not free %d namespaces within %s", w.left(), limit)
		}
	}
}

func (w *freeWaiter) close() {
	close(w.stop)
	<-w.done
	unix.Close(w.fd)
	w.root.Close()
}

// batches describes the kernel's cleanup batches as seen in the notices:
// the kernel announces every namespace of a batch at its start, in one
// burst, so notices less than 2 ms apart are counted as one batch. Each is
// printed as its start after t1 and its size; the last is the sentinel's.
// It shows, for one teardown, when the kernel started freeing what.
func (w *freeWaiter) batches(t1 time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	var start, last time.Time
	n := 0
	flush := func() {
		if n > 0 {
			fmt.Fprintf(&b, " +%.0fms×%d", float64(start.Sub(t1).Microseconds())/1000, n)
		}
	}
	for _, t := range w.times {
		if n > 0 && t.Sub(last) > 2*time.Millisecond {
			flush()
			n = 0
		}
		if n == 0 {
			start = t
		}
		n++
		last = t
	}
	flush()
	return b.String()
}

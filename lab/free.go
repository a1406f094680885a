package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/netns"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// freeWaiter waits until the kernel has freed namespaces, not just their
// names. Each watched namespace gets an NSID in the caller's namespace; the
// kernel announces RTM_DELNSID when it starts destroying it. Destruction is
// batched on one ordered work queue, so once every watched namespace has been
// announced, one more (a sentinel) is made and dropped: its announcement
// can only come after the last batch has finished.
type freeWaiter struct {
	s    *session
	sock *nl.NetlinkSocket

	mu      sync.Mutex
	pending map[int32]bool
}

func newFreeWaiter(s *session) (*freeWaiter, error) {
	sock, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_NSID)
	if err != nil {
		return nil, fmt.Errorf("subscribe to namespace id events: %w", err)
	}
	return &freeWaiter{s: s, sock: sock, pending: map[int32]bool{}}, nil
}

// watch gives the named namespace an NSID, if it has none, and watches it.
func (w *freeWaiter) watch(name string) {
	h, err := netns.Open(name)
	if err != nil {
		return
	}
	defer h.Close()
	w.watchHandle(h)
}

func (w *freeWaiter) watchHandle(h vnetns.NsHandle) {
	id, err := w.s.root.GetNetNsIdByFd(int(h))
	if err != nil || id < 0 {
		if err := w.s.root.SetNetNsIdByFd(int(h), -1); err != nil {
			return
		}
		if id, err = w.s.root.GetNetNsIdByFd(int(h)); err != nil || id < 0 {
			return
		}
	}
	w.mu.Lock()
	w.pending[int32(id)] = true
	w.mu.Unlock()
}

// wait returns when every watched namespace has been freed.
func (w *freeWaiter) wait(ctx context.Context, limit time.Duration) error {
	defer w.sock.Close()
	deadline := time.Now().Add(limit)
	sentinel := int32(-1)
	for {
		w.mu.Lock()
		left := len(w.pending)
		w.mu.Unlock()
		if left == 0 {
			if sentinel >= 0 {
				return nil
			}
			// Every batch holding ours has started: queue the sentinel.
			h, err := nsthread.Unshare(nil)
			if err != nil {
				return nil
			}
			id := -1
			if err := w.s.root.SetNetNsIdByFd(int(h), -1); err == nil {
				id, _ = w.s.root.GetNetNsIdByFd(int(h))
			}
			h.Close()
			if id < 0 {
				return nil
			}
			sentinel = int32(id)
			w.mu.Lock()
			w.pending[sentinel] = true
			w.mu.Unlock()
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		remain := time.Until(deadline)
		if remain <= 0 {
			return fmt.Errorf("the kernel did not free %d namespaces within %s", left, limit)
		}
		tv := unix.NsecToTimeval(min(remain, 200*time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(w.sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		msgs, _, err := w.sock.Receive()
		if err != nil {
			continue // timeout (EAGAIN) or interrupted: look at ctx and the deadline
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_DELNSID || len(m.Data) < 4 {
				continue
			}
			attrs, err := nl.ParseRouteAttr(m.Data[4:])
			if err != nil {
				continue
			}
			for _, a := range attrs {
				if a.Attr.Type == unix.NETNSA_NSID && len(a.Value) >= 4 {
					id := int32(binary.NativeEndian.Uint32(a.Value))
					w.mu.Lock()
					delete(w.pending, id)
					w.mu.Unlock()
				}
			}
		}
	}
}

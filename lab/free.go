package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/internal/quiet"
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
//
// The announcements come in bursts (a thousand at once), so the socket gets
// a large buffer and is drained by a goroutine from the start. If the
// kernel still drops some (ENOBUFS), the sentinel alone decides: it is
// queued once no announcement arrived for a while.
type freeWaiter struct {
	s    *session
	sock *nl.NetlinkSocket

	mu       sync.Mutex
	pending  map[int32]bool
	overflow bool
	last     time.Time
	changed  chan struct{}
	done     chan struct{}
	next     atomic.Int32   // the next NSID watchHandle proposes
	seen     func(id int32) // if set, called (under mu) for each notice: tests
}

func newFreeWaiter(s *session) (*freeWaiter, error) {
	sock, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_NSID)
	if err != nil {
		return nil, fmt.Errorf("subscribe to namespace id events: %w", err)
	}
	if err := unix.SetsockoptInt(sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		unix.SetsockoptInt(sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(sock.GetFd(), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	w := &freeWaiter{s: s, sock: sock, pending: map[int32]bool{}, last: time.Now(),
		changed: make(chan struct{}, 1), done: make(chan struct{})}
	go w.read()
	return w, nil
}

// read drains the socket until wait returns.
func (w *freeWaiter) read() {
	for {
		select {
		case <-w.done:
			return
		default:
		}
		msgs, _, err := w.sock.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				w.mu.Lock()
				w.overflow = true
				w.mu.Unlock()
				w.poke()
			}
			continue // a timeout: look at done
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
					if w.seen != nil {
						w.seen(id)
					}
					delete(w.pending, id)
					w.last = time.Now()
					w.mu.Unlock()
				}
			}
		}
		w.poke()
	}
}

func (w *freeWaiter) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// nsidBase is where the NSIDs watchHandle proposes start, per process:
// far above the ones the kernel hands out (the lowest free), and apart for
// two nslab processes at once. A proposal that is taken only costs the
// slower way.
var nsidBase = int32(1<<28 + os.Getpid()%(1<<16)*(1<<12))

// watchHandle gives h an NSID in the root namespace and waits for it. It
// proposes one (a single request, where asking the kernel to choose one and
// reading it back takes three; a 1000-router line's plain `nslab down` spent
// ~90 ms in them), and falls back to reading the NSID h already has or to
// the kernel's choice.
func (w *freeWaiter) watchHandle(h vnetns.NsHandle) int32 {
	id := w.nsid(h)
	if id >= 0 {
		w.mu.Lock()
		w.pending[id] = true
		w.mu.Unlock()
	}
	return id
}

// nsid gives h an NSID in the root namespace (see watchHandle), or returns
// -1.
func (w *freeWaiter) nsid(h vnetns.NsHandle) int32 {
	if id := nsidBase + w.next.Add(1) - 1; w.s.root.SetNetNsIdByFd(int(h), int(id)) == nil {
		return id
	}
	id, err := w.s.root.GetNetNsIdByFd(int(h))
	if err != nil || id < 0 {
		if err := w.s.root.SetNetNsIdByFd(int(h), -1); err != nil {
			return -1
		}
		if id, err = w.s.root.GetNetNsIdByFd(int(h)); err != nil || id < 0 {
			return -1
		}
	}
	return int32(id)
}

// wait returns when every watched namespace has been freed.
func (w *freeWaiter) wait(ctx context.Context, limit time.Duration) error {
	defer func() {
		close(w.done)
		w.sock.Close()
	}()
	deadline := time.Now().Add(limit)
	sentinel := int32(-1)
	for {
		w.mu.Lock()
		left := len(w.pending)
		quiet := w.overflow && time.Since(w.last) > 200*time.Millisecond
		sentinelDone := sentinel >= 0 && !w.pending[sentinel]
		w.mu.Unlock()
		if sentinelDone {
			return nil
		}
		if sentinel < 0 && (left == 0 || quiet) {
			// Every batch holding ours has started (or, after an overflow,
			// no announcement came for a while): queue the sentinel.
			h, err := nsthread.Unshare(nil)
			if err != nil {
				return nil
			}
			sentinel = w.watchHandle(h)
			h.Close()
			if sentinel < 0 {
				return nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		remain := time.Until(deadline)
		if remain <= 0 {
			return fmt.Errorf("the kernel did not free %d namespaces within %s", left, limit)
		}
		select {
		case <-w.changed:
		case <-time.After(min(remain, 100*time.Millisecond)):
		case <-ctx.Done():
		}
	}
}

// pinSet holds namespaces open while a lab's names are removed, and lets go
// of them all at once at the end.
//
// Removing a name unmounts it, and each unmount waits for an expedited RCU
// grace period, which is short while the other CPU is idle. As soon as
// namespaces are freed, the kernel's cleanup worker runs on that CPU and
// stretches those waits (about 50 µs to 200-400 µs each on the 2-CPU
// benchmark machine). Holding the namespaces until all names are gone keeps
// the cleanup from starting during the loop: a 1000-host star's names went in
// 0.07 s instead of 0.24 s (bench/PROFILE.md, fourth and sixth passes).
//
// The kernel frees namespaces in batches: its one cleanup worker takes every
// namespace dropped by the time it runs, and a batch, however small, spends
// 30-50 ms in grace-period waits besides its work. Letting go of a thousand
// handles takes a few milliseconds, and a worker woken by the first close
// takes only the few closed by then; the rest wait for that batch to end.
// So the release runs with every CPU held by a real-time thread of nslab's
// (package quiet), and the worker wakes to all of them: one batch, started
// the moment the loop ends (bench/PROFILE.md, fourteenth pass: for the
// 1000-router line one batch instead of two or three, starting 55 ms after
// the command instead of 66, medians of 24 teardowns; `ip -batch` 50).
//
// Where the CPUs cannot be held (no CAP_SYS_NICE, more than quiet.MaxCPUs
// CPUs, fewer Go processors than CPUs), down does what comes closest: it
// lets go of the first namespace as soon as its name is gone (early), which
// starts a first batch of one while the loop runs, and then of one more every
// keepBusy, so that the worker is still busy when the rest are let go of and
// takes them all when it ends, instead of waking to the first few
// (thirteenth pass).
type pinSet struct {
	mu    sync.Mutex
	hs    []vnetns.NsHandle
	limit int           // descriptors it may keep open
	early int           // handles still to close at once
	every time.Duration // let go of one more handle this often (0: never)
	last  time.Time     // when one was last let go of
}

// earlyRelease is how many namespaces down lets go of at once when it
// cannot hold the CPUs for the release (see pinSet).
const earlyRelease = 1

// keepBusy is how often down lets go of one more namespace while its loop
// runs when it cannot hold the CPUs for the release, so that the kernel's
// cleanup worker is never idle when the loop ends (see pinSet). It must be
// shorter than a batch's grace periods (30-50 ms).
const keepBusy = 20 * time.Millisecond

func newPinSet() *pinSet {
	p := &pinSet{limit: 1024}
	if !quiet.Possible() {
		p.early, p.every = earlyRelease, keepBusy
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur > 512 {
		// Leave room for everything else the process opens.
		p.limit = int(min(rl.Cur-256, 1<<20))
	}
	return p
}

// hold keeps h open until release, or closes it at once if it is one of
// the first p.early, the first for p.every, or the set is full.
func (p *pinSet) hold(h vnetns.NsHandle) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.early > 0 {
		p.early--
		p.last = time.Now()
		h.Close()
		return
	}
	if p.every > 0 {
		if now := time.Now(); now.Sub(p.last) >= p.every {
			p.last = now
			h.Close()
			return
		}
	}
	if len(p.hs) >= p.limit {
		h.Close()
		return
	}
	p.hs = append(p.hs, h)
}

// release closes every held handle, with the CPUs held (see pinSet).
func (p *pinSet) release() {
	p.mu.Lock()
	hs := p.hs
	p.hs = nil
	p.mu.Unlock()
	quiet.Run(func() {
		for _, h := range hs {
			h.Close()
		}
	})
}

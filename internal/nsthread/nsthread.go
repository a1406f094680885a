// Package nsthread is the only place in nslab that switches an OS thread into
// another network namespace.
//
// A network namespace belongs to an OS thread, not to a goroutine. Every
// function here runs its work on a fresh goroutine locked to its thread, and
// unlocks that thread only after it has been put back in the namespace it
// started in. When the restore fails, the goroutine exits still locked, and the
// Go runtime terminates the thread instead of handing it to another goroutine
// (see "Namespaces, Threads, and Go" in containernetworking/plugins pkg/ns).
//
// Code inside fn must not start goroutines that expect to run in the
// namespace: they run on other threads, in the caller's namespace. Sockets,
// files under /proc/sys/net and child processes created inside fn do keep the
// namespace.
package nsthread

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn with the calling OS thread in the network namespace ns and
// returns fn's error. ns is not closed.
func Do(ns vnetns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := vnetns.Get() // opens /proc/<pid>/task/<tid>/ns/net of this locked thread
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current thread's netns: %w", err)
			return
		}
		defer origin.Close()
		if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(origin), unix.CLONE_NEWNET); err != nil {
			// The thread is poisoned: keep it locked so the runtime
			// terminates it when this goroutine returns.
			errc <- fmt.Errorf("restore netns: %w (thread discarded)", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Unshare creates a new network namespace on a locked thread, runs fn in it
// (fn may be nil) and returns a handle to the namespace, which the caller must
// close. The thread is then put back in its own namespace and unlocked; if
// that fails it stays locked and dies with its goroutine. (Relying on thread
// death alone is not enough: when the goroutine happens to run on the main
// thread, the runtime wedges that thread instead of ending it, and it would
// stay in the new namespace, keeping it alive.) The namespace lives while the
// handle (or any other reference, such as a bind mount made by fn) does.
func Unshare(fn func(ns vnetns.NsHandle) error) (vnetns.NsHandle, error) {
	h := vnetns.None()
	err := UnshareEach(1, 1, nil, func(_ int, ns vnetns.NsHandle) error {
		if fn != nil {
			if err := fn(ns); err != nil {
				ns.Close()
				return err
			}
		}
		h = ns
		return nil
	})
	if err != nil {
		if h.IsOpen() { // fn ran, the thread could not go back
			h.Close()
		}
		return vnetns.None(), err
	}
	return h, nil
}

// ThreadNetNSPath is the path of the calling thread's network namespace file.
// It is only meaningful while the caller is locked to its OS thread.
func ThreadNetNSPath() string {
	return fmt.Sprintf("/proc/%d/task/%d/ns/net", unix.Getpid(), unix.Gettid())
}

func openThreadNetNS() (vnetns.NsHandle, error) {
	p := ThreadNetNSPath()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return vnetns.None(), fmt.Errorf("open %s: %w", p, err)
	}
	return vnetns.NsHandle(fd), nil
}

// UnshareEach creates n new network namespaces on w locked threads (at
// least 1) and calls fn(i, ns) on the thread that is inside namespace i, for
// i in [0, n), each i exactly once unless the work stops early. fn owns ns:
// it must close it or keep it. A thread enters one new namespace after
// another without going back in between (that is what makes it cheaper than
// n calls to Unshare); it goes back to where it started once at the end, and
// is discarded if that fails.
//
// The work stops at the first error from unshare or fn, or when stop
// returns true (stop may be nil; it is checked before each namespace);
// namespaces whose fn already ran are the caller's. UnshareEach returns the
// first error (the other threads stop at their next namespace).
func UnshareEach(n, w int, stop func() bool, fn func(i int, ns vnetns.NsHandle) error) error {
	var next atomic.Int64
	w = max(1, min(w, n))
	errc := make(chan error, w)
	for range w {
		go func() {
			runtime.LockOSThread()
			origin, err := openThreadNetNS()
			if err != nil {
				runtime.UnlockOSThread()
				next.Store(int64(n))
				errc <- err
				return
			}
			defer origin.Close()
			var ferr error
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					break
				}
				if stop != nil && stop() {
					next.Store(int64(n))
					break
				}
				if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
					ferr = fmt.Errorf("unshare network namespace: %w", err)
				} else if h, err := openThreadNetNS(); err != nil {
					ferr = err
				} else {
					ferr = fn(i, h)
				}
				if ferr != nil {
					next.Store(int64(n))
					break
				}
			}
			if err := unix.Setns(int(origin), unix.CLONE_NEWNET); err != nil {
				// Poisoned: stay locked, the thread ends with this goroutine.
				errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w (thread discarded)", err))
				return
			}
			runtime.UnlockOSThread()
			errc <- ferr
		}()
	}
	var first error
	for range w {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Package quiet runs a short function while no other task can run on the
// process's CPUs.
//
// nslab uses it to let go of a lab's namespaces at once. The kernel frees
// namespaces in batches: its one cleanup worker takes every namespace
// dropped by the time it runs. A thousand closes take a few milliseconds,
// and a worker woken by the first would take only the few dropped by then;
// the rest would wait for that batch's 30-50 ms of grace periods and pay
// them again. With every CPU held by a real-time thread of nslab's, the
// worker (an ordinary kernel thread) runs only once the last close is done,
// and takes them all in one batch.
package quiet

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxCPUs is the most CPUs Run holds: holding one costs a spinning thread
// for as long as f runs. On larger machines Run just calls f.
const MaxCPUs = 16

// readyWithin bounds the wait for the spinning threads to start (well
// under 1 ms when the machine is not busy).
const readyWithin = 20 * time.Millisecond

// Run calls f while every CPU the process may use is held by a SCHED_FIFO
// thread of its own, the caller's goroutine on one of them, and reports
// whether they were all held. Without CAP_SYS_NICE, with more than MaxCPUs
// CPUs or fewer Go processors than CPUs, it just calls f. f must be short
// (milliseconds) and must not wait for another goroutine: only the caller's
// goroutine runs meanwhile, and ordinary threads, the kernel's included, do
// not run at all.
func Run(f func()) bool {
	mask, cpus, ok := usable()
	if !ok {
		f()
		return false
	}
	runtime.LockOSThread()
	here, err := pin(cpus)
	if err != nil {
		runtime.UnlockOSThread()
		f()
		return false
	}
	// One spinner per other CPU, each pinned there first, so that no two
	// real-time threads compete for one CPU while another idles.
	var (
		stop  atomic.Bool
		ready atomic.Int32
		wg    sync.WaitGroup
	)
	others := 0
	for _, c := range cpus {
		if c == here {
			continue
		}
		others++
		wg.Go(func() {
			runtime.LockOSThread()
			restore, err := hold(mask, c)
			if err != nil {
				ready.Add(-MaxCPUs)
				if restore == nil || restore() == nil {
					runtime.UnlockOSThread()
				}
				return
			}
			ready.Add(1)
			for !stop.Load() {
			}
			if restore() == nil {
				runtime.UnlockOSThread()
			} // else the thread ends with the goroutine
		})
	}
	// Spin, as an ordinary thread, until the spinners hold their CPUs: a
	// spinner that cannot start only means that the worker may run early.
	deadline := time.Now().Add(readyWithin)
	for r := ready.Load(); r >= 0 && r < int32(others) && time.Now().Before(deadline); r = ready.Load() {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) // a spinner may be waiting for this CPU
	}
	held := ready.Load() == int32(others)
	restore, err := hold(mask, here)
	held = held && err == nil
	if restore == nil { // nothing changed but the pinning
		restore = func() error { return unix.SchedSetaffinity(0, &mask) }
	}
	defer func() { // even if f panics: the spinners stop, the thread is put back
		stop.Store(true)
		if restore() == nil {
			runtime.UnlockOSThread()
		} // else the thread ends with the goroutine
		wg.Wait()
	}()
	f()
	return held
}

// usable returns the process's CPUs, and whether Run could hold them all
// (not too many, and a Go processor for each).
func usable() (unix.CPUSet, []int, bool) {
	var mask unix.CPUSet
	if unix.SchedGetaffinity(0, &mask) != nil {
		return mask, nil, false
	}
	var cpus []int
	for c := 0; c < len(mask)*64 && len(cpus) <= MaxCPUs; c++ {
		if mask.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	ok := len(cpus) > 0 && len(cpus) <= MaxCPUs && len(cpus) <= runtime.GOMAXPROCS(0)
	return mask, cpus, ok
}

// Possible reports whether Run would hold every CPU: the process may use
// at most MaxCPUs CPUs, has a Go processor for each, and may make a thread
// SCHED_FIFO (CAP_SYS_NICE, which user namespaces do not give). It tries
// that on the calling thread and puts it back.
func Possible() bool {
	if _, _, ok := usable(); !ok {
		return false
	}
	runtime.LockOSThread()
	old, err := realtime()
	if err != nil {
		runtime.UnlockOSThread()
		return false
	}
	if unix.SchedSetAttr(0, old, 0) == nil {
		runtime.UnlockOSThread()
	} // else the thread ends with the goroutine
	return true
}

// realtime makes the calling thread SCHED_FIFO at the lowest real-time
// priority and returns its scheduling attributes from before.
func realtime() (*unix.SchedAttr, error) {
	old, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return nil, err
	}
	return old, unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}, 0)
}

// pin pins the calling thread to the CPU it runs on, if that is one of
// cpus, and returns it.
func pin(cpus []int) (int, error) {
	var c [1]uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c[0])), 0, 0); e != 0 {
		return -1, e
	}
	here := cpus[0]
	for _, x := range cpus {
		if x == int(c[0]) {
			here = x
		}
	}
	var one unix.CPUSet
	one.Set(here)
	return here, unix.SchedSetaffinity(0, &one)
}

// hold pins the calling thread to cpu and makes it SCHED_FIFO at the lowest
// real-time priority. It returns how to undo both (back to the affinity
// mask), or nil if there is nothing to undo.
func hold(mask unix.CPUSet, cpu int) (func() error, error) {
	// Real-time first: the thread then preempts any ordinary task, here and
	// on cpu, where it moves next.
	old, err := realtime()
	if old == nil {
		return nil, err
	}
	restore := func() error {
		if err := unix.SchedSetAttr(0, old, 0); err != nil {
			return err
		}
		return unix.SchedSetaffinity(0, &mask)
	}
	if err != nil {
		return restore, err
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return restore, err
	}
	return restore, nil
}

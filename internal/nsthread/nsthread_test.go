package nsthread_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Keep the main goroutine on the process's first thread (m0). The Go runtime
// never terminates m0: a goroutine that exits locked on it wedges it instead,
// so a discarded thread must never be m0. nslab's main does the same.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// startNS is the namespace the test binary started in, as the kernel names
// it ("net:[4026531840]"). The main thread never leaves it.
func startNS(t *testing.T) string {
	t.Helper()
	s, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("read own netns: %v", err)
	}
	return s
}

// nsName is the kernel's name of the namespace behind h ("net:[inode]").
func nsName(t testing.TB, h vnetns.NsHandle) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		t.Fatalf("fstat netns fd: %v", err)
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// threadNS returns the namespace of the calling thread; call it locked.
func threadNS() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

// foreignThreads lists the threads of this process that are not in want.
func foreignThreads(t *testing.T, want string) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatalf("list threads: %v", err)
	}
	var out []string
	for _, task := range tasks {
		got, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err == nil && got != want {
			out = append(out, fmt.Sprintf("thread %s in %s", task.Name(), got))
		}
	}
	return out
}

// checkNoPoisonedThread proves that the scheduler hands out only threads in
// the starting namespace: many fresh goroutines lock a thread each (so they
// are spread over as many threads as the runtime has) and look where they are,
// and every thread of the process is inspected through /proc/self/task.
func checkNoPoisonedThread(t *testing.T, start string) {
	t.Helper()
	const n = 500
	var wg, ready, release sync.WaitGroup
	ready.Add(n)
	release.Add(1)
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			got, err := threadNS()
			if err != nil {
				errs <- err.Error()
			} else if got != start {
				errs <- fmt.Sprintf("goroutine got a thread (tid %d) in %s, want %s", unix.Gettid(), got, start)
			}
			ready.Done()
			release.Wait() // hold the thread so that the others need their own
		})
	}
	ready.Wait()
	release.Done()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if f := foreignThreads(t, start); len(f) > 0 {
		t.Errorf("threads outside %s: %s", start, strings.Join(f, ", "))
	}
}

func TestDoRunsInTheNamespace(t *testing.T) {
	ns := nslabtest.NewNS(t)
	want := nsName(t, ns)
	start := startNS(t)
	var got string
	err := nsthread.Do(ns, func() error {
		var err error
		got, err = threadNS()
		return err
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if got != want {
		t.Errorf("fn ran in %s, want %s", got, want)
	}
	if got == start {
		t.Errorf("fn ran in the starting namespace %s", start)
	}
}

func TestDoReturnsFnError(t *testing.T) {
	ns := nslabtest.NewNS(t)
	sentinel := errors.New("nslt sentinel")
	if err := nsthread.Do(ns, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do = %v, want %v", err, sentinel)
	}
}

func TestDoRefusesNonNamespace(t *testing.T) {
	nslabtest.RequireRoot(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ran := false
	err = nsthread.Do(vnetns.NsHandle(f.Fd()), func() error { ran = true; return nil })
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("Do(/dev/null) = %v, want EINVAL", err)
	}
	if ran {
		t.Error("fn ran although setns failed")
	}
	checkNoPoisonedThread(t, startNS(t))
}

// Goroutines started inside fn run on other threads, in the caller's
// namespace, as the package documentation warns.
func TestDoGoroutinesStayOutside(t *testing.T) {
	ns := nslabtest.NewNS(t)
	start := startNS(t)
	var inner string
	var innerErr error
	err := nsthread.Do(ns, func() error {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			inner, innerErr = threadNS()
		}()
		<-done
		return nil
	})
	if err != nil || innerErr != nil {
		t.Fatalf("Do: %v, %v", err, innerErr)
	}
	if inner != start {
		t.Errorf("goroutine started inside fn ran in %s, want the caller's %s", inner, start)
	}
}

// TestDoStorm sends thousands of goroutines into different namespaces at once;
// each checks, from inside fn, that its thread is where it asked to be. Then
// no thread may be left outside the starting namespace.
func TestDoStorm(t *testing.T) {
	const spaces, goroutines = 16, 2000
	start := startNS(t)
	nss := make([]vnetns.NsHandle, spaces)
	want := make([]string, spaces)
	for i := range nss {
		nss[i] = nslabtest.NewNS(t)
		want[i] = nsName(t, nss[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for i := range goroutines {
		wg.Go(func() {
			k := i % spaces
			err := nsthread.Do(nss[k], func() error {
				got, err := threadNS()
				if err != nil {
					return err
				}
				if got != want[k] {
					return fmt.Errorf("goroutine %d asked for %s and is in %s", i, want[k], got)
				}
				runtime.Gosched() // let the others interleave
				return nil
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... and %d more errors", n-10)
	}
	checkNoPoisonedThread(t, start)
}

// TestDoDiscardsThreadWhenRestoreFails makes the restore fail for real: fn
// drops CAP_SYS_ADMIN from its own thread (capabilities are per thread), so
// setns back to the caller's namespace is refused. Do must report it and the
// thread must die instead of going back to the scheduler in the namespace.
func TestDoDiscardsThreadWhenRestoreFails(t *testing.T) {
	ns := nslabtest.NewNS(t)
	start := startNS(t)
	tid := 0
	err := nsthread.Do(ns, func() error {
		tid = unix.Gettid()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capget: %w", err)
		}
		data[unix.CAP_SYS_ADMIN/32].Effective &^= 1 << (unix.CAP_SYS_ADMIN % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		return nil
	})
	if err == nil {
		t.Fatal("Do returned nil although the thread could not go back")
	}
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "restore") {
		t.Errorf("Do = %v, want a restore error wrapping EPERM", err)
	}
	// The locked goroutine has returned: the runtime ends its thread.
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("thread %d still exists 5s after a failed restore", tid)
			break
		}
		runtime.Gosched()
	}
	checkNoPoisonedThread(t, start)
}

func TestUnshare(t *testing.T) {
	nslabtest.RequireRoot(t)
	start := startNS(t)
	var inFn string
	h, err := nsthread.Unshare(func(ns vnetns.NsHandle) error {
		var err error
		inFn, err = threadNS()
		return err
	})
	if err != nil {
		t.Fatalf("Unshare: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	got := nsName(t, h)
	if got == start {
		t.Errorf("Unshare returned the starting namespace %s", start)
	}
	if inFn != got {
		t.Errorf("fn ran in %s, the handle is %s", inFn, got)
	}
	sentinel := errors.New("nslt setup failed")
	h2, err := nsthread.Unshare(func(vnetns.NsHandle) error { return sentinel })
	if !errors.Is(err, sentinel) {
		t.Errorf("Unshare with failing fn = %v, want %v", err, sentinel)
	}
	if h2.IsOpen() {
		h2.Close()
		t.Error("Unshare returned an open handle together with an error")
	}
	checkNoPoisonedThread(t, start)
}

func TestThreadNetNSPath(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, err := os.Readlink(nsthread.ThreadNetNSPath())
	if err != nil {
		t.Fatal(err)
	}
	b, err := threadNS()
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("ThreadNetNSPath shows %s, /proc/thread-self shows %s", a, b)
	}
}

// UnshareEach gives every index its own fresh namespace, on threads that
// end up back where they started.
func TestUnshareEach(t *testing.T) {
	nslabtest.RequireRoot(t)
	start := startNS(t)
	const n = 40
	var mu sync.Mutex
	seen := map[string]int{}
	err := nsthread.UnshareEach(n, 3, nil, func(i int, ns vnetns.NsHandle) error {
		defer ns.Close()
		in, err := threadNS()
		if err != nil {
			return err
		}
		if got := nsName(t, ns); got != in {
			return fmt.Errorf("index %d: handle is %s, thread is in %s", i, got, in)
		}
		mu.Lock()
		defer mu.Unlock()
		if j, dup := seen[in]; dup {
			return fmt.Errorf("indexes %d and %d got the same namespace %s", j, i, in)
		}
		seen[in] = i
		return nil
	})
	if err != nil {
		t.Fatalf("UnshareEach: %v", err)
	}
	if len(seen) != n {
		t.Errorf("fn ran for %d indexes, want %d", len(seen), n)
	}
	if _, ok := seen[start]; ok {
		t.Errorf("an index ran in the starting namespace %s", start)
	}
	checkNoPoisonedThread(t, start)
}

// UnshareEach stops at the first error and at stop, and says which error.
func TestUnshareEachStops(t *testing.T) {
	nslabtest.RequireRoot(t)
	start := startNS(t)
	sentinel := errors.New("nslt index 5 refused")
	var ran atomic.Int64
	fail5 := func(i int, ns vnetns.NsHandle) error {
		ns.Close()
		ran.Add(1)
		if i == 5 {
			return sentinel
		}
		return nil
	}
	// One thread: indexes 0 to 5, then nothing.
	if err := nsthread.UnshareEach(100, 1, nil, fail5); !errors.Is(err, sentinel) {
		t.Errorf("UnshareEach = %v, want %v", err, sentinel)
	}
	if r := ran.Load(); r != 6 {
		t.Errorf("fn ran %d times with one thread and an error at index 5, want 6", r)
	}
	// Two threads: the other one stops too (how soon depends on scheduling).
	ran.Store(0)
	if err := nsthread.UnshareEach(1000, 2, nil, fail5); !errors.Is(err, sentinel) {
		t.Errorf("UnshareEach = %v, want %v", err, sentinel)
	}
	if r := ran.Load(); r >= 1000 {
		t.Errorf("fn ran for all %d indexes despite the error at index 5", r)
	}
	ran.Store(0)
	err := nsthread.UnshareEach(100, 2, func() bool { return ran.Load() >= 3 }, func(i int, ns vnetns.NsHandle) error {
		ns.Close()
		ran.Add(1)
		return nil
	})
	if err != nil {
		t.Errorf("UnshareEach stopped by stop = %v, want nil", err)
	}
	if r := ran.Load(); r < 3 || r > 4 {
		t.Errorf("fn ran %d times, want it stopped after 3 (+1 in flight)", r)
	}
	checkNoPoisonedThread(t, start)
}

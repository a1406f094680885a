package lab

import (
	"slices"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/internal/quiet"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newTestWaiter returns a session in the root namespace and a freeWaiter on
// it; the session is closed when the test ends.
func newTestWaiter(t *testing.T) (*session, *freeWaiter) {
	t.Helper()
	nslabtest.RequireRoot(t)
	s, err := newSession("", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	w, err := newFreeWaiter(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// A pinned namespace outlives its name until release; the first ones (early)
// and one over the set's limit are not pinned and are freed as soon as their
// names are gone.
func TestPinSetHoldsNamespacesUntilRelease(t *testing.T) {
	_, w := newTestWaiter(t)
	p := newPinSet()
	early, every := 0, time.Duration(0) // the release holds the CPUs
	if !quiet.Possible() {
		early, every = earlyRelease, keepBusy
	}
	if p.early != early {
		t.Fatalf("a new set lets go of the first %d, want %d", p.early, early)
	}
	if p.every != every {
		t.Fatalf("a new set lets go of one more every %v, want %v", p.every, every)
	}
	p.early, p.limit, p.every = 1, 2, 0
	defer p.release()
	var (
		ids   []int32
		names []string
	)
	for range 4 {
		name := nslabtest.Name(t, 20)
		h, err := netns.Create(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
		t.Cleanup(func() {
			if netns.Exists(name) {
				netns.Delete(name)
			}
		})
		ph, err := netns.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		id := w.watchHandle(ph)
		if id < 0 {
			ph.Close()
			t.Fatalf("netns %s: no NSID", name)
		}
		ids = append(ids, id)
		p.hold(ph)
		names = append(names, name)
	}
	// Names go once all are watched: a namespace freed earlier would give
	// its NSID to the next one.
	for _, name := range names {
		if err := netns.Delete(name); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.hs) != 2 {
		t.Fatalf("pinned %d namespaces, want the limit, 2", len(p.hs))
	}
	pending := func(id int32) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.pending[id]
	}
	// The first and the fourth were closed at once: the kernel frees them.
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range []int32{ids[0], ids[3]} {
		for pending(id) {
			if time.Now().After(deadline) {
				t.Fatalf("an unpinned namespace (NSID %d) was not freed within 20 s", id)
			}
			select {
			case <-w.changed:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// The pinned two are alive and usable, their names gone.
	for i, h := range p.hs {
		id := ids[i+1]
		if !pending(id) {
			t.Errorf("pinned namespace (NSID %d) was freed before release", id)
		}
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			t.Fatalf("pinned namespace (NSID %d): %v", id, err)
		}
		if _, err := nh.LinkByName("lo"); err != nil {
			t.Errorf("pinned namespace (NSID %d): lo: %v", id, err)
		}
		nh.Close()
	}
	p.release()
	if len(p.hs) != 0 {
		t.Errorf("release left %d handles", len(p.hs))
	}
	if err := w.wait(t.Context(), 20*time.Second); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// Where the CPUs cannot be held for the release, the set lets go of the
// first handle and then of one more whenever p.every has passed since the
// last, and keeps the others.
func TestPinSetLetsGoOfOneEvery(t *testing.T) {
	open := func() vnetns.NsHandle {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return vnetns.NsHandle(fd)
	}
	isOpen := func(h vnetns.NsHandle) bool {
		_, err := unix.FcntlInt(uintptr(h), unix.F_GETFD, 0)
		return err == nil
	}
	for _, tc := range []struct {
		every time.Duration
		want  []bool // closed at once, with p.every passing before the third
	}{
		{every: 0, want: []bool{true, false, false, false}},
		{every: time.Minute, want: []bool{true, false, true, false}},
	} {
		p := newPinSet()
		p.early, p.every = earlyRelease, tc.every
		var got []bool
		for i := range tc.want {
			if i == 2 {
				p.last = p.last.Add(-time.Minute) // as if a minute had passed
			}
			h := open()
			p.hold(h)
			got = append(got, !isOpen(h))
		}
		held := len(p.hs)
		p.release()
		if !slices.Equal(got, tc.want) {
			t.Errorf("every %v: closed at once %v, want %v", tc.every, got, tc.want)
		}
		wantHeld := 0
		for _, closed := range tc.want {
			if !closed {
				wantHeld++
			}
		}
		if held != wantHeld {
			t.Errorf("every %v: held %d, want %d", tc.every, held, wantHeld)
		}
	}
}

// The release lets go of every held namespace while the CPUs are held, so
// that the kernel's cleanup worker wakes to all of them: their NSIDs are
// announced together, at the start of one batch, not spread over two
// (a second batch would start 30-50 ms after the first).
func TestPinSetReleaseMakesOneBatch(t *testing.T) {
	_, w := newTestWaiter(t)
	if !quiet.Possible() {
		t.Fatal("quiet.Run cannot hold this machine's CPUs (root, at most quiet.MaxCPUs CPUs, GOMAXPROCS at least the CPUs)")
	}
	const n = 300
	p := newPinSet()
	if p.early != 0 || p.every != 0 {
		t.Fatalf("a new set lets go of %d at once and one every %v, want none", p.early, p.every)
	}
	ids := map[int32]bool{}
	for range n {
		h, err := nsthread.Unshare(nil)
		if err != nil {
			p.release()
			t.Fatal(err)
		}
		ids[w.watchHandle(h)] = true
		p.hold(h)
	}
	if len(p.hs) != n || len(ids) != n || ids[-1] {
		p.release()
		t.Fatalf("held %d namespaces with %d distinct NSIDs, want %d of each", len(p.hs), len(ids), n)
	}
	times := map[int32]time.Time{}
	w.mu.Lock()
	w.seen = func(id int32) { times[id] = time.Now() }
	w.mu.Unlock()
	p.release()
	if err := w.wait(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var first, last time.Time
	for id := range ids {
		at, ok := times[id]
		if !ok {
			t.Fatalf("no notice for NSID %d", id)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if span := last.Sub(first); span > 20*time.Millisecond {
		t.Errorf("the %d namespaces were announced over %v: freed in more than one batch", n, span)
	}
}

// watchHandle proposes an NSID of its own (one request) and, for a
// namespace that has one already, waits for that one.
func TestWatchHandleNSIDs(t *testing.T) {
	s, w := newTestWaiter(t)
	fresh, err := nsthread.Unshare(nil)
	if err != nil {
		t.Fatal(err)
	}
	if id := w.watchHandle(fresh); id != nsidBase {
		t.Errorf("fresh namespace: NSID %d, want the proposed %d", id, nsidBase)
	}
	named, err := nsthread.Unshare(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.root.SetNetNsIdByFd(int(named), -1); err != nil {
		t.Fatal(err)
	}
	had, err := s.root.GetNetNsIdByFd(int(named))
	if err != nil || had < 0 {
		t.Fatalf("NSID given by the kernel: %d, %v", had, err)
	}
	if id := w.watchHandle(named); id != int32(had) {
		t.Errorf("namespace with NSID %d: watched %d", had, id)
	}
	fresh.Close()
	named.Close()
	if err := w.wait(t.Context(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

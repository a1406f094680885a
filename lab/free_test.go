package lab

import (
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
)

// A pinned namespace outlives its name until release; one over the set's
// limit is not pinned and is freed as soon as its name is gone.
func TestPinSetHoldsNamespacesUntilRelease(t *testing.T) {
	nslabtest.RequireRoot(t)
	s, err := newSession("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	w, err := newFreeWaiter(s)
	if err != nil {
		t.Fatal(err)
	}
	p := newPinSet()
	p.limit = 2
	defer p.release()
	var ids []int32
	for range 3 {
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
	// The third was closed at once: the kernel frees it.
	deadline := time.Now().Add(20 * time.Second)
	for pending(ids[2]) {
		if time.Now().After(deadline) {
			t.Fatalf("the unpinned namespace (NSID %d) was not freed within 20 s", ids[2])
		}
		select {
		case <-w.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The pinned two are alive and usable, their names gone.
	for i, h := range p.hs {
		if !pending(ids[i]) {
			t.Errorf("pinned namespace (NSID %d) was freed before release", ids[i])
		}
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			t.Fatalf("pinned namespace (NSID %d): %v", ids[i], err)
		}
		if _, err := nh.LinkByName("lo"); err != nil {
			t.Errorf("pinned namespace (NSID %d): lo: %v", ids[i], err)
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

package netns_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"golang.org/x/sys/unix"
)

// TestDeleter: a Deleter opens what Open opens, with the inode, refuses
// what Open refuses, and removes a name as Delete does, the namespace
// staying alive through its handle.
func TestDeleter(t *testing.T) {
	nslabtest.RequireRoot(t)
	name := nslabtest.Name(t, 20)
	h, err := netns.Create(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Close()
		if netns.Exists(name) {
			netns.Delete(name)
		}
	})
	d, err := netns.NewDeleter()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	o, ino, err := d.Open(name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer o.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		t.Fatal(err)
	}
	if ino != st.Ino || !o.Equal(h) {
		t.Errorf("Open(%s) = inode %d, want %d", name, ino, st.Ino)
	}

	plain := nslabtest.Name(t, 20)
	if err := os.WriteFile(netns.Path(plain), nil, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(netns.Path(plain)) })
	if p, _, err := d.Open(plain); !errors.Is(err, netns.ErrNotNamespace) {
		p.Close()
		t.Errorf("Open(plain file) = %v, want ErrNotNamespace", err)
	}
	if _, _, err := d.Open(nslabtest.Name(t, 20)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, _, err := d.Open("a/b"); err == nil {
		t.Error("Open(a/b) succeeded")
	}

	if err := d.Delete(name); err != nil {
		t.Fatalf("Delete(%s): %v", name, err)
	}
	if netns.Exists(name) || netns.IsMounted(netns.Path(name)) {
		t.Errorf("%s still there after Delete", netns.Path(name))
	}
	if _, err := os.Lstat(netns.Path(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left behind: %v", netns.Path(name), err)
	}
	if _, err := handle(t, o).LinkByName("lo"); err != nil {
		t.Errorf("namespace unusable through its handle after Delete: %v", err)
	}
	if err := d.Delete(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete twice = %v, want fs.ErrNotExist", err)
	}
	if err := d.Delete(plain); err != nil {
		t.Errorf("Delete(plain file) = %v", err)
	}
}

package netns

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/nslab/nslab/internal/names"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A Deleter removes many names one after another, as a lab's down does, with
// as little work per name as the kernel allows: it keeps Dir open, so that
// each call looks a single name up in it rather than walking the whole path,
// and it tells a namespace from another file by its device (nsfs), with the
// one fstat that also gives the namespace's identity. Down's loop over a
// thousand names must end within the kernel's first cleanup batch (see
// lab's pinSet); each microsecond per name is a millisecond of it.
type Deleter struct {
	dir  int
	nsfs uint64 // the device of every namespace file
}

// NewDeleter opens Dir. Only an error that Dir does not exist (no name can
// then exist) matches fs.ErrNotExist.
func NewDeleter() (*Deleter, error) {
	dir, err := unix.Open(Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netns: open %s: %w", Dir, err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		unix.Close(dir)
		return nil, fmt.Errorf("netns: the caller's namespace (is /proc mounted?): %v", err)
	}
	return &Deleter{dir: dir, nsfs: st.Dev}, nil
}

// Close closes Dir.
func (d *Deleter) Close() error { return unix.Close(d.dir) }

// Open is Open, and returns the namespace's inode as well.
func (d *Deleter) Open(name string) (Handle, uint64, error) {
	if err := names.CheckNetNS(name); err != nil {
		return vnetns.None(), 0, &Error{"open", name, err}
	}
	fd, err := rawOpenat(d.dir, name, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errNoSuchNamespace
		}
		return vnetns.None(), 0, &Error{"open", name, err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return vnetns.None(), 0, &Error{"open", name, err}
	}
	if st.Dev != d.nsfs {
		unix.Close(fd)
		return vnetns.None(), 0, &Error{"open", name, ErrNotNamespace}
	}
	return vnetns.NsHandle(fd), st.Ino, nil
}

// Delete is Delete.
func (d *Deleter) Delete(name string) error {
	if err := names.CheckNetNS(name); err != nil {
		return &Error{"delete", name, err}
	}
	uerr := rawUnmount(Dir+"/"+name, unix.MNT_DETACH)
	return deleteErr(name, uerr, rawUnlinkat(d.dir, name))
}

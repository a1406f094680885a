package netns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nslab/nslab/internal/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// List returns the named namespaces in directory order with the NSID the
// caller's namespace has for each, like `ip netns list`.
func List() ([]Entry, error) {
	ns, err := Names()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", Dir, err)
	}
	h, err := nl.NewHandle(vnetns.None())
	if err != nil {
		return nil, err
	}
	defer h.Close()
	out := make([]Entry, 0, len(ns))
	for _, n := range ns {
		e := Entry{Name: n, NSID: -1}
		f, err := OpenPath(Path(n))
		if err != nil {
			e.Stale = true
			out = append(out, e)
			continue
		}
		if id, err := h.GetNetNsIdByFd(int(f)); err == nil {
			e.NSID = id
		}
		f.Close()
		out = append(out, e)
	}
	return out, nil
}

// SetNSID assigns the id nsid (or, when nsid < 0, one the kernel picks) to the
// named namespace in the caller's namespace, like `ip netns set NAME auto|N`,
// and returns the id it has. An id once assigned cannot change.
func SetNSID(name string, nsid int) (int, error) {
	f, err := Open(name)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op = "set id of"
		}
		return -1, err
	}
	defer f.Close()
	h, err := nl.NewHandle(vnetns.None())
	if err != nil {
		return -1, &Error{"set id of", name, err}
	}
	defer h.Close()
	if cur, err := h.GetNetNsIdByFd(int(f)); err == nil && cur >= 0 {
		if nsid < 0 || nsid == cur {
			return cur, nil
		}
		return cur, &Error{"set id of", name, fmt.Errorf("it has id %d already and ids cannot change: %w", cur, fs.ErrExist)}
	}
	if err := h.SetNetNsIdByFd(int(f), nsid); err != nil {
		return -1, &Error{"set id of", name, err}
	}
	id, err := h.GetNetNsIdByFd(int(f))
	if err != nil {
		return -1, &Error{"set id of", name, err}
	}
	return id, nil
}

// Event is a change of the names under Dir, as `ip netns monitor` reports it.
type Event struct {
	Op   string `json:"op"` // "add" or "delete"
	Name string `json:"name"`
}

// Monitor calls fn for every name added to or removed from Dir until ctx is
// done. Like iproute2 it watches names (inotify), not kernel namespaces.
func Monitor(ctx context.Context, fn func(Event)) error {
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("monitor %s: %w", Dir, err)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("monitor %s: inotify: %w", Dir, err)
	}
	f := os.NewFile(uintptr(fd), "inotify")
	defer f.Close()
	if _, err := unix.InotifyAddWatch(fd, Dir, unix.IN_CREATE|unix.IN_DELETE); err != nil {
		return fmt.Errorf("monitor %s: %w", Dir, err)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	buf := make([]byte, 64*1024)
	for {
		n, err := f.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("monitor %s: %w", Dir, err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafePointer(buf[off:]))
			nameb := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := cstring(nameb)
			switch {
			case ev.Mask&unix.IN_CREATE != 0:
				fn(Event{"add", name})
			case ev.Mask&unix.IN_DELETE != 0:
				fn(Event{"delete", name})
			}
		}
	}
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

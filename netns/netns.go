// Package netns manages named network namespaces exactly as iproute2's
// `ip netns` does, so that namespaces made by nslab and by `ip netns` are
// interchangeable: a named namespace is an nsfs bind mount at
// /run/netns/NAME, and /run/netns is itself a shared mount point in its own
// peer group, so that unmounting a name in one mount namespace frees it in
// all of them.
//
// Functions here never move the calling goroutine's thread into another
// namespace; creation happens on a throwaway thread (see internal/nsthread).
package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nsthread"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Dir is where named network namespaces live, as in iproute2.
const Dir = "/run/netns"

// EtcDir holds per-namespace files that `exec` bind-mounts over /etc.
const EtcDir = "/etc/netns"

// ErrNotNamespace is returned for a path under Dir that is not a live
// namespace bind mount (for example a file left by an interrupted add).
var ErrNotNamespace = errors.New("not a network namespace mount (stale file: remove it with 'nslab netns del')")

// errNoSuchNamespace is the reason given for a name that is not there; it
// matches fs.ErrNotExist.
var errNoSuchNamespace = fmt.Errorf("no such namespace (see 'nslab netns list'): %w", fs.ErrNotExist)

// ErrNoNetNS is returned when the kernel was built without CONFIG_NET_NS.
var ErrNoNetNS = errors.New("this kernel has no network namespaces (CONFIG_NET_NS is off)")

// A Handle is an open reference to a network namespace. It keeps the
// namespace alive until closed.
type Handle = vnetns.NsHandle

// Error describes a failed operation on a named namespace.
type Error struct {
	Op   string // "add", "delete", "open", ...
	Name string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s netns %q: %v", e.Op, e.Name, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Path returns the file that names the namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

var dirOnce struct {
	sync.Mutex
	done bool
}

// prepareDir makes Dir a shared mount point in its own peer group, like
// iproute2's netns_add: mkdir, flock the directory, try MS_SHARED|MS_REC and,
// if Dir is not yet a mount point, bind it onto itself, make it private, then
// shared. It is done once per process.
func prepareDir() error {
	dirOnce.Lock()
	defer dirOnce.Unlock()
	if dirOnce.done {
		return nil
	}
	if _, err := os.Stat("/proc/self/ns/net"); errors.Is(err, fs.ErrNotExist) {
		return ErrNoNetNS
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", Dir, err)
	}
	fd, err := unix.Open(Dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", Dir, err)
	}
	defer unix.Close(fd)
	// Best effort, as in iproute2: serialise the first-time mount dance.
	if unix.Flock(fd, unix.LOCK_EX) == nil {
		defer unix.Flock(fd, unix.LOCK_UN)
	}
	for made := false; ; made = true {
		err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINVAL) || made {
			return permHint(fmt.Errorf("mount --make-rshared %s: %w", Dir, err))
		}
		if err := unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return permHint(fmt.Errorf("mount --rbind %s %s: %w", Dir, Dir, err))
		}
		if err := unix.Mount("", Dir, "none", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return permHint(fmt.Errorf("mount --make-rprivate %s: %w", Dir, err))
		}
	}
	dirOnce.done = true
	return nil
}

func permHint(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (needs CAP_SYS_ADMIN: run as root)", err)
	}
	return err
}

// Add creates the named namespace NAME, like `ip netns add NAME`.
func Add(name string) error {
	h, err := Create(name, nil)
	if err != nil {
		return err
	}
	return h.Close()
}

// Create creates the named namespace NAME and returns an open handle to it.
// If setup is not nil it runs on the creating thread, inside the new
// namespace, before the namespace gets its name: it can write sysctls, open
// sockets there and mark the namespace, so that a named namespace is always
// fully set up. If setup fails, nothing is left. The caller must close the
// handle.
func Create(name string, setup func(ns Handle) error) (Handle, error) {
	if err := names.CheckNetNS(name); err != nil {
		return vnetns.None(), &Error{"add", name, err}
	}
	if err := prepareDir(); err != nil {
		return vnetns.None(), &Error{"add", name, err}
	}
	p := Path(name)
	if err := createName(p); err != nil {
		return vnetns.None(), &Error{"add", name, err}
	}
	h, err := nsthread.Unshare(func(ns Handle) error {
		if setup != nil {
			if err := setup(ns); err != nil {
				return err
			}
		}
		return mountName(p)
	})
	if err != nil {
		os.Remove(p)
		return vnetns.None(), &Error{"add", name, createError(err)}
	}
	return h, nil
}

// createName creates the empty file p that a namespace is mounted on, and
// fails if it exists.
func createName(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return existsError(p)
		}
		return permHint(fmt.Errorf("create %s: %w", p, err))
	}
	return unix.Close(fd)
}

// existsError says that the name p is taken.
func existsError(p string) error { return fmt.Errorf("%s exists already: %w", p, fs.ErrExist) }

// An anchor is an unnamed file in Dir (O_TMPFILE) that CreateMany gives
// every name to, as hard links, instead of creating a file per name: the
// name is only a mount point, hidden by the namespace mounted on it, and a
// link costs a directory entry where a new file costs an inode. On a /run
// that is not a tmpfs (ext4 here) the inodes were most of `ip netns add`'s
// time, growing with the names deleted in the last minutes, whose inodes
// the allocator reads and skips: creating and mounting 1000 names took
// 0.23-0.95 s with files once a few labs had come and gone, 16-27 ms with
// links, and `nslab up` of a 1000-host star was 18 % faster. The names
// behave as iproute2's (`ip netns del` unmounts and unlinks one; the inode
// goes with the last name), and an interrupted run leaves no more than
// before: the anchor itself has no name.
type anchor struct {
	fd   int
	path string // /proc/self/fd/N: linkat through it needs no CAP_DAC_READ_SEARCH
}

// newAnchor makes the anchor, or returns nil where the filesystem of Dir
// has no O_TMPFILE (each name is then a file of its own).
func newAnchor() *anchor {
	fd, err := unix.Open(Dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return &anchor{fd: fd, path: "/proc/self/fd/" + strconv.Itoa(fd)}
}

// link creates the mount point p as a link to the anchor, and fails if p
// exists. Where a link cannot be made (no anchor, the filesystem's limit of
// links per inode), p is a new file.
func (a *anchor) link(p string) error {
	if a != nil {
		err := unix.Linkat(unix.AT_FDCWD, a.path, unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EEXIST) {
			return existsError(p)
		}
	}
	return createName(p)
}

func (a *anchor) close() {
	if a != nil {
		unix.Close(a.fd)
	}
}

// mountName bind-mounts the calling thread's namespace on p.
func mountName(p string) error {
	if err := unix.Mount(nsthread.ThreadNetNSPath(), p, "none", unix.MS_BIND, ""); err != nil {
		return permHint(fmt.Errorf("bind mount %s: %w", p, err))
	}
	return nil
}

// createError explains an error of unshare (EINVAL: no CONFIG_NET_NS) or of
// a mount (EPERM: not root).
func createError(err error) error {
	if errors.Is(err, unix.EINVAL) {
		err = fmt.Errorf("%w: %w", ErrNoNetNS, err)
	}
	return permHint(err)
}

// CreateMany creates the namespaces named in list like Create, w at a time (w
// threads that each enter one new namespace after another: for many
// namespaces this is faster than calling Create for each). setup(i, ns) runs
// inside namespace list[i] before it gets its name, as for Create; made(i,
// ns) (may be nil) runs right after the name is bound and takes ownership of
// ns: if made is nil the handle is closed. Both run on the creating threads,
// concurrently for different i.
//
// The work stops at the first error or when stop returns true (stop may be
// nil); the namespace that failed leaves nothing, those already made stay.
func CreateMany(list []string, w int, stop func() bool, setup func(i int, ns Handle) error, made func(i int, ns Handle)) error {
	for _, name := range list {
		if err := names.CheckNetNS(name); err != nil {
			return &Error{"add", name, err}
		}
	}
	if len(list) == 0 {
		return nil
	}
	if err := prepareDir(); err != nil {
		return &Error{"add", list[0], err}
	}
	a := newAnchor()
	defer a.close()
	return nsthread.UnshareEach(len(list), w, stop, func(i int, ns Handle) error {
		p := Path(list[i])
		err := a.link(p)
		if err == nil && setup != nil {
			if err = setup(i, ns); err != nil {
				os.Remove(p)
			}
		}
		if err == nil {
			if err = mountName(p); err != nil {
				os.Remove(p)
			}
		}
		if err != nil {
			ns.Close()
			return &Error{"add", list[i], createError(err)}
		}
		if made != nil {
			made(i, ns)
		} else {
			ns.Close()
		}
		return nil
	})
}

// Attach names the network namespace of process pid, like
// `ip netns attach NAME PID`.
func Attach(name string, pid int) error {
	if err := names.CheckNetNS(name); err != nil {
		return &Error{"attach", name, err}
	}
	if pid <= 0 {
		return &Error{"attach", name, fmt.Errorf("invalid pid %d", pid)}
	}
	src := fmt.Sprintf("/proc/%d/ns/net", pid)
	if _, err := os.Stat(src); err != nil {
		return &Error{"attach", name, fmt.Errorf("process %d: %w", pid, err)}
	}
	if err := prepareDir(); err != nil {
		return &Error{"attach", name, err}
	}
	p := Path(name)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return &Error{"attach", name, existsError(p)}
		}
		return &Error{"attach", name, permHint(err)}
	}
	unix.Close(fd)
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(p)
		return &Error{"attach", name, permHint(fmt.Errorf("bind mount %s: %w", src, err))}
	}
	return nil
}

// Delete removes the name NAME, like `ip netns del NAME`: it detaches the
// bind mount and removes the file. The namespace itself is freed by the
// kernel, asynchronously, once nothing else refers to it.
func Delete(name string) error {
	if err := names.CheckNetNS(name); err != nil {
		return &Error{"delete", name, err}
	}
	p := Path(name)
	uerr := unix.Unmount(p, unix.MNT_DETACH)
	return deleteErr(name, uerr, os.Remove(p))
}

// deleteErr is the error of deleting name, given those of unmounting it
// (uerr) and of removing the file (err): nil once the file is gone.
func deleteErr(name string, uerr, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return &Error{"delete", name, errNoSuchNamespace}
	case errors.Is(uerr, fs.ErrPermission) || errors.Is(err, fs.ErrPermission):
		return &Error{"delete", name, permHint(err)}
	}
	return &Error{"delete", name, err}
}

// Open returns a handle to the named namespace, after checking that the file
// is a live nsfs bind mount.
func Open(name string) (Handle, error) {
	if err := names.CheckNetNS(name); err != nil {
		return vnetns.None(), &Error{"open", name, err}
	}
	h, err := OpenPath(Path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = errNoSuchNamespace
		}
		return vnetns.None(), &Error{"open", name, err}
	}
	return h, nil
}

// OpenPath opens a namespace file such as /proc/PID/ns/net or a bind mount,
// and checks that it is one.
func OpenPath(path string) (Handle, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return vnetns.None(), err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return vnetns.None(), err
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return vnetns.None(), ErrNotNamespace
	}
	return vnetns.NsHandle(fd), nil
}

// Exists reports whether a live namespace is mounted at Path(name).
func Exists(name string) bool {
	var st unix.Statfs_t
	return unix.Statfs(Path(name), &st) == nil && st.Type == unix.NSFS_MAGIC
}

// Entry is one named namespace as listed by List.
type Entry struct {
	Name string `json:"name"`
	// NSID is the namespace's id as seen from the caller's namespace, or -1
	// when none is assigned.
	NSID int `json:"id,omitempty"`
	// Stale is true when the name is a plain file, not a namespace mount.
	Stale bool `json:"stale,omitempty"`
}

// Names returns the names under Dir in directory order, as `ip netns list`
// prints them. A missing Dir is an empty list.
func Names() ([]string, error) {
	f, err := os.Open(Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	ns, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := ns[:0]
	for _, n := range ns {
		if n != "." && n != ".." {
			out = append(out, n)
		}
	}
	return out, nil
}

// ident is the identity of a namespace: the device and inode of its nsfs file.
type ident struct{ dev, ino uint64 }

func identOf(path string) (ident, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ident{}, err
	}
	return ident{st.Dev, st.Ino}, nil
}

// Identify returns the names of the namespace process pid is in, like
// `ip netns identify PID` (which prints the last one). pid 0 means the caller.
func Identify(pid int) ([]string, error) {
	src := "/proc/self/ns/net"
	if pid > 0 {
		src = fmt.Sprintf("/proc/%d/ns/net", pid)
	}
	want, err := identOf(src)
	if err != nil {
		return nil, fmt.Errorf("identify process %d: %w", pid, err)
	}
	all, err := Names()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range all {
		if id, err := identOf(Path(n)); err == nil && id == want && Exists(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Pids returns the processes with a thread in the named namespace, like
// `ip netns pids NAME`. Unlike iproute2, which looks only at each process's
// main thread, a process is listed when any of its threads is inside.
func Pids(name string) ([]int, error) {
	if !Exists(name) {
		return nil, &Error{"pids", name, errNoSuchNamespace}
	}
	want, err := identOf(Path(name))
	if err != nil {
		return nil, &Error{"pids", name, err}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if id, err := identOf(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && id == want {
			out = append(out, pid)
			continue
		}
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue
		}
		for _, t := range tasks {
			if t.Name() == p.Name() {
				continue
			}
			if id, err := identOf(fmt.Sprintf("/proc/%d/task/%s/ns/net", pid, t.Name())); err == nil && id == want {
				out = append(out, pid)
				break
			}
		}
	}
	return out, nil
}

// IsMounted reports whether path appears as a mount point in the calling
// process's mount table (used by the leak check and cleanup).
func IsMounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

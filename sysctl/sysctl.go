// Package sysctl reads and writes the per-namespace network sysctls under
// /proc/sys/net, like `ip netns exec NS sysctl KEY[=VALUE]`.
//
// A file under /proc/sys/net belongs to the network namespace of the thread
// that opens it. Read and Write act in the calling thread's namespace: use
// them inside netns.Create's setup function or nsthread.Do. Get and Set take
// a namespace and switch a throwaway locked thread into it (through
// internal/nsthread), so they are safe from any goroutine.
//
// Only keys under net are allowed: other sysctls are not per network
// namespace, and nslab has no business changing them.
package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/nslab/nslab/internal/nsthread"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Root is the directory sysctl keys are files under.
const Root = "/proc/sys"

// An Error describes a failed read or write of a sysctl. It prints as
// `set sysctl "net.ipv4.ip_forward" in netns "r1": permission denied`.
type Error struct {
	Op    string // "get", "set"
	Key   string // the key, as the caller gave it
	NetNS string // the namespace's name when known, else ""
	Err   error  // the cause
}

func (e *Error) Error() string {
	s := e.Op + " sysctl " + strconv.Quote(e.Key)
	if e.NetNS != "" {
		s += " in netns " + strconv.Quote(e.NetNS)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WithNetNS sets the namespace name of err's *Error when it has none, and
// returns err.
func WithNetNS(err error, netns string) error {
	var e *Error
	if errors.As(err, &e) && e.NetNS == "" {
		e.NetNS = netns
	}
	return err
}

// Path returns the file of a key: "net.ipv4.ip_forward" is
// /proc/sys/net/ipv4/ip_forward. A key that contains '/' is a path relative
// to /proc/sys and used as it is, so that interface names with dots work:
// "net/ipv4/conf/eth0.5/forwarding". (sysctl(8)'s swapped form
// "net.ipv4.conf.eth0/5.forwarding" is not supported: use the slash form.)
// Only keys under net are allowed; "..", empty components and NUL bytes are
// refused.
func Path(key string) (string, error) {
	rel := key
	if !strings.Contains(key, "/") {
		rel = strings.ReplaceAll(key, ".", "/")
	}
	rel = strings.TrimPrefix(rel, Root+"/")
	parts := strings.Split(rel, "/")
	switch {
	case key == "":
		return "", errors.New("empty sysctl key: give one such as net.ipv4.ip_forward")
	case strings.ContainsRune(key, 0):
		return "", fmt.Errorf("sysctl key %q contains a NUL byte", key)
	case parts[0] != "net" || len(parts) < 2:
		return "", fmt.Errorf("sysctl key %q is not under net: only the per-namespace network sysctls (net.*) are allowed", key)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return "", fmt.Errorf("sysctl key %q has an empty, '.' or '..' component", key)
		}
	}
	return Root + "/" + rel, nil
}

// Write sets key to value in the calling thread's namespace, like
// `sysctl -w KEY=VALUE`. Lock the goroutine to its thread (as nsthread.Do
// and netns.Create's setup do) for the namespace to be the one you mean.
func Write(key, value string) error {
	if err := write(key, value); err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	return nil
}

// Read returns key's value in the calling thread's namespace, without the
// trailing newline, like `sysctl -n KEY`.
func Read(key string) (string, error) {
	v, err := read(key)
	if err != nil {
		return "", &Error{Op: "get", Key: key, Err: err}
	}
	return v, nil
}

func write(key, value string) error {
	p, err := Path(key)
	if err != nil {
		return err
	}
	if strings.ContainsAny(value, "\n\x00") {
		return fmt.Errorf("value %q contains a newline or NUL byte", value)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return explain(err)
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		var pe *fs.PathError
		if errors.As(werr, &pe) {
			werr = pe.Err
		}
		return refused(value, werr)
	}
	return cerr
}

func refused(value string, err error) error {
	return fmt.Errorf("value %q refused by the kernel: %w", value, err)
}

func read(key string) (string, error) {
	p, err := Path(key)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", explain(err)
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

func explain(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("no such key (%s does not exist): %w", pe.Path, pe.Err)
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("%s is not writable (read-only key, or not root): %w", pe.Path, pe.Err)
		}
	}
	return err
}

// Set sets key to value in namespace ns, like
// `ip netns exec NS sysctl -w KEY=VALUE`, on a throwaway thread switched into
// ns. When the key exists in the caller's namespace but not in ns, the error
// says it is one of the knobs that exist only in the initial namespace (such
// as net.core.netdev_max_backlog). The error names the key; add the
// namespace's name with WithNetNS.
func Set(ns vnetns.NsHandle, key, value string) error {
	if _, err := Path(key); err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	err := nsthread.Do(ns, func() error { return write(key, value) })
	if err != nil {
		return &Error{Op: "set", Key: key, Err: globalOnly(key, err)}
	}
	return nil
}

// Get returns key's value in namespace ns, like
// `ip netns exec NS sysctl -n KEY`.
func Get(ns vnetns.NsHandle, key string) (string, error) {
	if _, err := Path(key); err != nil {
		return "", &Error{Op: "get", Key: key, Err: err}
	}
	var v string
	err := nsthread.Do(ns, func() error {
		var err error
		v, err = read(key)
		return err
	})
	if err != nil {
		return "", &Error{Op: "get", Key: key, Err: globalOnly(key, err)}
	}
	return v, nil
}

// globalOnly explains a key missing in a namespace that the caller's
// namespace has. The check runs on the calling goroutine's (unswitched)
// thread, which is in the process's namespace.
func globalOnly(key string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	p, perr := Path(key)
	if perr != nil {
		return err
	}
	// net/<proto>/{conf,neigh}/<device>/...: the device is what is missing.
	if parts := strings.Split(strings.TrimPrefix(p, Root+"/"), "/"); len(parts) >= 5 &&
		(parts[2] == "conf" || parts[2] == "neigh") && parts[3] != "all" && parts[3] != "default" {
		return fmt.Errorf("no device %q in this namespace (per-device keys exist only for its devices): %w", parts[3], err)
	}
	if _, serr := os.Stat(p); serr == nil {
		return fmt.Errorf("the key exists only in the initial network namespace (the kernel keeps it global), not in child namespaces: %w", fs.ErrNotExist)
	}
	return err
}

// A Writer writes sysctls of the calling thread's namespace, opening each
// directory right under net (net/ipv4, net/ipv6, net/core...) once however
// many keys under it are written. The kernel keeps one cached entry per
// namespace for each of these directories, all of the same name in the
// same parent (/proc/sys/net), and a path lookup compares against every
// one of them: on this machine a write to a new namespace's
// net.ipv6.conf.all.disable_ipv6 took 59 µs among the first 100
// namespaces and 360 µs among the 900th to 1000th. A node that writes
// eight IPv6 keys pays that walk once with a Writer, eight times without.
//
// A Writer belongs to one thread (and so one namespace): use it in one
// netns.Create setup function or nsthread.Do, and Close it there.
type Writer struct {
	dirs map[string]int // "net/ipv6" -> directory descriptor
}

// Write sets key to value, like Write.
func (w *Writer) Write(key, value string) error {
	p, err := Path(key)
	if err != nil {
		return &Error{Op: "set", Key: key, Err: err}
	}
	// p is Root/net/DIR/REST; without REST, or with a directory that does
	// not open, Write gives the answer and the explanation.
	parts := strings.SplitN(strings.TrimPrefix(p, Root+"/"), "/", 3)
	if len(parts) < 3 || strings.ContainsAny(value, "\n\x00") {
		return Write(key, value)
	}
	dir := parts[0] + "/" + parts[1]
	fd, ok := w.dirs[dir]
	if !ok {
		fd, err = unix.Open(Root+"/"+dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return Write(key, value)
		}
		if w.dirs == nil {
			w.dirs = map[string]int{}
		}
		w.dirs[dir] = fd
	}
	f, err := unix.Openat(fd, parts[2], unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Write(key, value)
	}
	_, err = unix.Write(f, []byte(value))
	if cerr := unix.Close(f); err == nil && cerr != nil {
		return &Error{Op: "set", Key: key, Err: cerr}
	}
	if err != nil {
		return &Error{Op: "set", Key: key, Err: refused(value, err)}
	}
	return nil
}

// Close closes the directories the Writer opened. The Writer can be used
// again afterwards.
func (w *Writer) Close() {
	for _, fd := range w.dirs {
		unix.Close(fd)
	}
	clear(w.dirs)
}

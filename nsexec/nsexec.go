// Package nsexec runs commands inside a network namespace the way
// `ip netns exec` does: in the namespace, in a fresh mount namespace whose
// mounts do not propagate back, with /sys remounted so that /sys/class/net
// shows the namespace's devices, and with every file of /etc/netns/NAME/
// bind-mounted over its twin in /etc.
//
// That set-up changes the mount namespace of the thread that will exec, which
// cannot be undone. Go cannot fork without exec, so Command re-executes the
// current binary: the package's init function recognises the re-exec, does the
// set-up on the main thread before anything else runs, and then executes the
// user's command, as argv, never through a shell. Any program that imports
// nsexec (nslab itself, or a Go test binary) can therefore use Command.
package nsexec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/nslab/nslab/internal/names"
	"golang.org/x/sys/unix"
)

const (
	netnsDir = "/run/netns"
	etcDir   = "/etc/netns"

	envPath = "NSLAB_NSEXEC_PATH" // namespace file to enter, in the re-exec
	envEtc  = "NSLAB_NSEXEC_ETC"  // name whose /etc/netns overlay applies
)

// Target says which namespace to enter.
type Target struct {
	// Path is a namespace file: /run/netns/NAME, /proc/PID/ns/net, ...
	Path string
	// Etc is the name whose /etc/netns/Etc/ files overlay /etc; "" for none.
	Etc string
}

// Named returns the target of the named namespace NAME, with its
// /etc/netns/NAME overlay, as `ip netns exec NAME` enters it.
func Named(name string) (Target, error) {
	if err := names.CheckNetNS(name); err != nil {
		return Target{}, fmt.Errorf("netns %q: %w", name, err)
	}
	p := filepath.Join(netnsDir, name)
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		return Target{}, fmt.Errorf("netns %q: no such namespace (see 'nslab netns list'): %w", name, fs.ErrNotExist)
	}
	return Target{Path: p, Etc: name}, nil
}

// Enter moves the calling OS thread into the target the way `ip netns exec`
// does, ready for execve. It is irreversible: call it only on a thread that
// will exec or die (the caller must have called runtime.LockOSThread).
// Failures to bind an /etc/netns file are not fatal; they are returned as
// warnings, as iproute2 prints them.
func Enter(t Target) (warnings []error, err error) {
	fd, err := unix.Open(t.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.Path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns %s: %w", t.Path, err)
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("unshare mount namespace: %w", err)
	}
	// Nothing mounted from here on must propagate back to the host.
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("mount --make-rslave /: %w", err)
	}
	var flags uintptr
	var vfs unix.Statfs_t
	if unix.Statfs("/sys", &vfs) == nil && vfs.Flags&unix.ST_RDONLY != 0 {
		flags = unix.MS_RDONLY
	}
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err == nil || errors.Is(err, unix.EINVAL) {
		src := t.Etc
		if src == "" {
			src = "sysfs"
		}
		if err := unix.Mount(src, "/sys", "sysfs", flags, ""); err != nil {
			return nil, fmt.Errorf("mount sysfs on /sys: %w", err)
		}
	} else {
		warnings = append(warnings, fmt.Errorf("umount /sys: %w (it still shows the host's devices)", err))
	}
	if t.Etc != "" {
		warnings = append(warnings, bindEtc(t.Etc)...)
	}
	return warnings, nil
}

func bindEtc(name string) []error {
	dir := filepath.Join(etcDir, name)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return []error{err}
	}
	var warn []error
	for _, e := range ents {
		src, dst := filepath.Join(dir, e.Name()), filepath.Join("/etc", e.Name())
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			warn = append(warn, fmt.Errorf("bind %s -> %s failed: %w", src, dst, err))
		}
	}
	return warn
}

// Exec replaces the current process with argv run in the target, like
// `ip netns exec`: same PID, stdio, signals and exit status. It returns only
// on failure, and then the calling thread may be left half-entered: the
// caller should exit.
func Exec(t Target, argv []string, env []string) error {
	if len(argv) == 0 {
		return errors.New("no command given")
	}
	runtime.LockOSThread() // never unlocked: this thread execs or the process exits
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return &CommandError{Name: argv[0], Err: err}
	}
	warn, err := Enter(t)
	if err != nil {
		return err
	}
	for _, w := range warn {
		fmt.Fprintln(os.Stderr, w)
	}
	if err := syscall.Exec(path, argv, env); err != nil {
		return &CommandError{Name: argv[0], Err: err}
	}
	return nil
}

// CommandError reports a command that could not be started.
type CommandError struct {
	Name string
	Err  error
}

func (e *CommandError) Error() string {
	var ee *exec.Error
	if errors.As(e.Err, &ee) {
		return fmt.Sprintf("exec %q: %v", e.Name, ee.Err)
	}
	return fmt.Sprintf("exec %q: %v", e.Name, e.Err)
}
func (e *CommandError) Unwrap() error { return e.Err }

// Command returns a command that runs argv in the target when started. The
// command is a re-exec of the running binary (/proc/self/exe), which enters
// the target and then executes argv[0] (looked up in PATH inside the
// namespace's view of the file system); stdio, environment, process
// attributes and the exit status are the caller's to set and read, as with
// exec.CommandContext.
func Command(ctx context.Context, t Target, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/proc/self/exe", argv...)
	if len(argv) > 0 {
		cmd.Args = append([]string{argv[0]}, argv[1:]...)
	}
	cmd.Env = append(os.Environ(), envPath+"="+t.Path, envEtc+"="+t.Etc)
	return cmd
}

// ExitCode is the status a command run by Exec ends with when it could not
// be started, as a shell reports it: 127 when not found, 126 otherwise.
func ExitCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}

func init() {
	p, ok := os.LookupEnv(envPath)
	if !ok {
		return
	}
	etc := os.Getenv(envEtc)
	os.Unsetenv(envPath)
	os.Unsetenv(envEtc)
	// The init functions run on the main thread, locked by the runtime.
	err := Exec(Target{Path: p, Etc: etc}, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
	os.Exit(ExitCode(err))
}

// MaybeChild exists so that a main package can make the re-exec entry point
// explicit; the work is done by this package's init.
func MaybeChild() {}

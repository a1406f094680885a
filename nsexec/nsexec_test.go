package nsexec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/nsexec"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Keep the main goroutine on the first thread (m0): see nslab's main.
func init() { runtime.LockOSThread() }

// The test binary is its own child: nsexec's init turns a re-exec made by
// Command into the command, before the tests start.
func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// named returns the target of a new named namespace with a veth pair in it,
// and the names of the pair.
func named(t *testing.T) (nsexec.Target, []string) {
	t.Helper()
	name, ns := nslabtest.NewNamedNS(t)
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	a, b := nslabtest.Name(t, 15), nslabtest.Name(t, 15)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
		t.Fatalf("add veth in %q: %v", name, err)
	}
	tg, err := nsexec.Named(name)
	if err != nil {
		t.Fatalf("Named(%q): %v", name, err)
	}
	if tg.Path != "/run/netns/"+name || tg.Etc != name {
		t.Errorf("Named(%q) = %+v", name, tg)
	}
	devs := []string{a, b, "lo"}
	slices.Sort(devs)
	return tg, devs
}

// output runs argv in tg and returns stdout; it fails the test on error.
func output(t *testing.T, tg nsexec.Target, argv ...string) string {
	t.Helper()
	cmd := nsexec.Command(t.Context(), tg, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v: %s", argv, err, stderr.Bytes())
	}
	return string(out)
}

func TestSysClassNetShowsNamespaceDevices(t *testing.T) {
	tg, devs := named(t)
	t.Parallel()
	got := strings.Fields(output(t, tg, "ls", "/sys/class/net"))
	slices.Sort(got)
	if !slices.Equal(got, devs) {
		t.Errorf("ls /sys/class/net = %v, want %v", got, devs)
	}
	// The remount happened in the child's own mount namespace.
	for _, d := range devs {
		if _, err := os.Lstat("/sys/class/net/" + d); err == nil && d != "lo" {
			t.Errorf("the host's /sys/class/net shows %q", d)
		}
	}
}

func TestProcNetShowsNamespaceDevices(t *testing.T) {
	tg, devs := named(t)
	t.Parallel()
	var got []string
	for i, l := range strings.Split(strings.TrimSpace(output(t, tg, "cat", "/proc/net/dev")), "\n") {
		if i >= 2 {
			name, _, _ := strings.Cut(l, ":")
			got = append(got, strings.TrimSpace(name))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, devs) {
		t.Errorf("/proc/net/dev lists %v, want %v", got, devs)
	}
}

func TestOwnMountNamespace(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	before := mountsUnder(t, "/sys")
	got := strings.TrimSpace(output(t, tg, "readlink", "/proc/self/ns/mnt"))
	if got == own || !strings.HasPrefix(got, "mnt:[") {
		t.Errorf("the command's mount namespace is %q, the caller's %q", got, own)
	}
	if after := mountsUnder(t, "/sys"); after != before {
		t.Errorf("mounts on /sys in the caller changed: %d -> %d", before, after)
	}
	// The command's / is a slave: nothing it mounts comes back.
	mi := output(t, tg, "cat", "/proc/self/mountinfo")
	for _, l := range strings.Split(mi, "\n") {
		f := strings.Fields(l)
		if len(f) > 6 && f[4] == "/" && slices.ContainsFunc(f[6:], func(s string) bool { return strings.HasPrefix(s, "shared:") }) {
			t.Errorf("the command's / is shared with the host: %s", l)
		}
	}
}

func mountsUnder(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			n++
		}
	}
	return n
}

// The files of /etc/netns/NAME/ cover their twins in /etc for the command
// only.
func TestEtcOverlay(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	hostHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skipf("no /etc/hosts to cover: %v", err)
	}
	want := fmt.Sprintf("198.18.0.1 %s\n", tg.Etc)
	etcFile(t, tg.Etc, "hosts", want)
	if got := output(t, tg, "cat", "/etc/hosts"); got != want {
		t.Errorf("/etc/hosts in the command = %q, want %q", got, want)
	}
	if now, err := os.ReadFile("/etc/hosts"); err != nil || !bytes.Equal(now, hostHosts) {
		t.Errorf("the host's /etc/hosts changed: %q, %v", now, err)
	}
	if mountsUnder(t, "/etc/hosts") != 0 {
		t.Error("/etc/hosts is a mount point in the caller")
	}
	// Without Etc, no overlay.
	plain := nsexec.Target{Path: tg.Path}
	if got := output(t, plain, "cat", "/etc/hosts"); got != string(hostHosts) {
		t.Errorf("/etc/hosts without an overlay = %q, want the host's", got)
	}
}

// etcFile writes /etc/netns/name/file and removes it (and /etc/netns when
// the test made it and it is empty) at the end.
func etcFile(t *testing.T, name, file, content string) {
	t.Helper()
	const etc = "/etc/netns"
	_, err := os.Stat(etc)
	madeEtc := errors.Is(err, fs.ErrNotExist)
	dir := filepath.Join(etc, name)
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if madeEtc {
			os.Remove(etc) // fails, as it should, while others use it
		}
	})
	// Another test binary may remove an empty /etc/netns meanwhile: retry.
	for i := 0; ; i++ {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644)
		}
		if err == nil {
			return
		}
		if i == 5 {
			t.Fatal(err)
		}
	}
}

func TestExitStatus(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	cmd := nsexec.Command(t.Context(), tg, "sh", "-c", "exit 7")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("exit 7 gave %v", err)
	}
	if err := nsexec.Command(t.Context(), tg, "true").Run(); err != nil {
		t.Errorf("true gave %v", err)
	}
}

func TestStdio(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	cmd := nsexec.Command(t.Context(), tg, "sh", "-c", "cat; echo to-stderr >&2")
	cmd.Stdin = strings.NewReader("from stdin\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v: %s", err, stderr.Bytes())
	}
	if stdout.String() != "from stdin\n" || stderr.String() != "to-stderr\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// argv reaches the command as it is: no shell sees it.
func TestNoShell(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	args := []string{"a b", "$(id)", ";", "*", "'\"", ""}
	got := output(t, tg, append([]string{"printf", "%s|"}, args...)...)
	if want := strings.Join(args, "|") + "|"; got != want {
		t.Errorf("printf got %q, want %q", got, want)
	}
}

// The environment passes through, without nsexec's own variables.
func TestEnvironment(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	cmd := nsexec.Command(t.Context(), tg, "env")
	cmd.Env = append(cmd.Env, "NSLT_MARK=x y")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if !slices.Contains(lines, "NSLT_MARK=x y") {
		t.Errorf("env lacks NSLT_MARK:\n%s", out)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "NSLAB_NSEXEC_") {
			t.Errorf("the command sees nsexec's variable %s", l)
		}
	}
}

func TestSignals(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	t.Run("killed by itself", func(t *testing.T) {
		err := nsexec.Command(t.Context(), tg, "sh", "-c", "kill -TERM $$").Run()
		checkSignaled(t, err, syscall.SIGTERM)
	})
	t.Run("killed from outside", func(t *testing.T) {
		cmd := nsexec.Command(t.Context(), tg, "sleep", "600")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// The re-exec becomes sleep (same pid): wait for it, then signal.
		exe := fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := filepath.EvalSymlinks(sleep)
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if got, err := os.Readlink(exe); err == nil && got == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the command never became sleep")
			}
			<-tick.C
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		checkSignaled(t, cmd.Wait(), syscall.SIGTERM)
	})
}

func checkSignaled(t *testing.T, err error, sig syscall.Signal) {
	t.Helper()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v, want death by %v", err, sig)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != sig {
		t.Errorf("status %v, want death by %v", ee, sig)
	}
}

func TestCommandNotFound(t *testing.T) {
	tg, _ := named(t)
	t.Parallel()
	missing := nslabtest.Name(t, 20)
	cmd := nsexec.Command(t.Context(), tg, missing, "arg")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Errorf("missing command gave %v, want exit status 127", err)
	}
	msg := strings.TrimSuffix(stderr.String(), "\n")
	if strings.Contains(msg, "\n") || !strings.Contains(msg, fmt.Sprintf("%q", missing)) {
		t.Errorf("stderr %q: want one line naming %q", stderr.String(), missing)
	}
}

// A namespace file that is not a named one (here, an unnamed namespace
// reached through this process's fd) works too, without an /etc overlay.
func TestUnnamedTarget(t *testing.T) {
	ns := nslabtest.NewNS(t)
	t.Parallel()
	tg := nsexec.Target{Path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))}
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(output(t, tg, "readlink", "/proc/self/ns/net"))
	if want := fmt.Sprintf("net:[%d]", st.Ino); got != want {
		t.Errorf("the command ran in %s, want %s", got, want)
	}
	if got := strings.Fields(output(t, tg, "ls", "/sys/class/net")); !slices.Equal(got, []string{"lo"}) {
		t.Errorf("ls /sys/class/net = %v, want [lo]", got)
	}
}

func TestBadTarget(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := nsexec.Command(t.Context(), nsexec.Target{Path: f.Name()}, "true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Errorf("entering a plain file gave %v, want a non-zero exit", err)
	}
	if msg := strings.TrimSpace(stderr.String()); strings.Contains(msg, "\n") || !strings.Contains(msg, f.Name()) {
		t.Errorf("stderr %q: want one line naming %s", msg, f.Name())
	}
}

func TestNamedErrors(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	for _, name := range []string{"", "/", "a/b", ".", "..", strings.Repeat("x", 256), nslabtest.Name(t, 20)} {
		_, err := nsexec.Named(name)
		if err == nil {
			t.Errorf("Named(%q) succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Named(%q): error is not one line: %q", name, err)
		}
		if len(name) < 64 && !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
			t.Errorf("Named(%q) = %q: does not name it", name, err)
		}
	}
	if _, err := nsexec.Named(nslabtest.Name(t, 20)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Named(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{&nsexec.CommandError{Name: "x", Err: &exec.Error{Name: "x", Err: exec.ErrNotFound}}, 127},
		{&nsexec.CommandError{Name: "x", Err: fs.ErrNotExist}, 127},
		{&nsexec.CommandError{Name: "x", Err: syscall.ENOENT}, 127},
		{&nsexec.CommandError{Name: "x", Err: syscall.EACCES}, 126},
		{errors.New("setns: invalid argument"), 126},
	} {
		if got := nsexec.ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	err := &nsexec.CommandError{Name: "nope", Err: &exec.Error{Name: "nope", Err: exec.ErrNotFound}}
	if got, want := err.Error(), `exec "nope": executable file not found in $PATH`; got != want {
		t.Errorf("CommandError = %q, want %q", got, want)
	}
}

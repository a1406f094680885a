package main

// End-to-end tests: build the nslab binary once, run it as a user would, and
// cross-check every result with iproute2's `ip netns`, in both directions.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// nslabBin is the binary under test, built by TestMain.
var nslabBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nslab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nslabBin = filepath.Join(dir, "nslab")
	if err := buildNslab(nslabBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := nslabtest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildNslab builds this package (the test runs in its directory) to out.
func buildNslab(out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(build.Default.GOROOT, "bin", "go")
	}
	cmd := exec.Command(gobin, "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s ./cmd/nslab: %v\n%s", out, err, b)
	}
	return nil
}

// result is what a finished command left.
type result struct {
	stdout, stderr string
	code           int // -1 when killed by a signal
	state          *os.ProcessState
}

// run runs the binary (or ip) with args and stdin, for at most 30 s.
func run(t *testing.T, stdin string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), cmd.ProcessState}
}

// nslab runs the binary and fails the test unless it exits 0.
func nslab(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, "", nslabBin, args...)
	if r.code != 0 {
		t.Fatalf("nslab %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// ip runs iproute2's ip and fails the test unless it exits 0.
func ip(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("iproute2 (ip) is not installed: cannot cross-check")
	}
	r := run(t, "", bin, args...)
	if r.code != 0 {
		t.Fatalf("ip %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// newName returns a test namespace name whose name (if made) is removed at
// the end of the test.
func newName(t *testing.T) string {
	t.Helper()
	nslabtest.RequireRoot(t)
	name := nslabtest.Name(t, 20)
	t.Cleanup(func() {
		if _, err := os.Lstat(netns.Path(name)); err == nil {
			if err := netns.Delete(name); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return name
}

// listed parses `ip netns list` or `nslab netns list` output into name -> id
// (-1 when none is shown).
func listed(out string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		id := -1
		if len(f) == 3 && f[1] == "(id:" {
			id, _ = strconv.Atoi(strings.TrimSuffix(f[2], ")"))
		}
		m[f[0]] = id
	}
	return m
}

type jsonEntry struct {
	Name string `json:"name"`
	ID   *int   `json:"id"`
}

func jsonList(t *testing.T, out string) map[string]int {
	t.Helper()
	var es []jsonEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("parse JSON list %q: %v", out, err)
	}
	m := map[string]int{}
	for _, e := range es {
		m[e.Name] = -1
		if e.ID != nil {
			m[e.Name] = *e.ID
		}
	}
	return m
}

// oneLine checks a failed command's stderr: a single "nslab: ..." line that
// contains want.
func oneLine(t *testing.T, r result, want string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("exit status 0, want non-zero (stdout %q)", r.stdout)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "nslab: ") {
		t.Errorf("stderr %q: want one line starting with \"nslab: \"", r.stderr)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("stderr %q does not name %s", msg, want)
	}
}

func TestInteropIPToNslab(t *testing.T) {
	x := newName(t)
	t.Parallel()
	ip(t, "netns", "add", x)
	if _, ok := listed(nslab(t, "netns", "list"))[x]; !ok {
		t.Errorf("nslab netns list does not show %q made by ip", x)
	}
	if _, ok := jsonList(t, nslab(t, "netns", "list", "--json"))[x]; !ok {
		t.Errorf("nslab netns list --json does not show %q", x)
	}
	if got := nslab(t, "netns", "exec", x, "--", "ls", "/sys/class/net"); got != "lo\n" {
		t.Errorf("nslab netns exec %s -- ls /sys/class/net = %q, want lo", x, got)
	}
	// A link made by nslab's exec of ip is seen by ip.
	link := nslabtest.Name(t, 15)
	nslab(t, "netns", "exec", x, "--", "ip", "link", "add", link, "type", "veth", "peer", "name", nslabtest.Name(t, 15))
	if out := ip(t, "-n", x, "-o", "link", "show", link); !strings.Contains(out, link) {
		t.Errorf("ip -n %s link show %s = %q", x, link, out)
	}
	nslab(t, "netns", "del", x)
	if _, ok := listed(ip(t, "netns", "list"))[x]; ok {
		t.Errorf("ip netns list still shows %q after nslab netns del", x)
	}
	if _, err := os.Lstat(netns.Path(x)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left behind: %v", netns.Path(x), err)
	}
}

func TestInteropNslabToIP(t *testing.T) {
	y := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", y)
	if _, ok := listed(ip(t, "netns", "list"))[y]; !ok {
		t.Errorf("ip netns list does not show %q made by nslab", y)
	}
	if got := ip(t, "netns", "exec", y, "ls", "/sys/class/net"); got != "lo\n" {
		t.Errorf("ip netns exec %s ls /sys/class/net = %q, want lo", y, got)
	}
	if got := ip(t, "-n", y, "-o", "link", "show"); !strings.Contains(got, ": lo:") || strings.Count(got, "\n") != 1 {
		t.Errorf("ip -n %s link show = %q, want only lo", y, got)
	}
	ip(t, "netns", "del", y)
	if _, ok := listed(nslab(t, "netns", "list"))[y]; ok {
		t.Errorf("nslab netns list still shows %q after ip netns del", y)
	}
}

func TestNSIDBothWays(t *testing.T) {
	x, y := newName(t), newName(t)
	t.Parallel()
	ip(t, "netns", "add", x)
	nslab(t, "netns", "add", y)
	if id := listed(nslab(t, "netns", "list"))[x]; id != -1 {
		t.Errorf("nslab shows id %d for %q before any set", id, x)
	}
	// ip assigns, nslab shows.
	ip(t, "netns", "set", x, "auto")
	ipID := listed(ip(t, "netns", "list"))[x]
	if ipID < 0 {
		t.Fatalf("ip netns list shows no id for %q after ip netns set auto", x)
	}
	if got := listed(nslab(t, "netns", "list"))[x]; got != ipID {
		t.Errorf("nslab netns list shows id %d for %q, ip shows %d", got, x, ipID)
	}
	if got := jsonList(t, nslab(t, "netns", "list", "--json"))[x]; got != ipID {
		t.Errorf("nslab netns list --json shows id %d for %q, ip shows %d", got, x, ipID)
	}
	// nslab assigns, ip shows.
	want := 100000 + rand.IntN(1000000)
	nslab(t, "netns", "set", y, strconv.Itoa(want))
	if got := listed(ip(t, "netns", "list"))[y]; got != want {
		t.Errorf("ip netns list shows id %d for %q, nslab set %d", got, y, want)
	}
	if got := jsonList(t, ip(t, "-j", "netns", "list"))[y]; got != want {
		t.Errorf("ip -j netns list shows id %d for %q, want %d", got, y, want)
	}
	// Ids cannot change, in either tool.
	r := run(t, "", nslabBin, "netns", "set", y, strconv.Itoa(want+1))
	oneLine(t, r, strconv.Quote(y))
	if got := listed(ip(t, "netns", "list"))[y]; got != want {
		t.Errorf("a refused set changed the id of %q to %d", y, got)
	}
}

// etcFile writes /etc/netns/NAME/file, removed at the end of the test.
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
	for i := 0; ; i++ { // another test binary may remove an empty /etc/netns
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

func TestExecEtcOverlay(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	host, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Skipf("no /etc/hosts to cover: %v", err)
	}
	want := "198.18.0.9 " + x + "\n"
	etcFile(t, x, "hosts", want)
	if got := nslab(t, "netns", "exec", x, "--", "cat", "/etc/hosts"); got != want {
		t.Errorf("/etc/hosts in %s = %q, want %q", x, got, want)
	}
	if got := ip(t, "netns", "exec", x, "cat", "/etc/hosts"); got != want {
		t.Errorf("ip sees /etc/hosts in %s as %q, want %q", x, got, want)
	}
	if now, err := os.ReadFile("/etc/hosts"); err != nil || !bytes.Equal(now, host) {
		t.Errorf("the host's /etc/hosts changed to %q (%v)", now, err)
	}
	if netns.IsMounted("/etc/hosts") {
		t.Error("/etc/hosts became a mount point on the host")
	}
	// A file /etc lacks gives a warning, not a failure, as with ip.
	etcFile(t, x, nslabtest.Name(t, 20), "x")
	r := run(t, "", nslabBin, "netns", "exec", x, "--", "cat", "/etc/hosts")
	if r.code != 0 || r.stdout != want {
		t.Errorf("exec with an unbindable overlay file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestExecPassthrough(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	t.Run("exit status", func(t *testing.T) {
		if r := run(t, "", nslabBin, "netns", "exec", x, "--", "sh", "-c", "exit 7"); r.code != 7 {
			t.Errorf("exit 7 gave exit status %d", r.code)
		}
	})
	t.Run("without --", func(t *testing.T) {
		if r := run(t, "", nslabBin, "netns", "exec", x, "sh", "-c", "exit 3"); r.code != 3 {
			t.Errorf("exit 3 gave exit status %d (%s)", r.code, r.stderr)
		}
	})
	t.Run("stdio", func(t *testing.T) {
		r := run(t, "hello\n", nslabBin, "netns", "exec", x, "--", "sh", "-c", "cat; echo oops >&2")
		if r.code != 0 || r.stdout != "hello\n" || r.stderr != "oops\n" {
			t.Errorf("got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("argv without a shell", func(t *testing.T) {
		args := []string{"a b", "$(id)", ";", "*", "-x", "--"}
		r := run(t, "", nslabBin, append([]string{"netns", "exec", x, "--", "printf", "%s|"}, args...)...)
		if want := strings.Join(args, "|") + "|"; r.stdout != want {
			t.Errorf("printf printed %q, want %q", r.stdout, want)
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		r := run(t, "", nslabBin, "netns", "exec", x, "--", "sh", "-c", "kill -TERM $$")
		ws := r.state.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("status %v, want killed by SIGTERM", r.state)
		}
	})
	t.Run("signal from outside", func(t *testing.T) {
		cmd := startIn(t, x, "sleep", "600")
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("status %v (%v), want killed by SIGTERM", cmd.ProcessState, err)
		}
	})
	t.Run("command not found", func(t *testing.T) {
		missing := nslabtest.Name(t, 20)
		r := run(t, "", nslabBin, "netns", "exec", x, "--", missing)
		if r.code != 127 {
			t.Errorf("exit status %d, want 127", r.code)
		}
		oneLine(t, r, strconv.Quote(missing))
	})
	t.Run("no command", func(t *testing.T) {
		oneLine(t, run(t, "", nslabBin, "netns", "exec", x, "--"), strconv.Quote(x))
	})
}

// startIn starts `nslab netns exec name -- argv...`, which becomes argv (same
// pid), and returns once it runs in the namespace. It is killed at the end.
func startIn(t *testing.T, name string, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(nslabBin, append([]string{"netns", "exec", name, "--"}, argv...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	want := statID(t, netns.Path(name))
	path, err := exec.LookPath(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := filepath.EvalSymlinks(path)
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		var st unix.Stat_t
		got, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid), &st)
		if err == nil && [2]uint64{st.Dev, st.Ino} == want && got == exe {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never started in %q", argv, name)
		}
		<-tick.C
	}
}

func statID(t *testing.T, path string) [2]uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return [2]uint64{st.Dev, st.Ino}
}

// /sys/class/net inside exec shows the namespace's devices, not the host's.
func TestExecSysClassNet(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	ns, err := netns.Open(x)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	a, b := nslabtest.Name(t, 15), nslabtest.Name(t, 15)
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}); err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(nslab(t, "netns", "exec", x, "--", "ls", "/sys/class/net"))
	want := []string{a, b, "lo"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ls /sys/class/net in %s = %v, want %v", x, got, want)
	}
	host, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range host {
		if e.Name() == a || e.Name() == b {
			t.Errorf("the host's /sys/class/net shows %q", e.Name())
		}
		if e.Name() != "lo" && slices.Contains(got, e.Name()) {
			t.Errorf("%s's /sys/class/net shows the host's %q", x, e.Name())
		}
	}
}

func TestIdentifyAndPids(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	cmd := startIn(t, x, "sleep", "600")
	pid := strconv.Itoa(cmd.Process.Pid)
	if got := nslab(t, "netns", "identify", pid); got != x+"\n" {
		t.Errorf("nslab netns identify %s = %q, want %q", pid, got, x)
	}
	if got := ip(t, "netns", "identify", pid); got != x+"\n" {
		t.Errorf("ip netns identify %s = %q, want %q", pid, got, x)
	}
	if got := nslab(t, "netns", "identify"); strings.Contains(got, x) {
		t.Errorf("nslab netns identify (itself) = %q, names %q", got, x)
	}
	for _, tool := range []func(*testing.T, ...string) string{nslab, ip} {
		out := tool(t, "netns", "pids", x)
		if !slices.Contains(strings.Fields(out), pid) {
			t.Errorf("pids %s = %q, lacks %s", x, out, pid)
		}
	}
}

func TestAttach(t *testing.T) {
	z := newName(t)
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), "sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := strconv.Itoa(cmd.Process.Pid)
	nslab(t, "netns", "attach", z, pid)
	if got := ip(t, "netns", "identify", pid); got != z+"\n" {
		t.Errorf("ip netns identify %s = %q, want %q", pid, got, z)
	}
	if statID(t, netns.Path(z)) != statID(t, "/proc/"+pid+"/ns/net") {
		t.Errorf("%s is not the namespace of process %s", netns.Path(z), pid)
	}
	if got := nslab(t, "netns", "exec", z, "--", "ls", "/sys/class/net"); got != "lo\n" {
		t.Errorf("ls /sys/class/net in %s = %q", z, got)
	}
	oneLine(t, run(t, "", nslabBin, "netns", "attach", z, pid), strconv.Quote(z))
}

func TestMonitor(t *testing.T) {
	m := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", m) // makes sure /run/netns exists
	nslab(t, "netns", "del", m)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nslabBin, "netns", "monitor")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// monitor has no "ready" signal: create probe files until one shows.
	seen := func(want string) bool {
		timer := time.NewTimer(50 * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("nslab netns monitor exited")
				}
				if l == want {
					return true
				}
			case <-timer.C:
				return false
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe := nslabtest.Name(t, 20)
		if err := os.WriteFile(netns.Path(probe), nil, 0); err != nil {
			t.Fatal(err)
		}
		os.Remove(netns.Path(probe))
		if seen("add " + probe) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nslab netns monitor never reported a probe file")
		}
	}
	nslab(t, "netns", "add", m)
	ip(t, "netns", "del", m)
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor exited after %q", got)
			}
			if strings.HasSuffix(l, " "+m) {
				got = append(got, l)
			}
		case <-timeout:
			t.Fatalf("monitor printed %q, want add and delete of %s", got, m)
		}
	}
	if want := []string{"add " + m, "delete " + m}; !slices.Equal(got, want) {
		t.Errorf("monitor printed %q, want %q", got, want)
	}
}

func TestErrors(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	existing := newName(t)
	nslab(t, "netns", "add", existing)
	missing := nslabtest.Name(t, 20)
	long := nslabtest.ProcessPrefix() + strings.Repeat("l", 256-len(nslabtest.ProcessPrefix()))
	for _, tc := range []struct {
		desc string
		args []string
		want string // in the one-line message
	}{
		{"add empty", []string{"add", ""}, `""`},
		{"add slash", []string{"add", "/"}, `"/"`},
		{"add path", []string{"add", missing + "/x"}, strconv.Quote(missing + "/x")},
		{"add dot", []string{"add", "."}, `"."`},
		{"add dot dot", []string{"add", ".."}, `".."`},
		{"add 256 bytes", []string{"add", long}, long[:40]},
		{"add existing", []string{"add", existing}, strconv.Quote(existing)},
		{"del missing", []string{"del", missing}, strconv.Quote(missing)},
		{"del dot dot", []string{"del", ".."}, `".."`},
		{"del empty", []string{"del", ""}, `""`},
		{"exec missing", []string{"exec", missing, "--", "true"}, strconv.Quote(missing)},
		{"exec dot", []string{"exec", ".", "--", "true"}, `"."`},
		{"exec empty", []string{"exec", "", "--", "true"}, `""`},
		{"pids missing", []string{"pids", missing}, strconv.Quote(missing)},
		{"set missing", []string{"set", missing, "auto"}, strconv.Quote(missing)},
		{"attach to a missing process", []string{"attach", missing, strconv.Itoa(1 << 23)}, strconv.Quote(missing)},
		{"attach existing", []string{"attach", existing, strconv.Itoa(os.Getpid())}, strconv.Quote(existing)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := run(t, "", nslabBin, append([]string{"netns"}, tc.args...)...)
			oneLine(t, r, tc.want)
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
		})
	}
	// Nothing made: other tests run meanwhile, so look for these names only.
	for _, n := range []string{missing, long} {
		if _, err := os.Lstat(netns.Path(n)); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("failed commands left %s: %v", netns.Path(n), err)
		}
	}
	if !netns.Exists(existing) {
		t.Errorf("failed commands removed %q", existing)
	}
	for _, n := range []string{"", ".", "..", "l"} {
		if _, err := os.Lstat(filepath.Join(netns.Dir, n, missing)); err == nil {
			t.Errorf("%s left behind", filepath.Join(netns.Dir, n, missing))
		}
	}
}

// del with several names deletes those it can and fails for the others.
func TestDelSeveral(t *testing.T) {
	a, b, missing := newName(t), newName(t), newName(t)
	t.Parallel()
	nslab(t, "netns", "add", a)
	ip(t, "netns", "add", b)
	r := run(t, "", nslabBin, "netns", "del", a, missing, b)
	oneLine(t, r, strconv.Quote(missing))
	for _, n := range []string{a, b} {
		if _, err := os.Lstat(netns.Path(n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q survived del: %v", n, err)
		}
	}
}

// A plain file in /run/netns (an interrupted add) is listed as stale and
// removed by del.
func TestStale(t *testing.T) {
	x, s := newName(t), newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x) // makes sure /run/netns exists
	if err := os.WriteFile(netns.Path(s), nil, 0); err != nil {
		t.Fatal(err)
	}
	if out := nslab(t, "netns", "list"); !strings.Contains(out, s+" (stale") {
		t.Errorf("nslab netns list does not mark %q stale:\n%s", s, out)
	}
	oneLine(t, run(t, "", nslabBin, "netns", "exec", s, "--", "true"), strconv.Quote(s))
	nslab(t, "netns", "del", s)
	if _, err := os.Lstat(netns.Path(s)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale %s survived del: %v", netns.Path(s), err)
	}
}

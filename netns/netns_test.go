package netns_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nsexec"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Keep the main goroutine on the first thread (m0), which the runtime never
// terminates, so that no throwaway namespace thread can be m0.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// ---- helpers shared by the tests of this package ----

// newNamed creates a named namespace with a test name, removed at the end.
func newNamed(t *testing.T) (string, netns.Handle) {
	t.Helper()
	return nslabtest.NewNamedNS(t)
}

// handle opens a netlink handle in ns, closed at the end of the test.
func handle(t *testing.T, ns netns.Handle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// rootNS opens the namespace the test binary started in: the main thread's,
// which never moves (it is locked by init).
func rootNS(t *testing.T) netns.Handle {
	t.Helper()
	h, err := netns.OpenPath("/proc/self/ns/net")
	if err != nil {
		t.Fatalf("open own netns: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// in runs fn on a thread inside ns.
func in(t *testing.T, ns netns.Handle, fn func() error) {
	t.Helper()
	if err := nsthread.Do(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// ident is the kernel's identity of a namespace file.
func ident(t *testing.T, path string) [2]uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return [2]uint64{st.Dev, st.Ino}
}

// testNames returns the entries of /run/netns that carry this process's
// prefix.
func testNames(t *testing.T) []string {
	t.Helper()
	all, err := netns.Names()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, nslabtest.ProcessPrefix()) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// startSleep starts `sleep 600` as a child in target and kills it at the end.
// It returns once the child runs inside the target's namespace.
func startSleep(t *testing.T, target nsexec.Target) *exec.Cmd {
	t.Helper()
	cmd := nsexec.Command(t.Context(), target, "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	want := ident(t, target.Path)
	waitFor(t, "sleep to enter "+target.Path, func() bool {
		var st unix.Stat_t
		err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid), &st)
		return err == nil && [2]uint64{st.Dev, st.Ino} == want
	})
	return cmd
}

// waitFor polls cond until it holds, for at most 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// ---- the netns API ----

func TestCreateOpenDelete(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	name := nslabtest.Name(t, 20)
	var inSetup string
	h, err := netns.Create(name, func(ns netns.Handle) error {
		var err error
		inSetup, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		h.Close()
		if netns.Exists(name) {
			netns.Delete(name)
		}
	})
	if !netns.Exists(name) {
		t.Fatalf("Exists(%q) = false after Create", name)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("net:[%d]", st.Ino); inSetup != want {
		t.Errorf("setup ran in %s, want the new namespace %s", inSetup, want)
	}
	if got := ident(t, netns.Path(name)); got != [2]uint64{st.Dev, st.Ino} {
		t.Errorf("%s is %v, the handle is %v", netns.Path(name), got, [2]uint64{st.Dev, st.Ino})
	}
	if own := ident(t, "/proc/self/ns/net"); own == [2]uint64{st.Dev, st.Ino} {
		t.Error("Create named the caller's own namespace")
	}
	o, err := netns.Open(name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !o.Equal(h) {
		t.Error("Open returned another namespace than Create")
	}
	o.Close()
	if !slices.Contains(testNames(t), name) {
		t.Errorf("Names() lacks %q", name)
	}
	if !netns.IsMounted(netns.Path(name)) {
		t.Errorf("%s is not a mount point", netns.Path(name))
	}
	if err := netns.Delete(name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if netns.Exists(name) || netns.IsMounted(netns.Path(name)) {
		t.Errorf("%s still exists after Delete", netns.Path(name))
	}
	if _, err := os.Lstat(netns.Path(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left behind: %v", netns.Path(name), err)
	}
	// The handle still pins the namespace: it is usable after the name goes.
	h2 := handle(t, h)
	if _, err := h2.LinkByName("lo"); err != nil {
		t.Errorf("namespace unusable through its handle after Delete: %v", err)
	}
}

func TestAddTwiceFails(t *testing.T) {
	name, h := newNamed(t)
	before := testNames(t)
	err := netns.Add(name)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Add = %v, want fs.ErrExist", err)
	}
	checkMessage(t, err, name)
	o, err := netns.Open(name)
	if err != nil {
		t.Fatalf("the first namespace is gone after a failed Add: %v", err)
	}
	defer o.Close()
	if !o.Equal(h) {
		t.Error("a failed Add replaced the namespace")
	}
	if after := testNames(t); !slices.Equal(before, after) {
		t.Errorf("names changed by a failed Add: %v -> %v", before, after)
	}
}

// checkMessage checks the shape of an error a user sees: one line that names
// the namespace.
func checkMessage(t *testing.T, err error, name string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	quoted := fmt.Sprintf("%q", name)
	if len(quoted) > 40 {
		quoted = quoted[:40]
	}
	if !strings.Contains(msg, quoted) {
		t.Errorf("error %q does not name the namespace %s", msg, quoted)
	}
}

func TestInvalidNames(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	cases := []struct{ desc, name string }{
		{"empty", ""},
		{"slash", "/"},
		{"path", nslabtest.ProcessPrefix() + "/x"},
		{"dot", "."},
		{"dot dot", ".."},
		{"256 bytes", nslabtest.ProcessPrefix() + strings.Repeat("a", 256-len(nslabtest.ProcessPrefix()))},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ops := map[string]func() error{
				"Add":    func() error { return netns.Add(tc.name) },
				"Delete": func() error { return netns.Delete(tc.name) },
				"Open": func() error {
					h, err := netns.Open(tc.name)
					if err == nil {
						h.Close()
					}
					return err
				},
				"Attach": func() error { return netns.Attach(tc.name, os.Getpid()) },
			}
			for op, f := range ops {
				err := f()
				if err == nil {
					t.Errorf("%s(%q) succeeded", op, tc.name)
					continue
				}
				checkMessage(t, err, tc.name)
			}
		})
	}
	// Nothing made: other tests run meanwhile, so look for these names only.
	for _, tc := range cases {
		if _, err := os.Lstat(netns.Path(tc.name)); err == nil && tc.name != "" && tc.name != "/" && tc.name != "." && tc.name != ".." {
			t.Errorf("%s exists after failed calls", netns.Path(tc.name))
		}
	}
	if _, err := os.Lstat(netns.Path(nslabtest.ProcessPrefix())); err == nil {
		t.Errorf("%s exists after failed calls", netns.Path(nslabtest.ProcessPrefix()))
	}
}

func TestMissing(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	name := nslabtest.Name(t, 20)
	if err := netns.Delete(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete(missing) = %v, want fs.ErrNotExist", err)
	} else {
		checkMessage(t, err, name)
	}
	if h, err := netns.Open(name); !errors.Is(err, fs.ErrNotExist) {
		h.Close()
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	} else {
		checkMessage(t, err, name)
	}
	if _, err := netns.Pids(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Pids(missing) = %v, want fs.ErrNotExist", err)
	} else {
		checkMessage(t, err, name)
	}
	if _, err := netns.SetNSID(name, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SetNSID(missing) = %v, want fs.ErrNotExist", err)
	} else {
		checkMessage(t, err, name)
	}
	if netns.Exists(name) {
		t.Errorf("Exists(%q) = true", name)
	}
}

// A failing setup leaves nothing: no name, no mount.
func TestCreateSetupFails(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	name := nslabtest.Name(t, 20)
	sentinel := errors.New("nslt setup refused")
	h, err := netns.Create(name, func(netns.Handle) error { return sentinel })
	if err == nil {
		h.Close()
		netns.Delete(name)
		t.Fatal("Create succeeded although setup failed")
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("Create = %v, want it to wrap the setup error", err)
	}
	checkMessage(t, err, name)
	if _, err := os.Lstat(netns.Path(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s left behind after a failed setup: %v", netns.Path(name), err)
	}
	if netns.IsMounted(netns.Path(name)) {
		t.Errorf("%s mounted after a failed setup", netns.Path(name))
	}
}

// A plain file left in /run/netns (an interrupted add) is not a namespace:
// List marks it stale, Open refuses it, Delete removes it.
func TestStaleFile(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	newNamed(t) // makes sure /run/netns exists and is set up
	name := nslabtest.Name(t, 20)
	if err := os.WriteFile(netns.Path(name), nil, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(netns.Path(name)) })
	es, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(es, func(e netns.Entry) bool { return e.Name == name })
	if i < 0 || !es[i].Stale {
		t.Errorf("List entry for a plain file = %+v, want Stale", es)
	}
	if netns.Exists(name) {
		t.Error("Exists is true for a plain file")
	}
	if h, err := netns.Open(name); !errors.Is(err, netns.ErrNotNamespace) {
		h.Close()
		t.Errorf("Open(plain file) = %v, want ErrNotNamespace", err)
	}
	if err := netns.Add(name); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Add over a plain file = %v, want fs.ErrExist (as ip netns add)", err)
	}
	if err := netns.Delete(name); err != nil {
		t.Fatalf("Delete(plain file): %v", err)
	}
	if _, err := os.Lstat(netns.Path(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("plain file survives Delete: %v", err)
	}
}

func TestSetNSIDAndList(t *testing.T) {
	nameA, _ := newNamed(t)
	nameB, _ := newNamed(t)
	t.Parallel()
	id, err := netns.SetNSID(nameA, -1)
	if err != nil {
		t.Fatalf("SetNSID auto: %v", err)
	}
	if id < 0 {
		t.Fatalf("SetNSID auto gave %d", id)
	}
	if again, err := netns.SetNSID(nameA, -1); err != nil || again != id {
		t.Errorf("SetNSID auto again = %d, %v; want %d, nil", again, err, id)
	}
	if _, err := netns.SetNSID(nameA, id+1); !errors.Is(err, fs.ErrExist) {
		t.Errorf("changing an nsid = %v, want fs.ErrExist", err)
	} else {
		checkMessage(t, err, nameA)
	}
	es, err := netns.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range es {
		got[e.Name] = e.NSID
	}
	if got[nameA] != id {
		t.Errorf("List shows %s with id %d, want %d", nameA, got[nameA], id)
	}
	if nsid, ok := got[nameB]; !ok || nsid != -1 {
		t.Errorf("List shows %s with id %d (present %v), want -1", nameB, nsid, ok)
	}
	// The id is the kernel's: ask it directly.
	f, err := netns.Open(nameA)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := handle(t, rootNS(t))
	if kid, err := h.GetNetNsIdByFd(int(f)); err != nil || kid != id {
		t.Errorf("kernel nsid = %d, %v; want %d", kid, err, id)
	}
}

func TestIdentifyAndPids(t *testing.T) {
	name, _ := newNamed(t)
	t.Parallel()
	target, err := nsexec.Named(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd := startSleep(t, target)
	pid := cmd.Process.Pid
	got, err := netns.Identify(pid)
	if err != nil {
		t.Fatalf("Identify(%d): %v", pid, err)
	}
	if !slices.Equal(got, []string{name}) {
		t.Errorf("Identify(%d) = %q, want [%q]", pid, got, name)
	}
	self, err := netns.Identify(0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(self, name) {
		t.Errorf("Identify(self) = %q includes %q", self, name)
	}
	pids, err := netns.Pids(name)
	if err != nil {
		t.Fatalf("Pids: %v", err)
	}
	if !slices.Contains(pids, pid) {
		t.Errorf("Pids(%q) = %v, lacks %d", name, pids, pid)
	}
	if slices.Contains(pids, os.Getpid()) {
		t.Errorf("Pids(%q) = %v includes the test process", name, pids)
	}
}

// Pids also finds a process whose non-main thread is in the namespace (which
// `ip netns pids` misses): this test process, while a Do runs there.
func TestPidsFindsThreads(t *testing.T) {
	name, h := newNamed(t)
	t.Parallel()
	in(t, h, func() error {
		pids, err := netns.Pids(name)
		if err != nil {
			return err
		}
		if !slices.Contains(pids, os.Getpid()) {
			return fmt.Errorf("Pids(%q) = %v while a thread of %d is inside", name, pids, os.Getpid())
		}
		return nil
	})
}

func TestAttach(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	// A process of ours in a namespace of its own.
	cmd := exec.CommandContext(t.Context(), "sleep", "600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep in a new netns: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	name := nslabtest.Name(t, 20)
	if err := netns.Attach(name, pid); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if got, want := ident(t, netns.Path(name)), ident(t, fmt.Sprintf("/proc/%d/ns/net", pid)); got != want {
		t.Errorf("%s is %v, process %d is in %v", netns.Path(name), got, pid, want)
	}
	if got, _ := netns.Identify(pid); !slices.Equal(got, []string{name}) {
		t.Errorf("Identify(%d) = %q, want [%q]", pid, got, name)
	}
	if err := netns.Attach(name, pid); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Attach = %v, want fs.ErrExist", err)
	}
	// Bad pids: a clear error, nothing made.
	other := nslabtest.Name(t, 20)
	for _, bad := range []int{0, -1, 1 << 23} { // above PID_MAX_LIMIT
		err := netns.Attach(other, bad)
		if err == nil {
			t.Errorf("Attach(%d) succeeded", bad)
			netns.Delete(other)
			continue
		}
		checkMessage(t, err, other)
	}
	if _, err := os.Lstat(netns.Path(other)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed Attach left %s: %v", netns.Path(other), err)
	}
}

func TestMonitor(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	newNamed(t) // makes sure /run/netns exists
	ctx, cancel := context.WithCancel(t.Context())
	events := make(chan netns.Event, 1024)
	done := make(chan error, 1)
	go func() {
		done <- netns.Monitor(ctx, func(e netns.Event) {
			if strings.HasPrefix(e.Name, nslabtest.ProcessPrefix()) {
				events <- e
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Monitor: %v", err)
		}
	})
	// Monitor has no "ready" signal: create probe files until it reports one.
	seen := func(probe string) bool {
		timer := time.NewTimer(20 * time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case e := <-events:
				if e.Name == probe {
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
		if seen(probe) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Monitor never reported a probe file")
		}
	}
	name := nslabtest.Name(t, 20)
	if err := netns.Add(name); err != nil {
		t.Fatal(err)
	}
	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	want := []netns.Event{{Op: "add", Name: name}, {Op: "delete", Name: name}}
	var got []netns.Event
	timeout := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case e := <-events:
			if e.Name == name {
				got = append(got, e)
			}
		case <-timeout:
			t.Fatalf("Monitor reported %v, want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Monitor reported %v, want %v", got, want)
	}
}

// Namespaces made by this package are interchangeable with `ip netns`.
func TestIPSeesNamespace(t *testing.T) {
	name, h := newNamed(t)
	t.Parallel()
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("iproute2 is not installed: cannot cross-check")
	}
	out, err := exec.CommandContext(t.Context(), ip, "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if !slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool {
		f := strings.Fields(l)
		return len(f) > 0 && f[0] == name
	}) {
		t.Errorf("ip netns list does not show %q:\n%s", name, out)
	}
	// A link made by ip in the namespace is seen through our handle.
	link := nslabtest.Name(t, 15)
	peer := nslabtest.Name(t, 15)
	if out, err := exec.CommandContext(t.Context(), ip, "-n", name, "link", "add", link, "type", "veth", "peer", "name", peer).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link add: %v: %s", name, err, out)
	}
	if _, err := handle(t, h).LinkByName(link); err != nil {
		t.Errorf("link %q made by ip in %q is not in the namespace: %v", link, name, err)
	}
}

// CreateMany names every namespace with setup run inside it first, like
// Create; a name in use stops it with an error naming that namespace, and
// leaves the holder of the name alone.
func TestCreateMany(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	list := make([]string, 30)
	for i := range list {
		list[i] = nslabtest.Name(t, 20)
	}
	t.Cleanup(func() {
		for _, name := range list {
			if netns.Exists(name) {
				netns.Delete(name)
			}
		}
	})
	inSetup := make([]string, len(list))
	inodes := make([]uint64, len(list))
	err := netns.CreateMany(list, 3, nil, func(i int, ns netns.Handle) error {
		var err error
		inSetup[i], err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}, func(i int, ns netns.Handle) {
		defer ns.Close()
		var st unix.Stat_t
		unix.Fstat(int(ns), &st)
		inodes[i] = st.Ino
	})
	if err != nil {
		t.Fatalf("CreateMany: %v", err)
	}
	seen := map[uint64]bool{}
	for i, name := range list {
		if !netns.IsMounted(netns.Path(name)) {
			t.Errorf("%s is not a mount point", netns.Path(name))
			continue
		}
		id := ident(t, netns.Path(name))
		if id[1] != inodes[i] {
			t.Errorf("%s is inode %d, made reported %d", name, id[1], inodes[i])
		}
		if want := fmt.Sprintf("net:[%d]", id[1]); inSetup[i] != want {
			t.Errorf("setup of %s ran in %s, want %s", name, inSetup[i], want)
		}
		if seen[id[1]] {
			t.Errorf("%s shares its namespace with another name", name)
		}
		seen[id[1]] = true
	}
	if own := ident(t, "/proc/self/ns/net"); seen[own[1]] {
		t.Error("CreateMany named the caller's own namespace")
	}

	// Beneath their mounts the names are links to one file (see anchor):
	// unmounted as `ip netns del` does first, a name shows the file with a
	// link per name, and deleting it leaves the others whole.
	p := netns.Path(list[0])
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
		t.Fatalf("unmount %s: %v", p, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	if uint64(st.Nlink) != uint64(len(list)) {
		t.Errorf("%s beneath its mount has %d links, want %d (one per name)", p, st.Nlink, len(list))
	}
	if err := netns.Delete(list[0]); err != nil {
		t.Fatalf("delete %s: %v", list[0], err)
	}
	for _, name := range list[1:] {
		if !netns.IsMounted(netns.Path(name)) {
			t.Errorf("%s is not a mount point after %s was deleted", netns.Path(name), list[0])
		}
	}

	// A second round whose 4th name is taken (by the first round).
	again := []string{nslabtest.Name(t, 20), nslabtest.Name(t, 20), nslabtest.Name(t, 20), list[7], nslabtest.Name(t, 20)}
	t.Cleanup(func() {
		for _, name := range again[:3] {
			if netns.Exists(name) {
				netns.Delete(name)
			}
		}
	})
	before := ident(t, netns.Path(list[7]))
	err = netns.CreateMany(again, 1, nil, nil, nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateMany over a taken name = %v, want fs.ErrExist", err)
	}
	checkMessage(t, err, list[7])
	if ident(t, netns.Path(list[7])) != before {
		t.Errorf("the holder of %s was replaced", list[7])
	}
	for _, name := range again[:3] {
		if !netns.Exists(name) {
			t.Errorf("%s (made before the error) is missing", name)
		}
	}
	if _, err := os.Lstat(netns.Path(again[4])); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s made after the error: %v", again[4], err)
	}
}

package nslabtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netns"
	vnetns "github.com/vishvananda/netns"
)

// snapshot is what a test binary may not change on the machine.
type snapshot struct {
	names  []string // entries of /run/netns
	mounts []string // mount points under /run/netns
	links  []string // links of the root namespace
}

func take() snapshot {
	var s snapshot
	s.names, _ = netns.Names()
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && strings.HasPrefix(f[4], netns.Dir+"/") {
				s.mounts = append(s.mounts, f[4])
			}
		}
	}
	if h, err := nl.NewHandle(vnetns.None()); err == nil {
		if ls, err := nl.LinkList(h); err == nil {
			for _, l := range ls {
				s.links = append(s.links, l.Attrs().Name)
			}
		}
		h.Close()
	}
	slices.Sort(s.names)
	slices.Sort(s.mounts)
	slices.Sort(s.links)
	return s
}

// added lists what after has and before has not, among the names that carry
// this process's prefix.
func added(before, after []string) []string {
	var out []string
	for _, a := range after {
		if strings.Contains(a, ProcessPrefix()) && !slices.Contains(before, a) {
			out = append(out, a)
		}
	}
	return out
}

// leaks lists what is in now and not in base.
func (base snapshot) leaks(now snapshot) []string {
	var out []string
	for _, n := range added(base.names, now.names) {
		out = append(out, "netns name "+filepath.Join(netns.Dir, n))
	}
	for _, m := range added(base.mounts, now.mounts) {
		out = append(out, "mount "+m)
	}
	for _, l := range added(base.links, now.links) {
		out = append(out, "root-namespace link "+l)
	}
	return out
}

// foreignThreads lists the threads of this process whose network namespace
// differs from the process's starting one.
func foreignThreads(want string) []string {
	tasks, _ := os.ReadDir("/proc/self/task")
	var out []string
	for _, t := range tasks {
		got, err := os.Readlink(filepath.Join("/proc/self/task", t.Name(), "ns/net"))
		if err == nil && got != want {
			out = append(out, fmt.Sprintf("thread %s in %s", t.Name(), got))
		}
	}
	return out
}

// Main runs the tests and then fails the run if any namespace name, netns
// mount or root-namespace link that carries this process's prefix (see Name)
// was added and not removed, or if any thread of the test binary is left in
// another network namespace. Leftovers are removed after being reported. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }
func Main(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run()
	}
	start, _ := os.Readlink("/proc/self/ns/net")
	base := take()
	code := m.Run()
	// Namespace teardown is asynchronous: the peers of veths whose
	// namespace was freed vanish a little later. Wait for the kernel, with
	// a deadline, before calling anything a leak.
	var leaks []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaks = base.leaks(take())
		if len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Files labs leave on purpose (their event history outlives them).
	for _, dir := range []string{"/run/nslab/.events/", "/run/nslab/.locks/"} {
		fs, _ := filepath.Glob(dir + ProcessPrefix() + "*")
		for _, f := range fs {
			os.Remove(f)
		}
	}
	threads := foreignThreads(start)
	if len(leaks) > 0 || len(threads) > 0 {
		errorf("nslabtest: the tests left these behind:\n")
		for _, l := range append(leaks, threads...) {
			errorf("  %s\n", l)
		}
		removeLeftovers()
		if code == 0 {
			code = 1
		}
	}
	return code
}

// removeLeftovers deletes this process's test objects from /run/netns and
// from the root namespace's links.
func removeLeftovers() {
	ns, _ := netns.Names()
	for _, n := range ns {
		if strings.Contains(n, ProcessPrefix()) {
			netns.Delete(n)
		}
	}
	if h, err := nl.NewHandle(vnetns.None()); err == nil {
		if ls, err := nl.LinkList(h); err == nil {
			for _, l := range ls {
				if strings.Contains(l.Attrs().Name, ProcessPrefix()) {
					h.LinkDel(l)
				}
			}
		}
		h.Close()
	}
}

package lab_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
)

// buildNslab builds the nslab command once per test binary.
func buildNslab(t *testing.T) string {
	t.Helper()
	nslabOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nslab-bin-")
		if err != nil {
			nslabErr = err
			return
		}
		nslabBin = filepath.Join(dir, "nslab")
		out, err := exec.Command("go", "build", "-o", nslabBin, "../cmd/nslab").CombinedOutput()
		if err != nil {
			nslabErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if nslabErr != nil {
		t.Fatal(nslabErr)
	}
	return nslabBin
}

// A star with a router, a process and a host end: every kind of object.
const crashLab = `
name: x
nodes:
  r:
    sysctls: {net.ipv4.ip_forward: 1}
    interfaces:
      eth0: {addresses: [198.18.7.1/24, "fd00:7::1/64"]}
      eth1: {addresses: [198.18.8.1/24]}
  h1: {run: ["sleep 300"]}
  h2: {}
  h3: {}
switches:
  sw: {subnets: [198.18.7.0/24, "fd00:7::/64"]}
links:
  - endpoints: [r:eth0, sw]
  - endpoints: [h1:eth0, sw]
  - endpoints: [h2:eth0, sw]
  - endpoints: [h3:eth0, sw]
  - endpoints: [r:eth1, host:HOSTIF]
`

// crashLabFile builds nslab and writes crashLab under a unique lab name and
// host interface, taken down at the end of the test.
func crashLabFile(t *testing.T) (bin, name, hostIf, file string) {
	t.Helper()
	nslabtest.RequireRoot(t)
	bin = buildNslab(t)
	name = nslabtest.Name(t, 12)
	hostIf = nslabtest.Name(t, 15)
	file = filepath.Join(t.TempDir(), "lab.yaml")
	y := strings.Replace(strings.Replace(crashLab, "name: x", "name: "+name, 1), "HOSTIF", hostIf, 1)
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command(bin, "down", name).Run() })
	return bin, name, hostIf, file
}

// TestKill9Converges kills `nslab up` (SIGKILL, through the NSLAB_CRASH_AT
// hook) after every step of its work in turn, then checks that `nslab down`
// leaves nothing behind, and that `nslab up` after a crash builds a working
// lab.
func TestKill9Converges(t *testing.T) {
	bin, name, hostIf, file := crashLabFile(t)
	run := func(env string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	nsNames := []string{"r", "h1", "h2", "h3", "sw"}
	assertGone := func(when string) {
		t.Helper()
		for _, n := range nsNames {
			if _, err := os.Lstat(netns.Path(name + "-" + n)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: %s-%s left in /run/netns", when, name, n)
			}
		}
		if netns.IsMounted(netns.Path(name + "-r")) {
			t.Errorf("%s: mount left", when)
		}
		if out, _ := exec.Command("ip", "link", "show", hostIf).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
			t.Errorf("%s: host link %s left:\n%s", when, hostIf, out)
		}
		if ps := lab.LabProcs(name); len(ps) > 0 {
			t.Errorf("%s: processes of the lab left: %v", when, ps)
		}
	}
	// How many steps does a whole up take? The hook counts them; crash at
	// each one in turn (capped, spread over the range).
	for step := 1; step <= 24; step++ {
		out, err := run(fmt.Sprintf("NSLAB_CRASH_AT=%d", step), "up", "-q", file)
		var ee *exec.ExitError
		crashed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled()
		if !crashed {
			// The up finished before reaching the step: all steps covered.
			if err != nil {
				t.Fatalf("up (crash at %d) failed without crashing: %v\n%s", step, err, out)
			}
			t.Logf("up has %d steps; crashed at each of 1..%d", step-1, step-1)
			if out, err := run("", "down", name); err != nil {
				t.Fatalf("down: %v\n%s", err, out)
			}
			assertGone("down after a full up")
			break
		}
		if step%2 == 0 {
			// down after the crash removes everything.
			if out, err := run("", "down", name); err != nil {
				t.Fatalf("down after crash at step %d: %v\n%s", step, err, out)
			}
			assertGone(fmt.Sprintf("down after crash at step %d", step))
		} else {
			// up after the crash converges to a working lab.
			if out, err := run("", "up", "-q", file); err != nil {
				t.Fatalf("up after crash at step %d: %v\n%s", step, err, out)
			}
			if out, err := run("", "check", name); err != nil {
				t.Fatalf("check after crash at step %d and up: %v\n%s", step, err, out)
			}
			if out, err := run("", "down", name); err != nil {
				t.Fatalf("down: %v\n%s", err, out)
			}
			assertGone(fmt.Sprintf("up+down after crash at step %d", step))
		}
	}
	// A crash during down, then down again.
	if out, err := run("", "up", "-q", file); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	for step := 1; step <= 4; step++ {
		run(fmt.Sprintf("NSLAB_CRASH_AT=%d", step), "down", name)
	}
	if out, err := run("", "down", name); err != nil && !strings.Contains(out, "no such lab") {
		t.Fatalf("down after crashed downs: %v\n%s", err, out)
	}
	assertGone("down after crashed downs")
	if _, err := lab.GetStatus(name); !errors.Is(err, lab.ErrNoLab) {
		t.Errorf("status after down: %v", err)
	}
}

var (
	nslabOnce sync.Once
	nslabBin  string
	nslabErr  error
)

// TestClosedOutputDoesNotStopUp runs `nslab up` and `nslab down` with their
// output going to a pipe nobody reads any more, as in `nslab up | head`:
// they used to die of SIGPIPE at their first line of progress, leaving the
// lab half-made. Both must finish their work.
func TestClosedOutputDoesNotStopUp(t *testing.T) {
	bin, name, _, file := crashLabFile(t)
	closed := func(args ...string) {
		t.Helper()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close() // the reader is gone before the first line
		defer w.Close()
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			t.Errorf("nslab %s with its output closed: %v", strings.Join(args, " "), err)
		}
	}
	closed("up", file)
	if out, err := exec.Command(bin, "check", name).CombinedOutput(); err != nil {
		t.Fatalf("check after an up whose output was closed: %v\n%s", err, out)
	}
	closed("down", name)
	if _, err := lab.GetStatus(name); !errors.Is(err, lab.ErrNoLab) {
		t.Errorf("status after a down whose output was closed: %v", err)
	}
	for _, n := range []string{"r", "h1", "h2", "h3", "sw"} {
		if _, err := os.Lstat(netns.Path(name + "-" + n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s-%s left in /run/netns after down", name, n)
		}
	}
}

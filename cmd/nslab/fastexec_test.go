//go:build cgo

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
)

// runEnv is run with extra environment variables and no stdin.
func runEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nslabBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("nslab %q: %v", args, err)
		}
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), cmd.ProcessState}
}

// inittrace makes the Go runtime print a line for every package it
// initialises: a command run before the runtime starts prints none.
var (
	fastEnv = []string{"GODEBUG=inittrace=1"}
	slowEnv = []string{"GODEBUG=inittrace=1", "NSLAB_FASTEXEC=0"}
)

// execScript prints what a command sees of its namespace: the network
// namespace, its devices, the /etc/netns overlay and its argv.
const execScript = `readlink /proc/self/ns/net; ls /sys/class/net; cat /etc/hosts; printf '%s|' "$@"; exit 5`

// TestExecFastPath checks that `nslab netns exec` runs the command before the
// Go runtime starts, and that the command then sees and gets exactly what the
// Go path (NSLAB_FASTEXEC=0) gives it: the namespace, /sys, the /etc/netns
// overlay, argv as given, its own mount namespace, its exit status.
func TestExecFastPath(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	etcFile(t, x, "hosts", "198.18.0.9 "+x+"\n")
	args := []string{"netns", "exec", x, "--", "sh", "-c", execScript, "sh", "a b", "--", "-x"}
	fast, slow := runEnv(t, fastEnv, args...), runEnv(t, slowEnv, args...)
	if fast.stderr != "" {
		t.Errorf("the Go runtime started before the command (stderr %.200q)", fast.stderr)
	}
	if !strings.Contains(slow.stderr, "init ") {
		t.Fatalf("NSLAB_FASTEXEC=0: no inittrace lines on stderr (%.200q): the check above proves nothing", slow.stderr)
	}
	if fast.stdout != slow.stdout || fast.code != slow.code {
		t.Errorf("fast path: exit %d, stdout %q; Go path: exit %d, stdout %q", fast.code, fast.stdout, slow.code, slow.stdout)
	}
	want := "net:[" + strconv.FormatUint(statID(t, netns.Path(x))[1], 10) + "]\nlo\n198.18.0.9 " + x + "\na b|--|-x|"
	if fast.stdout != want || fast.code != 5 {
		t.Errorf("fast path: exit %d, stdout %q; want 5, %q", fast.code, fast.stdout, want)
	}
	host, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	if got := runEnv(t, nil, "netns", "exec", x, "readlink", "/proc/self/ns/mnt"); got.stdout == host+"\n" || got.code != 0 {
		t.Errorf("the command runs in the host's mount namespace (%q, exit %d)", got.stdout, got.code)
	}
}

// TestExecFastPathFallsBack checks that what the fast path does not take
// (flags, missing names, commands that cannot be executed, unbindable
// overlay files) ends as the Go code says, with its messages.
func TestExecFastPathFallsBack(t *testing.T) {
	x := newName(t)
	t.Parallel()
	nslab(t, "netns", "add", x)
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("no interpreter line\x00"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := nslabtest.Name(t, 20)
	for _, tc := range []struct {
		desc string
		args []string
		code int
		want string // in the one-line message
	}{
		{"missing namespace", []string{"netns", "exec", missing, "--", "true"}, 1, strconv.Quote(missing)},
		{"missing command", []string{"netns", "exec", x, "--", missing}, 127, strconv.Quote(missing)},
		{"no command", []string{"netns", "exec", x, "--"}, 1, strconv.Quote(x)},
		{"execve fails", []string{"netns", "exec", x, "--", notExec}, 126, "exec format error"},
		{"missing lab", []string{"exec", missing, "h1", "--", "true"}, 1, strconv.Quote(missing)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := runEnv(t, nil, tc.args...)
			oneLine(t, r, tc.want)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d", r.code, tc.code)
			}
		})
	}
	t.Run("unbindable overlay file", func(t *testing.T) {
		f := nslabtest.Name(t, 20)
		etcFile(t, x, f, "x")
		r := runEnv(t, fastEnv, "netns", "exec", x, "--", "true")
		if r.code != 0 || !strings.Contains(r.stderr, "/etc/"+f) {
			t.Errorf("exit %d, stderr %.300q: want 0 and the Go path's warning about /etc/%s", r.code, r.stderr, f)
		}
	})
}

// TestLabExecFastPath checks `nslab exec LAB NODE` the same way, on a lab.
func TestLabExecFastPath(t *testing.T) {
	nslabtest.RequireRoot(t)
	t.Parallel()
	name := nslabtest.Name(t, 12)
	file := filepath.Join(t.TempDir(), "lab.yaml")
	y := "name: " + name + "\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [198.18.77.1/24]}}\n" +
		"  h2:\n    interfaces: {eth0: {addresses: [198.18.77.2/24]}}\nlinks:\n  - endpoints: [h1:eth0, h2:eth0]\n"
	if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(nslabBin, "down", name).CombinedOutput(); err != nil {
			t.Errorf("down %s: %v: %s", name, err, out)
		}
	})
	nslab(t, "up", "-q", file)
	args := []string{"exec", name, "h1", "--", "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net; exit 4"}
	fast, slow := runEnv(t, fastEnv, args...), runEnv(t, slowEnv, args...)
	if fast.stderr != "" {
		t.Errorf("the Go runtime started before the command (stderr %.200q)", fast.stderr)
	}
	if !strings.Contains(slow.stderr, "init ") {
		t.Fatalf("NSLAB_FASTEXEC=0: no inittrace lines on stderr (%.200q)", slow.stderr)
	}
	want := "net:[" + strconv.FormatUint(statID(t, netns.Path(name+"-h1"))[1], 10) + "]\neth0\nlo\n"
	for _, r := range []result{fast, slow} {
		if r.stdout != want || r.code != 4 {
			t.Errorf("exit %d, stdout %q; want 4, %q", r.code, r.stdout, want)
		}
	}
	r := runEnv(t, nil, "exec", name, "nosuch", "--", "true")
	oneLine(t, r, `"nosuch"`)
	if r.code != 1 {
		t.Errorf("exec in a missing node: exit status %d, want 1", r.code)
	}
}

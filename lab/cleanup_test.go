package lab

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
)

// Cleanup takes down a lab whose up (or down) was interrupted, leaves a
// running lab alone, and takes that one down too with All.
func TestCleanupLeavesRunningLabs(t *testing.T) {
	nslabtest.RequireRoot(t)
	up := func() *topo.Spec {
		t.Helper()
		spec, err := topo.Parse([]byte("name: x\nnodes:\n  a: {}\n  b: {}\nlinks:\n  - endpoints: [a:eth0, b:eth0]\n"), "cleanup.yaml")
		if err != nil {
			t.Fatal(err)
		}
		spec.Name = nslabtest.Name(t, topo.MaxLabName)
		t.Cleanup(func() { Down(t.Context(), spec.Name, Options{}) })
		if _, err := Up(t.Context(), spec, Options{}); err != nil {
			t.Fatal(err)
		}
		return spec
	}
	running, crashed := up(), up()
	// Only these two: other test processes' labs are not this test's to
	// take down (with All).
	listLabs = func() ([]string, error) { return []string{running.Name, crashed.Name}, nil }
	t.Cleanup(func() { listLabs = Labs })
	st, err := loadState(crashed.Name)
	if err != nil {
		t.Fatal(err)
	}
	st.Dirty = true // as an up killed half-way leaves it
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	// What a down killed while removing the state directory leaves.
	leftover := nslabtest.Name(t, topo.MaxLabName)
	if err := os.MkdirAll(labDir(leftover), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(labDir(leftover)) })
	if err := os.WriteFile(modelPath(leftover), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	var notes []string
	done, err := Cleanup(t.Context(), Options{Log: func(s string) { notes = append(notes, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if !netns.Exists(running.NetNSName("a")) {
		t.Fatalf("cleanup took down the running lab %s (removed %v)", running.Name, done)
	}
	if netns.Exists(crashed.NetNSName("a")) || netns.Exists(crashed.NetNSName("b")) {
		t.Errorf("cleanup left the interrupted lab %s (removed %v)", crashed.Name, done)
	}
	if st, _ := loadState(crashed.Name); st != nil {
		t.Errorf("cleanup left the interrupted lab's state")
	}
	if _, err := os.Stat(labDir(leftover)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup left the state directory of a lab without state (%v; removed %v)", err, done)
	}
	found := false
	for _, n := range notes {
		found = found || n == "lab "+running.Name+" is running: left alone (nslab down "+running.Name+", or nslab cleanup --all)"
	}
	if !found {
		t.Errorf("no note about the running lab left alone: %q", notes)
	}
	if _, err := Cleanup(t.Context(), Options{All: true}); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(running.NetNSName("a")) {
		t.Errorf("cleanup with All left the running lab %s", running.Name)
	}
}

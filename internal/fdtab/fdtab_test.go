package fdtab

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fdSize reads the size of the descriptor table (FDSize in
// /proc/self/status).
func fdSize(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "FDSize:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no FDSize in /proc/self/status")
	return 0
}

func TestGrow(t *testing.T) {
	want := fdSize(t) * 4
	Grow(want)
	if got := fdSize(t); got < want {
		t.Fatalf("after Grow(%d) the table has %d entries", want, got)
	}
	// The duplicate it made to grow the table is gone.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if n, _ := strconv.Atoi(e.Name()); n >= want/2 {
			target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
			t.Errorf("descriptor %s (%s) left open", e.Name(), target)
		}
	}
}

func TestGrowBeyondLimit(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	before := fdSize(t)
	Grow(int(min(rl.Cur, 1<<40)) + 1)
	if got := fdSize(t); got != before {
		t.Fatalf("Grow beyond RLIMIT_NOFILE (%d) changed the table: %d -> %d entries", rl.Cur, before, got)
	}
}

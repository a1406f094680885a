package hugeheap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

const childEnv = "NSLAB_HUGEHEAP_TEST_CHILD"

// TestMain lets the test run itself as a fresh process, with or without
// Reserve, which then reports the huge pages behind a new allocation.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "reserve":
		if !Reserve() {
			fmt.Println("not reserved")
			os.Exit(0)
		}
	}
	b := make([]byte, 16<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	kb, err := anonHugeKB(uintptr(unsafe.Pointer(&b[0])))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println(kb)
	os.Exit(0)
}

// anonHugeKB returns the AnonHugePages of the mapping that holds addr.
func anonHugeKB(addr uintptr) (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping: "lo-hi perms ..."
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if in && strings.HasPrefix(line, "AnonHugePages:") {
			return strconv.Atoi(strings.Fields(line)[1])
		}
	}
	return 0, fmt.Errorf("no mapping holds %#x", addr)
}

func child(t *testing.T, mode string) string {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), childEnv+"="+mode)
	out, err := c.Output()
	if err != nil {
		t.Fatalf("child (%s): %v: %s", mode, err, out)
	}
	return strings.TrimSpace(string(out))
}

// With the kernel in madvise mode, a heap allocation after Reserve is
// backed by huge pages, and the same allocation without it is not; in any
// other mode Reserve does nothing and says so.
func TestReserve(t *testing.T) {
	mode, err := os.ReadFile(modeFile)
	if err != nil {
		t.Fatalf("%s: %v (the test needs a kernel with transparent huge pages)", modeFile, err)
	}
	got := child(t, "reserve")
	if !bytes.Contains(mode, []byte("[madvise]")) {
		if got != "not reserved" {
			t.Fatalf("THP mode %q: Reserve reported %q, want that it did nothing", mode, got)
		}
		return
	}
	with, err := strconv.Atoi(got)
	if err != nil {
		t.Fatalf("child with Reserve: %s", got)
	}
	without, err := strconv.Atoi(child(t, "plain"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("16 MiB of fresh heap: %d kB in huge pages after Reserve, %d kB without", with, without)
	if with < 8<<10 {
		t.Errorf("after Reserve, 16 MiB of fresh heap had %d kB of huge pages, want at least 8 MiB", with)
	}
	if without != 0 {
		t.Errorf("without Reserve, 16 MiB of fresh heap had %d kB of huge pages, want none (madvise mode)", without)
	}
}

// Package nslabtest helps tests that need real network namespaces: it
// creates throwaway namespaces that are removed when the test ends, and its
// Main fails the test binary when anything a test made is left behind on
// the machine, or when a thread was handed back to the Go scheduler inside a
// foreign namespace.
//
// Kernel objects made through this package carry the prefix "nslt-".
package nslabtest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/netns"
	vnetns "github.com/vishvananda/netns"
)

// Prefix starts every kernel object name a test makes.
const Prefix = names.TestPrefix

// token is unique to this test process and follows Prefix in every name that
// Name returns, so that the leak check of one test binary never mistakes
// another's objects (go test runs packages in parallel) for its own.
var token = names.Unique("", 4)

// ProcessPrefix is Prefix plus this process's token: every name Name returns
// starts with it.
func ProcessPrefix() string { return Prefix + token }

// Importing nslabtest keeps the test binary's main goroutine on the main OS
// thread. The Go runtime never ends that thread: were a throwaway goroutine
// that dies locked inside a foreign namespace ever scheduled there, the
// runtime would wedge the thread in that namespace instead of ending it,
// and the namespace could never be freed. (nslab's main does the same.)
func init() { runtime.LockOSThread() }

// CI reports whether the tests run in continuous integration (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// RequireRoot stops the test unless it runs as root: it fails in CI, where
// tests that need the kernel must run, and skips elsewhere.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if CI() {
		tb.Fatal("this test needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and CI=true: run the suite as root")
	}
	tb.Skip("needs root: run as root, e.g. go test -exec sudo ./...")
}

// Name returns a unique name for a test object, n bytes long in all: the
// ProcessPrefix followed by random hex. n = 15 fits an interface name; 12
// fits a lab name.
func Name(tb testing.TB, n int) string {
	tb.Helper()
	p := ProcessPrefix()
	if n < len(p)+3 || n > 64 {
		tb.Fatalf("nslabtest.Name: length %d is not in [%d, 64]", n, len(p)+3)
	}
	return names.Unique(p, n-len(p))
}

// NewNS returns a new, unnamed network namespace that lives until the test
// ends (as long as nothing else holds it).
func NewNS(tb testing.TB) vnetns.NsHandle {
	tb.Helper()
	RequireRoot(tb)
	h, err := nsthread.Unshare(nil)
	if err != nil {
		tb.Fatalf("new netns: %v", err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// NewNamedNS creates a named namespace with a unique "nslt-" name in
// /run/netns, removed when the test ends, and returns its name and an open
// handle (closed at the end of the test too).
func NewNamedNS(tb testing.TB) (string, vnetns.NsHandle) {
	tb.Helper()
	RequireRoot(tb)
	name := Name(tb, 20)
	h, err := netns.Create(name, nil)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() {
		h.Close()
		if err := netns.Delete(name); err != nil {
			tb.Errorf("cleanup: %v", err)
		}
	})
	return name, h
}

func errorf(format string, args ...any) { fmt.Fprintf(os.Stderr, format, args...) }

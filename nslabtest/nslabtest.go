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
	"testing"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/netns"
	vnetns "github.com/vishvananda/netns"
)

// Prefix starts every kernel object name a test makes.
const Prefix = names.TestPrefix

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

// Name returns a unique name for a test object: Prefix plus random hex,
// n bytes long in all (at most 15, to fit an interface name).
func Name(tb testing.TB, n int) string {
	tb.Helper()
	if n <= len(Prefix) || n > 64 {
		tb.Fatalf("nslabtest.Name: bad length %d", n)
	}
	return names.Unique(Prefix, n-len(Prefix))
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

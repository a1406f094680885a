package nl_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/iproute"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
)

// Keep main on m0 so no goroutine dying in a throwaway namespace wedges it.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// handle returns a handle in a new namespace with veth v0/v1 (down), and a
// batch holding 198.18.0.1/24 on v0 then v0 up, not yet sent.
func handle(t *testing.T) (*netlink.Handle, *nl.Batch) {
	t.Helper()
	h, err := nl.NewHandle(nslabtest.NewNS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := netdev.AddVeth(h, netdev.End{Name: "v0"}, netdev.End{Name: "v1"}, nil); err != nil {
		t.Fatal(err)
	}
	b := nl.NewBatch(h)
	if err := ipaddr.QueueReplace(b, "v0", netip.MustParsePrefix("198.18.0.1/24"), ipaddr.Options{}); err != nil {
		t.Fatal(err)
	}
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	if err := netdev.QueueSetByIndex(b, int32(v0.Attrs().Index), "v0", true, ""); err != nil {
		t.Fatal(err)
	}
	return h, b
}

func routes(t *testing.T, h *netlink.Handle) map[string]bool {
	t.Helper()
	rs, err := iproute.List(h)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, r := range rs {
		m[r.String()] = true
	}
	return m
}

// Thousands of requests go in several sendmsg calls of bounded size, in
// order (the link is up before the routes that need it).
func TestBatchLarge(t *testing.T) {
	t.Parallel()
	h, b := handle(t)
	const n = 2000 // ~130 KiB of requests
	for i := range n {
		r := iproute.Route{To: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32), Via: netip.MustParseAddr("198.18.0.2")}
		if err := iproute.QueueReplace(b, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != n+2 {
		t.Errorf("Len = %d, want %d", b.Len(), n+2)
	}
	if err := b.Exec(); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if b.Len() != 0 {
		t.Errorf("Len after Exec = %d, want 0", b.Len())
	}
	got := routes(t, h)
	for i := range n {
		r := fmt.Sprintf("198.19.%d.%d/32 via 198.18.0.2 dev v0", i>>8, i&255)
		if !got[r] {
			t.Fatalf("route %q missing after Exec (have %d routes)", r, len(got))
		}
	}
	if err := b.Exec(); err != nil {
		t.Errorf("empty Exec: %v", err)
	}
}

// Exec reports the first failure, wrapped by its request; the kernel still
// runs the requests after it, and the handle stays usable.
func TestBatchErrors(t *testing.T) {
	t.Parallel()
	h, b := handle(t)
	bad1 := iproute.Route{To: netip.MustParsePrefix("198.19.1.0/24"), Via: netip.MustParseAddr("198.20.0.1")}
	bad2 := iproute.Route{To: netip.MustParsePrefix("198.19.2.0/24"), Via: netip.MustParseAddr("198.21.0.1")}
	good := iproute.Route{To: netip.MustParsePrefix("198.19.3.0/24"), Via: netip.MustParseAddr("198.18.0.2")}
	for _, r := range []iproute.Route{bad1, bad2, good} {
		if err := iproute.QueueReplace(b, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	err := b.Exec()
	if !errors.Is(err, syscall.ENETUNREACH) || !strings.Contains(err.Error(), bad1.String()) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Exec = %v, want one line: ENETUNREACH for %s", err, bad1)
	}
	if !routes(t, h)[good.String()+" dev v0"] {
		t.Errorf("%s missing: the kernel runs the requests after a failure", good)
	}
	// The failure's acknowledgement was consumed: the next request on the
	// handle gets its own answer.
	if err := iproute.Replace(h, iproute.Route{To: netip.MustParsePrefix("198.19.4.0/24"), Via: netip.MustParseAddr("198.18.0.2")}); err != nil {
		t.Errorf("Replace after a failed batch: %v", err)
	}
	// Only the last failing request in the batch: the error is still found.
	if err := iproute.QueueReplace(b, bad2, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(); !errors.Is(err, syscall.ENETUNREACH) || !strings.Contains(err.Error(), bad2.String()) {
		t.Errorf("Exec of one bad request = %v, want ENETUNREACH for %s", err, bad2)
	}

	z := nl.NewBatch(&netlink.Handle{})
	netdev.QueueSetByIndex(z, 1, "lo", true, "")
	if err := z.Exec(); !errors.Is(err, nl.ErrNoHandle) {
		t.Errorf("Exec on a socketless handle = %v, want ErrNoHandle", err)
	}
}

// ExecAll reports each request's outcome, even when hundreds fail: every
// failure is answered with an error message, and a sendmsg of too many of
// them would fill the socket's receive buffer and lose answers (ENOBUFS,
// or a wait for a final acknowledgement that never comes).
func TestBatchExecAllManyFailures(t *testing.T) {
	t.Parallel()
	_, b := handle(t)
	if err := b.Exec(); err != nil { // the helper's own requests
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		r := iproute.Route{To: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32), Via: netip.MustParseAddr("198.20.0.1")}
		if i%2 == 1 {
			r.Via = netip.MustParseAddr("198.18.0.2") // reachable: succeeds
		}
		if err := iproute.QueueReplace(b, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var errs []error
	var err error
	go func() {
		defer close(done)
		errs, err = b.ExecAll()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("ExecAll of 1000 requests, 500 failing, did not return within 30 s")
	}
	if err != nil {
		t.Fatalf("ExecAll: %v", err)
	}
	if len(errs) != n {
		t.Fatalf("ExecAll returned %d outcomes, want %d", len(errs), n)
	}
	for i, e := range errs {
		if failed := e != nil; failed != (i%2 == 0) {
			t.Fatalf("request %d: error %v, want failure %v", i, e, i%2 == 0)
		}
		if e != nil && !errors.Is(e, syscall.ENETUNREACH) {
			t.Fatalf("request %d: %v, want ENETUNREACH", i, e)
		}
	}
}

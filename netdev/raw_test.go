package netdev

import (
	"errors"
	"testing"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/nslabtest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestRawRequestUsesHandleSocket guards the reflection in internal/nl.Sockets
// against a new vishvananda/netlink layout: the raw request must carry the
// handle's own NETLINK_ROUTE socket.
func TestRawRequestUsesHandleSocket(t *testing.T) {
	ns := nslabtest.NewNS(t)
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req, err := newRequest(h, unix.RTM_GETLINK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if req.Sockets[unix.NETLINK_ROUTE] == nil || req.Sockets[unix.NETLINK_ROUTE].Socket == nil {
		t.Fatal("request has no NETLINK_ROUTE socket")
	}
	if _, err := newRequest(&netlink.Handle{}, unix.RTM_GETLINK, 0); !errors.Is(err, ErrNoHandle) {
		t.Errorf("zero handle: %v, want ErrNoHandle", err)
	}
	if _, err := newRequest(nil, unix.RTM_GETLINK, 0); !errors.Is(err, ErrNoHandle) {
		t.Errorf("nil handle: %v, want ErrNoHandle", err)
	}
}

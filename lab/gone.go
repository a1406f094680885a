package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/vishvananda/netlink"
	vnl "github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// goneTimeout bounds the wait for devices the kernel removes on its own.
const goneTimeout = 30 * time.Second

// waitGone returns once none of the named devices exists in the namespace
// ns (nsName in messages; h is a handle there). They are the ends of veth
// pairs whose other end went with a deleted namespace: the kernel removes
// them when it frees that namespace, some time after its name is gone, and
// a device of the same name cannot be made before. It waits on the
// kernel's link events, subscribed to before it looks, so that no removal
// is missed.
func waitGone(ctx context.Context, ns vnetns.NsHandle, nsName string, h *netlink.Handle, names []string) error {
	if len(names) == 0 {
		return nil
	}
	where := "the root namespace"
	if nsName != "" {
		where = fmt.Sprintf("netns %q", nsName)
	}
	var sock *vnl.NetlinkSocket
	err := nsthread.Do(ns, func() error {
		var err error
		sock, err = vnl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
		return err
	})
	if err != nil {
		return fmt.Errorf("subscribe to link events in %s: %w", where, err)
	}
	defer sock.Close()
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	if err := sock.SetReceiveTimeout(&tv); err != nil {
		return fmt.Errorf("subscribe to link events in %s: %w", where, err)
	}
	left := map[string]bool{}
	recheck := func() {
		clear(left)
		for _, n := range names {
			var nf netlink.LinkNotFoundError
			if _, err := h.LinkByName(n); !errors.As(err, &nf) {
				left[n] = true
			}
		}
	}
	recheck()
	deadline := time.Now().Add(goneTimeout)
	for len(left) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devices %s in %s were not removed by the kernel within %s", strings.Join(slicesSorted(left), ", "), where, goneTimeout)
		}
		msgs, _, err := sock.Receive()
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			recheck() // events were lost: look again
			continue
		case err != nil:
			return fmt.Errorf("link events in %s: %w", where, err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_DELLINK || len(m.Data) < unix.SizeofIfInfomsg {
				continue
			}
			attrs, err := vnl.ParseRouteAttr(m.Data[unix.SizeofIfInfomsg:])
			if err != nil {
				continue
			}
			for _, a := range attrs {
				if a.Attr.Type == unix.IFLA_IFNAME {
					delete(left, string(bytes.TrimRight(a.Value, "\x00")))
				}
			}
		}
	}
	return nil
}

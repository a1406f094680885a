// Package nl opens vishvananda/netlink handles bound to one network namespace
// and wraps the dump calls that the kernel may interrupt.
//
// A handle made by NewHandle acts in its namespace from any goroutine, without
// setns, and pins that namespace until it is closed.
package nl

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Timeout bounds every request made on a handle from NewHandle.
const Timeout = 10 * time.Second

// NewHandle returns a NETLINK_ROUTE handle whose socket lives in ns. A closed
// or None ns means the calling thread's namespace.
func NewHandle(ns vnetns.NsHandle) (*netlink.Handle, error) {
	var h *netlink.Handle
	var err error
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	if err := h.SetSocketTimeout(Timeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("set netlink socket timeout: %w", err)
	}
	return h, nil
}

const dumpTries = 5

// retry runs a dump until the kernel answers it without NLM_F_DUMP_INTR.
func retry[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range dumpTries {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// LinkList is h.LinkList, retried while the dump is interrupted.
func LinkList(h *netlink.Handle) ([]netlink.Link, error) {
	return retry(h.LinkList)
}

// AddrList is h.AddrList, retried while the dump is interrupted.
func AddrList(h *netlink.Handle, link netlink.Link, family int) ([]netlink.Addr, error) {
	return retry(func() ([]netlink.Addr, error) { return h.AddrList(link, family) })
}

// RouteList returns the routes of the main table of the given family,
// retried while the dump is interrupted.
func RouteList(h *netlink.Handle, family int) ([]netlink.Route, error) {
	return retry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
}

// QdiscList is h.QdiscList, retried while the dump is interrupted.
func QdiscList(h *netlink.Handle, link netlink.Link) ([]netlink.Qdisc, error) {
	return retry(func() ([]netlink.Qdisc, error) { return h.QdiscList(link) })
}

package netdev

import (
	inl "github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// newRequest returns a raw rtnetlink request that will be sent on h's own
// NETLINK_ROUTE socket, so that it acts in h's namespace. vishvananda/netlink
// offers no group delete and no move-with-rename, and keeps a Handle's
// sockets unexported; this reads them (the field layout of v1.3.1 is checked
// by TestRawRequestUsesHandleSocket). A request whose Sockets map lacks
// NETLINK_ROUTE would silently go to a fresh socket in the calling thread's
// namespace, so that case is refused with ErrNoHandle.
func newRequest(h *netlink.Handle, typ, flags int) (*nl.NetlinkRequest, error) {
	socks := inl.Sockets(h)
	if socks == nil || socks[unix.NETLINK_ROUTE] == nil {
		return nil, ErrNoHandle
	}
	return &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Len:   uint32(unix.SizeofNlMsghdr),
			Type:  uint16(typ),
			Flags: unix.NLM_F_REQUEST | uint16(flags),
		},
		Sockets: socks,
	}, nil
}

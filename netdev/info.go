package netdev

import (
	"net"

	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Info describes one device, as List and Get report it.
type Info struct {
	Name     string `json:"name"`
	Index    int    `json:"index"`
	Kind     string `json:"kind"` // "veth", "bridge", ...; "device" for devices without a kind, such as lo
	MTU      int    `json:"mtu"`
	Up       bool   `json:"up"`      // administratively up (IFF_UP)
	OperUp   bool   `json:"oper_up"` // has carrier (IFF_LOWER_UP; for a veth: both ends up). Read from the carrier bit, not the RFC 2863 operstate, which the kernel updates up to a second later
	Master   string `json:"master,omitempty"`
	Alias    string `json:"alias,omitempty"`
	Group    uint32 `json:"group"`
	HWAddr   string `json:"hwaddr,omitempty"`
	PeerNSID int    `json:"peer_nsid"` // IFLA_LINK_NETNSID: the nsid of the peer's namespace, -1 when none (peer in the same namespace, or no peer)
	Stats    Stats  `json:"stats"`
}

// Stats are a device's counters (IFLA_STATS64).
type Stats struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// List returns the devices of h's namespace in ifindex order, like
// `ip -s link show`. The dump is retried while the kernel interrupts it.
func List(h *netlink.Handle) ([]Info, error) {
	ls, err := nl.LinkList(h)
	if err != nil {
		return nil, &Error{Op: "list", Kind: "devices", Err: err}
	}
	byIndex := make(map[int]string, len(ls))
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	out := make([]Info, 0, len(ls))
	for _, l := range ls {
		out = append(out, info(l, byIndex[l.Attrs().MasterIndex]))
	}
	return out, nil
}

// Get returns one device of h's namespace, like `ip -s link show NAME`, or
// an *Error wrapping ErrNotFound.
func Get(h *netlink.Handle, name string) (Info, error) {
	l, err := Lookup(h, name)
	if err != nil {
		return Info{}, err
	}
	master := ""
	if mi := l.Attrs().MasterIndex; mi != 0 {
		if m, err := h.LinkByIndex(mi); err == nil {
			master = m.Attrs().Name
		}
	}
	return info(l, master), nil
}

func info(l netlink.Link, master string) Info {
	a := l.Attrs()
	i := Info{
		Name:     a.Name,
		Index:    a.Index,
		Kind:     l.Type(),
		MTU:      a.MTU,
		Up:       a.Flags&net.FlagUp != 0,
		OperUp:   a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0,
		Master:   master,
		Alias:    a.Alias,
		Group:    a.Group,
		PeerNSID: a.NetNsID,
	}
	if len(a.HardwareAddr) > 0 {
		i.HWAddr = a.HardwareAddr.String()
	}
	if s := a.Statistics; s != nil {
		i.Stats = Stats{s.RxPackets, s.TxPackets, s.RxBytes, s.TxBytes, s.RxDropped, s.TxDropped}
	}
	return i
}

// Package netdev creates, changes, lists and deletes network devices (links)
// in one network namespace, through a caller's per-namespace netlink handle
// (see internal/nl.NewHandle). It is the library behind `nslab link` and the
// lab engine, and the Go counterpart of `ip link`.
//
// Every function acts in the namespace of the handle it is given and never
// switches the calling thread's namespace. A *netlink.Handle may be used from
// several goroutines, but the functions here are not atomic with respect to
// each other: two goroutines changing the same device get the kernel's
// last-writer-wins behaviour.
//
// Veth pairs are born with each end in its namespace, in a single
// RTM_NEWLINK request (see AddVeth): no create-then-move, so the ends never
// go through a DOWN, address-flushing move and never clash with names in the
// creating namespace.
//
// Errors are *Error values that name the operation, the device and, when
// known, the namespace, and unwrap to the kernel's errno, so that
// errors.Is(err, fs.ErrExist) and errors.Is(err, ErrNotFound) work.
package netdev

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// An Error describes a failed operation on a network device. It prints as
// `op kind "name" [in netns "ns"]: cause`, for example
// `add veth "eth0" in netns "demo-r1": file exists`.
type Error struct {
	Op    string // "add", "delete", "move", "set up", ...
	Kind  string // "veth", "bridge", "device", ...
	Name  string // the device, as the caller named it
	NetNS string // the namespace's name when the caller gave it, else ""
	Err   error  // the cause; a unix.Errno for kernel failures
}

func (e *Error) Error() string {
	s := e.Op
	if e.Kind != "" {
		s += " " + e.Kind
	}
	if e.Name != "" {
		s += " " + strconv.Quote(e.Name)
	}
	if e.NetNS != "" {
		s += " in netns " + strconv.Quote(e.NetNS)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

type notFound struct{}

func (notFound) Error() string { return "no such device" }

// Is makes errors.Is(ErrNotFound, fs.ErrNotExist) true.
func (notFound) Is(target error) bool { return target == fs.ErrNotExist }

// ErrNotFound is wrapped (in an *Error that names the device and, when known,
// the namespace) by every function of this package when a device does not
// exist. errors.Is(err, fs.ErrNotExist) holds for it too.
var ErrNotFound error = notFound{}

// ErrNoHandle is returned when a *netlink.Handle has no NETLINK_ROUTE socket
// of its own (such as the zero Handle), for the few requests this package
// builds itself (DeleteGroup, Move with a rename): sending them elsewhere
// would act in the wrong namespace.
var ErrNoHandle = nl.ErrNoHandle

// missingKinds names the kernel option and module of a link type.
var missingKinds = map[string]string{
	"dummy":     "CONFIG_DUMMY / module dummy",
	"vlan":      "CONFIG_VLAN_8021Q / module 8021q",
	"bond":      "CONFIG_BONDING / module bonding",
	"vrf":       "CONFIG_NET_VRF / module vrf",
	"bridge":    "CONFIG_BRIDGE / module bridge",
	"veth":      "CONFIG_VETH / module veth",
	"macvlan":   "CONFIG_MACVLAN / module macvlan",
	"macvtap":   "CONFIG_MACVTAP / module macvtap",
	"ipvlan":    "CONFIG_IPVLAN / module ipvlan",
	"vxlan":     "CONFIG_VXLAN / module vxlan",
	"geneve":    "CONFIG_GENEVE / module geneve",
	"gre":       "CONFIG_NET_IPGRE / module ip_gre",
	"gretap":    "CONFIG_NET_IPGRE / module ip_gre",
	"ip6gre":    "CONFIG_IPV6_GRE / module ip6_gre",
	"ipip":      "CONFIG_NET_IPIP / module ipip",
	"sit":       "CONFIG_IPV6_SIT / module sit",
	"wireguard": "CONFIG_WIREGUARD / module wireguard",
	"ifb":       "CONFIG_IFB / module ifb",
	"netkit":    "CONFIG_NETKIT",
	"macsec":    "CONFIG_MACSEC / module macsec",
	"team":      "CONFIG_NET_TEAM / module team",
}

// unsupportedKind is the cause reported when the kernel does not know kind.
func unsupportedKind(kind string) error {
	opt := missingKinds[kind]
	if opt == "" {
		opt = "no driver registered for it"
	}
	return fmt.Errorf("this kernel has no %q link type (%s): %w", kind, opt, errors.ErrUnsupported)
}

// cause translates a netlink error into the cause an *Error carries: a
// missing device becomes ErrNotFound, everything else is kept (errno
// included).
func cause(err error) error {
	// Only a bare "not found" is replaced: a wrapped one already says what
	// was missing (a bridge, a peer...).
	if _, ok := err.(netlink.LinkNotFoundError); ok {
		return ErrNotFound
	}
	if errno, ok := err.(unix.Errno); ok && errno == unix.ENODEV {
		return ErrNotFound
	}
	return err
}

func newError(op, kind, name string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Kind: kind, Name: name, Err: cause(err)}
}

// WithNetNS sets the namespace name of err's *Error (the outermost one) when
// it has none, and returns err. Callers that know the name of the namespace a
// handle is bound to (the CLI, the lab engine) use it so that messages say
// where the device was looked for.
func WithNetNS(err error, netns string) error {
	var e *Error
	if errors.As(err, &e) && e.NetNS == "" {
		e.NetNS = netns
	}
	return err
}

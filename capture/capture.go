// Package capture records the packets of one interface of a network
// namespace to a pcap or pcapng stream, like `ip netns exec NS tcpdump -i IF
// -w FILE`, but from Go: no tcpdump and no thread left in the namespace.
//
// The AF_PACKET socket is created inside the namespace (internal/nsthread)
// and then read from an ordinary goroutine: a socket keeps the namespace it
// was born in. A filter is a tcpdump expression compiled by libpcap itself,
// loaded at run time with dlopen (no cgo), and attached to the socket with
// SO_ATTACH_FILTER before the socket is bound to the interface, so that no
// unfiltered packet is ever read. Without a filter libpcap is not needed.
//
// Each packet is handed to the writer whole, in one Write call, and the
// writer is flushed after it, so a pipe to `wireshark -k -i -` or `tshark
// -i -` is live and a file is valid pcap whenever the capture stops.
package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nslab/nslab/internal/names"
	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
)

// DefaultSnaplen is the snapshot length used when Options.Snaplen is 0: the
// most the kernel hands to a packet socket, and libpcap's MAXIMUM_SNAPLEN,
// so packets are never truncated.
const DefaultSnaplen = 262144

// Formats accepted by Options.Format.
const (
	FormatPcap   = "pcap"   // classic libpcap format, microsecond timestamps
	FormatPcapng = "pcapng" // pcapng, nanosecond timestamps, interface name and filter recorded
)

// ErrBadFilter is wrapped by the error Run returns when libpcap rejects the
// filter expression; the message carries libpcap's reason.
var ErrBadFilter = errors.New("invalid filter expression (tcpdump syntax, see pcap-filter(7))")

// ErrNoInterface is wrapped by the error Run returns when the namespace has
// no interface of the given name.
var ErrNoInterface = errors.New("no such interface in this namespace")

// Options says what to capture and when to stop. The zero value captures
// every packet, whole, as pcap, until the context is done.
type Options struct {
	Filter   string        // BPF filter expression in tcpdump syntax (pcap-filter(7)); "" = all packets
	Count    int           // stop after this many packets; 0 = unlimited
	Duration time.Duration // stop this long after the capture started; 0 = unlimited
	Snaplen  int           // bytes kept of each packet; 0 = DefaultSnaplen
	Format   string        // FormatPcap (also "") or FormatPcapng
}

// check validates o and fills in its defaults.
func (o Options) check() (Options, error) {
	var errs []error
	switch o.Format {
	case "":
		o.Format = FormatPcap
	case FormatPcap, FormatPcapng:
	default:
		errs = append(errs, fmt.Errorf("format %q: use %q or %q", o.Format, FormatPcap, FormatPcapng))
	}
	if o.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d: use 0 (unlimited) or more", o.Count))
	}
	if o.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %v: use 0 (unlimited) or more", o.Duration))
	}
	switch {
	case o.Snaplen == 0:
		o.Snaplen = DefaultSnaplen
	case o.Snaplen < 0 || o.Snaplen > DefaultSnaplen:
		errs = append(errs, fmt.Errorf("snaplen %d: use 1 to %d (0 = %d)", o.Snaplen, DefaultSnaplen, DefaultSnaplen))
	}
	return o, errors.Join(errs...)
}

// An Error describes a capture that could not start or went wrong. Err
// wraps the cause (an errno, ErrBadFilter, ErrNoInterface, or
// errors.ErrUnsupported for what this kernel or system lacks).
type Error struct {
	Dev string // the interface, as the caller named it
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("capture on %q: %v", e.Dev, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Run captures on interface dev of namespace ns and writes the packets to w
// until ctx is done or a limit of o is hit. It returns the number of
// packets written.
//
// The AF_PACKET socket is created inside ns (via internal/nsthread) and used
// afterwards from the calling goroutine; ns is not closed and must be open.
// Run first checks everything (options, interface, filter) and writes
// nothing when a check fails. Then it binds the socket and writes the file
// header: the first Write to w therefore means packets are being captured.
// After that it writes each packet as one Write call and flushes w (when w
// has a Flush() error method) after each one, so the stream is always a
// valid capture file up to the last packet.
//
// Run returns a nil error when Count or Duration stopped it, and ctx.Err()
// when ctx did: cancelling is the normal way to end an unlimited capture,
// and the output is complete in that case too. Packets of a loopback
// interface are recorded once, not once per direction (as tcpdump does).
//
// Equivalent to: ip netns exec NS tcpdump -i DEV -w FILE [-c N] [EXPR].
// Run is safe to call concurrently, on the same interface too.
func Run(ctx context.Context, ns vnetns.NsHandle, dev string, w io.Writer, o Options) (int, error) {
	fail := func(err error) (int, error) { return 0, &Error{Dev: dev, Err: err} }
	if err := names.CheckIf(dev); err != nil {
		return fail(err)
	}
	o, err := o.check()
	if err != nil {
		return fail(err)
	}
	if !ns.IsOpen() {
		return fail(errors.New("network namespace handle is not open"))
	}
	ifc, err := lookup(ns, dev)
	if err != nil {
		return fail(err)
	}
	var filter []bpf.RawInstruction
	if o.Filter != "" {
		if filter, err = compileFilter(o.Filter, ifc.dlt, o.Snaplen); err != nil {
			return fail(err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s, err := openSocket(ns, ifc, filter, o.Snaplen)
	if err != nil {
		return fail(err)
	}
	defer s.close()

	out, err := newRecorder(w, o, dev, ifc.linkType)
	if err != nil {
		return fail(fmt.Errorf("write file header: %w", err))
	}
	// Stop reading when ctx is done or the duration has passed: both set a
	// read deadline, which wakes a blocked read.
	if o.Duration > 0 {
		if err := s.f.SetReadDeadline(time.Now().Add(o.Duration)); err != nil {
			return fail(err)
		}
	}
	stop := context.AfterFunc(ctx, func() { s.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	n := 0
	for o.Count == 0 || n < o.Count {
		data, pi, err := s.read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			return n, nil // the duration is over
		}
		if err != nil {
			return n, &Error{Dev: dev, Err: fmt.Errorf("read packet: %w", err)}
		}
		if err := out.writePacket(pi, data); err != nil {
			return n, &Error{Dev: dev, Err: fmt.Errorf("write packet: %w", err)}
		}
		n++
	}
	return n, nil
}

// iface is what a capture needs to know about its interface.
type iface struct {
	index    int
	linkType uint16 // LINKTYPE_ value written to the file
	dlt      int    // DLT_ value libpcap's compiler wants
	loopback bool   // each packet shows up twice: outgoing and incoming
}

// DLT_ values of Linux's libpcap (pcap/dlt.h).
const (
	dltEthernet = 1
	dltRaw      = 12
)

// lookup finds dev in ns and the link type of its frames.
func lookup(ns vnetns.NsHandle, dev string) (iface, error) {
	h, err := nl.NewHandle(ns)
	if err != nil {
		return iface{}, err
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return iface{}, ErrNoInterface
		}
		return iface{}, fmt.Errorf("look up interface: %w", err)
	}
	a := l.Attrs()
	switch a.EncapType {
	case "ether", "loopback":
		// A packet socket on loopback sees Ethernet headers with zero
		// addresses, which libpcap records as Ethernet too.
		return iface{a.Index, linkTypeEthernet, dltEthernet, a.EncapType == "loopback"}, nil
	case "none":
		// tun devices (IFF_TUN) carry bare IP packets.
		return iface{a.Index, linkTypeRaw, dltRaw, false}, nil
	}
	return iface{}, fmt.Errorf("link type %q is not supported (nslab captures on Ethernet-like, loopback and tun devices): %w",
		a.EncapType, errors.ErrUnsupported)
}

package shape

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
)

// Handle majors of the qdiscs nslab makes; a root qdisc with one of them is
// nslab's, and Apply and Clear touch no other. (0x6e is 'n'.)
const (
	majorTBF    = 0x6e74 // "6e74:" tbf as the root qdisc (rate only)
	majorNetemA = 0x6e6e // "6e6e:" netem as the root qdisc ...
	majorNetemB = 0x6e6f // "6e6f:" ... or this one: a new netem replaces the old in one step
	majorChild  = 0x6e75 // "6e75:" tbf under netem (rate with netem)
	probeMajor  = 0x6e70 // "6e70:" Detect's probes on a throwaway lo
)

// ErrForeign is returned (wrapped) by Apply, Clear and Get when the device's
// root qdisc was not set by nslab (it has a handle other than the kernel
// default's 0: and nslab's): nslab leaves it alone. Remove it with
// `tc qdisc del dev DEV root` first.
var ErrForeign = errors.New("root qdisc not set by nslab")

// etherHeader is added to the MTU to get the largest frame tbf must pass.
const etherHeader = 14

// tbfLatency is the queueing time tbf's default byte limit allows at the rate
// (tc's usual `latency 50ms`).
const tbfLatency = 50 * time.Millisecond

// DefaultBurst is the token bucket size Apply uses when Burst is 0, for a rate
// in bits per second and the device's MTU: 10 ms of traffic at the rate, but
// at least two full Ethernet frames, max(rate/8/100, 2×(mtu+14)) bytes.
func DefaultBurst(rate uint64, mtu int) uint32 {
	b := rate / 8 / 100
	if floor := 2 * uint64(mtu+etherHeader); b < floor {
		b = floor
	}
	return uint32(min(b, math.MaxUint32))
}

// xmitTime is how long size bytes take at rateBytes bytes per second.
func xmitTime(rateBytes, size uint64) time.Duration {
	if rateBytes == 0 {
		return 0
	}
	ns := (size*uint64(time.Second) + rateBytes - 1) / rateBytes // size ≤ 2^32: no overflow
	return time.Duration(ns)
}

// tbfTicks is tbf's buffer for size bytes at rateBytes: the time to send them
// in psched ticks of 64 ns (the kernel's PSCHED_SHIFT is 6), rounded up.
func tbfTicks(rateBytes, size uint64) uint32 {
	t := (uint64(xmitTime(rateBytes, size)) + 63) >> 6
	return uint32(min(t, math.MaxUint32))
}

// ticksBytes is the inverse of tbfTicks. Many bursts give the same buffer
// above about 120 Mbit/s (a tick is 64 ns), so it returns the roundest of
// them: a multiple of the largest power of 1024, then of 10, in the range.
// Bursts written as 32kb, 1mb or 25000b thus read back as written.
func ticksBytes(rateBytes uint64, ticks uint32) uint32 {
	first := func(t uint64) uint64 { // smallest burst whose buffer is at least t ticks
		lo, hi := uint64(0), uint64(math.MaxUint32)+1
		for lo < hi {
			mid := (lo + hi) / 2
			if uint64(tbfTicks(rateBytes, mid)) >= t {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo
	}
	lo, hi := first(uint64(ticks)), first(uint64(ticks)+1)-1
	for _, m := range []uint64{1 << 30, 1 << 20, 1 << 10, 1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10} {
		if c := (lo + m - 1) / m * m; c <= hi {
			return uint32(min(c, math.MaxUint32))
		}
	}
	return uint32(min(lo, math.MaxUint32))
}

// durTicks converts a whole-microsecond duration to netem's 64 ns ticks.
func durTicks(d time.Duration) uint32 { return uint32((d + 32) >> 6) }

// ticksDur is the inverse of durTicks, rounded to the microsecond.
func ticksDur(t uint32) time.Duration {
	return (time.Duration(t) << 6).Round(time.Microsecond)
}

// pct converts a percentage to the kernel's 32-bit probability.
func pct(p float64) uint32 {
	return uint32(math.Round(p / 100 * math.MaxUint32))
}

// pctBack is the inverse of pct, rounded to 6 decimals: percentages written
// with at most 6 decimals read back exactly.
func pctBack(v uint32) float64 {
	return math.Round(float64(v)/math.MaxUint32*100*1e6) / 1e6
}

// tree is the part of a device's qdiscs that nslab owns.
type tree struct {
	root  netlink.Qdisc // nil: the kernel's default
	child netlink.Qdisc // tbf under netem, or nil
}

func link(h *netlink.Handle, dev string) (netlink.Link, error) {
	l, err := h.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("find device %q: %w", dev, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("find device %q: %w", dev, err)
	}
	return l, nil
}

func isOurs(handle uint32) bool {
	major, _ := netlink.MajorMinor(handle)
	return major == majorTBF || major == majorNetemA || major == majorNetemB
}

// read returns nslab's qdiscs on l, or an ErrForeign error.
func read(h *netlink.Handle, l netlink.Link) (tree, error) {
	qs, err := nl.QdiscList(h, l)
	if err != nil {
		return tree{}, fmt.Errorf("list qdiscs of %q: %w", l.Attrs().Name, err)
	}
	var t tree
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent != netlink.HANDLE_ROOT {
			continue
		}
		if a.Handle == 0 {
			return tree{}, nil // the kernel's default
		}
		if !isOurs(a.Handle) {
			return tree{}, fmt.Errorf("device %q has root qdisc %s %s: %w; remove it first (tc qdisc del dev %s root)",
				l.Attrs().Name, q.Type(), netlink.HandleStr(a.Handle), ErrForeign, l.Attrs().Name)
		}
		t.root = q
	}
	if t.root == nil {
		return t, nil
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.MakeHandle(major(t.root), 1) {
			t.child = q
		}
	}
	return t, nil
}

func major(q netlink.Qdisc) uint16 {
	m, _ := netlink.MajorMinor(q.Attrs().Handle)
	return m
}

// impairment translates nslab's qdiscs back, with burst and limit reported as
// 0 when they equal the defaults Apply would compute for mtu.
func (t tree) impairment(mtu int) Impairment {
	var i Impairment
	tbf := func(q *netlink.Tbf, limit bool) {
		i.Rate = q.Rate * 8
		if q.Buffer != tbfTicks(q.Rate, uint64(DefaultBurst(i.Rate, mtu))) {
			i.Burst = ticksBytes(q.Rate, q.Buffer)
		}
		if limit {
			burst := i.Burst
			if burst == 0 {
				burst = DefaultBurst(i.Rate, mtu)
			}
			if q.Limit != tbfDefaultLimit(i.Rate, burst) {
				i.Limit = q.Limit / uint32(mtu+etherHeader)
			}
		}
	}
	switch q := t.root.(type) {
	case *netlink.Tbf:
		tbf(q, true)
	case *netlink.Netem:
		i.Delay = ticksDur(q.Latency)
		i.Jitter = ticksDur(q.Jitter)
		i.Loss = pctBack(q.Loss)
		i.Duplicate = pctBack(q.Duplicate)
		i.Corrupt = pctBack(q.CorruptProb)
		i.Reorder = pctBack(q.ReorderProb)
		if q.Limit != netemDefaultLimit {
			i.Limit = q.Limit
		}
		if c, ok := t.child.(*netlink.Tbf); ok {
			tbf(c, false)
		}
	}
	return i
}

const netemDefaultLimit = 1000

func tbfDefaultLimit(rate uint64, burst uint32) uint32 {
	l := uint64(burst) + rate/8*uint64(tbfLatency)/uint64(time.Second)
	return uint32(min(l, math.MaxUint32))
}

// build makes the qdiscs for i on l; netemMajor is the handle major for a
// netem root.
func build(l netlink.Link, i Impairment, netemMajor uint16) (tree, error) {
	idx := l.Attrs().Index
	mtu := l.Attrs().MTU
	var t tree
	var tbf *netlink.Tbf
	if i.Rate != 0 {
		rate := i.Rate / 8
		burst := i.Burst
		if burst == 0 {
			burst = DefaultBurst(i.Rate, mtu)
		}
		if burst < uint32(mtu+etherHeader) {
			return tree{}, fmt.Errorf("burst %s is smaller than a full frame on %q (MTU %d + 14): tbf would drop every such packet; use burst=%d or more",
				formatSize(burst), l.Attrs().Name, mtu, mtu+etherHeader)
		}
		limit := tbfDefaultLimit(i.Rate, burst)
		if i.Limit != 0 && !i.NeedsNetem() {
			l := uint64(i.Limit) * uint64(mtu+etherHeader)
			if l > math.MaxUint32 {
				return tree{}, fmt.Errorf("limit %d: %d packets of %d bytes exceed tbf's 4 GiB byte limit", i.Limit, i.Limit, mtu+etherHeader)
			}
			limit = uint32(l)
		}
		tbf = &netlink.Tbf{Rate: rate, Buffer: tbfTicks(rate, uint64(burst)), Limit: limit}
	}
	if !i.NeedsNetem() {
		tbf.QdiscAttrs = netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(majorTBF, 0)}
		t.root = tbf
		return t, nil
	}
	n := &netlink.Netem{
		QdiscAttrs:  netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(netemMajor, 0)},
		Latency:     durTicks(i.Delay),
		Jitter:      durTicks(i.Jitter),
		Limit:       netemDefaultLimit,
		Loss:        pct(i.Loss),
		Duplicate:   pct(i.Duplicate),
		CorruptProb: pct(i.Corrupt),
		ReorderProb: pct(i.Reorder),
	}
	if i.Limit != 0 {
		n.Limit = i.Limit
	}
	if i.Reorder != 0 {
		n.Gap = 1 // tc's default: reorder applies to every packet with probability Reorder
	}
	t.root = n
	if tbf != nil {
		tbf.QdiscAttrs = netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(netemMajor, 1), Handle: netlink.MakeHandle(majorChild, 0)}
		t.child = tbf
	}
	return t, nil
}

// Apply makes dev's egress (in h's namespace) follow i, replacing whatever
// nslab set on dev before; a zero i clears. Equivalent to `tc qdisc replace
// dev DEV root handle 6e74: tbf rate R burst B limit L` for a rate alone, and
// to a netem root (handle 6e6e: or 6e6f:) with that tbf as its child
// (parent 6e6e:1, handle 6e75:) when netem features are asked for, as
// tc-netem(8) suggests for combining delay with a rate limit.
//
// Before anything changes, Apply validates i (Impairment.Validate), checks it
// against caps (Caps.Check: errors.ErrUnsupported for a missing qdisc; pass
// Detect's answer), and refuses a device whose root qdisc is not nslab's
// (ErrForeign). Applying the impairment the device already has changes
// nothing. A rate alone is changed in place; a new netem root replaces the
// old in one step, then its tbf child is added. If a step fails, Apply
// puts the previous setting back and returns both errors.
//
// Apply shapes egress only; to impair both directions of a link apply it to
// both ends. Concurrent calls for the same device must be serialized by the
// caller; h may be shared (netlink handles are safe for concurrent use).
func Apply(h *netlink.Handle, dev string, i Impairment, caps Caps) error {
	if err := i.Validate(); err != nil {
		return fmt.Errorf("shape %q: %w", dev, err)
	}
	if err := caps.Check(i); err != nil {
		return fmt.Errorf("shape %q: %w", dev, err)
	}
	l, err := link(h, dev)
	if err != nil {
		return fmt.Errorf("shape %q: %w", dev, err)
	}
	cur, err := read(h, l)
	if err != nil {
		return fmt.Errorf("shape %q: %w", dev, err)
	}
	prev := cur.impairment(l.Attrs().MTU)
	if i == prev {
		return nil
	}
	if i.IsZero() {
		if err := clearTree(h, cur); err != nil {
			return fmt.Errorf("shape %q: clear: %w", dev, err)
		}
		return nil
	}
	want, err := build(l, i, nextNetemMajor(cur))
	if err != nil {
		return fmt.Errorf("shape %q: %w", dev, err)
	}
	if err := install(h, cur, want); err != nil {
		err = fmt.Errorf("shape %q: %s: %w", dev, i, err)
		if uerr := restore(h, l, prev); uerr != nil {
			err = errors.Join(err, fmt.Errorf("shape %q: put back %s: %w", dev, prev, uerr))
		}
		return err
	}
	return nil
}

// restore puts prev back on l after a failed install.
func restore(h *netlink.Handle, l netlink.Link, prev Impairment) error {
	cur, err := read(h, l)
	if err != nil {
		return err
	}
	if prev.IsZero() {
		return clearTree(h, cur)
	}
	want, err := build(l, prev, nextNetemMajor(cur))
	if err != nil {
		return err
	}
	return install(h, cur, want)
}

// nextNetemMajor picks the netem handle that is not in use, so that the new
// netem root replaces the old one atomically instead of changing it in place
// (netem keeps options a change does not mention).
func nextNetemMajor(cur tree) uint16 {
	if cur.root != nil && major(cur.root) == majorNetemA {
		return majorNetemB
	}
	return majorNetemA
}

func install(h *netlink.Handle, cur, want tree) error {
	// Root: `tc qdisc replace dev D root handle X: ...`. With the handle of
	// the current root this changes it in place (tbf); with another it
	// creates the new qdisc and grafts it in place of the old, which goes
	// with its children.
	if err := h.QdiscReplace(want.root); err != nil {
		return fmt.Errorf("replace root qdisc with %s %s: %w", want.root.Type(), netlink.HandleStr(want.root.Attrs().Handle), err)
	}
	if want.child != nil {
		if err := h.QdiscReplace(want.child); err != nil {
			return fmt.Errorf("add %s %s under %s: %w", want.child.Type(), netlink.HandleStr(want.child.Attrs().Handle),
				netlink.HandleStr(want.root.Attrs().Handle), err)
		}
	}
	return nil
}

func clearTree(h *netlink.Handle, cur tree) error {
	if cur.root == nil {
		return nil
	}
	if err := h.QdiscDel(cur.root); err != nil {
		return fmt.Errorf("delete root qdisc %s %s: %w", cur.root.Type(), netlink.HandleStr(cur.root.Attrs().Handle), err)
	}
	return nil
}

// Clear removes the impairment nslab set on dev, in h's namespace, which goes
// back to the kernel's default qdisc (noqueue for a veth). Equivalent to `tc
// qdisc del dev DEV root` when the root qdisc is nslab's. Clearing a device
// without an impairment does nothing; a root qdisc nslab did not set is left
// alone and reported (ErrForeign).
func Clear(h *netlink.Handle, dev string) error {
	l, err := link(h, dev)
	if err != nil {
		return fmt.Errorf("clear shaping on %q: %w", dev, err)
	}
	cur, err := read(h, l)
	if err != nil {
		return fmt.Errorf("clear shaping on %q: %w", dev, err)
	}
	if err := clearTree(h, cur); err != nil {
		return fmt.Errorf("clear shaping on %q: %w", dev, err)
	}
	return nil
}

// Get reads back the impairment nslab set on dev, in h's namespace, from the
// kernel's qdiscs (like `tc qdisc show dev DEV`). A device with the kernel's
// default qdisc has the zero Impairment. Burst and Limit are 0 when they
// equal the defaults for the device's current MTU, so Get returns what Apply
// was given. Above about 120 Mbit/s the kernel's 64 ns resolution maps
// several bursts to one; Get then returns the roundest of them. A root qdisc
// nslab did not set gives an ErrForeign error.
func Get(h *netlink.Handle, dev string) (Impairment, error) {
	l, err := link(h, dev)
	if err != nil {
		return Impairment{}, fmt.Errorf("read shaping of %q: %w", dev, err)
	}
	cur, err := read(h, l)
	if err != nil {
		return Impairment{}, fmt.Errorf("read shaping of %q: %w", dev, err)
	}
	return cur.impairment(l.Attrs().MTU), nil
}

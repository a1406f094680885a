package shape

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Caps says which qdiscs the running kernel offers. Detect fills it in.
type Caps struct {
	TBF   bool // sch_tbf: rate and burst
	HTB   bool // sch_htb: detected for callers; Apply uses tbf for rates
	Netem bool // sch_netem: delay, jitter, loss, duplicate, corrupt, reorder
}

// An UnsupportedError says that an impairment needs a qdisc the kernel lacks.
// It unwraps to errors.ErrUnsupported.
type UnsupportedError struct {
	Words  []string // the settings that need it, as String writes them: "delay 20ms"
	Qdisc  string   // "netem"
	Config string   // the kernel option: "CONFIG_NET_SCH_NETEM"
	Module string   // the module: "sch_netem"
}

func (e *UnsupportedError) Error() string {
	verb := "needs"
	if len(e.Words) > 1 {
		verb = "need"
	}
	return fmt.Sprintf("%s %s the %s qdisc, which this kernel lacks (%s, module %s)",
		strings.Join(e.Words, ", "), verb, e.Qdisc, e.Config, e.Module)
}

// Unwrap returns errors.ErrUnsupported.
func (e *UnsupportedError) Unwrap() error { return errors.ErrUnsupported }

// Check reports, before anything changes, whether the kernel described by c
// can apply i: it returns an *UnsupportedError (errors.Is
// errors.ErrUnsupported) naming the settings, the qdisc, the kernel option and
// the module that are missing, for example
//
//	delay 20ms needs the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM, module sch_netem)
//
// When both tbf and netem are missing, the netem error is returned.
func (c Caps) Check(i Impairment) error {
	if i.NeedsNetem() && !c.Netem {
		return &UnsupportedError{Words: i.netemWords(), Qdisc: "netem", Config: "CONFIG_NET_SCH_NETEM", Module: "sch_netem"}
	}
	if i.Rate != 0 && !c.TBF {
		return &UnsupportedError{Words: []string{"rate " + FormatRate(i.Rate)}, Qdisc: "tbf", Config: "CONFIG_NET_SCH_TBF", Module: "sch_tbf"}
	}
	return nil
}

// detected caches the first complete probe of this process: the qdiscs a
// kernel offers do not change while it runs, except when a module is loaded
// by hand, which a new process sees.
var detected struct {
	sync.Mutex
	ok   bool
	caps Caps
}

// Detect reports which qdiscs the kernel offers, by adding each one (tbf, htb,
// netem) as the root qdisc of the loopback device of a throwaway network
// namespace and removing it again: the kernel loads a module on demand if it
// can, and answers ENOENT ("Specified qdisc kind is unknown") if it cannot.
// The answer is cached for the life of the process. Detect is safe for
// concurrent use.
//
// When the throwaway namespace cannot be made (no CAP_SYS_ADMIN), the probe
// runs on the loopback device of h's namespace instead, and only if lo has
// no root qdisc of its own; h may be nil. A qdisc that could not be probed is
// reported missing, and the result is not cached.
//
// The throwaway namespace is made on a thread that is then discarded
// (nsthread.Unshare). The Go runtime cannot discard the main thread, so a
// program should keep its main goroutine there with
// `func init() { runtime.LockOSThread() }`, as nslab's main does.
func Detect(h *netlink.Handle) Caps {
	detected.Lock()
	defer detected.Unlock()
	if detected.ok {
		return detected.caps
	}
	c, err := Probe()
	if err != nil && h != nil {
		c, err = probeHandle(h)
	}
	if err == nil {
		detected.ok, detected.caps = true, c
	}
	return c
}

// Probe is Detect without the cache and without the fallback: it probes in a
// throwaway namespace and returns any error other than a missing qdisc.
func Probe() (Caps, error) {
	ns, err := nsthread.Unshare(nil)
	if err != nil {
		return Caps{}, fmt.Errorf("probe qdiscs: %w", err)
	}
	defer ns.Close()
	h, err := nl.NewHandle(ns)
	if err != nil {
		return Caps{}, fmt.Errorf("probe qdiscs: %w", err)
	}
	defer h.Close()
	return probeHandle(h)
}

// probeKinds are the qdiscs Detect tries, each with minimal valid options.
var probeKinds = []struct {
	kind string
	set  func(*Caps)
	make func(attrs netlink.QdiscAttrs) netlink.Qdisc
}{
	{"tbf", func(c *Caps) { c.TBF = true }, func(a netlink.QdiscAttrs) netlink.Qdisc {
		return &netlink.Tbf{QdiscAttrs: a, Rate: 125000, Buffer: tbfTicks(125000, 10000), Limit: 20000}
	}},
	{"htb", func(c *Caps) { c.HTB = true }, func(a netlink.QdiscAttrs) netlink.Qdisc {
		q := netlink.NewHtb(a)
		q.Defcls = 1
		return q
	}},
	{"netem", func(c *Caps) { c.Netem = true }, func(a netlink.QdiscAttrs) netlink.Qdisc {
		return &netlink.Netem{QdiscAttrs: a, Limit: 1000}
	}},
}

func probeHandle(h *netlink.Handle) (Caps, error) {
	var c Caps
	lo, err := h.LinkByName("lo")
	if err != nil {
		return c, fmt.Errorf("probe qdiscs: find \"lo\": %w", err)
	}
	qs, err := nl.QdiscList(h, lo)
	if err != nil {
		return c, fmt.Errorf("probe qdiscs: list qdiscs of \"lo\": %w", err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Attrs().Handle != 0 {
			return c, fmt.Errorf("probe qdiscs: \"lo\" already has a root qdisc (%s %s)", q.Type(), netlink.HandleStr(q.Attrs().Handle))
		}
	}
	attrs := netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(probeMajor, 0)}
	for _, k := range probeKinds {
		q := k.make(attrs)
		err := h.QdiscAdd(q)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return Caps{}, fmt.Errorf("probe qdisc %s: %w", k.kind, err)
		}
		k.set(&c)
		if err := h.QdiscDel(q); err != nil {
			return Caps{}, fmt.Errorf("probe qdisc %s: remove it from \"lo\": %w", k.kind, err)
		}
	}
	return c, nil
}

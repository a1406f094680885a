package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/iproute"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/shape"
	"github.com/nslab/nslab/sysctl"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Progress receives the progress of a long operation: a phase ("netns",
// "links", "config", ...), how much of it is done and its total.
type Progress func(phase string, done, total int)

// nsh is an open namespace with its netlink handle.
type nsh struct {
	ns vnetns.NsHandle
	h  *netlink.Handle

	// For a namespace this session created (0 otherwise: unknown): the
	// interface index of its bridge (switches), and the last interface
	// index handed out. New veth ends get fixed indexes from it, so that
	// no request has to look a device up by name.
	bridge     int32
	bridgeName string
	index      atomic.Int32
}

// nextIndex returns a fixed interface index for a new device in n, or 0
// (the kernel picks) when n was not created by this session.
func (n *nsh) nextIndex() int32 {
	if n.index.Load() == 0 {
		return 0
	}
	return n.index.Add(1)
}

// session holds the handles of one apply or down, closed together at its end.
type session struct {
	lab      string
	progress Progress
	rootNS   vnetns.NsHandle
	root     *netlink.Handle

	mu  sync.Mutex
	nss map[string]*nsh
	// index holds the fixed interface indexes given to new link ends,
	// by namespace and name (ifKey), so that configure brings them up
	// without a lookup.
	index map[string]int32

	// quiet maps the namespace of each switch built with multicast
	// snooping off to its bridge (see quietSwitches); read-only while
	// namespaces are created.
	quiet map[string]string

	reportMu sync.Mutex
	steps    atomic.Int64
	crashAt  int64 // test hook: SIGKILL ourselves at this step (NSLAB_CRASH_AT)
}

func newSession(lab string, progress Progress) (*session, error) {
	s := &session{lab: lab, progress: progress, nss: map[string]*nsh{}, index: map[string]int32{}}
	if v := os.Getenv("NSLAB_CRASH_AT"); v != "" {
		s.crashAt, _ = strconv.ParseInt(v, 10, 64)
	}
	var err error
	s.rootNS, err = callerNS()
	if err != nil {
		return nil, err
	}
	s.root, err = nl.NewHandle(s.rootNS)
	if err != nil {
		s.rootNS.Close()
		return nil, err
	}
	return s, nil
}

// callerNS opens the network namespace of the calling thread.
func callerNS() (vnetns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netns.OpenPath("/proc/thread-self/ns/net")
	if err != nil {
		return vnetns.None(), fmt.Errorf("open the caller's network namespace: %w", err)
	}
	return h, nil
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nss {
		n.h.Close()
		n.ns.Close()
	}
	s.nss = map[string]*nsh{}
	s.root.Close()
	s.rootNS.Close()
}

// step counts one unit of work; the crash hook kills the process at the
// chosen step to prove that any interruption converges.
func (s *session) step() {
	if n := s.steps.Add(1); s.crashAt > 0 && n == s.crashAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// report passes progress on, one call at a time (phases run concurrently).
func (s *session) report(phase string, done, total int) {
	if s.progress != nil {
		s.reportMu.Lock()
		defer s.reportMu.Unlock()
		s.progress(phase, done, total)
	}
}

// get returns the handles of namespace name ("" = the caller's), opening
// and caching them.
func (s *session) get(name string) (*nsh, error) {
	if name == "" {
		return &nsh{ns: s.rootNS, h: s.root}, nil
	}
	s.mu.Lock()
	n := s.nss[name]
	s.mu.Unlock()
	if n != nil {
		return n, nil
	}
	ns, err := netns.Open(name)
	if err != nil {
		return nil, err
	}
	h, err := nl.NewHandle(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netns %q: %w", name, err)
	}
	n = &nsh{ns: ns, h: h}
	s.mu.Lock()
	if old := s.nss[name]; old != nil {
		s.mu.Unlock()
		h.Close()
		ns.Close()
		return old, nil
	}
	s.nss[name] = n
	s.mu.Unlock()
	return n, nil
}

// forgetAll closes the handles of every namespace (not the caller's).
func (s *session) forgetAll() {
	s.mu.Lock()
	nss := s.nss
	s.nss = map[string]*nsh{}
	s.mu.Unlock()
	for _, n := range nss {
		n.h.Close()
		n.ns.Close()
	}
}

func (s *session) forget(name string) {
	s.mu.Lock()
	n := s.nss[name]
	delete(s.nss, name)
	s.mu.Unlock()
	if n != nil {
		n.h.Close()
		n.ns.Close()
	}
}

// workers is how many namespaces are worked on at once. Namespace creation
// scales with CPUs; link creation is serialised by the kernel's RTNL lock.
func workers() int { return max(2, runtime.GOMAXPROCS(0)) }

// parallel runs fn for each item on limit worker goroutines that take the
// items in order, reporting progress, and stops at the first error. (A
// goroutine per item, as errgroup's Go makes, cost a wake-up of the
// submitting goroutine per item: measurable when the kernel's work per item
// is a few hundred microseconds.)
func parallel[T any](ctx context.Context, s *session, phase string, items []T, limit int, fn func(T) error) error {
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	total := len(items)
	s.report(phase, 0, total)
	work := func() {
		for ctx.Err() == nil {
			i := int(next.Add(1)) - 1
			if i >= total {
				return
			}
			if err := fn(items[i]); err != nil {
				cancel(err)
				return
			}
			s.step()
			if d := done.Add(1); d == int64(total) || d%64 == 0 {
				s.report(phase, int(d), total)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(limit, total) - 1 {
		wg.Go(work)
	}
	work() // the caller is one of the workers
	wg.Wait()
	return context.Cause(ctx)
}

// createNodes makes the namespaces of nodes and switches, w at a time:
// each named, sysctls written, IPv6 quieted, marked as the lab's (lo's
// alias), and for a switch its bridge; all on the creating thread before
// the name appears. lo comes up here for switches and nodes without
// interfaces; other nodes bring it up in their configure step. Each
// namespace's handle remembers the bridge's index and hands out fixed
// interface indexes for its new links. made runs for each namespace once it
// is named, with its inode, on the creating threads (concurrently).
func (s *session) createNodes(ctx context.Context, nodes []*NodeModel, w int, j *journal, made func(n *NodeModel, ino uint64)) error {
	list := make([]string, len(nodes))
	for i, n := range nodes {
		list[i] = n.NS
	}
	// Filled by setup on the creating thread, read by made on the same one.
	type created struct {
		h            *netlink.Handle
		bridge, last int32
		ino          uint64
		named        bool // made ran: the handle is the session's
	}
	cs := make([]created, len(nodes))
	var done atomic.Int64
	s.report("namespaces", 0, len(nodes))
	err := netns.CreateMany(list, w, func() bool { return ctx.Err() != nil }, func(i int, ns vnetns.NsHandle) error {
		n, c := nodes[i], &cs[i]
		c.last = 1 // lo is 1 in a new namespace
		var st unix.Stat_t
		if err := unix.Fstat(int(ns), &st); err != nil {
			return fmt.Errorf("stat: %w", err)
		}
		c.ino = st.Ino
		if j != nil {
			if err := j.record(n.NS, c.ino); err != nil {
				return err
			}
		}
		var err error
		if c.h, err = nl.NewHandle(vnetns.None()); err != nil {
			return err
		}
		if err = setupNode(s.lab, n, c.h, &c.bridge, s.quiet[n.NS] != ""); err != nil {
			c.h.Close()
			c.h = nil
			return err
		}
		c.last = max(c.last, c.bridge)
		return nil
	}, func(i int, ns vnetns.NsHandle) {
		n, c := nodes[i], &cs[i]
		nh := &nsh{ns: ns, h: c.h, bridge: c.bridge}
		if c.bridge > 0 {
			nh.bridgeName = n.Bridge
		}
		nh.index.Store(c.last)
		c.named = true
		s.mu.Lock()
		s.nss[n.NS] = nh
		s.mu.Unlock()
		made(n, c.ino)
		s.step()
		if d := done.Add(1); d == int64(len(nodes)) || d%64 == 0 {
			s.report("namespaces", int(d), len(nodes))
		}
	})
	if err != nil {
		// A namespace whose setup ran but whose name could not be bound
		// is gone with its handle.
		for i := range cs {
			if cs[i].h != nil && !cs[i].named {
				cs[i].h.Close()
			}
		}
		// Name the node, not only its namespace.
		var ne *netns.Error
		if errors.As(err, &ne) {
			for _, n := range nodes {
				if n.NS == ne.Name {
					err = fmt.Errorf("%s %q: %w", kind(n), n.Name, err)
					break
				}
			}
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w (a namespace of that name exists and is not this lab's: remove it or rename the lab)", err)
		}
		return err
	}
	return ctx.Err()
}

// setupNode runs inside node n's new namespace before it is named: sysctls,
// lo up and marked for switches and nodes without interfaces, and a
// switch's bridge (its index in *bridge), with multicast snooping off if
// quiet.
func setupNode(lab string, n *NodeModel, h *netlink.Handle, bridge *int32, quiet bool) error {
	// Sysctls first: with IPv6 off before lo comes up, the kernel
	// neither gives lo IPv6 nor takes it away again.
	var w sysctl.Writer
	defer w.Close()
	for _, kv := range nodeSysctls(n) {
		if err := w.Write(kv[0], kv[1]); err != nil {
			return err
		}
	}
	// A node with interfaces brings lo up, and marks it as the lab's, in
	// its configure step (NodeConfig.New), in the message that configures
	// its interfaces: this phase, whose unshare and sysctl writes need the
	// kernel's RTNL lock as well, then takes it less (the ownership
	// journal, not the mark, identifies a namespace before its lab's state
	// has its inode).
	if n.Switch || len(n.Ifs) == 0 {
		if err := netdev.SetByIndex(h, 1, "lo", true, Mark(lab)); err != nil {
			return fmt.Errorf("mark lo: %w", err)
		}
	}
	if n.Switch {
		if err := netdev.AddBridge(h, n.Bridge, netdev.BridgeOptions{MTU: n.MTU, Up: true, Alias: Mark(lab)}); err != nil {
			return err
		}
		br, err := h.LinkByName(n.Bridge)
		if err != nil {
			return fmt.Errorf("bridge %q: %w", n.Bridge, err)
		}
		*bridge = int32(br.Attrs().Index)
		if quiet {
			if err := netdev.SetMulticastSnooping(h, n.Bridge, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// quietSwitches returns the switches of p to build with multicast snooping
// off, by namespace, with their bridges: new switches with at least
// bigBridgePorts ports whose every port leads to a node without IPv6.
//
// Each port whose carrier comes up makes the bridge re-run its port state
// selection over every port, and with snooping on that re-arms each enabled
// port's multicast timers: quadratic in the ports (a 1000-host star spent
// 0.5-1.5 s of its build there; bench/PROFILE.md, "Seventh pass"). Snooping
// is turned on again once the ports are up (endQuiet), one pass over them.
// The bridge ends as a bridge built with snooping on: its multicast
// database is empty either way, since nothing behind its ports can send a
// membership report before the lab's processes start (nodes without IPv6
// send no MLD, and the kernel does not report IPv4's all-hosts group). A
// port to the root namespace, to another switch or to a node with IPv6 (or
// IPv6 sysctls of its own), or a host device, could: such a switch is built
// as usual.
func quietSwitches(p *Plan, want *Model) map[string]string {
	if !slices.ContainsFunc(p.AddNodes, func(n *NodeModel) bool { return n.Switch }) {
		return nil // a walk of every link saved on each change that adds hosts
	}
	big := want.bigBridges()
	noisy := map[string]bool{} // switch namespaces with a port that could report
	for _, l := range want.Links {
		for i, e := range l.Ends {
			if e.Master == "" || big[e.NS] == "" {
				continue
			}
			other := l.Ends[1-i]
			peer := want.Nodes[other.Node]
			if other.NS == "" || peer == nil || peer.Switch || peer.IPv6 || setsIPv6(peer) {
				noisy[e.NS] = true
			}
		}
	}
	var out map[string]string
	for _, n := range p.AddNodes {
		if n.Switch && n.HostDev == "" && big[n.NS] != "" && !noisy[n.NS] {
			if out == nil {
				out = map[string]string{}
			}
			out[n.NS] = n.Bridge
		}
	}
	return out
}

// setsIPv6 reports whether n's own sysctls touch IPv6 (they could turn it
// on in a node nslab gives none).
func setsIPv6(n *NodeModel) bool {
	for k := range n.Sysctls {
		if strings.HasPrefix(k, "net.ipv6.") {
			return true
		}
	}
	return false
}

// endQuiet turns multicast snooping on again on the bridges quietSwitches
// chose, once their ports are up.
func (s *session) endQuiet() error {
	for _, ns := range slicesSorted(s.quiet) {
		n, err := s.get(ns)
		if err == nil {
			err = netdev.SetMulticastSnooping(n.h, s.quiet[ns], true)
		}
		if err != nil {
			return fmt.Errorf("netns %q: %w", ns, err)
		}
	}
	return nil
}

// nodeSysctls are the sysctls written when a namespace is created: IPv6
// made quiet and instant, so that a big lab is not flooded by
// autoconfiguration (a switch, and a node without IPv6 whose own sysctls
// touch IPv6, get none at all; one with IPv6 skips duplicate address
// detection and router solicitation; a node without IPv6 writes nothing:
// see silentIPv6), then the node's own sysctls that do not name an
// interface.
func nodeSysctls(n *NodeModel) [][2]string {
	var kv [][2]string
	switch {
	case silentIPv6(n):
		// Nothing to write: configure gives its links no link-local
		// address.
	case n.Switch || !n.IPv6:
		// One write: the kernel copies all.disable_ipv6 to default too
		// (addrconf_disable_ipv6), so lo and every device made later
		// have no IPv6.
		kv = append(kv, [2]string{"net.ipv6.conf.all.disable_ipv6", "1"})
	default:
		for _, c := range []string{"all", "default"} {
			kv = append(kv,
				[2]string{"net.ipv6.conf." + c + ".accept_dad", "0"},
				[2]string{"net.ipv6.conf." + c + ".dad_transmits", "0"},
				[2]string{"net.ipv6.conf." + c + ".router_solicitations", "0"},
				// Static addresses survive a link taken down and up again
				// (the kernel flushes them by default).
				[2]string{"net.ipv6.conf." + c + ".keep_addr_on_down", "1"})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(n.Sysctls)) {
		if !ifSysctl(k) {
			kv = append(kv, [2]string{k, n.Sysctls[k]})
		}
	}
	return kv
}

// silentIPv6 reports whether node n, without IPv6 addresses or routes and
// without IPv6 sysctls of its own, keeps IPv6 on but gets no link-local
// address on its interfaces (addrgenmode none, set by configure before they
// come up), instead of IPv6 disabled by a sysctl: just as quiet, and it
// spares the namespace a write under /proc/sys/net/ipv6, whose lookup grows
// with the number of namespaces on the machine (about 60 µs among the first
// 100, 360 µs among the last of 1000: see bench/PROFILE.md, "Ninth pass").
// Its lo keeps ::1. A node whose answer changes is made again (NewPlan).
func silentIPv6(n *NodeModel) bool {
	return n.NS != "" && !n.Switch && !n.IPv6 && !setsIPv6(n) && haveIPv6() // not the host's own ends
}

// haveIPv6 reports whether the kernel has IPv6 (it may be built without it
// or booted with ipv6.disable=1).
var haveIPv6 = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/sys/net/ipv6")
	return err == nil
})

func ifKey(ns, name string) string { return ns + "\x00" + name }

// endMAC is the MAC address of a link end: locally administered, unicast,
// and derived from the lab, the end's namespace and its name, so that an
// end made again (a node removed and added back, a link re-made) has the
// MAC it had. Its neighbours' ARP and NDP entries then stay right; with a
// new random MAC their first packets go to the old one until the entry
// times out (5-30 s; the kernel does not announce a new address).
func endMAC(lab string, e EndModel) net.HardwareAddr {
	h := fnv.New64a()
	h.Write([]byte(lab + "\x00" + e.NS + "\x00" + e.If))
	var sum [8]byte
	mac := net.HardwareAddr(h.Sum(sum[:0])[:6])
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	return mac
}

// addLink creates a veth pair with each end born in its namespace; a switch
// end is born enslaved to its bridge and up, a node's end is brought up by
// its node's configure step (NodeConfig.Up), with its addresses.
func (s *session) addLink(l *LinkModel) error {
	a, b := l.Ends[0], l.Ends[1]
	na, err := s.get(a.NS)
	if err != nil {
		return err
	}
	nb, err := s.get(b.NS)
	if err != nil {
		return err
	}
	eb := netdev.End{Name: b.If, MTU: l.MTU, Master: b.Master, Up: b.Master != "", NetNSName: b.NS, Index: nb.nextIndex(),
		HardwareAddr: endMAC(s.lab, b)}
	if nb.bridge > 0 && b.Master == nb.bridgeName {
		eb.MasterIndex = nb.bridge
	}
	ea := netdev.End{NS: na.ns, Name: a.If, MTU: l.MTU, Up: a.Master != "", NetNSName: a.NS, Index: na.nextIndex(),
		HardwareAddr: endMAC(s.lab, a)}
	err = netdev.AddVeth(nb.h, eb, ea, na.h)
	if (eb.Index > 0 || ea.Index > 0) && (errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EBUSY)) {
		// A device the kernel made on its own (such as a fallback tunnel)
		// may hold one of the indexes: let the kernel pick them (a name
		// in use fails again, with the same error).
		eb.Index, ea.Index = 0, 0
		err = netdev.AddVeth(nb.h, eb, ea, na.h)
	}
	if err != nil {
		return fmt.Errorf("link %s: %w", l, err)
	}
	s.mu.Lock()
	if ea.Index > 0 {
		s.index[ifKey(a.NS, a.If)] = ea.Index
	}
	if eb.Index > 0 {
		s.index[ifKey(b.NS, b.If)] = eb.Index
	}
	s.mu.Unlock()
	return nil
}

// ifIndex returns the fixed index addLink gave interface name of namespace
// ns in this session, or 0.
func (s *session) ifIndex(ns, name string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.index[ifKey(ns, name)]
}

// configure applies one node's changes. Links up, addresses and routes go
// to the kernel in one batch (one sendmsg), after the sysctls and MTUs;
// deletions, rare, go one by one between the links up and the additions.
func (s *session) configure(c *NodeConfig) error {
	n, err := s.get(c.Node.NS)
	if err != nil {
		return err
	}
	where := fmt.Sprintf("%s %q", kind(c.Node), c.Node.Name)
	fail := func(err error) error { return fmt.Errorf("%s: %w", where, err) }
	if c.BridgeMTU != 0 {
		if err := netdev.SetMTU(n.h, c.Node.Bridge, c.BridgeMTU); err != nil {
			return fail(err)
		}
	}
	if len(c.Sysctls) > 0 {
		for _, k := range slices.Sorted(maps.Keys(c.Sysctls)) {
			if err := sysctl.Set(n.ns, k, c.Sysctls[k]); err != nil {
				return fail(err)
			}
		}
	}
	for _, i := range slices.Sorted(maps.Keys(c.MTU)) {
		if err := netdev.SetMTU(n.h, i, c.MTU[i]); err != nil {
			return fail(err)
		}
	}
	b := nl.NewBatch(n.h)
	if c.New && !c.Node.Switch && len(c.Node.Ifs) > 0 {
		// createNodes left lo down and unmarked for this step (see
		// setupNode).
		if err := netdev.QueueSetByIndex(b, 1, "lo", true, Mark(s.lab)); err != nil {
			return fail(err)
		}
	}
	// The ends of new links, before addresses and routes (a route through
	// an interface needs it up).
	silent := silentIPv6(c.Node)
	for _, i := range c.Up {
		idx := s.ifIndex(c.Node.NS, i)
		if idx <= 0 {
			l, err := netdev.Lookup(n.h, i)
			if err != nil {
				return fail(err)
			}
			idx = int32(l.Attrs().Index)
		}
		if silent {
			if err := netdev.QueueAddrGenNone(b, idx, i); err != nil {
				return fail(err)
			}
		}
		if err := netdev.QueueSetByIndex(b, idx, i, true, ""); err != nil {
			return fail(err)
		}
	}
	if len(c.DelAddrs) > 0 || len(c.DelRoutes) > 0 {
		if err := b.Exec(); err != nil {
			return fail(err)
		}
	}
	for _, i := range slices.Sorted(maps.Keys(c.DelAddrs)) {
		for _, a := range c.DelAddrs[i] {
			if err := ipaddr.Del(n.h, i, a); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fail(err)
			}
		}
	}
	for _, r := range c.DelRoutes {
		if err := iproute.Del(n.h, iproute.Route{To: r.To, Via: r.Via, Dev: r.Dev}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(err)
		}
	}
	for _, i := range slices.Sorted(maps.Keys(c.AddAddrs)) {
		for _, a := range c.AddAddrs[i] {
			if err := ipaddr.QueueReplace(b, i, a, ipaddr.Options{NoDAD: true, Index: s.ifIndex(c.Node.NS, i)}); err != nil {
				return fail(err)
			}
		}
	}
	for _, r := range c.AddRoutes {
		if err := iproute.QueueReplace(b, iproute.Route{To: r.To, Via: r.Via, Dev: r.Dev}, s.ifIndex(c.Node.NS, r.Dev)); err != nil {
			return fail(err)
		}
	}
	if err := b.Exec(); err != nil {
		return fail(err)
	}
	return nil
}

// moveHostDev moves a host device into a switch's namespace and enslaves it.
func (s *session) moveHostDev(n *NodeModel) error {
	sw, err := s.get(n.NS)
	if err != nil {
		return err
	}
	if err := netdev.Move(s.root, n.HostDev, sw.ns, ""); err != nil {
		return fmt.Errorf("switch %q: host device %q: %w", n.Name, n.HostDev, err)
	}
	if err := netdev.SetMaster(sw.h, n.HostDev, n.Bridge); err != nil {
		return fmt.Errorf("switch %q: host device %q: %w", n.Name, n.HostDev, err)
	}
	if err := netdev.SetUp(sw.h, n.HostDev); err != nil {
		return fmt.Errorf("switch %q: host device %q: %w", n.Name, n.HostDev, err)
	}
	return nil
}

// returnHostDev moves a switch's host device back to the root namespace.
func (s *session) returnHostDev(n *NodeModel) error {
	sw, err := s.get(n.NS)
	if err != nil {
		return err
	}
	if _, err := netdev.Get(sw.h, n.HostDev); errors.Is(err, netdev.ErrNotFound) {
		return nil
	}
	if err := netdev.Move(sw.h, n.HostDev, s.rootNS, ""); err != nil {
		return fmt.Errorf("switch %q: return host device %q: %w", n.Name, n.HostDev, err)
	}
	return nil
}

// waitLinksGone waits until the named links of the root namespace are gone
// (they vanish asynchronously with the namespace of their peer).
func (s *session) waitLinksGone(ctx context.Context, names []string) error {
	return waitGone(ctx, s.rootNS, "", s.root, names)
}

// goneGroup is the device group deletePorts puts bridge ports in to delete
// them in one batch: only switch namespaces are touched, and nslab gives no
// device this group otherwise.
const goneGroup = 0x6e736c67 // "nslg"

// deletePorts deletes the switch ports among ends (Plan.PeerEndsGone): the
// ports of nodes about to be removed. The kernel would remove them only once
// it has freed the nodes' namespaces: after up has returned, so that adding
// a node back at once failed with "file exists", and never while another
// process holds such a namespace, which then stayed wired to the switch.
// Deleting a port deletes its veth peer too. A switch's ports go in one
// batch (a group), since each single delete waits for an RCU grace period.
// Other ends (a removed node's point-to-point neighbours, the nodes of a
// removed switch) are many namespaces with one end each, which the kernel
// removes in one batch with the namespaces: waitReused waits for those whose
// names are needed again.
func (s *session) deletePorts(ends []EndModel) error {
	isPort := func(e EndModel) bool { return e.Master != "" }
	return s.forEndsByNS(ends, isPort, func(ns string, n *nsh, names []string) error {
		if len(names) == 1 {
			if err := netdev.Delete(n.h, names[0]); err != nil && !errors.Is(err, netdev.ErrNotFound) {
				return fmt.Errorf("netns %q: %w", ns, err)
			}
			return nil
		}
		for _, name := range names {
			if err := netdev.SetGroup(n.h, name, goneGroup); err != nil && !errors.Is(err, netdev.ErrNotFound) {
				return fmt.Errorf("netns %q: %w", ns, err)
			}
		}
		if err := netdev.DeleteGroup(n.h, goneGroup); err != nil {
			return fmt.Errorf("netns %q: %w", ns, err)
		}
		return nil
	})
}

// waitReused waits until those of ends (Plan.PeerEndsGone, switch ports
// excepted: deletePorts removed them) whose names an added link uses again
// in the same namespace are gone.
func (s *session) waitReused(ctx context.Context, ends []EndModel, added []*LinkModel) error {
	reused := map[string]bool{}
	for _, l := range added {
		for _, e := range l.Ends {
			reused[ifKey(e.NS, e.If)] = true
		}
	}
	needed := func(e EndModel) bool { return e.Master == "" && reused[ifKey(e.NS, e.If)] }
	return s.forEndsByNS(ends, needed, func(ns string, n *nsh, names []string) error {
		return waitGone(ctx, n.ns, ns, n.h, names)
	})
}

// forEndsByNS calls fn once per namespace, in name order, with the names of
// those of ends that keep accepts.
func (s *session) forEndsByNS(ends []EndModel, keep func(EndModel) bool, fn func(ns string, n *nsh, names []string) error) error {
	byNS := map[string][]string{}
	for _, e := range ends {
		if keep(e) {
			byNS[e.NS] = append(byNS[e.NS], e.If)
		}
	}
	for _, ns := range slicesSorted(byNS) {
		n, err := s.get(ns)
		if err != nil {
			return err
		}
		if err := fn(ns, n, byNS[ns]); err != nil {
			return err
		}
	}
	return nil
}

// raiseNeighLimits makes room in the kernel's neighbour tables for a big
// lab. The ARP and NDP tables are shared by every namespace and their
// limits (gc_thresh1-3, 128/512/1024 by default) exist only in the initial
// namespace: a star of a hundred hosts talking to each other overflows them
// ("neighbor table overflow!") and packets are dropped. Like Mininet, nslab
// raises the limits (never lowers them) when a lab needs more.
func raiseNeighLimits(nodes int, logf func(string, ...any)) {
	if nodes < 32 {
		return
	}
	need := min(nodes*nodes, 1<<20)
	for _, fam := range []string{"ipv4", "ipv6"} {
		for i, v := range []int{need / 8, need / 2, need} {
			key := fmt.Sprintf("net.%s.neigh.default.gc_thresh%d", fam, i+1)
			cur, err := sysctl.Read(key)
			if err != nil {
				continue // not the initial namespace: not ours to change
			}
			if n, err := strconv.Atoi(cur); err == nil && n < v {
				if sysctl.Write(key, strconv.Itoa(v)) == nil && i == 2 {
					logf("raised %s from %d to %d for a lab of %d nodes", key, n, v, nodes)
				}
			}
		}
	}
}

// impair sets (or clears) the egress impairment of one link end.
func (s *session) impair(e EndModel) error {
	n, err := s.get(e.NS)
	if err != nil {
		return err
	}
	imp, err := shape.Parse(strings.Fields(e.Impair))
	if err != nil {
		return fmt.Errorf("%s:%s: %w", e.Node, e.If, err)
	}
	if err := shape.Apply(n.h, e.If, imp, shape.Detect(n.h)); err != nil {
		return fmt.Errorf("%s:%s: %w", e.Node, e.If, err)
	}
	return nil
}

// checkImpairs refuses a plan, before it changes anything, when the kernel
// lacks a qdisc one of its impairments needs.
func checkImpairs(p *Plan) error {
	if len(p.Impairs) == 0 {
		return nil
	}
	h, err := nl.NewHandle(vnetns.None())
	if err != nil {
		return err
	}
	defer h.Close()
	caps := shape.Detect(h)
	var errs []error
	for _, e := range p.Impairs {
		imp, err := shape.Parse(strings.Fields(e.Impair))
		if err == nil {
			err = caps.Check(imp)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("impair %s:%s: %w", e.Node, e.If, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab %q: %w (nothing was changed)", p.Lab, errors.Join(errs...))
	}
	return nil
}

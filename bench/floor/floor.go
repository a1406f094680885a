// Package floor builds the benchmark's labs (a star of hosts on one bridge,
// or a line of routers) the fastest way this project knows, with raw
// rtnetlink and golang.org/x/sys/unix only: it is the "kernel floor" that
// nslab is measured against.
//
// How it works (each step is what iproute2 would do, minus every round trip
// that is not needed):
//   - namespaces: W worker goroutines, each locked to its OS thread, call
//     unshare(CLONE_NEWNET) once per namespace, write the namespace's sysctls
//     while inside (the switch: disable_ipv6; line routers: ip_forward),
//     bind-mount /proc/thread-self/ns/net on /run/netns/NAME exactly like
//     `ip netns add`, and open one rtnetlink socket there;
//     the switch gets its bridge in the same step. A worker's thread is put
//     back in its first namespace at the end and only then unlocked.
//   - links: one RTM_NEWLINK per veth pair, with both ends born in their
//     namespaces with fixed ifindexes (star: the switch end born enslaved and
//     up), sent one at a time since the kernel's RTNL lock serialises them.
//   - config: one sendmsg per namespace carrying addrgenmode none for each
//     link (no IPv6 autoconfiguration without a sysctl write, whose path
//     lookup grows with the number of namespaces), lo up, the links up, the
//     addresses and the routes, acknowledged together. The star's bridge is
//     built with multicast snooping off and gets it on once the ports are
//     up, as nslab does (each port coming up would otherwise re-arm every
//     enabled port's snooping timers: quadratic in the ports).
//
// Down is `ip netns del` without the process: umount2(MNT_DETACH) and unlink
// of each name, W workers.
//
// There is no undo on failure: the benchmark harness removes everything
// named with its prefix. Up and Down are not safe for concurrent use on the
// same names.
package floor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// NetNSDir is where named namespaces live, as for iproute2.
const NetNSDir = "/run/netns"

// Topo describes a benchmark lab. The names and addresses are the ones every
// tool of the benchmark uses:
//
// Star: hosts Prefix+"h1".."hN", each with eth0 = 198.18.0.0+i/16, linked to
// the bridge "sw" in namespace Prefix+"sw", whose port is "hI-eth0".
//
// Line: routers Prefix+"r0".."r(N-1)"; link k joins rk:eth1 (198.19.0.0+2k/31)
// to r(k+1):eth0 (198.19.0.0+2k+1/31); forwarding is on; each router has a
// default route to its right neighbour (the last one: to its left one) and
// routes to the CIDR blocks of everything left of its left link, through the
// left neighbour. No namespace sends IPv6: the switch has it disabled by a
// sysctl, the nodes' links get no link-local address (addrgenmode none),
// as nslab does.
type Topo struct {
	Kind   string // "star" or "line"
	N      int    // hosts (star) or routers (line)
	Prefix string // namespace name prefix, such as "bzs-"
}

// Names returns every namespace name of t (star: the switch last).
func (t Topo) Names() []string {
	var out []string
	for i := range t.N {
		out = append(out, t.NodeNS(i))
	}
	if t.Kind == "star" {
		out = append(out, t.Prefix+"sw")
	}
	return out
}

// Node returns the node name of index i (0-based): "h(i+1)" in a star,
// "ri" in a line.
func (t Topo) Node(i int) string {
	if t.Kind == "star" {
		return "h" + strconv.Itoa(i+1)
	}
	return "r" + strconv.Itoa(i)
}

// NodeNS returns the namespace name of node index i.
func (t Topo) NodeNS(i int) string { return t.Prefix + t.Node(i) }

// HostAddr is the address of star host index i (0-based): 198.18.0.0+i+1.
func HostAddr(i int) netip.Addr { return addAddr(netip.AddrFrom4([4]byte{198, 18, 0, 0}), i+1) }

// LinkAddr is the address of end e (0 = left router's eth1, 1 = right
// router's eth0) of line link k.
func LinkAddr(k, e int) netip.Addr { return addAddr(netip.AddrFrom4([4]byte{198, 19, 0, 0}), 2*k+e) }

// LineRoute is one static route of a line router.
type LineRoute struct {
	To  netip.Prefix
	Via netip.Addr
}

// LineRoutes returns the routes of line router j of n.
func LineRoutes(j, n int) []LineRoute {
	if n < 2 {
		return nil
	}
	if j == n-1 {
		return []LineRoute{{netip.MustParsePrefix("0.0.0.0/0"), LinkAddr(j-1, 0)}}
	}
	out := []LineRoute{{netip.MustParsePrefix("0.0.0.0/0"), LinkAddr(j, 1)}}
	if j >= 2 {
		// Everything below the left link's first address: [0, 2(j-1)).
		for _, p := range cidrs(0, 2*(j-1)) {
			out = append(out, LineRoute{p, LinkAddr(j-1, 0)})
		}
	}
	return out
}

// cidrs splits the offsets [lo, hi) of 198.19.0.0/16 into CIDR blocks.
func cidrs(lo, hi int) []netip.Prefix {
	var out []netip.Prefix
	for lo < hi {
		size := 1
		for lo%(size*2) == 0 && lo+size*2 <= hi {
			size *= 2
		}
		bits := 32
		for s := size; s > 1; s /= 2 {
			bits--
		}
		out = append(out, netip.PrefixFrom(addAddr(netip.AddrFrom4([4]byte{198, 19, 0, 0}), lo), bits))
		lo += size
	}
	return out
}

func addAddr(a netip.Addr, n int) netip.Addr {
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:]) + uint32(n)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// Phases are the durations of Up's steps.
type Phases struct {
	NS, Links, Config time.Duration
}

// Lab is a built lab: it holds a namespace fd and an rtnetlink socket per
// namespace until Close.
type Lab struct {
	t     Topo
	v6    bool  // IPv6 silenced by a sysctl (SysctlV6)
	nsfd  []int // by Names() index
	sock  []int
	names []string

	anchorFD int
	anchor   string // /proc/self/fd/N of an O_TMPFILE in NetNSDir
}

// Close releases the descriptors; the namespaces live on through their names.
func (l *Lab) Close() {
	for i := range l.names {
		if l.nsfd[i] > 0 {
			unix.Close(l.nsfd[i])
		}
		if l.sock[i] > 0 {
			unix.Close(l.sock[i])
		}
	}
	l.nsfd, l.sock = nil, nil
	if l.anchor != "" {
		unix.Close(l.anchorFD)
		l.anchor = ""
	}
}

// Up builds t with w workers. On error the caller removes what exists (Down).
func Up(t Topo, w int) (*Lab, Phases, error) { return up(t, w, false) }

// UpSysctlV6 is Up with IPv6 disabled in every node by a sysctl write
// (net.ipv6.conf.all.disable_ipv6) instead of addrgenmode none on its links.
func UpSysctlV6(t Topo, w int) (*Lab, Phases, error) { return up(t, w, true) }

func up(t Topo, w int, v6sysctl bool) (*Lab, Phases, error) {
	var ph Phases
	if t.Kind != "star" && t.Kind != "line" {
		return nil, ph, fmt.Errorf("floor: unknown topology %q (want star or line)", t.Kind)
	}
	if err := prepareDir(); err != nil {
		return nil, ph, err
	}
	l := &Lab{t: t, names: t.Names(), v6: v6sysctl}
	fd, err := unix.Open(NetNSDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, ph, fmt.Errorf("floor: unnamed file in %s: %w", NetNSDir, err)
	}
	l.anchorFD, l.anchor = fd, "/proc/self/fd/"+strconv.Itoa(fd)
	l.nsfd = make([]int, len(l.names))
	l.sock = make([]int, len(l.names))
	start := time.Now()
	sw := -1
	if t.Kind == "star" {
		// The switch first, so that ports can be born in it.
		sw = len(l.names) - 1
		if err := l.makeNS([]int{sw}, 1); err != nil {
			l.Close()
			return nil, ph, err
		}
	}
	idx := make([]int, t.N)
	for i := range idx {
		idx[i] = i
	}
	if err := l.makeNS(idx, w); err != nil {
		l.Close()
		return nil, ph, err
	}
	ph.NS = time.Since(start)
	start = time.Now()
	if t.Kind == "star" {
		for i := range t.N {
			if err = l.starPort(i, sw); err != nil {
				break
			}
		}
	} else {
		for k := 0; k < t.N-1 && err == nil; k++ {
			err = l.lineLink(k)
		}
	}
	if err != nil {
		l.Close()
		return nil, ph, err
	}
	ph.Links = time.Since(start)
	start = time.Now()
	err = each(idx, w, func(i int) error { return l.configure(i) })
	if err == nil && t.Kind == "star" {
		// The ports are up: multicast snooping on, the kernel's default.
		var b msgs
		b.add(unix.RTM_NEWLINK, 0, ifinfo(bridgeIndex, 0), nest(unix.IFLA_LINKINFO, attrStr(unix.IFLA_INFO_KIND, "bridge"), snooping(1)))
		if err = b.do(l.sock[sw]); err != nil {
			err = fmt.Errorf("bridge sw: multicast snooping on: %w", err)
		}
	}
	if err != nil {
		l.Close()
		return nil, ph, err
	}
	ph.Config = time.Since(start)
	return l, ph, nil
}

// Down removes the names of t's namespaces with w workers, like
// `ip -batch` of `netns del`. Missing names are not errors.
func Down(t Topo, w int) error {
	names := t.Names()
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	return each(idx, w, func(i int) error {
		p := NetNSDir + "/" + names[i]
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			return fmt.Errorf("delete netns %q: unmount: %w", names[i], err)
		}
		if err := unix.Unlink(p); err != nil && err != unix.ENOENT {
			return fmt.Errorf("delete netns %q: %w", names[i], err)
		}
		return nil
	})
}

// DownHold is Down with every namespace held open until all names are gone
// and then let go of together, as nslab's down does: the kernel's cleanup
// does not start during the loop (where it would slow every unmount's RCU
// grace period) and frees the lab in one batch.
func DownHold(t Topo, w int) error {
	names := t.Names()
	fds := make([]int, 0, len(names))
	for _, n := range names {
		fd, err := unix.Open(NetNSDir+"/"+n, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			fds = append(fds, fd)
		}
	}
	err := Down(t, w)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return err
}

// each runs fn on the items with w goroutines and returns the first error.
func each(items []int, w int, fn func(int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range max(1, w) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(items) {
					return
				}
				if err := fn(items[k]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(len(items)))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// prepareDir makes /run/netns a shared mount point like iproute2 does.
func prepareDir() error {
	if err := os.MkdirAll(NetNSDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == unix.EINVAL {
		if err := unix.Mount(NetNSDir, NetNSDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", NetNSDir, err)
		}
		err = unix.Mount("", NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", NetNSDir, err)
	}
	return nil
}

// makeNS creates the namespaces of the given name indexes with w locked
// worker threads.
func (l *Lab) makeNS(items []int, w int) error {
	var next atomic.Int64
	errc := make(chan error, max(1, w))
	for range max(1, w) {
		go func() {
			runtime.LockOSThread()
			orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				errc <- err
				return
			}
			defer unix.Close(orig)
			var ferr error
			for ferr == nil {
				k := int(next.Add(1)) - 1
				if k >= len(items) {
					break
				}
				ferr = l.makeOne(items[k])
				if ferr != nil {
					next.Store(int64(len(items)))
				}
			}
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				errc <- errors.Join(ferr, err) // stay locked: the thread dies
				return
			}
			runtime.UnlockOSThread()
			errc <- ferr
		}()
	}
	var errs []error
	for range max(1, w) {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// makeOne runs on a locked thread: a new namespace, its sysctls, its name,
// its socket, and for the switch its bridge.
func (l *Lab) makeOne(i int) error {
	name := l.names[i]
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns %q: unshare: %w", name, err)
	}
	// One write: the kernel copies all.disable_ipv6 to default as well.
	var sysctls []string
	if l.v6 || (l.t.Kind == "star" && i == len(l.names)-1) {
		sysctls = append(sysctls, "ipv6/conf/all/disable_ipv6")
	}
	if l.t.Kind == "line" {
		sysctls = append(sysctls, "ipv4/ip_forward")
	}
	for _, s := range sysctls {
		fd, err := unix.Open("/proc/sys/net/"+s, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("netns %q: sysctl %s: %w", name, s, err)
		}
		_, err = unix.Write(fd, []byte("1\n"))
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("netns %q: sysctl %s: %w", name, s, err)
		}
	}
	p := NetNSDir + "/" + name
	// The name is a link to one unnamed file, as nslab makes it (see
	// netns.anchor): a directory entry instead of an inode per name.
	if err := unix.Linkat(unix.AT_FDCWD, l.anchor, unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW); err != nil {
		return fmt.Errorf("netns %q: create name: %w", name, err)
	}
	if err := unix.Mount("/proc/thread-self/ns/net", p, "none", unix.MS_BIND, ""); err != nil {
		unix.Unlink(p)
		return fmt.Errorf("netns %q: bind mount: %w", name, err)
	}
	var err error
	if l.nsfd[i], err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("netns %q: open: %w", name, err)
	}
	if l.sock[i], err = rtnl(); err != nil {
		return fmt.Errorf("netns %q: %w", name, err)
	}
	if l.t.Kind == "star" && i == len(l.names)-1 {
		var b msgs
		b.add(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(bridgeIndex, unix.IFF_UP),
			attrStr(unix.IFLA_IFNAME, "sw"),
			nest(unix.IFLA_LINKINFO, attrStr(unix.IFLA_INFO_KIND, "bridge"), snooping(0)))
		if err := b.do(l.sock[i]); err != nil {
			return fmt.Errorf("netns %q: add bridge: %w", name, err)
		}
	}
	return nil
}

const (
	bridgeIndex = 2 // the bridge in the switch
	eth0Index   = 2
	eth1Index   = 3
	portBase    = 10 // switch port of host i: portBase+i
)

// starPort creates host i's veth pair from the host's socket: the port born
// in the switch, enslaved and up; eth0 born in the host.
func (l *Lab) starPort(i, sw int) error {
	var b msgs
	b.add(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(int32(portBase+i), unix.IFF_UP),
		attrStr(unix.IFLA_IFNAME, l.t.Node(i)+"-eth0"),
		attrU32(unix.IFLA_NET_NS_FD, uint32(l.nsfd[sw])),
		attrU32(unix.IFLA_MASTER, bridgeIndex),
		attrU32(unix.IFLA_NUM_TX_QUEUES, 1), attrU32(unix.IFLA_NUM_RX_QUEUES, 1),
		nest(unix.IFLA_LINKINFO, attrStr(unix.IFLA_INFO_KIND, "veth"),
			nest(unix.IFLA_INFO_DATA, nestRaw(1 /* VETH_INFO_PEER */, ifinfo(eth0Index, 0),
				attrStr(unix.IFLA_IFNAME, "eth0"),
				attrU32(unix.IFLA_NUM_TX_QUEUES, 1), attrU32(unix.IFLA_NUM_RX_QUEUES, 1),
				attrU32(unix.IFLA_NET_NS_FD, uint32(l.nsfd[i]))))))
	if err := b.do(l.sock[i]); err != nil {
		return fmt.Errorf("veth %s-eth0 <-> %s:eth0: %w", l.t.Node(i), l.names[i], err)
	}
	return nil
}

// lineLink creates link k from router k's socket: eth1 up in k, eth0 in k+1.
func (l *Lab) lineLink(k int) error {
	var b msgs
	var flags uint32
	if l.v6 {
		flags = unix.IFF_UP
	}
	b.add(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifinfo(eth1Index, flags),
		attrStr(unix.IFLA_IFNAME, "eth1"),
		attrU32(unix.IFLA_NUM_TX_QUEUES, 1), attrU32(unix.IFLA_NUM_RX_QUEUES, 1),
		nest(unix.IFLA_LINKINFO, attrStr(unix.IFLA_INFO_KIND, "veth"),
			nest(unix.IFLA_INFO_DATA, nestRaw(1 /* VETH_INFO_PEER */, ifinfo(eth0Index, 0),
				attrStr(unix.IFLA_IFNAME, "eth0"),
				attrU32(unix.IFLA_NUM_TX_QUEUES, 1), attrU32(unix.IFLA_NUM_RX_QUEUES, 1),
				attrU32(unix.IFLA_NET_NS_FD, uint32(l.nsfd[k+1]))))))
	if err := b.do(l.sock[k]); err != nil {
		return fmt.Errorf("veth %s:eth1 <-> %s:eth0: %w", l.names[k], l.names[k+1], err)
	}
	return nil
}

// configure sends node i's lo up, links up, addresses and routes in one
// sendmsg.
func (l *Lab) configure(i int) error {
	var b msgs
	up := func(idx int32) {
		if !l.v6 && idx != 1 {
			// No link-local address, so no autoconfiguration traffic.
			b.add(unix.RTM_NEWLINK, 0, ifinfo(idx, 0), nest(unix.IFLA_AF_SPEC,
				nest(unix.AF_INET6, attrRaw(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{1 /* none */}))))
		}
		b.add(unix.RTM_NEWLINK, 0, ifinfo(idx, unix.IFF_UP))
	}
	addr := func(idx int32, a netip.Addr, bits int) {
		v := a.As4()
		b.add(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ifaddr(idx, bits),
			attrRaw(unix.IFA_LOCAL, v[:]), attrRaw(unix.IFA_ADDRESS, v[:]))
	}
	up(1)
	if l.t.Kind == "star" {
		up(eth0Index)
		addr(eth0Index, HostAddr(i), 16)
	} else {
		n := l.t.N
		if i > 0 {
			up(eth0Index)
			addr(eth0Index, LinkAddr(i-1, 1), 31)
		}
		if i < n-1 {
			up(eth1Index) // already up; harmless and keeps the message shape fixed
			addr(eth1Index, LinkAddr(i, 0), 31)
		}
		for _, r := range LineRoutes(i, n) {
			dst, gw := r.To.Addr().As4(), r.Via.As4()
			body := make([]byte, 12)
			body[0] = unix.AF_INET
			body[1] = byte(r.To.Bits())
			body[4] = unix.RT_TABLE_MAIN
			body[5] = unix.RTPROT_BOOT
			body[6] = unix.RT_SCOPE_UNIVERSE
			body[7] = unix.RTN_UNICAST
			attrs := [][]byte{attrRaw(unix.RTA_GATEWAY, gw[:])}
			if r.To.Bits() > 0 {
				attrs = append(attrs, attrRaw(unix.RTA_DST, dst[:]))
			}
			b.add(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL, body, attrs...)
		}
	}
	if err := b.do(l.sock[i]); err != nil {
		return fmt.Errorf("configure %s: %w", l.names[i], err)
	}
	return nil
}

// rtnl opens an rtnetlink socket in the calling thread's namespace.
func rtnl() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, fmt.Errorf("rtnetlink socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	return fd, nil
}

// msgs is a batch of netlink requests sent in one sendmsg.
type msgs struct {
	buf []byte
	n   int
}

func (m *msgs) add(typ uint16, flags uint16, body []byte, attrs ...[]byte) {
	l := unix.NLMSG_HDRLEN + len(body)
	for _, a := range attrs {
		l += len(a)
	}
	h := make([]byte, unix.NLMSG_HDRLEN)
	m.n++
	binary.NativeEndian.PutUint32(h[0:], uint32(l))
	binary.NativeEndian.PutUint16(h[4:], typ)
	binary.NativeEndian.PutUint16(h[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(h[8:], uint32(m.n))
	m.buf = append(m.buf, h...)
	m.buf = append(m.buf, body...)
	for _, a := range attrs {
		m.buf = append(m.buf, a...)
	}
}

// do sends the batch and reads one acknowledgement per request.
func (m *msgs) do(fd int) error {
	if err := unix.Sendto(fd, m.buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sendmsg: %w", err)
	}
	rb := make([]byte, 65536)
	var errs []error
	for acked := 0; acked < m.n; {
		n, _, err := unix.Recvfrom(fd, rb, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("recvmsg: %w", err)
		}
		for b := rb[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
				acked++
				if e := int32(binary.NativeEndian.Uint32(b[unix.NLMSG_HDRLEN:])); e != 0 {
					seq := binary.NativeEndian.Uint32(b[8:])
					errs = append(errs, fmt.Errorf("request %d: %w", seq, unix.Errno(-e)))
				}
			}
			b = b[align(l):]
		}
	}
	return errors.Join(errs...)
}

func align(n int) int { return (n + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1) }

// snooping is the bridge's IFLA_INFO_DATA that sets multicast snooping.
func snooping(on byte) []byte {
	return nest(unix.IFLA_INFO_DATA, attrRaw(unix.IFLA_BR_MCAST_SNOOPING, []byte{on}))
}

func ifinfo(index int32, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], flags) // change mask: exactly the flags set
	return b
}

func ifaddr(index int32, bits int) []byte {
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = unix.AF_INET
	b[1] = byte(bits)
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return b
}

func attrRaw(typ uint16, v []byte) []byte {
	l := unix.SizeofRtAttr + len(v)
	b := make([]byte, align(l))
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], v)
	return b
}

func attrStr(typ uint16, s string) []byte { return attrRaw(typ, append([]byte(s), 0)) }

func attrU32(typ uint16, v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return attrRaw(typ, b)
}

func nest(typ uint16, attrs ...[]byte) []byte {
	var v []byte
	for _, a := range attrs {
		v = append(v, a...)
	}
	return attrRaw(typ|unix.NLA_F_NESTED, v)
}

// nestRaw nests a fixed header followed by attributes (VETH_INFO_PEER).
func nestRaw(typ uint16, hdr []byte, attrs ...[]byte) []byte {
	v := append([]byte{}, hdr...)
	for _, a := range attrs {
		v = append(v, a...)
	}
	return attrRaw(typ, v)
}

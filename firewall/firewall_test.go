package firewall_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/nslab/nslab/firewall"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/sysctl"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// handle returns a netlink handle in ns, closed when the test ends.
func handle(t *testing.T, ns vnetns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := nl.NewHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// upLo sets lo up in ns.
func upLo(t *testing.T, ns vnetns.NsHandle) {
	t.Helper()
	h := handle(t, ns)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
}

// wire joins namespaces x and y with a veth, devX in x and devY in y, gives
// each end its addresses (without DAD), sets both up, adds permanent
// neighbour entries for the peer's addresses (the kernel's neighbour table
// limits are shared by all namespaces, so a busy machine could otherwise
// starve resolution), and waits for both ends to be operational. The veth
// lives inside throwaway namespaces and goes with them.
func wire(t *testing.T, x vnetns.NsHandle, devX string, addrsX []string, y vnetns.NsHandle, devY string, addrsY []string) {
	t.Helper()
	hx, hy := handle(t, x), handle(t, y)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: devX}, PeerName: devY, PeerNamespace: netlink.NsFd(int(y))}
	if err := hx.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %q: %v", devX, err)
	}
	type end struct {
		h     *netlink.Handle
		dev   string
		addrs []string
		link  netlink.Link
	}
	ends := []*end{{h: hx, dev: devX, addrs: addrsX}, {h: hy, dev: devY, addrs: addrsY}}
	for _, e := range ends {
		l, err := e.h.LinkByName(e.dev)
		if err != nil {
			t.Fatal(err)
		}
		e.link = l
		for _, s := range e.addrs {
			a, err := netlink.ParseAddr(s)
			if err != nil {
				t.Fatal(err)
			}
			a.Flags = unix.IFA_F_NODAD
			if err := e.h.AddrAdd(l, a); err != nil {
				t.Fatalf("add %s to %q: %v", s, e.dev, err)
			}
		}
		if err := e.h.LinkSetUp(l); err != nil {
			t.Fatalf("set %q up: %v", e.dev, err)
		}
	}
	for i, e := range ends {
		peer := ends[1-i]
		for _, s := range peer.addrs {
			p := netip.MustParsePrefix(s)
			fam := netlink.FAMILY_V4
			if p.Addr().Is6() {
				fam = netlink.FAMILY_V6
			}
			err := e.h.NeighSet(&netlink.Neigh{LinkIndex: e.link.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT,
				IP: p.Addr().AsSlice(), HardwareAddr: peer.link.Attrs().HardwareAddr})
			if err != nil {
				t.Fatalf("add neighbour %s on %q: %v", p.Addr(), e.dev, err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, e := range ends {
		for {
			l, err := e.h.LinkByName(e.dev)
			if err != nil {
				t.Fatal(err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%q is not up after 5s (state %v)", e.dev, l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond) // polling with a deadline
		}
	}
}

// route adds a route to dst via gw in ns.
func route(t *testing.T, ns vnetns.NsHandle, dst, gw string) {
	t.Helper()
	d := netip.MustParsePrefix(dst)
	r := &netlink.Route{Dst: &net.IPNet{IP: d.Addr().AsSlice(), Mask: net.CIDRMask(d.Bits(), d.Addr().BitLen())},
		Gw: net.IP(netip.MustParseAddr(gw).AsSlice())}
	if err := handle(t, ns).RouteAdd(r); err != nil {
		t.Fatalf("add route %s via %s: %v", dst, gw, err)
	}
}

// listener is a TCP listener in a namespace that records the address of
// every peer it accepts.
type listener struct {
	port  int
	peers chan netip.Addr
}

// listen opens a dual-stack TCP listener on a free port in ns (the socket
// is made inside the namespace), closed when the test ends.
func listen(t *testing.T, ns vnetns.NsHandle) *listener {
	t.Helper()
	var l net.Listener
	err := nsthread.Do(ns, func() error {
		var err error
		l, err = net.Listen("tcp", ":0")
		return err
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	ln := &listener{port: l.Addr().(*net.TCPAddr).Port, peers: make(chan netip.Addr, 64)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
			select {
			case ln.peers <- ap.Addr().Unmap():
			default:
			}
		}
	}()
	return ln
}

// dial connects from ns to addr:port (an IP literal) and closes the
// connection.
func dial(ns vnetns.NsHandle, addr string, port int, timeout time.Duration) error {
	return nsthread.Do(ns, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), timeout)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func mustConnect(t *testing.T, ns vnetns.NsHandle, addr string, port int) {
	t.Helper()
	if err := dial(ns, addr, port, 5*time.Second); err != nil {
		t.Fatalf("connect to %s port %d: %v, want success", addr, port, err)
	}
}

// mustTimeOut checks that a connection is silently dropped.
func mustTimeOut(t *testing.T, ns vnetns.NsHandle, addr string, port int) {
	t.Helper()
	err := dial(ns, addr, port, 400*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connect to %s port %d: %v, want a timeout (packets dropped)", addr, port, err)
	}
}

// mustRefuse checks that a connection is refused at once (TCP reset).
func mustRefuse(t *testing.T, ns vnetns.NsHandle, addr string, port int) {
	t.Helper()
	start := time.Now()
	err := dial(ns, addr, port, 3*time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to %s port %d: %v, want connection refused", addr, port, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("connect to %s port %d refused after %v, want at once", addr, port, d)
	}
}

func tables(t *testing.T, ns vnetns.NsHandle) []string {
	t.Helper()
	got, err := firewall.Tables(ns)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func apply(t *testing.T, ns vnetns.NsHandle, p firewall.Policy) {
	t.Helper()
	if err := firewall.Apply(ns, p); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func rules(t *testing.T, rs ...string) []firewall.Rule {
	t.Helper()
	var out []firewall.Rule
	for _, s := range rs {
		r, err := firewall.ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// foreignTable makes a table that is not nslab's in ns, with an input chain
// and one counter rule, and returns a function that says whether it is still
// there, unchanged.
func foreignTable(t *testing.T, ns vnetns.NsHandle) func() error {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseLasting() })
	tab := c.AddTable(&nftables.Table{Name: "user", Family: nftables.TableFamilyINet})
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "watch", Table: tab, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(-10), Policy: &accept})
	c.AddRule(&nftables.Rule{Table: tab, Chain: ch, Exprs: []expr.Any{&expr.Counter{}}})
	if err := c.Flush(); err != nil {
		t.Fatalf("add foreign table: %v", err)
	}
	return func() error {
		ch, err := c.ListChain(tab, "watch")
		if err != nil {
			return err
		}
		rs, err := c.GetRules(tab, ch)
		if err != nil {
			return err
		}
		if len(rs) != 1 || *ch.Hooknum != *nftables.ChainHookInput {
			return errors.New("foreign table changed: " + strconv.Itoa(len(rs)) + " rules")
		}
		return nil
	}
}

const (
	a4, b4 = "198.18.0.1", "198.18.0.2"
	a6, b6 = "fd00::1", "fd00::2"
)

// pair makes namespaces A and B joined by eth0, with lo up and addresses
// 198.18.0.1/24, fd00::1/64 (A) and 198.18.0.2/24, fd00::2/64 (B).
func pair(t *testing.T) (a, b vnetns.NsHandle) {
	a, b = nslabtest.NewNS(t), nslabtest.NewNS(t)
	upLo(t, a)
	upLo(t, b)
	wire(t, a, "eth0", []string{a4 + "/24", a6 + "/64"}, b, "eth0", []string{b4 + "/24", b6 + "/64"})
	return a, b
}

func TestDenyRejectAllowClear(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	srv := listen(t, b)
	other := listen(t, b)
	foreignOK := foreignTable(t, b)
	for _, addr := range []string{b4, b6} {
		mustConnect(t, a, addr, srv.port)
	}

	port := strconv.Itoa(srv.port)
	apply(t, b, firewall.Policy{Rules: rules(t, "deny in tcp "+port)})
	if got, want := tables(t, b), []string{"inet nslab"}; !slices.Equal(got, want) {
		t.Errorf("Tables = %q, want %q", got, want)
	}
	for _, addr := range []string{b4, b6} {
		mustTimeOut(t, a, addr, srv.port)
		mustConnect(t, a, addr, other.port)
	}

	p := firewall.Policy{Rules: rules(t, "reject in tcp "+port+" from 198.18.0.0/24,fd00::/64")}
	for range 2 { // the second Apply must leave the same result
		apply(t, b, p)
		for _, addr := range []string{b4, b6} {
			mustRefuse(t, a, addr, srv.port)
			mustConnect(t, a, addr, other.port)
		}
	}

	// allow one port, reject the rest by default; B's own outgoing
	// connections still get their replies (ct state established).
	apply(t, b, firewall.Policy{
		Rules:   rules(t, "allow in tcp "+port),
		Default: map[firewall.Direction]firewall.Action{firewall.In: firewall.Reject},
	})
	back := listen(t, a)
	for _, addr := range []string{b4, b6} {
		mustConnect(t, a, addr, srv.port)
		mustRefuse(t, a, addr, other.port)
	}
	for _, addr := range []string{a4, a6} {
		mustConnect(t, b, addr, back.port)
	}
	// lo is always allowed.
	mustConnect(t, b, "127.0.0.1", other.port)

	if err := foreignOK(); err != nil {
		t.Errorf("after Apply: %v", err)
	}
	if err := firewall.Clear(b); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if got := tables(t, b); len(got) != 0 {
		t.Errorf("Tables after Clear = %q, want none", got)
	}
	for _, addr := range []string{b4, b6} {
		mustConnect(t, a, addr, srv.port)
		mustConnect(t, a, addr, other.port)
	}
	if err := foreignOK(); err != nil {
		t.Errorf("after Clear: %v", err)
	}
	if err := firewall.Clear(b); err != nil {
		t.Errorf("second Clear: %v", err)
	}
}

func TestRejectUDP(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	var pc net.PacketConn
	if err := nsthread.Do(b, func() error {
		var err error
		pc, err = net.ListenPacket("udp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() { // echo
		buf := make([]byte, 100)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ask := func() error {
		return nsthread.Do(a, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(b4, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
			_, err = c.Read(make([]byte, 100))
			return err
		})
	}
	if err := ask(); err != nil {
		t.Fatalf("udp echo without firewall: %v", err)
	}
	apply(t, b, firewall.Policy{Rules: rules(t, "reject in udp "+strconv.Itoa(port))})
	if err := ask(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("udp echo with reject: %v, want connection refused (port unreachable)", err)
	}
}

func TestForwardAndMasquerade(t *testing.T) {
	t.Parallel()
	// A (198.18.1.1) -- R -- C (198.18.2.1), R routes between them.
	a, r, c := nslabtest.NewNS(t), nslabtest.NewNS(t), nslabtest.NewNS(t)
	for _, ns := range []vnetns.NsHandle{a, r, c} {
		upLo(t, ns)
	}
	wire(t, a, "eth0", []string{"198.18.1.1/24", "fd00:1::1/64"}, r, "eth0", []string{"198.18.1.254/24", "fd00:1::fe/64"})
	wire(t, r, "eth1", []string{"198.18.2.254/24", "fd00:2::fe/64"}, c, "eth0", []string{"198.18.2.1/24", "fd00:2::1/64"})
	route(t, a, "198.18.2.0/24", "198.18.1.254")
	route(t, a, "fd00:2::/64", "fd00:1::fe")
	route(t, c, "198.18.1.0/24", "198.18.2.254")
	route(t, c, "fd00:1::/64", "fd00:2::fe")
	for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
		if err := sysctl.Set(r, k, "1"); err != nil {
			t.Fatal(err)
		}
	}
	srv := listen(t, c)
	peer := func(addr string) netip.Addr {
		t.Helper()
		mustConnect(t, a, addr, srv.port)
		select {
		case p := <-srv.peers:
			return p
		case <-time.After(5 * time.Second):
			t.Fatalf("listener in C saw no connection")
		}
		return netip.Addr{}
	}
	check := func(addr, want string) {
		t.Helper()
		if got := peer(addr); got.String() != want {
			t.Errorf("C saw a connection to %s from %s, want %s", addr, got, want)
		}
	}

	apply(t, r, firewall.Policy{})
	check("198.18.2.1", "198.18.1.1")
	check("fd00:2::1", "fd00:1::1")

	apply(t, r, firewall.Policy{Masquerade: []string{"eth1"}})
	if got, want := tables(t, r), []string{"inet nslab", "ip nslab-nat", "ip6 nslab-nat"}; !slices.Equal(got, want) {
		t.Errorf("Tables = %q, want %q", got, want)
	}
	check("198.18.2.1", "198.18.2.254")
	check("fd00:2::1", "fd00:2::fe")

	apply(t, r, firewall.Policy{Rules: rules(t, "deny forward from 198.18.1.1,fd00:1::1")})
	if got, want := tables(t, r), []string{"inet nslab"}; !slices.Equal(got, want) {
		t.Errorf("Tables without Masquerade = %q, want %q", got, want)
	}
	mustTimeOut(t, a, "198.18.2.1", srv.port)
	mustTimeOut(t, a, "fd00:2::1", srv.port)

	apply(t, r, firewall.Policy{Rules: rules(t, "allow forward")})
	check("198.18.2.1", "198.18.1.1")
	check("fd00:2::1", "fd00:1::1")
}

func TestApplyInvalid(t *testing.T) {
	t.Parallel()
	ns := nslabtest.NewNS(t)
	apply(t, ns, firewall.Policy{Rules: rules(t, "deny in tcp 22")})
	bad := firewall.Policy{Rules: []firewall.Rule{{Action: firewall.Deny, Direction: "up"}}}
	err := firewall.Apply(ns, bad)
	if err == nil || !strings.Contains(err.Error(), `unknown direction "up"`) {
		t.Fatalf("Apply(invalid) = %v, want an unknown direction error", err)
	}
	// Neither a bad policy nor a bad handle changes what is in place.
	if err := firewall.Apply(vnetns.None(), firewall.Policy{}); err == nil {
		t.Error("Apply(None) = nil, want an error")
	}
	if got, want := tables(t, ns), []string{"inet nslab"}; !slices.Equal(got, want) {
		t.Errorf("Tables after failed Apply = %q, want %q", got, want)
	}
}

// nftJSON is the part of `nft -j list ruleset` the cross-check reads.
type nftJSON struct {
	Nftables []struct {
		Table *struct {
			Family, Name string
		}
		Chain *struct {
			Family, Table, Name, Type, Hook, Policy string
			Prio                                    int
		}
		Rule *struct {
			Family, Table, Chain, Comment string
		}
	} `json:"nftables"`
}

// nft runs nft in the named namespace and returns its output.
func nft(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", name, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestCrossCheckWithNft(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if nslabtest.CI() {
				t.Fatalf("%s is not installed: .ci/run installs it (nftables, iproute2)", tool)
			}
			t.Skipf("%s is not installed (apt-get install nftables iproute2)", tool)
		}
	}
	name, ns := nslabtest.NewNamedNS(t)
	nft(t, name, "add", "table", "ip", "user")
	nft(t, name, "add", "chain", "ip", "user", "out", "{ type filter hook output priority 10; }")
	nft(t, name, "add", "rule", "ip", "user", "out", "counter", "comment", `"mine"`)
	userBefore := nft(t, name, "list", "table", "ip", "user")

	p := firewall.Policy{
		Rules: rules(t,
			"deny in tcp 5432 from 198.18.1.0/24",
			"reject in udp 53",
			"allow out icmp to fd00::/8",
			"deny forward from 198.18.1.10",
			"reject in from fd00:1::/48 to fd00:2::1",
		),
		Default:    map[firewall.Direction]firewall.Action{firewall.In: firewall.Deny, firewall.Forward: firewall.Reject},
		Masquerade: []string{"eth1", "up0"},
	}
	apply(t, ns, p)
	first := nft(t, name, "list", "ruleset")
	apply(t, ns, p)
	if again := nft(t, name, "list", "ruleset"); again != first {
		t.Errorf("second Apply changed the ruleset:\n%s\nthen\n%s", first, again)
	}

	var js nftJSON
	if err := json.Unmarshal([]byte(nft(t, name, "-j", "list", "ruleset")), &js); err != nil {
		t.Fatal(err)
	}
	var tabs, chains []string
	comments := map[string][]string{}
	for _, o := range js.Nftables {
		switch {
		case o.Table != nil:
			tabs = append(tabs, o.Table.Family+" "+o.Table.Name)
		case o.Chain != nil:
			c := o.Chain
			chains = append(chains, strings.Join([]string{c.Family, c.Table, c.Name, c.Type, c.Hook, strconv.Itoa(c.Prio), c.Policy}, " "))
		case o.Rule != nil:
			k := o.Rule.Family + " " + o.Rule.Table + " " + o.Rule.Chain
			comments[k] = append(comments[k], o.Rule.Comment)
		}
	}
	slices.Sort(tabs)
	if want := []string{"inet nslab", "ip nslab-nat", "ip user", "ip6 nslab-nat"}; !slices.Equal(tabs, want) {
		t.Errorf("tables = %q, want %q", tabs, want)
	}
	slices.Sort(chains)
	wantChains := []string{
		"inet nslab forward filter forward 0 accept",
		"inet nslab input filter input 0 accept",
		"inet nslab output filter output 0 accept",
		"ip nslab-nat postrouting nat postrouting 100 accept",
		"ip user out filter output 10 accept",
		"ip6 nslab-nat postrouting nat postrouting 100 accept",
	}
	if !slices.Equal(chains, wantChains) {
		t.Errorf("chains =\n%s\nwant\n%s", strings.Join(chains, "\n"), strings.Join(wantChains, "\n"))
	}
	wantComments := map[string][]string{
		"inet nslab input": {
			"nslab: allow established,related", "nslab: allow loopback", "nslab: allow icmpv6 neighbour discovery",
			"deny in tcp 5432 from 198.18.1.0/24",
			"reject in udp 53",
			"reject in from fd00:1::/48 to fd00:2::1", "reject in from fd00:1::/48 to fd00:2::1",
			"nslab: default in deny",
		},
		"inet nslab output": {
			"nslab: allow established,related", "nslab: allow loopback", "nslab: allow icmpv6 neighbour discovery",
			"allow out icmp to fd00::/8",
		},
		"inet nslab forward": {
			"nslab: allow established,related",
			"deny forward from 198.18.1.10",
			"nslab: default forward reject", "nslab: default forward reject",
		},
		"ip nslab-nat postrouting":  {"nslab: masquerade out of eth1", "nslab: masquerade out of up0"},
		"ip6 nslab-nat postrouting": {"nslab: masquerade out of eth1", "nslab: masquerade out of up0"},
		"ip user out":               {"mine"},
	}
	for k, want := range wantComments {
		if got := comments[k]; !slices.Equal(got, want) {
			t.Errorf("rules of %s =\n%q\nwant\n%q", k, got, want)
		}
	}
	// nft decodes our expressions to the rules a person would write.
	text := nft(t, name, "list", "table", "inet", "nslab")
	for _, want := range []string{
		"ct state established,related accept",
		`iifname "lo" accept`,
		`oifname "lo" accept`,
		"ip saddr 198.18.1.0/24 tcp dport 5432 drop",
		"udp dport 53 reject comment",
		"meta l4proto ipv6-icmp ip6 daddr fd00::/8 accept",
		"ip saddr 198.18.1.10 drop",
		"ip6 saddr fd00:1::/48 ip6 daddr fd00:2::1 meta l4proto tcp reject with tcp reset",
		"ip6 saddr fd00:1::/48 ip6 daddr fd00:2::1 reject with icmpx admin-prohibited",
		"reject with tcp reset",
		"reject with icmpx admin-prohibited",
		"drop comment \"nslab: default in deny\"",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("nft list table inet nslab lacks %q:\n%s", want, text)
		}
	}
	nat := nft(t, name, "list", "table", "ip", "nslab-nat")
	if !strings.Contains(nat, `oifname "eth1" masquerade`) {
		t.Errorf("nft list table ip nslab-nat lacks the masquerade rule:\n%s", nat)
	}

	if got := nft(t, name, "list", "table", "ip", "user"); got != userBefore {
		t.Errorf("Apply changed the user's table:\n%s\nwas\n%s", got, userBefore)
	}
	if err := firewall.Clear(ns); err != nil {
		t.Fatal(err)
	}
	if got := nft(t, name, "list", "ruleset"); strings.Contains(got, "nslab") || got != userBefore {
		t.Errorf("after Clear the ruleset is\n%s\nwant only the user's table\n%s", got, userBefore)
	}
}

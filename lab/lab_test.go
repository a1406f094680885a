package lab_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/ipaddr"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/nslabtest/labtest"
	"github.com/nslab/nslab/probe"
	vnetns "github.com/vishvananda/netns"
)

func TestMain(m *testing.M) {
	code := nslabtest.Main(m)
	if nslabBin != "" { // built by buildNslab: the directory is the test's
		os.RemoveAll(filepath.Dir(nslabBin))
	}
	os.Exit(code)
}

// parse parses a topology and gives it a unique test name.
func parse(t *testing.T, y string) *topo.Spec {
	t.Helper()
	spec, err := topo.Parse([]byte(y), t.Name()+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = nslabtest.Name(t, topo.MaxLabName)
	return spec
}

func ino(t *testing.T, ns string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(netns.Path(ns), &st); err != nil {
		t.Fatalf("stat netns %s: %v", ns, err)
	}
	return st.Ino
}

func check(t *testing.T, name string, wantProbes int) *lab.Report {
	t.Helper()
	rep, err := lab.Check(t.Context(), name, lab.CheckOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("check %s: %v", name, err)
	}
	if !rep.OK() || (wantProbes > 0 && len(rep.Probes) != wantProbes) {
		for _, p := range rep.Probes {
			if !p.Pass {
				t.Logf("failed: %+v", p)
			}
		}
		t.Fatalf("check %s: %d probes, %d failed (want %d probes, none failed)", name, len(rep.Probes), rep.Failed, wantProbes)
	}
	return rep
}

func TestDemoUpCheckDown(t *testing.T) {
	nslabtest.RequireRoot(t)
	spec, err := lab.Demo()
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = nslabtest.Name(t, topo.MaxLabName)
	// The demo's host end has a fixed name; give it a test name.
	renameHostEnds(t, spec)
	hostIf := spec.Host.Interfaces[0]
	labtest.Up(t, spec)
	for _, n := range []string{"r1", "h1", "h2", "h3", "lan1"} {
		if !netns.Exists(spec.NetNSName(n)) {
			t.Errorf("netns %s missing after up", spec.NetNSName(n))
		}
	}
	// iproute2 sees the lab's namespaces and their devices.
	out, err := exec.Command("ip", "-n", spec.NetNSName("h1"), "-br", "addr", "show", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "198.18.1.2/24") || !strings.Contains(string(out), "fd00:1::2/64") {
		t.Errorf("ip -n %s addr: %v\n%s", spec.NetNSName("h1"), err, out)
	}
	// h1, h2, h3 and r1 reach each other over IPv4 and IPv6 through r1.
	check(t, spec.Name, 0)
	if err := lab.Down(t.Context(), spec.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"r1", "h1", "h2", "h3", "lan1"} {
		if _, err := os.Lstat(netns.Path(spec.NetNSName(n))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("netns %s still there after down: %v", spec.NetNSName(n), err)
		}
	}
	if out, _ := exec.Command("ip", "link", "show", hostIf.Name).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("host end %s still there after down:\n%s", hostIf.Name, out)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, spec.Name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state of %s still there after down", spec.Name)
	}
}

const twoHosts = `
name: x
nodes:
  a:
    interfaces: {eth0: {addresses: [198.18.0.1/24, "fd00:a::1/64"]}}
    run: ["sleep 300"]
  b:
    interfaces: {eth0: {addresses: [198.18.0.2/24, "fd00:a::2/64"]}}
links:
  - endpoints: [a:eth0, b:eth0]
`

func TestUpAgainChangesOnlyTheDifference(t *testing.T) {
	spec := parse(t, twoHosts)
	labtest.Up(t, spec)
	inoA, inoB := ino(t, spec.NetNSName("a")), ino(t, spec.NetNSName("b"))
	st1, err := lab.GetStatus(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	pid := st1.Nodes[0].Procs[0].PID
	if !st1.Nodes[0].Procs[0].Running {
		t.Fatalf("run command of a not running: %+v", st1.Nodes[0].Procs)
	}

	// Unchanged: nothing to do.
	res, err := lab.Up(t.Context(), spec, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() {
		t.Fatalf("up on an unchanged lab planned:\n%s", res.Plan)
	}

	// Changed: b gets a new address, c is added behind b.
	y := strings.Replace(twoHosts, "198.18.0.2/24", "198.18.0.3/24", 1) + "  - endpoints: [b:eth1, c:eth0]\n"
	y = strings.Replace(y, "  b:\n", "  c:\n    interfaces: {eth0: {addresses: [198.18.5.2/24]}}\n  b:\n", 1)
	y = strings.Replace(y, "links:", "links:", 1)
	y = strings.Replace(y, `"fd00:a::2/64"]}}`, `"fd00:a::2/64"]}, eth1: {addresses: [198.18.5.1/24]}}`, 1)
	spec2, err := topo.Parse([]byte(y), "changed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec2.Name = spec.Name
	dry, err := lab.Up(t.Context(), spec2, lab.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Plan.AddNodes) != 1 || len(dry.Plan.AddLinks) != 1 || len(dry.Plan.DelNodes) != 0 {
		t.Fatalf("dry run plan:\n%s", dry.Plan)
	}
	if netns.Exists(spec.NetNSName("c")) {
		t.Fatal("dry run created node c")
	}
	if _, err := lab.Up(t.Context(), spec2, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := ino(t, spec.NetNSName("a")); got != inoA {
		t.Errorf("node a was recreated (inode %d -> %d) though it did not change", inoA, got)
	}
	if got := ino(t, spec.NetNSName("b")); got != inoB {
		t.Errorf("node b was recreated (inode %d -> %d); only its address changed", inoB, got)
	}
	st2, err := lab.GetStatus(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if p := st2.Nodes[0].Procs[0]; p.PID != pid || !p.Running {
		t.Errorf("process of unchanged node a: pid %d running %v, want pid %d running", p.PID, p.Running, pid)
	}
	out, _ := exec.Command("ip", "-n", spec.NetNSName("b"), "-br", "-4", "addr", "show", "eth0").CombinedOutput()
	if !strings.Contains(string(out), "198.18.0.3/24") || strings.Contains(string(out), "198.18.0.2/24") {
		t.Errorf("b's address after change:\n%s", out)
	}
	check(t, spec.Name, 0)
}

func TestBadInputCreatesNothing(t *testing.T) {
	nslabtest.RequireRoot(t)
	// A namespace of the lab's name exists and is not the lab's.
	spec := parse(t, twoHosts)
	if err := netns.Add(spec.NetNSName("b")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(spec.NetNSName("b")) })
	_, err := lab.Up(t.Context(), spec, lab.Options{})
	if err == nil || !strings.Contains(err.Error(), "exists already and is not this lab's") {
		t.Fatalf("up over a foreign namespace: %v", err)
	}
	if netns.Exists(spec.NetNSName("a")) {
		t.Error("failed up left node a behind")
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, spec.Name, "state.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("failed up left state behind")
	}
	// down and cleanup leave the foreign namespace alone.
	if _, err := lab.Cleanup(t.Context(), lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if !netns.Exists(spec.NetNSName("b")) {
		t.Error("cleanup removed a namespace nslab did not make")
	}
}

func TestRunCommandFailureReported(t *testing.T) {
	spec := parse(t, strings.Replace(twoHosts, `run: ["sleep 300"]`, `run: ["nslt-no-such-command"]`, 1))
	t.Cleanup(func() { lab.Down(context.WithoutCancel(t.Context()), spec.Name, lab.Options{}) })
	res, err := lab.Up(t.Context(), spec, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Error(), "log: ") {
		t.Fatalf("failed run command not reported: %v", res.Failed)
	}
	b, _ := os.ReadFile(res.Failed[0].Log)
	if !strings.Contains(string(b), "nslt-no-such-command") {
		t.Errorf("log %s does not name the command:\n%s", res.Failed[0].Log, b)
	}
	// The exit status is an event.
	ev, _ := os.ReadFile(lab.EventsPath(spec.Name))
	if !strings.Contains(string(ev), `"kind":"process-exited"`) || !strings.Contains(string(ev), "exited with status 127") {
		t.Errorf("no process-exited event with status 127 in %s:\n%s", lab.EventsPath(spec.Name), ev)
	}
	// The lab is consistent: both nodes up and reachable.
	check(t, spec.Name, 0)
}

func TestConcurrentUpWaits(t *testing.T) {
	spec := parse(t, twoHosts)
	t.Cleanup(func() { lab.Down(context.WithoutCancel(t.Context()), spec.Name, lab.Options{}) })
	errs := make(chan error, 2)
	waited := make(chan struct{}, 2)
	for range 2 {
		go func() {
			_, err := lab.Up(t.Context(), spec, lab.Options{Waiting: func() { waited <- struct{}{} }})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent up: %v", err)
		}
	}
	if len(waited) == 0 {
		t.Log("the two ups did not overlap (the lock was not contended)")
	}
	check(t, spec.Name, 0)
}

func TestExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			spec, err := topo.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			spec.Name = nslabtest.Name(t, topo.MaxLabName)
			renameHostEnds(t, spec)
			labtest.Up(t, spec)
			// The file's expectations, and every pair of nodes where no
			// firewall blocks some on purpose.
			firewalled := false
			for _, n := range spec.Nodes {
				firewalled = firewalled || n.Firewall != nil
			}
			rep, err := lab.Check(t.Context(), spec.Name, lab.CheckOptions{Timeout: 2 * time.Second, AllPairs: !firewalled})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(f, "broken") {
				// The variant with one rule changed fails, naming the lines.
				failed := map[string]bool{}
				for _, p := range rep.Probes {
					if !p.Pass {
						failed[p.Line] = true
					}
				}
				if rep.OK() || !failed["client -> db:5432/tcp deny"] || !failed["web -> db:5432/tcp allow"] || len(failed) != 2 {
					t.Fatalf("%s: want exactly the two db lines to fail, got %v", f, failed)
				}
				return
			}
			if !rep.OK() || rep.Passed < len(spec.Nodes) {
				for _, p := range rep.Probes {
					if !p.Pass {
						t.Errorf("failed: %+v", p)
					}
				}
				t.Fatalf("check %s: %d probes, %d failed", f, len(rep.Probes), rep.Failed)
			}
			t.Logf("%s: %d probes passed in %v", f, rep.Passed, rep.Elapsed)
		})
	}
}

// renameHostEnds gives the root-namespace ends of spec unique test names.
func renameHostEnds(t *testing.T, spec *topo.Spec) {
	t.Helper()
	for _, i := range spec.Host.Interfaces {
		old := i.Name
		i.Name = nslabtest.Name(t, 15)
		for _, l := range spec.Links {
			for _, e := range l.Endpoints {
				if e.Kind == topo.EndpointHost && e.Interface == old {
					e.Interface = i.Name
				}
			}
		}
	}
}

var _ = fmt.Sprint

func upLab(t *testing.T, spec *topo.Spec) { labtest.Up(t, spec) }

func tcAvailable(t *testing.T) {
	if _, err := exec.LookPath("tc"); err != nil {
		t.Fatal("tc (iproute2) is needed to cross-check qdiscs")
	}
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// TestSwitchBridgesHostDevice bridges a device of the root namespace (a veth
// standing in for a physical NIC, its peer in a throwaway namespace playing
// the outside network) into a lab switch, and checks that down returns it.
func TestSwitchBridgesHostDevice(t *testing.T) {
	nslabtest.RequireRoot(t)
	outside := nslabtest.NewNS(t)
	dev := nslabtest.Name(t, 15)
	root, err := nl.NewHandle(vnetns.None())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	outH, err := nl.NewHandle(outside)
	if err != nil {
		t.Fatal(err)
	}
	defer outH.Close()
	if err := netdev.AddVeth(root, netdev.End{Name: dev}, netdev.End{NS: outside, Name: "eth0", Up: true}, outH); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netdev.Delete(root, dev) })
	if err := ipaddr.Add(outH, "eth0", netip.MustParsePrefix("198.18.50.1/24"), ipaddr.Options{}); err != nil {
		t.Fatal(err)
	}
	spec := parse(t, strings.ReplaceAll(`
name: x
nodes:
  h1:
    interfaces: {eth0: {addresses: [198.18.50.10/24]}}
switches:
  sw: {host_device: DEV}
links:
  - endpoints: [h1:eth0, sw]
`, "DEV", dev))
	labtest.Up(t, spec)
	if _, err := netdev.Get(root, dev); !errors.Is(err, netdev.ErrNotFound) {
		t.Fatalf("host device %s still in the root namespace after up: %v", dev, err)
	}
	r := probe.Probe(t.Context(), probe.Request{NS: outside, Proto: probe.ICMP, Dst: netip.MustParseAddr("198.18.50.10"), Timeout: 3 * time.Second})
	if r.Verdict != probe.OK {
		t.Fatalf("outside -> h1 through the bridged device: %s %v", r.Verdict, r.Err)
	}
	if err := lab.Down(t.Context(), spec.Name, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := netdev.Get(root, dev); err != nil {
		t.Fatalf("host device %s not back in the root namespace after down: %v", dev, err)
	}
}

const switchedPair = `
name: x
nodes:
  a: {}
  b: {}
switches:
  sw: {subnets: [198.18.6.0/24, "fd00:6::/64"]}
links:
  - endpoints: [a:eth0, sw]
  - endpoints: [b:eth0, sw]
`

// TestNodeAddedBackAnswersAtOnce removes a node and adds it back at once
// while its neighbour still has it in its ARP and NDP caches: the node's
// interface gets the MAC it had, so the neighbour's first packets reach it
// (with a new MAC they would go to the old one for 5-30 s). Meanwhile the
// test holds the removed node's namespace open, as a shell in it would: the
// node must still be cut off from the switch when up returns, and its port's
// name free for the node added back.
func TestNodeAddedBackAnswersAtOnce(t *testing.T) {
	spec := parse(t, switchedPair)
	labtest.Up(t, spec)
	without := strings.Replace(strings.Replace(switchedPair, "  b: {}\n", "", 1), "  - endpoints: [b:eth0, sw]\n", "", 1)
	specWithout, err := topo.Parse([]byte(without), "without-b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specWithout.Name = spec.Name
	a, err := netns.Open(spec.NetNSName("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dsts := []netip.Addr{netip.MustParseAddr("198.18.6.2"), netip.MustParseAddr("fd00:6::2")}
	ping := func(when string, timeout time.Duration) {
		t.Helper()
		for _, d := range dsts {
			r := probe.Probe(t.Context(), probe.Request{NS: a, Proto: probe.ICMP, Dst: d, Timeout: timeout})
			if r.Verdict != probe.OK {
				t.Errorf("%s: a -> b %s: %s (%v)", when, d, r.Verdict, r.Err)
			}
		}
	}
	mac := func() string {
		t.Helper()
		out, err := exec.Command("ip", "-n", spec.NetNSName("b"), "-br", "link", "show", "eth0").CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show: %v: %s", err, out)
		}
		return strings.Fields(string(out))[2]
	}
	ping("first up", 5*time.Second) // a now has b in its caches
	before := mac()
	held, err := netns.Open(spec.NetNSName("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := lab.Up(t.Context(), specWithout, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if netns.Exists(spec.NetNSName("b")) {
		t.Fatal("b was not removed")
	}
	swNS, err := netns.Open(spec.NetNSName("sw"))
	if err != nil {
		t.Fatal(err)
	}
	defer swNS.Close()
	sw, err := nl.NewHandle(swNS)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	if l, err := sw.LinkByName(lab.PortName("b", "eth0")); err == nil {
		t.Errorf("b's switch port %s is still there after b was removed", l.Attrs().Name)
	}
	if _, err := lab.Up(t.Context(), spec, lab.Options{}); err != nil {
		t.Fatal(err)
	}
	if after := mac(); after != before {
		t.Errorf("b:eth0 came back with MAC %s, had %s", after, before)
	}
	ping("b added back", time.Second)
}

// TestNeighbourReplacedInOneUp replaces a's point-to-point neighbour b by a
// new node c in one up: a's eth0, the peer of b's, goes only when the kernel
// frees b's namespace, and the link to c needs its name again at once.
func TestNeighbourReplacedInOneUp(t *testing.T) {
	const pair = `
name: x
nodes:
  a: {interfaces: {eth0: {addresses: [198.18.7.1/24]}}}
  b: {interfaces: {eth0: {addresses: [198.18.7.2/24]}}}
links:
  - endpoints: [a:eth0, b:eth0]
`
	spec := parse(t, pair)
	labtest.Up(t, spec)
	spec2, err := topo.Parse([]byte(strings.ReplaceAll(pair, "b", "c")), "replaced.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec2.Name = spec.Name
	res, err := lab.Up(t.Context(), spec2, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.DelNodes) != 1 || len(res.Plan.AddNodes) != 1 {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	a, err := netns.Open(spec.NetNSName("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if r := probe.Probe(t.Context(), probe.Request{NS: a, Proto: probe.ICMP, Dst: netip.MustParseAddr("198.18.7.2"), Timeout: 5 * time.Second}); r.Verdict != probe.OK {
		t.Errorf("a -> c: %s (%v)", r.Verdict, r.Err)
	}
}

const v4Pair = `
name: x
nodes:
  a:
    interfaces: {eth0: {addresses: [198.18.7.1/24]}}
  b:
    interfaces: {eth0: {addresses: [198.18.7.2/24]}}
host:
  interfaces: {hv4: {addresses: [198.18.8.1/24]}}
links:
  - endpoints: [a:eth0, b:eth0]
  - endpoints: [a:eth1, host:hv4]
`

// TestIPv4NodeGainsIPv6 checks how a node without IPv6 is kept quiet: IPv6
// stays on (lo has ::1) but its interfaces get no link-local address, so
// they send nothing; and that an up giving the node IPv6 addresses makes it
// again with IPv6 as a fresh up would (it used to fail: "permission
// denied", IPv6 being disabled in the namespace).
func TestIPv4NodeGainsIPv6(t *testing.T) {
	spec := parse(t, v4Pair)
	renameHostEnds(t, spec)
	hostIf := spec.Host.Interfaces[0].Name
	labtest.Up(t, spec)
	nsA := spec.NetNSName("a")
	for _, dev := range []string{"eth0", "eth1"} {
		out, err := exec.Command("ip", "-n", nsA, "-d", "link", "show", dev).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "addrgenmode none") {
			t.Errorf("a:%s is not addrgenmode none (err %v):\n%s", dev, err, out)
		}
	}
	// The host's own end is the host's business: left as the kernel makes it.
	out, err := exec.Command("ip", "-d", "link", "show", hostIf).CombinedOutput()
	if err != nil || strings.Contains(string(out), "addrgenmode none") {
		t.Errorf("host end %s: want the kernel's addrgenmode (err %v):\n%s", hostIf, err, out)
	}
	addrs := func(ns, dev string) []netip.Prefix {
		t.Helper()
		h, err := netns.Open(ns)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		nh, err := nl.NewHandle(h)
		if err != nil {
			t.Fatal(err)
		}
		defer nh.Close()
		l, err := ipaddr.List(nh, dev)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, a := range addrs(nsA, "eth0") {
		if a.Addr().Is6() {
			t.Errorf("a:eth0 has IPv6 address %s; want none", a)
		}
	}
	if !slices.Contains(addrs(nsA, "lo"), netip.MustParsePrefix("::1/128")) {
		t.Errorf("a:lo has no ::1: %v", addrs(nsA, "lo"))
	}
	before := ino(t, nsA)

	y := strings.Replace(v4Pair, "hv4", hostIf, -1)
	y = strings.Replace(y, "198.18.7.1/24]", `198.18.7.1/24, "fd00:7::1/64"]`, 1)
	y = strings.Replace(y, "198.18.7.2/24]", `198.18.7.2/24, "fd00:7::2/64"]`, 1)
	spec2, err := topo.Parse([]byte(y), "v6.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec2.Name = spec.Name
	if _, err := lab.Up(t.Context(), spec2, lab.Options{}); err != nil {
		t.Fatalf("up with IPv6 added: %v", err)
	}
	if ino(t, nsA) == before {
		t.Error("a was not made again when it gained IPv6")
	}
	var ll bool
	for _, a := range addrs(nsA, "eth0") {
		ll = ll || a.Addr().IsLinkLocalUnicast()
	}
	if !ll {
		t.Errorf("a:eth0 has no link-local address after it gained IPv6: %v", addrs(nsA, "eth0"))
	}
	h, err := netns.Open(nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := probe.Probe(t.Context(), probe.Request{NS: h, Proto: probe.ICMP, Dst: netip.MustParseAddr("fd00:7::2"), Timeout: 5 * time.Second})
	if r.Verdict != probe.OK {
		t.Errorf("a -> b fd00:7::2 after the change: %s (%v)", r.Verdict, r.Err)
	}
}

// lostPair is v4Pair with a process in a: when a's name is deleted behind
// nslab's back, the process keeps the namespace alive, unnamed, and with it
// the veth peers in b and the root namespace.
const lostPair = `
name: x
nodes:
  a:
    interfaces: {eth0: {addresses: [198.18.9.1/24]}, eth1: {addresses: [198.18.10.2/24]}}
    run: ["sleep 300"]
  b:
    interfaces: {eth0: {addresses: [198.18.9.2/24]}}
host:
  interfaces: {hl: {addresses: [198.18.10.1/24]}}
links:
  - endpoints: [a:eth0, b:eth0]
  - endpoints: [a:eth1, host:hl]
`

// TestUpRemakesLostNode checks that up repairs a lab one of whose
// namespaces was deleted with `ip netns del`: it used to answer "up to
// date: nothing to do" and leave the node missing. The node is made again
// with its links, its old process stopped, and the lab works as after a
// fresh up. A name that holds another namespace is refused, untouched.
func TestUpRemakesLostNode(t *testing.T) {
	spec := parse(t, lostPair)
	renameHostEnds(t, spec)
	labtest.Up(t, spec)
	nsA := spec.NetNSName("a")
	before := ino(t, nsA)
	st1, err := lab.GetStatus(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	oldPID := st1.Nodes[0].Procs[0].PID
	if err := netns.Delete(nsA); err != nil { // what `ip netns del` does
		t.Fatal(err)
	}

	var plan string
	res, err := lab.Up(t.Context(), spec, lab.Options{OnPlan: func(p *lab.Plan) { plan = p.String() }})
	if err != nil {
		t.Fatalf("up after a's namespace was deleted: %v\n%s", err, plan)
	}
	if !strings.Contains(plan, "node a (netns "+nsA+"): made again, its namespace "+nsA+" is gone") {
		t.Errorf("the plan does not say why a is made again:\n%s", plan)
	}
	if res.Plan.Empty() || len(res.Plan.AddLinks) != 2 {
		t.Errorf("plan: want a and its 2 links made again:\n%s", plan)
	}
	if after := ino(t, nsA); after == before {
		t.Errorf("netns %s: same inode %d after up; want a new namespace", nsA, after)
	}
	if syscall.Kill(oldPID, 0) == nil && !zombieOrGone(oldPID) {
		t.Errorf("a's old process %d (in the lost namespace) still runs", oldPID)
	}
	st2, err := lab.GetStatus(spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if p := st2.Nodes[0].Procs; len(p) != 1 || !p[0].Running || p[0].PID == oldPID {
		t.Errorf("a's run command after up: %+v; want one new process running", p)
	}
	h, err := netns.Open(nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, dst := range []string{"198.18.9.2", "198.18.10.1"} {
		r := probe.Probe(t.Context(), probe.Request{NS: h, Proto: probe.ICMP, Dst: netip.MustParseAddr(dst), Timeout: 5 * time.Second})
		if r.Verdict != probe.OK {
			t.Errorf("a -> %s after up: %s (%v)", dst, r.Verdict, r.Err)
		}
	}
	if res, err := lab.Up(t.Context(), spec, lab.Options{}); err != nil || !res.Plan.Empty() {
		t.Errorf("up once more: err %v, plan %v; want nothing to do", err, res.Plan)
	}

	// Another namespace under a's name: refused, and left alone.
	if err := netns.Delete(nsA); err != nil {
		t.Fatal(err)
	}
	if err := netns.Add(nsA); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netns.Delete(nsA) })
	foreign := ino(t, nsA)
	_, err = lab.Up(t.Context(), spec, lab.Options{})
	if err == nil || !strings.Contains(err.Error(), `netns "`+nsA+`" is another namespace now`) {
		t.Fatalf("up with a foreign namespace named %s: err %v; want it refused", nsA, err)
	}
	if ino(t, nsA) != foreign {
		t.Errorf("the foreign namespace %s was touched", nsA)
	}
}

// zombieOrGone reports whether pid is gone or a zombie (exited, not yet
// reaped by its parent).
func zombieOrGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

package main

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/bench/floor"
)

// labName is the nslab lab name for a topology; the namespace prefix is
// labName+"-" for every tool but Mininet.
func labName(kind string) string {
	if kind == "star" {
		return "bzs"
	}
	return "bzl"
}

// topoOf returns the benchmark topology with the harness's names.
func topoOf(kind string, n int) floor.Topo {
	return floor.Topo{Kind: kind, N: n, Prefix: labName(kind) + "-"}
}

// topoYAML returns the nslab file of t under lab name name.
func topoYAML(t floor.Topo, name string) string {
	if t.Kind == "star" {
		return floor.StarYAML(name, t.N)
	}
	return floor.LineYAML(name, t.N)
}

// batchFiles returns the `ip -batch` inputs of t: the root batch, the
// switch batch (star only, "" otherwise) and one batch per node.
//
// IPv6: the switch gets disable_ipv6 through one `netns exec ... sysctl`,
// like nslab and the floor; the star's hosts get `addrgenmode none` on eth0,
// as nslab and the floor give their nodes' links, without a process per
// host; the line's routers need a `netns exec ... sysctl` for ip_forward
// anyway, and disable_ipv6 rides in the same process (the fastest
// equivalent ip -batch has).
func batchFiles(t floor.Topo) (root, sw string, perNS []string) {
	var r strings.Builder
	for _, n := range t.Names() {
		fmt.Fprintf(&r, "netns add %s\n", n)
	}
	v6 := "net.ipv6.conf.all.disable_ipv6=1" // the kernel copies it to default
	// One queue each way, as nslab and the floor ask: without the numbers
	// the kernel makes one per CPU, then drops to one with a grace period
	// per end (netdev.End.Queues).
	const q1 = "numtxqueues 1 numrxqueues 1"
	if t.Kind == "star" {
		fmt.Fprintf(&r, "netns exec %ssw sysctl -q -w %s\n", t.Prefix, v6)
		var s strings.Builder
		s.WriteString("link add sw up type bridge\n")
		for i := range t.N {
			fmt.Fprintf(&s, "link add %s-eth0 up master sw %s type veth peer name eth0 netns %s %s\n", t.Node(i), q1, t.NodeNS(i), q1)
		}
		sw = s.String()
		for i := range t.N {
			perNS = append(perNS, fmt.Sprintf("link set lo up\nlink set eth0 addrgenmode none\nlink set eth0 up\naddr add %s/16 dev eth0\n", floor.HostAddr(i)))
		}
		return r.String(), sw, perNS
	}
	for j := range t.N {
		fmt.Fprintf(&r, "netns exec %s sysctl -q -w net.ipv4.ip_forward=1 %s\n", t.NodeNS(j), v6)
	}
	for k := 0; k < t.N-1; k++ {
		fmt.Fprintf(&r, "link add eth1 netns %s up %s type veth peer name eth0 netns %s %s\n", t.NodeNS(k), q1, t.NodeNS(k+1), q1)
	}
	for j := range t.N {
		var b strings.Builder
		b.WriteString("link set lo up\n")
		if j > 0 {
			fmt.Fprintf(&b, "link set eth0 up\naddr add %s/31 dev eth0\n", floor.LinkAddr(j-1, 1))
		}
		if j < t.N-1 {
			fmt.Fprintf(&b, "link set eth1 up\naddr add %s/31 dev eth1\n", floor.LinkAddr(j, 0))
		}
		for _, rt := range floor.LineRoutes(j, t.N) {
			fmt.Fprintf(&b, "route add %s via %s\n", rt.To, rt.Via)
		}
		perNS = append(perNS, b.String())
	}
	return r.String(), "", perNS
}

// mininetLineConfig returns, for Mininet's line (routers bzmr0..), one
// shell command line per router that sets its addresses, forwarding and
// routes, as a Mininet user would with r.cmd(): the same addresses and
// routes as every other tool's line (addresses with `ip`, since Mininet's
// ifconfig would give a /31 a broadcast address).
func mininetLineConfig(n int) []string {
	out := make([]string, n)
	for j := range n {
		var c []string
		if j > 0 {
			c = append(c, fmt.Sprintf("ip link set bzmr%d-eth0 up", j), fmt.Sprintf("ip addr add %s/31 dev bzmr%d-eth0", floor.LinkAddr(j-1, 1), j))
		}
		if j < n-1 {
			c = append(c, fmt.Sprintf("ip link set bzmr%d-eth1 up", j), fmt.Sprintf("ip addr add %s/31 dev bzmr%d-eth1", floor.LinkAddr(j, 0), j))
		}
		c = append(c, "sysctl -qw net.ipv4.ip_forward=1")
		for _, rt := range floor.LineRoutes(j, n) {
			c = append(c, fmt.Sprintf("ip route add %s via %s", rt.To, rt.Via))
		}
		out[j] = strings.Join(c, "; ")
	}
	return out
}

// mininetScript drives Mininet from stdin: it imports, prints "ready",
// builds and starts a star or a line on "up" (printing "up" and the nodes'
// shell pids in order), stops it on "down" (or at EOF) and restores the
// root sysctls that Mininet's fixLimits raises. Usage: KIND N [CONFIG],
// CONFIG (line) a JSON list of each router's command line.
const mininetScript = `
import sys, json
from mininet.net import Mininet
from mininet.topo import Topo
from mininet.nodelib import LinuxBridge
from mininet.log import setLogLevel

KEYS = ['fs.file-max', 'net.core.wmem_max', 'net.core.rmem_max', 'net.ipv4.tcp_rmem',
        'net.ipv4.tcp_wmem', 'net.core.netdev_max_backlog', 'net.ipv4.neigh.default.gc_thresh1',
        'net.ipv4.neigh.default.gc_thresh2', 'net.ipv4.neigh.default.gc_thresh3',
        'net.ipv4.route.max_size', 'kernel.pty.max']
saved = {}
for k in KEYS:
    try:
        saved[k] = open('/proc/sys/' + k.replace('.', '/')).read().strip()
    except OSError:
        pass

class Star(Topo):
    def build(self, n):
        s = self.addSwitch('bzm1', dpid='1')
        for i in range(1, n + 1):
            h = self.addHost('bzmh%d' % i, ip='198.18.%d.%d/16' % (i >> 8, i & 255))
            self.addLink(h, s)

class Line(Topo):
    def build(self, n):
        for j in range(n):
            self.addHost('bzmr%d' % j, ip=None)
        for k in range(n - 1):
            self.addLink('bzmr%d' % k, 'bzmr%d' % (k + 1),
                         intfName1='bzmr%d-eth1' % k, intfName2='bzmr%d-eth0' % (k + 1))

setLogLevel('error')
kind, n = sys.argv[1], int(sys.argv[2])
if kind == 'line':
    config = json.load(open(sys.argv[3]))
    names = ['bzmr%d' % j for j in range(n)]
    topo = Line(n)
else:
    names = ['bzmh%d' % i for i in range(1, n + 1)]
    topo = Star(n)
net = Mininet(topo=topo, switch=LinuxBridge, controller=None, build=False,
              ipBase='198.18.0.0/16', autoSetMacs=False, autoStaticArp=False)
print('ready', flush=True)
stopped = False
try:
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == 'up':
            net.build()
            net.start()
            if kind == 'line':
                for j, name in enumerate(names):
                    out = net.get(name).cmd(config[j])
                    if out.strip():
                        print('config of %s: %s' % (name, out.strip()), file=sys.stderr, flush=True)
            print('up ' + ' '.join(str(net.get(name).pid) for name in names), flush=True)
        elif cmd == 'down':
            net.stop()
            stopped = True
            print('down', flush=True)
            break
finally:
    if not stopped:
        try:
            net.stop()
        except Exception:
            pass
    for k, v in saved.items():
        try:
            open('/proc/sys/' + k.replace('.', '/'), 'w').write(v)
        except OSError:
            pass
`

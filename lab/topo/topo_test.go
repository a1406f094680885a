package topo

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// demo is the example of the format in docs/topology.md.
const demo = `name: demo
nodes:
  r1:
    sysctls: {net.ipv4.ip_forward: 1, net.ipv6.conf.all.forwarding: true}
    interfaces:
      eth0: {addresses: [198.18.1.1/24, "fd00:1::1/64"]}
      eth1: {addresses: [198.18.2.1/24, "fd00:2::1/64"], mtu: 1400}
  h1:
    interfaces: {eth0: {addresses: [198.18.1.10/24, "fd00:1::10/64"]}}
    routes: [{to: default, via: 198.18.1.1}, {to: "::/0", via: "fd00:1::1"}]
    run: ["python3 -m http.server 8080"]
  h2:
    interfaces: {eth0: {addresses: [198.18.2.10/24, "fd00:2::10/64"]}}
    routes: [{to: default, via: 198.18.2.1}, {to: default6, via: "fd00:2::1", dev: eth0}]
    run: [[sh, -c, "echo $HOSTNAME > /tmp/x"], "nc -l 'a b'"]
switches:
  lan1: {subnet: 198.18.1.0/24}
host:
  interfaces: {nsl-demo0: {addresses: [198.18.9.1/24]}}
links:
  - endpoints: [h1:eth0, lan1]
  - endpoints: [r1:eth0, lan1]
  - endpoints: [r1:eth1, h2:eth0]
    mtu: 9000
  - endpoints: [r1:eth2, host:nsl-demo0]
expect:
  - h1 -> h2 icmp allow
  - h1 -> h2:8080/tcp allow
  - h1 -> r1:53/udp deny
  - h2 -> h1:22/tcp reject
`

func mustParse(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkSpec(t, s)
	return s
}

func addrs(i *Interface) []string {
	var out []string
	for _, a := range i.Addresses {
		out = append(out, a.String())
	}
	return out
}

func TestParseDemo(t *testing.T) {
	s := mustParse(t, demo)
	if s.Name != "demo" || s.NetNSName("r1") != "demo-r1" {
		t.Errorf("Name = %q, NetNSName(r1) = %q", s.Name, s.NetNSName("r1"))
	}
	var nodes []string
	for _, n := range s.Nodes {
		nodes = append(nodes, n.Name)
	}
	if diff := cmp.Diff([]string{"h1", "h2", "r1"}, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	r1 := s.Node("r1")
	if diff := cmp.Diff(map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"}, r1.Sysctls); diff != "" {
		t.Errorf("r1 sysctls (-want +got):\n%s", diff)
	}
	var ifs []string
	for _, i := range r1.Interfaces {
		ifs = append(ifs, i.Name)
	}
	if diff := cmp.Diff([]string{"eth0", "eth1", "eth2"}, ifs); diff != "" {
		t.Errorf("r1 interfaces (-want +got):\n%s", diff)
	}
	if got := r1.Interface("eth2"); got.Link != s.Links[3] || len(got.Addresses) != 0 || got.Pos != (Pos{25, 17}) {
		t.Errorf("r1:eth2 = %+v, want created by the link at line 25", got)
	}
	if got := r1.Interface("eth1").MTU; got != 1400 {
		t.Errorf("r1:eth1 MTU = %d, want its own 1400", got)
	}
	if got := s.Node("h2").Interface("eth0").MTU; got != 9000 {
		t.Errorf("h2:eth0 MTU = %d, want the link's 9000", got)
	}
	if got := s.Node("h1").Interface("eth0").MTU; got != 0 {
		t.Errorf("h1:eth0 MTU = %d, want 0", got)
	}
	if s.Host.Name != "host" || s.Node("host") != s.Host || s.Host.Interface("nsl-demo0").Link != s.Links[3] {
		t.Errorf("host = %+v", s.Host)
	}
	h1 := s.Node("h1")
	wantRoutes := []*Route{
		{To: netip.MustParsePrefix("0.0.0.0/0"), Via: netip.MustParseAddr("198.18.1.1"), Pos: Pos{10, 14}},
		{To: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("fd00:1::1"), Pos: Pos{10, 46}},
	}
	if diff := cmp.Diff(wantRoutes, h1.Routes, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("h1 routes (-want +got):\n%s", diff)
	}
	if got := s.Node("h2").Routes[1].Dev; got != "eth0" {
		t.Errorf("h2 route dev = %q", got)
	}
	wantRun := [][]string{{"sh", "-c", "echo $HOSTNAME > /tmp/x"}, {"nc", "-l", "a b"}}
	if diff := cmp.Diff(wantRun, s.Node("h2").Run); diff != "" {
		t.Errorf("h2 run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"python3", "-m", "http.server", "8080"}}, h1.Run); diff != "" {
		t.Errorf("h1 run (-want +got):\n%s", diff)
	}
	lan1 := s.Switch("lan1")
	if len(lan1.Ports) != 2 || lan1.Ports[0].String() != "h1:eth0" || lan1.Ports[1].String() != "r1:eth0" {
		t.Errorf("lan1 ports = %v", lan1.Ports)
	}
	wantExpect := []*Expectation{
		{From: "h1", To: "h2", Proto: "icmp", Allow: true, Line: "h1 -> h2 icmp allow", Pos: Pos{27, 5}},
		{From: "h1", To: "h2", Port: 8080, Proto: "tcp", Allow: true, Line: "h1 -> h2:8080/tcp allow", Pos: Pos{28, 5}},
		{From: "h1", To: "r1", Port: 53, Proto: "udp", Line: "h1 -> r1:53/udp deny", Pos: Pos{29, 5}},
		{From: "h2", To: "h1", Port: 22, Proto: "tcp", Reject: true, Line: "h2 -> h1:22/tcp reject", Pos: Pos{30, 5}},
	}
	if diff := cmp.Diff(wantExpect, s.Expect); diff != "" {
		t.Errorf("expect (-want +got):\n%s", diff)
	}
	if got := []string{s.Expect[0].Verdict(), s.Expect[2].Verdict(), s.Expect[3].Verdict()}; !slices.Equal(got, []string{"allow", "deny", "reject"}) {
		t.Errorf("verdicts = %v", got)
	}
}

func TestAutoAddressing(t *testing.T) {
	s := mustParse(t, `name: auto
nodes:
  r1: {interfaces: {eth0: {addresses: [198.18.1.2/29]}}}
  h1:
  h2:
  h3:
  h4: {interfaces: {eth0: {mtu: 1500}}}
  p1:
  p2:
switches:
  s1: {subnets: [198.18.1.0/29, "fd00:1::/64"], mtu: 9000}
  pp: {subnet: 198.18.2.0/31}
links:
  - endpoints: [h1:eth0, s1]
  - endpoints: [s1, h2:eth0]
  - endpoints: [r1:eth0, s1]
  - endpoints: [h3:eth0, s1]
  - endpoints: [h4:eth0, s1]
  - endpoints: [p1:eth0, pp]
  - endpoints: [p2:eth0, pp]
`)
	for _, tc := range []struct {
		end  string
		want []string
		mtu  int
	}{
		{"h1:eth0", []string{"198.18.1.1/29", "fd00:1::1/64"}, 9000},
		{"h2:eth0", []string{"198.18.1.3/29", "fd00:1::2/64"}, 9000}, // .2 is r1's
		{"r1:eth0", []string{"198.18.1.2/29"}, 9000},                 // explicit addresses: none assigned
		{"h3:eth0", []string{"198.18.1.4/29", "fd00:1::3/64"}, 9000},
		{"h4:eth0", []string{"198.18.1.5/29", "fd00:1::4/64"}, 1500}, // own MTU wins
		{"p1:eth0", []string{"198.18.2.0/31"}, 0},                    // /31: no network address
		{"p2:eth0", []string{"198.18.2.1/31"}, 0},
	} {
		node, ifname, _ := strings.Cut(tc.end, ":")
		i := s.Node(node).Interface(ifname)
		if diff := cmp.Diff(tc.want, addrs(i)); diff != "" {
			t.Errorf("%s addresses (-want +got):\n%s", tc.end, diff)
		}
		if i.MTU != tc.mtu {
			t.Errorf("%s MTU = %d, want %d", tc.end, i.MTU, tc.mtu)
		}
	}

	// 198.18.1.0/29 has six host addresses, .1 to .6; .7 is the broadcast.
	_, err := Parse([]byte(`name: full
nodes: {a: , b: , c: , d: , e: , f: , g: }
switches: {s: {subnet: 198.18.1.0/29}}
links:
  - endpoints: [a:eth0, s]
  - endpoints: [b:eth0, s]
  - endpoints: [c:eth0, s]
  - endpoints: [d:eth0, s]
  - endpoints: [e:eth0, s]
  - endpoints: [f:eth0, s]
  - endpoints: [g:eth0, s]
`), "")
	if err == nil || !strings.Contains(err.Error(), "11:17: switch \"s\": subnet 198.18.1.0/29 has no free address left for g:eth0") {
		t.Errorf("7 ports on a /29: err = %v, want g:eth0 to find no address", err)
	}
}

func TestParseDeterministic(t *testing.T) {
	a := mustParse(t, demo)
	for range 5 {
		b := mustParse(t, demo)
		if diff := cmp.Diff(dump(a), dump(b)); diff != "" || !reflect.DeepEqual(a, b) {
			t.Fatalf("second parse differs (-first +second):\n%s", diff)
		}
	}
}

func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example files in ../../examples, want at least 3", len(files))
	}
	names := map[string]string{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkSpec(t, s)
			if s.File != f {
				t.Errorf("File = %q, want %q", s.File, f)
			}
			if other, dup := names[s.Name]; dup {
				t.Errorf("lab name %q is also used by %s", s.Name, other)
			}
			names[s.Name] = f
			// Only documentation ranges: 198.18.0.0/15 and fd00::/8.
			v4, v6 := netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("fd00::/8")
			for _, n := range append(slices.Clone(s.Nodes), s.Host) {
				for _, i := range n.Interfaces {
					for _, a := range i.Addresses {
						if !v4.Contains(a.Addr()) && !v6.Contains(a.Addr()) {
							t.Errorf("%s:%s: address %s is outside 198.18.0.0/15 and fd00::/8", n.Name, i.Name, a)
						}
					}
				}
			}
		})
	}
}

func TestExampleAddresses(t *testing.T) {
	s, err := Load("../../examples/star100.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 100 {
		t.Errorf("star100 has %d nodes", len(s.Nodes))
	}
	if got := addrs(s.Node("h100").Interface("eth0")); !slices.Equal(got, []string{"198.18.0.100/24", "fd00:100::64/64"}) {
		t.Errorf("h100:eth0 = %v", got)
	}
	s, err = Load("../../examples/two-lans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := addrs(s.Node("h4").Interface("eth0")); !slices.Equal(got, []string{"198.18.2.3/24", "fd00:2::3/64"}) {
		t.Errorf("two-lans h4:eth0 = %v", got)
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: "  \t\n ", want: nil},
		{in: "python3 -m http.server 8080", want: []string{"python3", "-m", "http.server", "8080"}},
		{in: `echo 'a b'  "c d"`, want: []string{"echo", "a b", "c d"}},
		{in: `echo a'b c'd`, want: []string{"echo", "ab cd"}},
		{in: `echo '' ""`, want: []string{"echo", "", ""}},
		{in: `echo $HOME ~ * | x; y > z # c`, want: []string{"echo", "$HOME", "~", "*", "|", "x;", "y", ">", "z", "#", "c"}},
		{in: `echo a\ b \'x\' \\`, want: []string{"echo", "a b", "'x'", `\`}},
		{in: `echo "a \"q\" \$x \\ \n"`, want: []string{"echo", `a "q" $x \ \n`}},
		{in: `echo 'no \escape'`, want: []string{"echo", `no \escape`}},
		{in: "echo a\\\nb", want: []string{"echo", "ab"}},
		{in: "echo \"a\\\nb\"", want: []string{"echo", "ab"}},
		{in: `echo 'open`, err: "unterminated ' quote"},
		{in: `echo "open`, err: `unterminated " quote`},
		{in: `echo \`, err: "lone backslash"},
		{in: "echo \x00", err: "NUL byte"},
	} {
		got, err := SplitCommand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SplitCommand(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SplitCommand(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("SplitCommand(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestQuoteCommand(t *testing.T) {
	argv := []string{"sh", "-c", "echo 'hi' $X", "", "a\tb", "x=1,y=2"}
	q := QuoteCommand(argv)
	if want := `sh -c 'echo '\''hi'\'' $X' '' 'a	b' x=1,y=2`; q != want {
		t.Errorf("QuoteCommand = %s, want %s", q, want)
	}
	got, err := SplitCommand(q)
	if err != nil || !slices.Equal(got, argv) {
		t.Errorf("SplitCommand(QuoteCommand(argv)) = %q, %v; want %q", got, err, argv)
	}
}

func TestParseExpectation(t *testing.T) {
	x, err := ParseExpectation("  h1 ->   h2:53/udp   reject ")
	if err != nil {
		t.Fatal(err)
	}
	want := &Expectation{From: "h1", To: "h2", Port: 53, Proto: "udp", Reject: true, Line: "h1 ->   h2:53/udp   reject"}
	if diff := cmp.Diff(want, x); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"h1 -> h2 allow", "h1 -> h2:0/tcp allow", "h1 -> h2:+5/tcp allow", "h1 -> h2:80/tcp icmp allow", "h1 -> :80/tcp allow", "h1 -> h2 icmp maybe"} {
		if _, err := ParseExpectation(bad); err == nil {
			t.Errorf("ParseExpectation(%q) succeeded", bad)
		}
	}
}

// checkSpec checks the invariants of a parsed Spec.
func checkSpec(t testing.TB, s *Spec) {
	t.Helper()
	if s == nil || s.Host == nil || s.Host.Name != HostName {
		t.Fatalf("Spec %v has no host", s)
	}
	if !slices.IsSortedFunc(s.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) }) ||
		!slices.IsSortedFunc(s.Switches, func(a, b *Switch) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("nodes or switches not sorted")
	}
	ends := map[*Interface]*Link{}
	for _, l := range s.Links {
		for _, e := range l.Endpoints {
			switch e.Kind {
			case EndpointSwitch:
				sw := s.Switch(e.Node)
				if sw == nil || e.Interface != "" {
					t.Errorf("link at %v: switch end %v does not resolve", l.Pos, e)
					continue
				}
				if !slices.Contains(sw.Ports, l.Peer(e)) {
					t.Errorf("switch %s lacks port %v", sw.Name, l.Peer(e))
				}
			case EndpointNode, EndpointHost:
				n := s.Node(e.Node)
				if n == nil || (e.Kind == EndpointHost) != (n == s.Host) {
					t.Errorf("link at %v: end %v does not resolve", l.Pos, e)
					continue
				}
				i := n.Interface(e.Interface)
				if i == nil || i.Link != l {
					t.Errorf("link at %v: end %v: interface %+v does not point back", l.Pos, e, i)
					continue
				}
				ends[i] = l
			default:
				t.Errorf("link at %v: end kind %v", l.Pos, e.Kind)
			}
		}
	}
	used := map[netip.Addr]string{}
	for _, n := range append(slices.Clone(s.Nodes), s.Host) {
		if !slices.IsSortedFunc(n.Interfaces, func(a, b *Interface) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("%s: interfaces not sorted", n.Name)
		}
		for _, i := range n.Interfaces {
			if i.Link == nil || ends[i] != i.Link {
				t.Errorf("%s:%s: Link %v is not a link naming it", n.Name, i.Name, i.Link)
			}
			for _, a := range i.Addresses {
				if o, dup := used[a.Addr()]; dup {
					t.Errorf("%s:%s: address %s also on %s", n.Name, i.Name, a, o)
				}
				used[a.Addr()] = n.Name + ":" + i.Name
			}
		}
		for _, r := range n.Routes {
			if r.To != r.To.Masked() || (r.Dev != "" && n.Interface(r.Dev) == nil) {
				t.Errorf("%s: bad route %+v", n.Name, r)
			}
		}
		for _, argv := range n.Run {
			if len(argv) == 0 {
				t.Errorf("%s: empty command", n.Name)
			}
		}
	}
	for _, x := range s.Expect {
		if s.Node(x.From) == nil || s.Node(x.To) == nil || x.From == HostName || x.To == HostName {
			t.Errorf("expect %q: nodes do not resolve", x.Line)
		}
	}
}

// dump renders a Spec as text, one object a line, for comparisons.
func dump(s *Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s file %q\n", s.Name, s.File)
	for _, n := range append(slices.Clone(s.Nodes), s.Host) {
		keys := make([]string, 0, len(n.Sysctls))
		for k := range n.Sysctls {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(&b, "node %s @%v\n", n.Name, n.Pos)
		for _, k := range keys {
			fmt.Fprintf(&b, "  sysctl %s=%q\n", k, n.Sysctls[k])
		}
		for _, i := range n.Interfaces {
			link := -1
			if i.Link != nil {
				link = slices.Index(s.Links, i.Link)
			}
			fmt.Fprintf(&b, "  if %s %v mtu %d link %d @%v\n", i.Name, i.Addresses, i.MTU, link, i.Pos)
		}
		for _, r := range n.Routes {
			fmt.Fprintf(&b, "  route %v via %v dev %q @%v\n", r.To, r.Via, r.Dev, r.Pos)
		}
		for _, argv := range n.Run {
			fmt.Fprintf(&b, "  run %q\n", argv)
		}
	}
	for _, sw := range s.Switches {
		fmt.Fprintf(&b, "switch %s %v mtu %d dev %q @%v\n", sw.Name, sw.Subnets, sw.MTU, sw.HostDevice, sw.Pos)
		for _, p := range sw.Ports {
			fmt.Fprintf(&b, "  port %+v\n", *p)
		}
	}
	for _, l := range s.Links {
		fmt.Fprintf(&b, "link %+v %+v mtu %d @%v\n", *l.Endpoints[0], *l.Endpoints[1], l.MTU, l.Pos)
	}
	for _, x := range s.Expect {
		fmt.Fprintf(&b, "expect %+v\n", *x)
	}
	return b.String()
}

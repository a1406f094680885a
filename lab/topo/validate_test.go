package topo

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// problemCases are invalid files, each with one problem that must be reported
// at pos with a message containing msg. Files may have further problems.
var problemCases = []struct {
	name string
	src  string
	pos  string // "line:col"
	msg  string
}{
	{"empty file", "", "1:1", "file is empty"},
	{"yaml syntax", "name: t\nnodes: [a,\n", "2:1", "YAML syntax error"},
	{"two documents", "name: t\nnodes: {a: }\n---\nname: u\n", "3:1", "second YAML document"},
	{"not a mapping", "- a\n- b\n", "1:1", "a topology must be a mapping"},
	{"unknown top-level key", "name: t\nnode: {a: }\n", "2:1", `unknown key "node"; allowed keys: name, nodes, switches, host, links, expect`},
	{"duplicate key", "name: t\nname: u\nnodes: {a: }\n", "2:1", `duplicate key "name" (first at line 1)`},
	{"missing lab name", "nodes: {a: }\n", "1:1", "missing lab name"},
	{"lab name uppercase", "name: Demo\nnodes: {a: }\n", "1:7", `lab name "Demo" is invalid`},
	{"lab name dash at end", "name: demo-\nnodes: {a: }\n", "1:7", `lab name "demo-" is invalid`},
	{"lab name too long", "name: abcdefghijklm\nnodes: {a: }\n", "1:7", "is 13 bytes long; use at most 12"},
	{"lab name not a string", "name: [a]\nnodes: {a: }\n", "1:7", "name must be a string"},
	{"no nodes", "name: t\nnodes: {}\n", "2:1", "the lab has no nodes"},
	{"node name reserved", "name: t\nnodes: {host: }\n", "2:9", `node name "host" is reserved`},
	{"node name too long", "name: t\nnodes: {abcdefghijklmnop: }\n", "2:9", `node name "abcdefghijklmnop" is 16 bytes long; use at most 15`},
	{"node name bad character", "name: t\nnodes: {a.b: }\n", "2:9", `node name "a.b" is invalid`},
	{"switch name bad character", "name: t\nnodes: {a: }\nswitches: {s/1: }\n", "3:12", `switch name "s/1" is invalid`},
	{"switch named like a node", "name: t\nnodes: {a: }\nswitches: {a: }\n", "3:12", `switch "a" has the name of a node`},
	{"unknown node key", "name: t\nnodes:\n  a: {interface: {}}\n", "3:7", `node "a": unknown key "interface"; allowed keys: sysctls, interfaces, routes, run`},
	{"unknown interface key", "name: t\nnodes:\n  a: {interfaces: {eth0: {address: [198.18.0.1/24]}}}\nlinks: [{endpoints: [a:eth0, a:eth1]}]\n", "3:27", `interface a:eth0: unknown key "address"; allowed keys: addresses, mtu`},
	{"bad impairment", "name: t\nnodes: {a: , b: }\nlinks: [{endpoints: [a:eth0, b:eth0], impair: rate=fast}]\n", "3:47", "link impair: "},
	{"bad interface impairment", "name: t\nnodes:\n  a: {interfaces: {eth0: {impair: loss=200%}}}\n  b: {}\nlinks: [{endpoints: [a:eth0, b:eth0]}]\n", "3:35", "interface a:eth0 impair: "},
	{"bad firewall rule", "name: t\nnodes:\n  a: {interfaces: {eth0: {addresses: [198.18.0.1/24]}}, firewall: {rules: [permit in tcp 22]}}\n  b: {interfaces: {eth0: {addresses: [198.18.0.2/24]}}}\nlinks: [{endpoints: [a:eth0, b:eth0]}]\n", "3:76", `node "a": firewall rule "permit in tcp 22"`},
	{"firewall rule naming an unknown node", "name: t\nnodes:\n  a: {interfaces: {eth0: {addresses: [198.18.0.1/24]}}, firewall: {rules: [deny in from zz]}}\n  b: {interfaces: {eth0: {addresses: [198.18.0.2/24]}}}\nlinks: [{endpoints: [a:eth0, b:eth0]}]\n", "3:76", `firewall rule "deny in from zz": bad address "zz"`},
	{"bad firewall default", "name: t\nnodes:\n  a: {interfaces: {eth0: {addresses: [198.18.0.1/24]}}, firewall: {default: {in: drop}}}\n  b: {interfaces: {eth0: {addresses: [198.18.0.2/24]}}}\nlinks: [{endpoints: [a:eth0, b:eth0]}]\n", "3:82", `unknown action "drop"`},
	{"unknown link key", "name: t\nnodes: {a: }\nlinks: [{endpoints: [a:eth0, a:eth1], mut: 1400}]\n", "3:39", `link: unknown key "mut"; allowed keys: endpoints, mtu`},
	{"unknown switch key", "name: t\nnodes: {a: }\nswitches: {s: {subnett: 198.18.0.0/24}}\n", "3:16", `unknown key "subnett"; allowed keys: subnet, subnets, mtu, host_device`},
	{"unknown route key", "name: t\nnodes:\n  a: {routes: [{to: default, gw: 198.18.0.1}]}\n", "3:30", `unknown key "gw"; allowed keys: to, via, dev`},
	{"unknown host key", "name: t\nnodes: {a: }\nhost: {ifaces: {}}\n", "3:8", `host: unknown key "ifaces"; allowed keys: interfaces`},
	{"merge key", "name: t\nnodes:\n  a: &a {}\n  b: {<<: *a}\n", "4:7", "merge keys (<<) are not supported"},
	{"unknown node in link", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, h9:eth0]\n", "4:26", `link endpoint "h9:eth0": unknown node "h9"; define it under nodes:`},
	{"unknown switch in link", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, lan9]\n", "4:26", `unknown switch "lan9"; define it under switches:`},
	{"node end without interface", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - endpoints: [h1, h2:eth0]\n", "4:17", `node "h1" needs an interface: write h1:<ifname>`},
	{"host end without interface", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, host]\n", "4:26", "a root-namespace end needs an interface name: write host:<ifname>"},
	{"endpoint with two colons", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - endpoints: [h1:eth0:1, h2:eth0]\n", "4:17", `link endpoint "h1:eth0:1": write node:interface`},
	{"endpoint without node", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, \":eth0\"]\n", "4:26", `link endpoint ":eth0": write node:interface`},
	{"switch end with interface", "name: t\nnodes: {h1: }\nswitches: {s1: }\nlinks:\n  - endpoints: [h1:eth0, s1:p1]\n", "5:26", `"s1" is a switch, and switches have no named interfaces; write just s1`},
	{"endpoint not a string", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, [x]]\n", "4:26", "link endpoint must be a string"},
	{"link with three ends", "name: t\nnodes: {h1: , h2: , h3: }\nlinks:\n  - endpoints: [h1:eth0, h2:eth0, h3:eth0]\n", "4:16", "a link has 2 ends, not 3"},
	{"link without endpoints", "name: t\nnodes: {h1: }\nlinks:\n  - mtu: 1500\n", "4:5", "link: missing endpoints"},
	{"interface in two links", "name: t\nnodes: {h1: , h2: , h3: }\nlinks:\n  - endpoints: [h1:eth0, h2:eth0]\n  - endpoints: [h1:eth0, h3:eth0]\n", "5:17", `interface h1:eth0 is already an end of the link at line 4; an interface is in one link only`},
	{"host interface in two links", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - endpoints: [h1:eth0, host:nsl0]\n  - endpoints: [h2:eth0, host:nsl0]\n", "5:26", `host interface "nsl0" is already an end of the link at line 4; names in the root namespace must be unique`},
	{"host end named like a host_device", "name: t\nnodes: {h1: }\nswitches: {s1: {host_device: eth9}}\nhost: {interfaces: {eth9: {}}}\nlinks:\n  - endpoints: [h1:eth0, host:eth9]\n", "4:21", `host interface "eth9" is also the host_device of switch "s1"`},
	{"host_device on two switches", "name: t\nnodes: {h1: }\nswitches:\n  s1: {host_device: eth9}\n  s2: {host_device: eth9}\n", "5:21", `host_device "eth9" is already bridged by switch "s1"`},
	{"link to itself", "name: t\nnodes: {h1: }\nlinks:\n  - endpoints: [h1:eth0, h1:eth0]\n", "4:26", "joins an interface to itself; use two different interfaces"},
	{"switch to switch", "name: t\nnodes: {h1: }\nswitches: {s1: , s2: }\nlinks:\n  - endpoints: [s1, s2]\n", "5:21", "links between switches are not supported; join them through a node"},
	{"interface name too long in link", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - endpoints: [h1:abcdefghijklmnop, h2:eth0]\n", "4:17", "is 16 bytes long; the kernel's limit is 15 (IFNAMSIZ)"},
	{"interface name too long declared", "name: t\nnodes:\n  h1: {interfaces: {abcdefghijklmnop: {}}}\n", "3:21", `interface h1:abcdefghijklmnop: interface name "abcdefghijklmnop" is 16 bytes long`},
	{"interface name with slash", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - endpoints: [h1:a/b, h2:eth0]\n", "4:17", `contains '/'`},
	{"host_device name too long", "name: t\nnodes: {h1: }\nswitches: {s1: {host_device: abcdefghijklmnop}}\n", "3:30", "host_device: interface name"},
	{"malformed address", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.300/24]}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:40", `interface h1:eth0: address "198.18.0.300/24" is not an address with a prefix length`},
	{"address without prefix length", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.1]}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:40", `address "198.18.0.1" needs a prefix length`},
	{"network address", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.0/24]}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:40", "is the network address of 198.18.0.0/24; pick a host address"},
	{"broadcast address", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.255/24]}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:40", "is the broadcast address of 198.18.0.0/24"},
	{"multicast address", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [\"ff02::1/64\"]}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:40", "cannot be assigned to an interface"},
	{"duplicate address", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.1/24]}}}\n  h2: {interfaces: {eth0: {addresses: [198.18.0.1/25]}}}\nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "4:40", "address 198.18.0.1 is already used by h1:eth0 (line 3)"},
	{"addresses not a list", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: {a: 1}}}}\n", "3:39", "addresses must be a list"},
	{"mtu too small", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - {endpoints: [h1:eth0, h2:eth0], mtu: 20}\n", "4:42", "mtu 20 is out of range; use 68 to 65535"},
	{"mtu not a number", "name: t\nnodes: {h1: , h2: }\nlinks:\n  - {endpoints: [h1:eth0, h2:eth0], mtu: big}\n", "4:42", `mtu must be a whole number of bytes, not "big"`},
	{"IPv6 with a small mtu", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [\"fd00::1/64\"], mtu: 1000}}}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "3:21", "IPv6 needs an MTU of at least 1280"},
	{"route gateway off subnet", "name: t\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [198.18.1.10/24]}}\n    routes: [{to: default, via: 198.18.9.1}]\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "5:33", "gateway 198.18.9.1 not on any attached subnet of h1 (its addresses: 198.18.1.10/24)"},
	{"route gateway is own address", "name: t\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [198.18.1.10/24]}}\n    routes: [{to: default, via: 198.18.1.10}]\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "5:33", "gateway 198.18.1.10 is an address of h1:eth0 itself"},
	{"route dev unknown", "name: t\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [198.18.1.10/24]}}\n    routes: [{to: default, via: 198.18.1.1, dev: eth1}]\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "5:50", `dev "eth1" is not an interface of h1 (it has: eth0)`},
	{"route family mismatch", "name: t\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [\"fd00::10/64\"]}}\n    routes: [{to: default, via: \"fd00::1\"}]\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "5:33", "write to: default6 for the IPv6 default route"},
	{"route to with host bits", "name: t\nnodes:\n  h1:\n    routes: [{to: 198.18.2.5/24, dev: eth0}]\n", "4:19", "host bits are set; write 198.18.2.0/24"},
	{"route to malformed", "name: t\nnodes:\n  h1:\n    routes: [{to: everywhere, dev: eth0}]\n", "4:19", `to "everywhere": want default, default6 or a prefix`},
	{"route via malformed", "name: t\nnodes:\n  h1:\n    routes: [{to: default, via: 198.18.1}]\n", "4:33", `via "198.18.1" is not a gateway address`},
	{"route without via or dev", "name: t\nnodes:\n  h1:\n    routes: [{to: default}]\n", "4:14", "needs via: (a gateway) or dev: (an interface)"},
	{"route without to", "name: t\nnodes:\n  h1:\n    routes: [{via: 198.18.1.1}]\n", "4:14", "missing to:"},
	{"duplicate route", "name: t\nnodes:\n  h1:\n    interfaces: {eth0: {addresses: [198.18.1.10/24]}}\n    routes:\n      - {to: default, via: 198.18.1.1}\n      - {to: 0.0.0.0/0, via: 198.18.1.2}\n  h2: \nlinks: [{endpoints: [h1:eth0, h2:eth0]}]\n", "7:14", "a route to 0.0.0.0/0 is already defined at line 6"},
	{"link-local gateway without dev", "name: t\nnodes:\n  h1:\n    routes: [{to: default6, via: \"fe80::1\"}]\n", "4:34", "link-local gateway fe80::1 needs dev:"},
	{"declared interface in no link", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.0.1/24]}}}\n", "3:21", "interface h1:eth0 is in no link; add a link with endpoint h1:eth0, or remove it"},
	{"declared host interface in no link", "name: t\nnodes: {h1: }\nhost: {interfaces: {nsl0: {}}}\n", "3:21", "interface host:nsl0 is in no link"},
	{"sysctl outside net", "name: t\nnodes:\n  h1: {sysctls: {kernel.pid_max: 100}}\n", "3:18", `sysctl "kernel.pid_max" is not a network sysctl`},
	{"sysctl value a list", "name: t\nnodes:\n  h1: {sysctls: {net.ipv4.ip_forward: [1]}}\n", "3:39", "needs a number, boolean or string value"},
	{"run unterminated quote", "name: t\nnodes:\n  h1: {run: \"echo 'hi\"}\n", "3:13", "unterminated ' quote"},
	{"run empty command", "name: t\nnodes:\n  h1: {run: [\"  \"]}\n", "3:14", "a command is empty"},
	{"run command a mapping", "name: t\nnodes:\n  h1: {run: [{a: b}]}\n", "3:14", "a command must be a string or a list of arguments"},
	{"subnet and subnets", "name: t\nnodes: {h1: }\nswitches:\n  s1: {subnet: 198.18.0.0/24, subnets: [198.18.1.0/24]}\n", "4:31", "give subnet or subnets, not both"},
	{"subnet with host bits", "name: t\nnodes: {h1: }\nswitches:\n  s1: {subnet: 198.18.0.1/24}\n", "4:16", "has host bits set; write 198.18.0.0/24"},
	{"subnet malformed", "name: t\nnodes: {h1: }\nswitches:\n  s1: {subnet: 198.18.0.0}\n", "4:16", `subnet "198.18.0.0" is not a prefix`},
	{"overlapping subnets", "name: t\nnodes: {h1: }\nswitches:\n  s1: {subnet: 198.18.0.0/16}\n  s2: {subnet: 198.18.4.0/24}\n", "5:16", `subnet 198.18.4.0/24 overlaps 198.18.0.0/16 of switch "s1"`},
	{"subnet exhausted", "name: t\nnodes: {h1: , h2: , h3: }\nswitches:\n  s1: {subnet: 198.18.0.0/30}\nlinks:\n  - endpoints: [h1:eth0, s1]\n  - endpoints: [h2:eth0, s1]\n  - endpoints: [h3:eth0, s1]\n", "8:17", `switch "s1": subnet 198.18.0.0/30 has no free address left for h3:eth0`},
	{"address outside switch subnet", "name: t\nnodes:\n  h1: {interfaces: {eth0: {addresses: [198.18.7.1/24]}}}\nswitches: {s1: {subnet: 198.18.0.0/24}}\nlinks: [{endpoints: [h1:eth0, s1]}]\n", "3:40", `address 198.18.7.1/24 is outside the subnets of switch "s1" (198.18.0.0/24)`},
	{"expect unparsable", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - h1 to h2 icmp allow\n", "4:5", `expect "h1 to h2 icmp allow": want`},
	{"expect unknown node", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - h1 -> h9:80/tcp allow\n", "4:11", `expect "h1 -> h9:80/tcp allow": unknown node "h9"`},
	{"expect unknown source in quotes", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - \"h7 -> h2 icmp allow\"\n", "4:6", `unknown node "h7"`},
	{"expect host", "name: t\nnodes: {h1: }\nexpect:\n  - host -> h1 icmp allow\n", "4:5", "the root namespace cannot be probed"},
	{"expect bad port", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - h1 -> h2:99999/tcp allow\n", "4:14", `port "99999" must be a number from 1 to 65535`},
	{"expect bad protocol", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - h1 -> h2:80/sctp allow\n", "4:11", "write <node>:<port>/tcp or <node>:<port>/udp"},
	{"expect bad verdict", "name: t\nnodes: {h1: , h2: }\nexpect:\n  - h1 -> h2 icmp permit\n", "4:19", `verdict "permit" must be allow, deny or reject`},
	{"expect not a string", "name: t\nnodes: {h1: }\nexpect:\n  - {from: h1}\n", "4:5", "expect item must be a string"},
}

func TestParseProblems(t *testing.T) {
	for _, tc := range problemCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.src), "t.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded; want a problem at %s: %s", tc.pos, tc.msg)
			}
			if s != nil {
				t.Errorf("Parse returned a Spec with an error")
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error is %T, want *Error: %v", err, err)
			}
			for _, p := range perr.Problems {
				if fmt.Sprintf("%d:%d", p.Line, p.Col) == tc.pos && strings.Contains(p.Msg, tc.msg) {
					if p.File != "t.yaml" {
						t.Errorf("problem file = %q, want t.yaml", p.File)
					}
					return
				}
			}
			t.Errorf("no problem at %s containing %q; got:\n%v", tc.pos, tc.msg, err)
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	src := `name: Bad_Name
nodes:
  h1:
    interfaces: {eth0: {addresses: [198.18.1.10/24, 198.18.1.10/24]}}
    routes: [{to: default, via: 198.18.9.1}]
  h2: {colour: blue}
switches:
  s1: {subnet: 198.18.1.0/24}
links:
  - endpoints: [h1:eth0, s1]
  - endpoints: [h9:eth0, s1]
  - endpoints: [s1, s1]
expect:
  - h1 -> h3 icmp allow
`
	_, err := Parse([]byte(src), "bad.yaml")
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Parse error = %v, want *Error", err)
	}
	want := []string{
		`bad.yaml:1:7: lab name "Bad_Name" is invalid`,
		`bad.yaml:4:53: interface h1:eth0: address 198.18.1.10 is already used by h1:eth0 (line 4)`,
		`bad.yaml:5:33: node "h1" route to default: gateway 198.18.9.1 not on any attached subnet`,
		`bad.yaml:6:8: node "h2": unknown key "colour"`,
		`bad.yaml:11:17: link endpoint "h9:eth0": unknown node "h9"`,
		`bad.yaml:12:21: link s1 - s1: links between switches are not supported`,
		`bad.yaml:14:11: expect "h1 -> h3 icmp allow": unknown node "h3"`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) || len(perr.Problems) != len(want) || len(perr.Unwrap()) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	var p Problem
	if !errors.As(err, &p) || p.Line != 1 {
		t.Errorf("errors.As(err, *Problem) = %v, want the first problem", p)
	}
}

func TestProblemError(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Col: 7, Msg: "bad"}, "a.yaml:3:7: bad"},
		{Problem{Line: 1, Col: 1, Msg: "bad"}, "1:1: bad"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

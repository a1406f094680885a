package topo_test

import (
	"fmt"
	"log"

	"github.com/nslab/nslab/lab/topo"
)

func ExampleParse() {
	src := `name: demo
nodes:
  r1:
    sysctls: {net.ipv4.ip_forward: 1}
    interfaces:
      eth0: {addresses: [198.18.1.1/24]}
  h1:
    routes: [{to: default, via: 198.18.1.1}]
  h2:
    routes: [{to: default, via: 198.18.1.1}]
switches:
  lan1: {subnet: 198.18.1.0/24}
links:
  - endpoints: [r1:eth0, lan1]
  - endpoints: [h1:eth0, lan1]
  - endpoints: [h2:eth0, lan1]
expect:
  - h1 -> h2 icmp allow
`
	s, err := topo.Parse([]byte(src), "demo.yaml")
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range s.Nodes {
		for _, i := range n.Interfaces {
			fmt.Println(s.NetNSName(n.Name), i.Name, i.Addresses)
		}
	}
	for _, x := range s.Expect {
		fmt.Println(x.From, "->", x.To, x.Proto, x.Verdict())
	}
	// Output:
	// demo-h1 eth0 [198.18.1.2/24]
	// demo-h2 eth0 [198.18.1.3/24]
	// demo-r1 eth0 [198.18.1.1/24]
	// h1 -> h2 icmp allow
}

func ExampleError() {
	src := `name: demo
nodes:
  h1: {interfaces: {eth0: {adresses: [198.18.1.1/24]}}}
links:
  - endpoints: [h1:eth0, h2:eth0]
`
	_, err := topo.Parse([]byte(src), "demo.yaml")
	fmt.Println(err)
	// Output:
	// demo.yaml:3:28: interface h1:eth0: unknown key "adresses"; allowed keys: addresses, mtu, impair
	// demo.yaml:5:26: link endpoint "h2:eth0": unknown node "h2"; define it under nodes:
}

func ExampleSplitCommand() {
	argv, err := topo.SplitCommand(`sh -c 'echo "$HOSTNAME" > /tmp/name' extra\ word`)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range argv {
		fmt.Printf("%q\n", a)
	}
	// Output:
	// "sh"
	// "-c"
	// "echo \"$HOSTNAME\" > /tmp/name"
	// "extra word"
}

func ExampleQuoteCommand() {
	fmt.Println(topo.QuoteCommand([]string{"sh", "-c", "echo it's $HOME"}))
	// Output:
	// sh -c 'echo it'\''s $HOME'
}

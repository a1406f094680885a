package firewall_test

import (
	"fmt"

	"github.com/nslab/nslab/firewall"
)

func ExampleParseRule() {
	r, err := firewall.ParseRule("deny in tcp 5432 from 198.18.1.0/24,fd00:1::/64")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Action, r.Direction, r.Proto, r.Port, r.From)
	fmt.Println(r)

	_, err = firewall.ParseRule("deny in tcp 5432 from 198.18.1.7/24")
	fmt.Println(err)
	// Output:
	// deny in tcp 5432 [198.18.1.0/24 fd00:1::/64]
	// deny in tcp 5432 from 198.18.1.0/24,fd00:1::/64
	// firewall rule "deny in tcp 5432 from 198.18.1.7/24": prefix 198.18.1.7/24 has host bits set: use 198.18.1.0/24
}

func ExamplePolicy_Validate() {
	p := firewall.Policy{
		Rules:      []firewall.Rule{{Action: firewall.Allow, Direction: firewall.In, Proto: "icmp", Port: 8}},
		Default:    map[firewall.Direction]firewall.Action{firewall.In: "drop"},
		Masquerade: []string{"uplink-to-the-internet"},
	}
	fmt.Println(p.Validate())
	// Output:
	// firewall rule 1 "allow in icmp 8": port 8 needs protocol tcp or udp
	// firewall default for "in": unknown action "drop": want allow, deny or reject
	// firewall masquerade: interface name "uplink-to-the-internet" is 22 bytes long; the kernel's limit is 15 (IFNAMSIZ)
}

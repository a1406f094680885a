package sysctl_test

import (
	"fmt"

	"github.com/nslab/nslab/sysctl"
)

func ExamplePath() {
	for _, k := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/eth0.5/forwarding", "kernel.hostname"} {
		p, err := sysctl.Path(k)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(p)
	}
	// Output:
	// /proc/sys/net/ipv4/ip_forward
	// /proc/sys/net/ipv4/conf/eth0.5/forwarding
	// error: sysctl key "kernel.hostname" is not under net: only the per-namespace network sysctls (net.*) are allowed
}

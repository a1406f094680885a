package main

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/bench/floor"
)

// lineFile is the benchmark's line of n routers (a copy of bench's lineYAML).
func lineFile(name string, n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for j := range n {
		fmt.Fprintf(&b, "  r%d:\n    sysctls: {net.ipv4.ip_forward: 1}\n    interfaces:\n", j)
		if j > 0 {
			fmt.Fprintf(&b, "      eth0: {addresses: [%s/31]}\n", floor.LinkAddr(j-1, 1))
		}
		if j < n-1 {
			fmt.Fprintf(&b, "      eth1: {addresses: [%s/31]}\n", floor.LinkAddr(j, 0))
		}
		if rs := floor.LineRoutes(j, n); len(rs) > 0 {
			b.WriteString("    routes:\n")
			for _, r := range rs {
				to := r.To.String()
				if r.To.Bits() == 0 {
					to = "default"
				}
				fmt.Fprintf(&b, "      - {to: %s, via: %s}\n", to, r.Via)
			}
		}
	}
	if n > 1 {
		b.WriteString("links:\n")
		for k := 0; k < n-1; k++ {
			fmt.Fprintf(&b, "  - endpoints: [r%d:eth1, r%d:eth0]\n", k, k+1)
		}
	}
	return []byte(b.String())
}

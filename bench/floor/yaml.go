package floor

import (
	"fmt"
	"strings"
)

// The nslab topology files of the benchmark's star and line, with the same
// names and addresses the floor program and the other tools use.

// StarYAML is the nslab topology file of the star: hosts with explicit
// addresses (the ones every tool uses), one switch without a subnet.
func StarYAML(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for i := range n {
		fmt.Fprintf(&b, "  h%d: {interfaces: {eth0: {addresses: [%s/16]}}}\n", i+1, HostAddr(i))
	}
	b.WriteString("switches:\n  sw: {}\nlinks:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - endpoints: [h%d:eth0, sw]\n", i+1)
	}
	return b.String()
}

// LineYAML is the nslab topology file of the line.
func LineYAML(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nnodes:\n", name)
	for j := range n {
		fmt.Fprintf(&b, "  r%d:\n    sysctls: {net.ipv4.ip_forward: 1}\n    interfaces:\n", j)
		if j > 0 {
			fmt.Fprintf(&b, "      eth0: {addresses: [%s/31]}\n", LinkAddr(j-1, 1))
		}
		if j < n-1 {
			fmt.Fprintf(&b, "      eth1: {addresses: [%s/31]}\n", LinkAddr(j, 0))
		}
		if rs := LineRoutes(j, n); len(rs) > 0 {
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
	return b.String()
}

package floor

import (
	"net/netip"
	"testing"
)

// TestLineRoutes checks, without a kernel, that the line's routes deliver
// every router's addresses from every router: follow the routes hop by hop.
func TestLineRoutes(t *testing.T) {
	const n = 37
	owner := map[netip.Addr]int{}
	for k := 0; k < n-1; k++ {
		owner[LinkAddr(k, 0)] = k
		owner[LinkAddr(k, 1)] = k + 1
	}
	// next returns the router that j hands a packet for dst to.
	next := func(j int, dst netip.Addr) int {
		if j > 0 && netip.PrefixFrom(LinkAddr(j-1, 0), 31).Contains(dst) {
			return owner[dst]
		}
		if j < n-1 && netip.PrefixFrom(LinkAddr(j, 0), 31).Contains(dst) {
			return owner[dst]
		}
		best, via := -1, netip.Addr{}
		for _, r := range LineRoutes(j, n) {
			if r.To.Contains(dst) && r.To.Bits() > best {
				best, via = r.To.Bits(), r.Via
			}
		}
		if best < 0 {
			t.Fatalf("router %d has no route to %s", j, dst)
		}
		return owner[via]
	}
	for src := range n {
		for dst, o := range owner {
			j := src
			for hops := 0; j != o; hops++ {
				if hops > n {
					t.Fatalf("%d -> %s (router %d): loop", src, dst, o)
				}
				j = next(j, dst)
			}
		}
	}
}

func TestCidrs(t *testing.T) {
	got := cidrs(0, 194)
	want := []string{"198.19.0.0/25", "198.19.0.128/26", "198.19.0.192/31"}
	if len(got) != len(want) {
		t.Fatalf("cidrs(0, 194) = %v, want %v", got, want)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Errorf("cidrs(0, 194)[%d] = %s, want %s", i, got[i], want[i])
		}
	}
}

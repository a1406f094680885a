package topo_test

import (
	"fmt"
	"testing"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/lab/topo"
)

// BenchmarkParse parses the benchmark's star and line files. Time per node
// must stay flat as N grows (a duplicate-route check over the whole file once
// made the line quadratic).
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000} {
		for kind, gen := range map[string]func(string, int) string{"star": floor.StarYAML, "line": floor.LineYAML} {
			data := []byte(gen("bzt", n))
			b.Run(fmt.Sprintf("%s%d", kind, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := topo.Parse(data, "bench.yaml"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

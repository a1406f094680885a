package iproute_test

import (
	"fmt"

	"github.com/nslab/nslab/iproute"
)

func ExampleParse() {
	for _, s := range [][]string{
		{"default", "via", "198.18.0.254"},
		{"198.19.0.7", "dev", "eth0", "metric", "10"},
		{"198.19.0.7/16", "dev", "eth0"},
	} {
		r, err := iproute.Parse(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(r)
	}
	// Output:
	// default via 198.18.0.254
	// 198.19.0.7/32 dev eth0 metric 10
	// error: destination 198.19.0.7/16 has host bits set: did you mean 198.19.0.0/16?
}

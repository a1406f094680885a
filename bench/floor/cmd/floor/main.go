// Command floor builds or removes a benchmark lab with package floor, the
// kernel floor that nslab is measured against:
//
//	floor [-j W] up star|line N PREFIX            # prints "ns S links S config S"
//	floor [-j W] [-hold] down star|line N PREFIX
//
// It needs root. Names are PREFIX+"h1".. (star, plus PREFIX+"sw") or
// PREFIX+"r0".. (line).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/nslab/nslab/bench/floor"
)

// The main goroutine stays on the main thread, which never enters another
// namespace.
func init() { runtime.LockOSThread() }

func main() {
	j := flag.Int("j", 2, "workers")
	hold := flag.Bool("hold", false, "down: hold every namespace open until all names are gone")
	v6sysctl := flag.Bool("v6sysctl", false, "up: disable IPv6 in each node by a sysctl, not addrgenmode none on its links")
	flag.Parse()
	a := flag.Args()
	if len(a) != 4 {
		fmt.Fprintln(os.Stderr, "usage: floor [-j W] [-hold] up|down star|line N PREFIX")
		os.Exit(2)
	}
	n, err := strconv.Atoi(a[2])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "floor: N %q: want a positive number\n", a[2])
		os.Exit(2)
	}
	t := floor.Topo{Kind: a[1], N: n, Prefix: a[3]}
	switch a[0] {
	case "up":
		upf := floor.Up
		if *v6sysctl {
			upf = floor.UpSysctlV6
		}
		l, ph, err := upf(t, *j)
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		l.Close()
		fmt.Printf("ns %.6f links %.6f config %.6f\n", ph.NS.Seconds(), ph.Links.Seconds(), ph.Config.Seconds())
	case "down":
		down := floor.Down
		if *hold {
			down = floor.DownHold
		}
		if err := down(t, *j); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "floor: unknown command %q (want up or down)\n", a[0])
		os.Exit(2)
	}
}

package capture_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/nslab/nslab/capture"
	"github.com/nslab/nslab/netns"
)

// Capture the DNS traffic of eth0 in the named namespace "demo-h1" to a
// pcapng file until 100 packets have been seen or Ctrl-C is pressed, like
// `ip netns exec demo-h1 tcpdump -i eth0 -c 100 -w dns.pcapng port 53`.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ns, err := netns.Open("demo-h1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer ns.Close()
	f, err := os.Create("dns.pcapng")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	n, err := capture.Run(ctx, ns, "eth0", f, capture.Options{Filter: "port 53", Count: 100, Format: capture.FormatPcapng})
	if cerr := f.Close(); err == nil || errors.Is(err, context.Canceled) {
		err = cerr // Ctrl-C is the normal end of a capture
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Fprintf(os.Stderr, "%d packets captured\n", n)
}

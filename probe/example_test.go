package probe_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/probe"
)

// Check from namespace "demo-h1" that "demo-h2" (198.18.0.2) answers pings,
// accepts TCP on port 80 (served here by a responder started in demo-h2),
// and refuses port 81.
func ExampleProbeAll() {
	h1, err := netns.Open("demo-h1")
	if err != nil {
		log.Fatal(err)
	}
	defer h1.Close()
	h2, err := netns.Open("demo-h2")
	if err != nil {
		log.Fatal(err)
	}
	defer h2.Close()

	l, err := probe.Listen(h2, probe.TCP, netip.Addr{}, 80)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	dst := netip.MustParseAddr("198.18.0.2")
	rs := []probe.Request{
		{NS: h1, Proto: probe.ICMP, Dst: dst},
		{NS: h1, Proto: probe.TCP, Dst: dst, Port: 80},
		{NS: h1, Proto: probe.TCP, Dst: dst, Port: 81, Timeout: 500 * time.Millisecond},
	}
	for i, res := range probe.ProbeAll(context.Background(), rs, 8) {
		fmt.Printf("%s: %s %v\n", rs[i], res.Verdict, res.RTT)
	}
}

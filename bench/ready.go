package main

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/probe"
	vnetns "github.com/vishvananda/netns"
)

// lineSpan is the longest hop count a line probe crosses: replies leave
// with TTL 64, so a probe from the first to the last of 1000 routers can
// never be answered.
const lineSpan = 50

// probePair is one readiness probe: from node From to address Dst.
type probePair struct {
	From int
	Dst  netip.Addr
}

// readiness lists the probes that must all answer: star, first host to last
// host; line, router 0 to router min(50, N-1), router 50 to router 100, ...,
// so that every link and every router's forwarding is crossed once.
func readiness(t floor.Topo) []probePair {
	if t.Kind == "star" {
		return []probePair{{0, floor.HostAddr(t.N - 1)}}
	}
	if t.N < 2 {
		return nil
	}
	var out []probePair
	for j := 0; j < t.N-1; j += lineSpan {
		to := min(j+lineSpan, t.N-1)
		out = append(out, probePair{j, floor.LinkAddr(to-1, 1)})
	}
	return out
}

// waitReady sends the probes of pairs (ICMP echo, a 10 ms wait each, again
// and again) until each has been answered once, or fails after limit.
func waitReady(ctx context.Context, open func(i int) (vnetns.NsHandle, error), pairs []probePair, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(pairs))
	for k, p := range pairs {
		wg.Go(func() {
			h, err := open(p.From)
			if err != nil {
				errs[k] = err
				return
			}
			defer h.Close()
			var last probe.Result
			for ctx.Err() == nil {
				last = probe.Probe(ctx, probe.Request{NS: h, Proto: probe.ICMP, Dst: p.Dst, Timeout: 10 * time.Millisecond})
				if last.Verdict == probe.OK {
					return
				}
				if last.Verdict != probe.Timeout {
					// Unreachable or a socket error right after the
					// build: wait the rest of the 10 ms and retry.
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			errs[k] = fmt.Errorf("readiness: node %d -> %s did not answer within %s (last: %s %v)", p.From, p.Dst, limit, last.Verdict, last.Err)
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// nsHandle is an open namespace.
type nsHandle = vnetns.NsHandle

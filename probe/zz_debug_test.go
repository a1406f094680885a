package probe

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestZZUDP(t *testing.T) {
	for i := 0; i < 16; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			listen(t, p.b, UDP, netip.Addr{}, port)
			fails := 0
			for j := 0; j < 300; j++ {
				s := time.Now()
				res := Probe(t.Context(), Request{NS: p.a, Proto: UDP, Dst: p.b4, Port: port, Timeout: short})
				if res.Verdict != OK {
					fails++
					t.Logf("try %d: %s %v after %v", j, res.Verdict, res.Err, time.Since(s))
				}
			}
			if fails > 0 {
				t.Errorf("%d fails", fails)
			}
		})
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/netns"
)

// extras are the nslab-only measurements on a star of n hosts.
type extras struct {
	n                                int
	fresh, unchanged, change, revert sample
	ipExec, nsExec, labExec          sample
	rss                              []int64
	// The same change on a star a tenth the size (lab bzt), up meanwhile:
	// what adding a host costs beyond an unchanged up, at both sizes
	// (differences within each run), says whether a change costs in
	// proportion to the change or to the lab.
	small             int
	extra, smallExtra sample
	// The same split in two: the up command's own extra time (nslab's
	// work) and the wait from its end until the new host answers (the
	// kernel's: the first packet's ARP request is flooded to every port of
	// the switch, and every host receives it).
	extraCmd, smallExtraCmd     sample
	firstAnswer, smallFirstAnsw sample
	// The control for that wait: the first answer from the first host to
	// an old host it has not talked to yet (a different one each cycle),
	// timed the same way in the same lab. It pays the same flood, and no
	// change of the lab is involved.
	coldFirst, smallColdFirst sample
}

// changeCycles is how many unchanged / add / remove cycles follow each
// fresh up of the extras: single ups of 0.05-0.15 s are noisy here (with
// three, nine samples of the one-host difference at 1000 hosts ranged from
// -6 to +23 ms, and their median from 5.5 to 16 ms from run to run; with
// eight, 24 samples from -4.6 to +23 ms, median 8.5 ms against 4-7 ms when
// measured alone). Twenty give 60 samples for ~10 s more.
const changeCycles = 20

// runExtras measures, on the star of n hosts (3 runs): a fresh up until
// ready, then changeCycles times an up of the same file (nothing to do), an
// up that adds one host (until the new host answers), an up back to the
// first file (one host removed), and the first two on a star of n/10 hosts;
// and, once, exec start-up latency: `ip netns exec NS true`, `nslab netns
// exec NS true` and `nslab exec LAB NODE -- true`, interleaved, execRuns
// times each.
func runExtras(ctx context.Context, nb, dir string, n, execRuns int) (*extras, error) {
	ex := &extras{n: n, small: max(n/10, 2)}
	t := topoOf("star", n)
	a, b := filepath.Join(dir, "extras-a.yaml"), filepath.Join(dir, "extras-b.yaml")
	sa, sb := filepath.Join(dir, "extras-small-a.yaml"), filepath.Join(dir, "extras-small-b.yaml")
	for f, y := range map[string]string{
		a: floor.StarYAML("bzs", n), b: floor.StarYAML("bzs", n+1),
		sa: floor.StarYAML("bzt", ex.small), sb: floor.StarYAML("bzt", ex.small+1),
	} {
		if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
			return nil, err
		}
	}
	st := topoOf("star", ex.small)
	st.Prefix = "bzt-"
	// timeUpIn returns the time until ready and the up command's own time.
	timeUpIn := func(t floor.Topo, file string, probes []probePair) (time.Duration, time.Duration, int64, error) {
		open := func(i int) (nsHandle, error) { return netns.Open(t.NodeNS(i)) }
		t0 := time.Now()
		_, rss, err := run(ctx, nil, nb, "up", "-q", file)
		if err != nil {
			return 0, 0, 0, err
		}
		cmd := time.Since(t0)
		if len(probes) > 0 {
			if err := waitReady(ctx, open, probes, 60*time.Second); err != nil {
				return 0, 0, 0, err
			}
		}
		return time.Since(t0), cmd, rss, nil
	}
	timeUp := func(file string, probes []probePair) (time.Duration, time.Duration, int64, error) {
		return timeUpIn(t, file, probes)
	}
	for r := range 3 {
		d, _, rss, err := timeUp(a, readiness(t))
		if err != nil {
			return nil, err
		}
		ex.fresh = append(ex.fresh, d)
		ex.rss = append(ex.rss, rss)
		// changeCycles unchanged / add / remove cycles on the big star,
		// each followed by one on the small star (up meanwhile: same
		// kernel, same machine load).
		if _, _, _, err := timeUp(sa, nil); err != nil {
			return nil, err
		}
		// probeTime times one probe from the first host of t to host k
		// (1 + cycle, past the first and short of the last, which the
		// readiness probe reached), its neighbour entry flushed first in
		// case a small star made it come round again.
		probeTime := func(t floor.Topo, cycle int) (time.Duration, error) {
			k := 1 + cycle%max(t.N-2, 1)
			if _, _, err := run(ctx, nil, "ip", "-n", t.NodeNS(0), "neigh", "flush", "to", floor.HostAddr(k).String()); err != nil {
				return 0, err
			}
			open := func(i int) (nsHandle, error) { return netns.Open(t.NodeNS(i)) }
			t0 := time.Now()
			err := waitReady(ctx, open, []probePair{{0, floor.HostAddr(k)}}, 60*time.Second)
			return time.Since(t0), err
		}
		for cycle := range changeCycles {
			u, _, _, err := timeUp(a, nil)
			if err != nil {
				return nil, err
			}
			c, cc, _, err := timeUp(b, []probePair{{0, floor.HostAddr(n)}})
			if err != nil {
				return nil, err
			}
			v, _, _, err := timeUp(a, nil)
			if err != nil {
				return nil, err
			}
			ex.unchanged, ex.change, ex.revert = append(ex.unchanged, u), append(ex.change, c), append(ex.revert, v)
			ex.extra, ex.extraCmd, ex.firstAnswer = append(ex.extra, c-u), append(ex.extraCmd, cc-u), append(ex.firstAnswer, c-cc)
			cold, err := probeTime(t, cycle)
			if err != nil {
				return nil, err
			}
			ex.coldFirst = append(ex.coldFirst, cold)
			su, _, _, err := timeUpIn(st, sa, nil)
			if err != nil {
				return nil, err
			}
			sc, scc, _, err := timeUpIn(st, sb, []probePair{{0, floor.HostAddr(ex.small)}})
			if err != nil {
				return nil, err
			}
			if _, _, _, err := timeUpIn(st, sa, nil); err != nil {
				return nil, err
			}
			ex.smallExtra, ex.smallExtraCmd, ex.smallFirstAnsw = append(ex.smallExtra, sc-su), append(ex.smallExtraCmd, scc-su), append(ex.smallFirstAnsw, sc-scc)
			cold, err = probeTime(st, cycle)
			if err != nil {
				return nil, err
			}
			ex.smallColdFirst = append(ex.smallColdFirst, cold)
		}
		if _, _, err := run(ctx, nil, nb, "down", "--no-wait", "bzt"); err != nil {
			return nil, err
		}
		if r == 0 && execRuns > 0 {
			ns := t.NodeNS(0)
			cmds := [][]string{
				{"ip", "netns", "exec", ns, "true"},
				{nb, "netns", "exec", ns, "--", "true"},
				{nb, "exec", "bzs", "h1", "--", "true"},
			}
			outs := []*sample{&ex.ipExec, &ex.nsExec, &ex.labExec}
			for i := range execRuns {
				for k := range cmds {
					c := cmds[(k+i)%len(cmds)]
					t0 := time.Now()
					if _, _, err := run(ctx, nil, c...); err != nil {
						return nil, err
					}
					*outs[(k+i)%len(cmds)] = append(*outs[(k+i)%len(cmds)], time.Since(t0))
				}
			}
		}
		if _, _, err := run(ctx, nil, nb, "down", "--no-wait", "bzs"); err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "bench: extras run %d done\n", r+1)
	}
	return ex, nil
}

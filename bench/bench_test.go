package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
)

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// TestShortBenchmark is the regression benchmark CI runs: a star of 100
// hosts built and removed 3 times, interleaved, by nslab (lab.Up / lab.Down
// in-process) and by the floor program's package, each timed until a probe
// from the first host to the last answers and until the kernel has freed
// every namespace. It prints the medians and nslab's ratio to the floor
// (t.Logf and stdout), and fails only if the lab does not work or nslab is
// absurdly slow (ratio > 5), since CI machines are noisy.
func TestShortBenchmark(t *testing.T) {
	nslabtest.RequireRoot(t)
	if testing.Short() {
		t.Skip("short mode: the benchmark builds 600 namespaces")
	}
	const n, runs = 100, 3
	ctx := t.Context()
	name := nslabtest.Name(t, 12) // the lab name; namespaces name-h1 ...
	ft := floor.Topo{Kind: "star", N: n, Prefix: nslabtest.Name(t, 12) + "-"}
	lt := floor.Topo{Kind: "star", N: n, Prefix: name + "-"}
	spec, err := topo.Parse([]byte(floor.StarYAML(name, n)), "short.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(netns.Path(lt.NodeNS(0))); err == nil {
			lab.Down(context.WithoutCancel(ctx), name, lab.Options{})
		}
		floor.Down(ft, 2)
	})
	var nsUp, nsDown, flUp, flDown sample
	for r := range runs {
		up, down := measure(t, ctx, lt, func() error {
			_, err := lab.Up(ctx, spec, lab.Options{})
			return err
		}, func() error {
			return lab.Down(ctx, name, lab.Options{NoWait: true})
		})
		nsUp, nsDown = append(nsUp, up), append(nsDown, down)
		up, down = measure(t, ctx, ft, func() error {
			l, _, err := floor.Up(ft, 2)
			if l != nil {
				l.Close()
			}
			return err
		}, func() error {
			return floor.Down(ft, 2)
		})
		flUp, flDown = append(flUp, up), append(flDown, down)
		t.Logf("run %d: nslab up %s down %s, floor up %s down %s", r+1, secs(nsUp[r]), secs(nsDown[r]), secs(flUp[r]), secs(flDown[r]))
	}
	ru := float64(nsUp.median()) / float64(flUp.median())
	rd := float64(nsDown.median()) / float64(flDown.median())
	msg := fmt.Sprintf("short benchmark, star N=%d, %d runs: nslab up %s, floor up %s: ratio %.2f; nslab down %s, floor down %s: ratio %.2f (targets: ≤ 1.3 at N=1000)",
		n, runs, nsUp.cell(0), flUp.cell(0), ru, nsDown.cell(0), flDown.cell(0), rd)
	t.Log(msg)
	fmt.Println(msg)
	if ru > 5 || rd > 5 {
		t.Errorf("nslab is more than 5× slower than the floor program: up %.2f×, down %.2f×", ru, rd)
	}
}

// measure times up until ready and down until freed for one tool.
func measure(t *testing.T, ctx context.Context, tp floor.Topo, up, down func() error) (time.Duration, time.Duration) {
	t.Helper()
	t0 := time.Now()
	if err := up(); err != nil {
		t.Fatalf("%s up: %v", tp.Prefix, err)
	}
	open := func(i int) (nsHandle, error) { return netns.Open(tp.NodeNS(i)) }
	if err := waitReady(ctx, open, readiness(tp), 30*time.Second); err != nil {
		t.Fatalf("%s: %v", tp.Prefix, err)
	}
	dUp := time.Since(t0)
	// Both builds keep IPv6 quiet: no address (not even link-local) on a
	// host's link, so that nothing floods the switch.
	for _, i := range []int{0, tp.N - 1} {
		out, err := exec.Command("ip", "-n", tp.NodeNS(i), "-6", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("%s eth0: want no IPv6 address (err %v):\n%s", tp.NodeNS(i), err, out)
		}
	}
	w, err := newFreeWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for _, nm := range tp.Names() {
		h, err := netns.Open(nm)
		if err != nil {
			t.Fatal(err)
		}
		err = w.watch(h)
		h.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	t1 := time.Now()
	if err := down(); err != nil {
		t.Fatalf("%s down: %v", tp.Prefix, err)
	}
	if err := w.wait(ctx, 60*time.Second); err != nil {
		t.Fatalf("%s down: %v", tp.Prefix, err)
	}
	return dUp, time.Since(t1)
}

func TestReadinessLine(t *testing.T) {
	tp := floor.Topo{Kind: "line", N: 120, Prefix: "x-"}
	ps := readiness(tp)
	if len(ps) != 3 || ps[0].From != 0 || ps[2].From != 100 {
		t.Fatalf("readiness(line 120) = %v, want probes from 0, 50, 100", ps)
	}
	if want := floor.LinkAddr(118, 1); ps[2].Dst != want {
		t.Errorf("last probe goes to %s, want the last router's %s", ps[2].Dst, want)
	}
}

func TestGeneratedFilesParse(t *testing.T) {
	for _, tp := range []floor.Topo{{Kind: "star", N: 30, Prefix: "bzs-"}, {Kind: "line", N: 30, Prefix: "bzl-"}} {
		if _, err := topo.Parse([]byte(topoYAML(tp, labName(tp.Kind))), tp.Kind+".yaml"); err != nil {
			t.Errorf("%s: %v", tp.Kind, err)
		}
		root, _, per := batchFiles(tp)
		if len(per) != tp.N || !strings.Contains(root, "netns add "+tp.NodeNS(tp.N-1)) {
			t.Errorf("%s: batch files incomplete", tp.Kind)
		}
	}
}

// The kernel gives a new namespace the lowest free NSID, usually one just
// announced as deleted: the waiter must not count that old announcement for
// the new namespace (the sentinel of wait).
func TestWaiterReusedNSID(t *testing.T) {
	nslabtest.RequireRoot(t)
	w, err := newFreeWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	h1 := nslabtest.NewNS(t)
	if err := w.watch(h1); err != nil {
		t.Fatal(err)
	}
	id1, _ := w.root.GetNetNsIdByFd(int(h1))
	h1.Close()
	for deadline := time.Now().Add(20 * time.Second); w.left() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("NSID %d: not announced within 20 s", id1)
		}
		select {
		case <-w.changed:
		case <-time.After(20 * time.Millisecond):
		}
	}
	h2 := nslabtest.NewNS(t)
	if err := w.watch(h2); err != nil {
		t.Fatal(err)
	}
	id2, _ := w.root.GetNetNsIdByFd(int(h2))
	if id2 != id1 {
		t.Logf("NSID %d then %d: not reused this time", id1, id2)
	}
	if n := w.left(); n != 1 {
		t.Fatalf("a live namespace (NSID %d) counts as freed: %d left, want 1", id2, n)
	}
}

func TestWaiterBatches(t *testing.T) {
	t0 := time.Unix(100, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	w := &freeWaiter{times: []time.Time{at(2), at(40), at(40.5), at(41.9), at(45), at(800)}}
	if got, want := w.batches(t0), " +2ms×1 +40ms×3 +45ms×1 +800ms×1"; got != want {
		t.Errorf("batches = %q, want %q", got, want)
	}
	if got := (&freeWaiter{}).batches(t0); got != "" {
		t.Errorf("no notices: %q", got)
	}
}

func TestMininetLineConfig(t *testing.T) {
	c := mininetLineConfig(3)
	want := []string{
		"ip link set bzmr0-eth1 up; ip addr add 198.19.0.0/31 dev bzmr0-eth1; sysctl -qw net.ipv4.ip_forward=1; ip route add 0.0.0.0/0 via 198.19.0.1",
		"ip link set bzmr1-eth0 up; ip addr add 198.19.0.1/31 dev bzmr1-eth0; ip link set bzmr1-eth1 up; ip addr add 198.19.0.2/31 dev bzmr1-eth1; sysctl -qw net.ipv4.ip_forward=1; ip route add 0.0.0.0/0 via 198.19.0.3",
		"ip link set bzmr2-eth0 up; ip addr add 198.19.0.3/31 dev bzmr2-eth0; sysctl -qw net.ipv4.ip_forward=1; ip route add 0.0.0.0/0 via 198.19.0.2",
	}
	if !slices.Equal(c, want) {
		t.Errorf("mininetLineConfig(3) =\n%s\nwant\n%s", strings.Join(c, "\n"), strings.Join(want, "\n"))
	}
}

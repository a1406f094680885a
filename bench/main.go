// Command bench measures nslab against `ip -batch`, Mininet and a
// kernel-floor program (bench/floor) on the same topologies, interleaved run
// after run, and prints medians with [min–max] and ratios to the floor:
//
//	go run ./bench [-n 10,100,1000] [-runs 5,5,3] [-tools nslab,floor,batch,mininet]
//	               [-topos star,line] [-extras 1000] [-out bench/RESULTS.md]
//
// It needs root. Every object it makes is named bz*; it refuses to start if
// such objects exist, and removes what it made on exit, also on Ctrl-C.
// Mininet needs bench/setup.sh (Debian's mininet package); nslab and the
// floor program are built from this module into a temporary directory.
//
// up = the build command's wall time until a readiness probe answers (ICMP
// from the first host to the last; line: every 50 hops); down = from the
// teardown command's start until the kernel announced every namespace freed
// (RTM_DELNSID, then a sentinel's).
package main

import (
	"context"
	"flag"
	"fmt"

	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/lab"
)

// The main goroutine stays on the main thread, so no other goroutine ever
// runs there and the main thread never enters another namespace.
func init() { runtime.LockOSThread() }

type config struct {
	ns        []int
	runs      []int
	tools     []string
	topos     []string
	extras    int
	execN     int
	out       string
	verbose   bool
	nslabWait bool
	builds    []string // other nslab binaries, run as tools named "nslab-" + base name
}

func main() {
	var c config
	n := flag.String("n", "10,100,1000", "sizes (hosts or routers)")
	runs := flag.String("runs", "5,5,3", "runs per size (the last value repeats)")
	tools := flag.String("tools", "nslab,floor,batch,mininet", "tools to compare")
	topos := flag.String("topos", "star,line", "topologies")
	flag.IntVar(&c.extras, "extras", 1000, "star size for the unchanged-up, one-node-change and exec measurements (0 = skip)")
	flag.IntVar(&c.execN, "exec-runs", 200, "runs of each exec command")
	flag.StringVar(&c.out, "out", "", "also write the report (markdown) to this file")
	flag.BoolVar(&c.verbose, "v", false, "print every run")
	flag.BoolVar(&c.nslabWait, "nslab-wait", false, "time plain 'nslab down LAB' (its own wait for the kernel, with no NSIDs given by the harness) instead of 'nslab down --no-wait' plus the harness's waiter")
	builds := flag.String("builds", "", "other nslab binaries (comma-separated paths) to compare with this tree's, each run as the tool nslab-BASENAME (add it to -tools)")
	flag.Parse()
	if *builds != "" {
		c.builds = strings.Split(*builds, ",")
	}
	var err error
	if c.ns, err = ints(*n); err == nil {
		c.runs, err = ints(*runs)
	}
	if err != nil {
		fatal(err)
	}
	c.tools = strings.Split(*tools, ",")
	c.topos = strings.Split(*topos, ",")
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("needs root (it creates network namespaces): run as root"))
	}
	if left := leftovers(); len(left) > 0 {
		fatal(fmt.Errorf("bz* objects exist already (%s ...): remove them first (ip netns del NAME; ip link del NAME)", strings.Join(left[:min(5, len(left))], ", ")))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	if err := benchmark(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	cleanup() // again: objects made without nslab
	if left := leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "bench: left behind: %s\n", strings.Join(left, ", "))
		code = 1
	}
	os.Exit(code)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q: want a comma-separated list of positive numbers", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// leftovers lists bz* namespace names and root-namespace links.
func leftovers() []string {
	var out []string
	ents, _ := os.ReadDir(floor.NetNSDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "bz") {
			out = append(out, "netns "+e.Name())
		}
	}
	ifs, _ := os.ReadDir("/sys/class/net")
	for _, e := range ifs {
		if strings.HasPrefix(e.Name(), "bz") {
			out = append(out, "link "+e.Name())
		}
	}
	for _, l := range benchLabs {
		if _, err := os.Stat("/run/nslab/" + l); err == nil {
			out = append(out, "nslab lab "+l)
		}
	}
	return out
}

// benchLabs are the nslab labs the benchmark makes.
var benchLabs = []string{"bzs", "bzt", "bzl", "bzx"}

// cleanup removes every bz* object: nslab labs through nslab (while its
// binary exists) and their event logs, then names and root links directly.
func cleanup() {
	if nslabBin != "" {
		for _, l := range benchLabs {
			if _, err := os.Stat("/run/nslab/" + l); err == nil {
				exec.Command(nslabBin, "down", l).Run()
			}
		}
	}
	for _, l := range benchLabs {
		os.Remove(lab.EventsPath(l))
	}
	ents, _ := os.ReadDir(floor.NetNSDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "bz") {
			p := filepath.Join(floor.NetNSDir, e.Name())
			syscall.Unmount(p, syscall.MNT_DETACH)
			os.Remove(p)
		}
	}
	ifs, _ := os.ReadDir("/sys/class/net")
	for _, e := range ifs {
		if strings.HasPrefix(e.Name(), "bz") {
			exec.Command("ip", "link", "del", e.Name()).Run()
		}
	}
	// Root links vanish asynchronously with their peers' namespaces.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(leftovers()) == 0 {
			return
		}
	}
}

var nslabBin string

// build compiles nslab and the floor program into dir.
func build(dir string) (nslab, fl string, err error) {
	nslab, fl = filepath.Join(dir, "nslab"), filepath.Join(dir, "floor")
	for _, b := range [][2]string{{nslab, "./cmd/nslab"}, {fl, "./bench/floor/cmd/floor"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("go build %s (run from the module root): %w", b[1], err)
		}
	}
	return nslab, fl, nil
}

// result holds one cell's runs.
type result struct {
	up, upCmd, down, downCmd sample
	rss                      []int64
	phases                   []string
}

type key struct {
	topo, tool string
	n          int
}

func benchmark(ctx context.Context, c config) error {
	dir, err := os.MkdirTemp("", "nslab-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	nb, fb, err := build(dir)
	if err != nil {
		return err
	}
	nslabBin = nb
	defer cleanup() // while the binary, removed with dir, is still there
	var tools []tool
	for _, name := range c.tools {
		switch name {
		case "nslab":
			tools = append(tools, &nslabTool{bin: nb, dir: dir, wait: c.nslabWait})
		case "floor":
			tools = append(tools, &floorTool{bin: fb})
		case "batch":
			tools = append(tools, &batchTool{dir: dir})
		case "floor-hold":
			tools = append(tools, &floorHoldTool{floorTool: floorTool{bin: fb}})
		case "floor-v6sysctl":
			tools = append(tools, &floorV6SysctlTool{floorTool{bin: fb}})
		case "floor-ipdel":
			tools = append(tools, &floorIPDelTool{floorTool: floorTool{bin: fb}, dir: dir})
		case "nslab-ipdel":
			tools = append(tools, &nslabIPDelTool{nslabTool{bin: nb, dir: dir}})
		case "mininet":
			if _, err := os.Stat("/usr/lib/python3/dist-packages/mininet"); err != nil {
				fmt.Fprintln(os.Stderr, "bench: mininet is not installed (run bench/setup.sh): skipped")
				continue
			}
			tools = append(tools, &mininetTool{dir: dir})
		default:
			if b := buildNamed(c.builds, name); b != "" {
				tools = append(tools, &nslabTool{bin: b, dir: dir, wait: c.nslabWait, label: name})
				continue
			}
			return fmt.Errorf("unknown tool %q (want nslab, floor, batch, mininet, floor-hold, floor-v6sysctl, floor-ipdel, nslab-ipdel, or nslab-NAME for a binary NAME in -builds)", name)
		}
	}
	started := time.Now().UTC()
	res := map[key]*result{}
	for _, kind := range c.topos {
		if kind != "star" && kind != "line" {
			return fmt.Errorf("unknown topology %q (want star, line)", kind)
		}
		for si, n := range c.ns {
			runs := c.runs[min(si, len(c.runs)-1)]
			t := topoOf(kind, n)
			for r := range runs {
				// Interleaved, and the order rotates from run to run.
				for k := range tools {
					tl := tools[(k+r)%len(tools)]
					if !tl.supports(t) {
						continue
					}
					if err := ctx.Err(); err != nil {
						return err
					}
					kk := key{kind, tl.name(), n}
					if res[kk] == nil {
						res[kk] = &result{}
					}
					if err := once(ctx, tl, t, r == 0, res[kk], c.verbose); err != nil {
						return fmt.Errorf("%s %s N=%d run %d: %w", tl.name(), kind, n, r+1, err)
					}
				}
			}
			fmt.Fprintf(os.Stderr, "bench: %s N=%d done (%s)\n", kind, n, time.Since(started).Round(time.Second))
		}
	}
	var ex *extras
	if c.extras > 0 && contains(c.tools, "nslab") {
		ex, err = runExtras(ctx, nb, dir, c.extras, c.execN)
		if err != nil {
			return fmt.Errorf("extras: %w", err)
		}
	}
	rep := report(c, tools, res, ex, started)
	fmt.Print(rep)
	if c.out != "" {
		return os.WriteFile(c.out, []byte(rep), 0o644)
	}
	return nil
}

// buildNamed returns the binary in builds that tool name stands for
// ("nslab-" + its base name), or "".
func buildNamed(builds []string, name string) string {
	for _, b := range builds {
		if "nslab-"+filepath.Base(b) == name {
			return b
		}
	}
	return ""
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// once builds t with tl, waits for readiness, tears it down and waits until
// the kernel has freed it, recording the times in r.
func once(ctx context.Context, tl tool, t floor.Topo, first bool, r *result, verbose bool) error {
	if err := tl.prepare(ctx, t); err != nil {
		return err
	}
	t0 := time.Now()
	st, err := tl.up(ctx, t)
	upCmd := time.Since(t0)
	if err != nil {
		return err
	}
	open := func(i int) (h nsHandle, err error) { return tl.openNS(t, i) }
	if err := waitReady(ctx, open, readiness(t), 60*time.Second); err != nil {
		return err
	}
	up := time.Since(t0)
	if first {
		if err := verify(ctx, tl, t); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
	}
	// Plain `nslab down` (-nslab-wait) waits for the kernel itself, and is
	// timed alone: NSIDs given beforehand by the harness would send it
	// down the path for namespaces that have one already.
	selfWait := false
	if nt, ok := tl.(*nslabTool); ok && nt.wait {
		selfWait = true
	}
	w, err := newFreeWaiter()
	if err != nil {
		return err
	}
	defer w.close()
	if !selfWait {
		hs, err := tl.all(t)
		if err != nil {
			return err
		}
		for _, h := range hs {
			err = w.watch(h)
			h.Close()
			if err != nil {
				return err
			}
		}
	}
	t1 := time.Now()
	if err := tl.down(ctx, t); err != nil {
		return err
	}
	downCmd := time.Since(t1)
	if !selfWait {
		if err := w.wait(ctx, 120*time.Second); err != nil {
			return err
		}
	}
	down := time.Since(t1)
	r.up = append(r.up, up)
	r.upCmd = append(r.upCmd, upCmd)
	r.down = append(r.down, down)
	r.downCmd = append(r.downCmd, downCmd)
	r.rss = append(r.rss, st.maxRSS)
	r.phases = append(r.phases, st.phases)
	if verbose {
		fmt.Fprintf(os.Stderr, "  %-7s %s N=%-5d up %s (cmd %s) down %s (cmd %s) rss %d KiB %s\n",
			tl.name(), t.Kind, t.N, secs(up), secs(upCmd), secs(down), secs(downCmd), st.maxRSS, st.phases)
		fmt.Fprintf(os.Stderr, "          cleanup batches (start after the down command's, size; the last is the sentinel):%s\n", w.batches(t1))
	}
	return nil
}

// verify checks, untimed, on the first run of a cell: a probe between two
// other nodes answers (star: host N/2 to host 2; line: the middle router to
// a router up to 50 hops to its right).
func verify(ctx context.Context, tl tool, t floor.Topo) error {
	open := func(i int) (nsHandle, error) { return tl.openNS(t, i) }
	if t.N < 3 {
		return nil
	}
	var p probePair
	if t.Kind == "star" {
		p = probePair{t.N / 2, floor.HostAddr(1)}
	} else {
		to := min(t.N/2+lineSpan, t.N-1)
		p = probePair{t.N / 2, floor.LinkAddr(to-1, 1)}
	}
	return waitReady(ctx, open, []probePair{p}, 10*time.Second)
}

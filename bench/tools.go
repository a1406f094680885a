package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/netns"
	vnetns "github.com/vishvananda/netns"
)

// tool is one way of building and removing a benchmark topology.
type tool interface {
	name() string
	// supports reports whether the tool runs t (Mininet: star, N <= 1000).
	supports(t floor.Topo) bool
	// prepare does the untimed work before up (generating files).
	prepare(ctx context.Context, t floor.Topo) error
	// up builds t; the harness times it.
	up(ctx context.Context, t floor.Topo) (upStats, error)
	// openNS opens the namespace of node i (0-based; the star's switch is
	// not asked for through openNS).
	openNS(t floor.Topo, i int) (vnetns.NsHandle, error)
	// all opens every namespace of the built lab, for the free waiter.
	all(t floor.Topo) ([]vnetns.NsHandle, error)
	// down removes t; the harness times it.
	down(ctx context.Context, t floor.Topo) error
}

// upStats are what a tool reports besides the wall time.
type upStats struct {
	maxRSS int64  // KiB, of the up command's process, 0 if unknown
	phases string // the tool's own phase timings, if any
}

// run executes argv, with stdin from in, and returns stdout and the rusage
// max RSS (KiB); stderr is kept for the error.
func run(ctx context.Context, in io.Reader, argv ...string) ([]byte, int64, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &errb
	err := cmd.Run()
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = int64(ru.Maxrss)
		}
	}
	if err != nil {
		return out.Bytes(), rss, fmt.Errorf("%s: %w: %s", strings.Join(argv[:min(len(argv), 3)], " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), rss, nil
}

func openNamed(names []string) ([]vnetns.NsHandle, error) {
	var hs []vnetns.NsHandle
	for _, n := range names {
		h, err := netns.Open(n)
		if err != nil {
			for _, x := range hs {
				x.Close()
			}
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// nslabTool runs the nslab binary: `nslab up -q FILE`, `nslab down LAB`.
type nslabTool struct {
	bin, dir string
	// wait runs plain `nslab down LAB`, which waits for the kernel itself;
	// otherwise `nslab down --no-wait LAB` and the harness's waiter alone.
	wait bool
	// label names another build of nslab (see -builds); "" is "nslab".
	label string
}

func (n *nslabTool) name() string {
	if n.label != "" {
		return n.label
	}
	return "nslab"
}
func (n *nslabTool) supports(floor.Topo) bool { return true }
func (n *nslabTool) file(t floor.Topo) string { return filepath.Join(n.dir, labName(t.Kind)+".yaml") }
func (n *nslabTool) prepare(_ context.Context, t floor.Topo) error {
	return os.WriteFile(n.file(t), []byte(topoYAML(t, labName(t.Kind))), 0o644)
}
func (n *nslabTool) up(ctx context.Context, t floor.Topo) (upStats, error) {
	_, rss, err := run(ctx, nil, n.bin, "up", "-q", n.file(t))
	return upStats{maxRSS: rss}, err
}
func (n *nslabTool) openNS(t floor.Topo, i int) (vnetns.NsHandle, error) {
	return netns.Open(t.NodeNS(i))
}
func (n *nslabTool) all(t floor.Topo) ([]vnetns.NsHandle, error) { return openNamed(t.Names()) }
func (n *nslabTool) down(ctx context.Context, t floor.Topo) error {
	argv := []string{n.bin, "down", "--no-wait", labName(t.Kind)}
	if n.wait {
		argv = []string{n.bin, "down", labName(t.Kind)}
	}
	_, _, err := run(ctx, nil, argv...)
	return err
}

// floorTool runs the floor program (bench/floor/cmd/floor).
type floorTool struct {
	bin string
}

func (f *floorTool) name() string                              { return "floor" }
func (f *floorTool) supports(floor.Topo) bool                  { return true }
func (f *floorTool) prepare(context.Context, floor.Topo) error { return nil }
func (f *floorTool) up(ctx context.Context, t floor.Topo) (upStats, error) {
	out, rss, err := run(ctx, nil, f.bin, "up", t.Kind, strconv.Itoa(t.N), t.Prefix)
	return upStats{maxRSS: rss, phases: strings.TrimSpace(string(out))}, err
}
func (f *floorTool) openNS(t floor.Topo, i int) (vnetns.NsHandle, error) {
	return netns.Open(t.NodeNS(i))
}
func (f *floorTool) all(t floor.Topo) ([]vnetns.NsHandle, error) { return openNamed(t.Names()) }
func (f *floorTool) down(ctx context.Context, t floor.Topo) error {
	_, _, err := run(ctx, nil, f.bin, "down", t.Kind, strconv.Itoa(t.N), t.Prefix)
	return err
}

// batchTool is iproute2's `ip -batch`: one root batch, one switch batch
// (star), one `ip -n NS -batch` per namespace; files generated untimed.
type batchTool struct {
	dir string
}

func (b *batchTool) name() string               { return "batch" }
func (b *batchTool) supports(t floor.Topo) bool { return t.N <= 1000 }
func (b *batchTool) prepare(_ context.Context, t floor.Topo) error {
	root, sw, per := batchFiles(t)
	if err := os.WriteFile(filepath.Join(b.dir, "root.batch"), []byte(root), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.dir, "sw.batch"), []byte(sw), 0o644); err != nil {
		return err
	}
	for i, p := range per {
		if err := os.WriteFile(filepath.Join(b.dir, fmt.Sprintf("ns%d.batch", i)), []byte(p), 0o644); err != nil {
			return err
		}
	}
	return writeDelBatch(filepath.Join(b.dir, "down.batch"), t)
}

// writeDelBatch writes an `ip -batch` file that removes t's namespaces
// (`netns del NAME` each), the teardown of the batch tool and the ipdel
// diagnostics.
func writeDelBatch(path string, t floor.Topo) error {
	var d strings.Builder
	for _, n := range t.Names() {
		fmt.Fprintf(&d, "netns del %s\n", n)
	}
	return os.WriteFile(path, []byte(d.String()), 0o644)
}
func (b *batchTool) up(ctx context.Context, t floor.Topo) (upStats, error) {
	t0 := time.Now()
	if _, _, err := run(ctx, nil, "ip", "-batch", filepath.Join(b.dir, "root.batch")); err != nil {
		return upStats{}, err
	}
	t1 := time.Now()
	if t.Kind == "star" {
		if _, _, err := run(ctx, nil, "ip", "-n", t.Prefix+"sw", "-batch", filepath.Join(b.dir, "sw.batch")); err != nil {
			return upStats{}, err
		}
	}
	t2 := time.Now()
	for i := range t.N {
		if _, _, err := run(ctx, nil, "ip", "-n", t.NodeNS(i), "-batch", filepath.Join(b.dir, fmt.Sprintf("ns%d.batch", i))); err != nil {
			return upStats{}, err
		}
	}
	return upStats{phases: fmt.Sprintf("root %.3f switch %.3f per-ns %.3f", t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), time.Since(t2).Seconds())}, nil
}
func (b *batchTool) openNS(t floor.Topo, i int) (vnetns.NsHandle, error) {
	return netns.Open(t.NodeNS(i))
}
func (b *batchTool) all(t floor.Topo) ([]vnetns.NsHandle, error) { return openNamed(t.Names()) }
func (b *batchTool) down(ctx context.Context, t floor.Topo) error {
	_, _, err := run(ctx, nil, "ip", "-batch", filepath.Join(b.dir, "down.batch"))
	return err
}

// mininetTool drives Debian's Mininet (LinuxBridge, no controller; the line is
// hosts joined by links, configured with one r.cmd() each) through
// a Python process started (and importing Mininet) before the timer.
type mininetTool struct {
	dir string

	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	pids []int
}

func (m *mininetTool) name() string { return "mininet" }
func (m *mininetTool) supports(t floor.Topo) bool {
	return (t.Kind == "star" || t.Kind == "line") && t.N <= 1000
}
func (m *mininetTool) prepare(ctx context.Context, t floor.Topo) error {
	script := filepath.Join(m.dir, "mn.py")
	if err := os.WriteFile(script, []byte(mininetScript), 0o644); err != nil {
		return err
	}
	args := []string{script, t.Kind, strconv.Itoa(t.N)}
	if t.Kind == "line" {
		b, err := json.Marshal(mininetLineConfig(t.N))
		if err != nil {
			return err
		}
		cfg := filepath.Join(m.dir, "mn_line.json")
		if err := os.WriteFile(cfg, b, 0o644); err != nil {
			return err
		}
		args = append(args, cfg)
	}
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mininet script: %w", err)
	}
	m.cmd, m.in, m.out = cmd, in, bufio.NewReaderSize(outp, 1<<20)
	if _, err := m.expect("ready"); err != nil {
		m.abort()
		return err
	}
	return nil
}

func (m *mininetTool) expect(word string) ([]string, error) {
	line, err := m.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("mininet script: %w (see its errors above)", err)
	}
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != word {
		return nil, fmt.Errorf("mininet script: want %q, got %q", word, strings.TrimSpace(line))
	}
	return f[1:], nil
}

// abort ends the script: EOF on stdin makes it stop its network.
func (m *mininetTool) abort() {
	if m.cmd == nil {
		return
	}
	m.in.Close()
	m.cmd.Wait()
	m.cmd = nil
}

func (m *mininetTool) up(ctx context.Context, t floor.Topo) (upStats, error) {
	if _, err := io.WriteString(m.in, "up\n"); err != nil {
		return upStats{}, err
	}
	f, err := m.expect("up")
	if err != nil {
		return upStats{}, err
	}
	m.pids = m.pids[:0]
	for _, s := range f {
		p, err := strconv.Atoi(s)
		if err != nil {
			return upStats{}, fmt.Errorf("mininet script: bad pid %q", s)
		}
		m.pids = append(m.pids, p)
	}
	if len(m.pids) != t.N {
		return upStats{}, fmt.Errorf("mininet script: %d hosts, want %d", len(m.pids), t.N)
	}
	return upStats{}, nil
}
func (m *mininetTool) openNS(t floor.Topo, i int) (vnetns.NsHandle, error) {
	return netns.OpenPath(fmt.Sprintf("/proc/%d/ns/net", m.pids[i]))
}
func (m *mininetTool) all(t floor.Topo) ([]vnetns.NsHandle, error) {
	var hs []vnetns.NsHandle
	for i := range m.pids {
		h, err := m.openNS(t, i)
		if err != nil {
			for _, x := range hs {
				x.Close()
			}
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}
func (m *mininetTool) down(ctx context.Context, t floor.Topo) error {
	if _, err := io.WriteString(m.in, "down\n"); err != nil {
		return err
	}
	_, err := m.expect("down")
	m.abort()
	return err
}

// floorHoldTool builds the lab with the floor program and removes it with
// `floor -hold down`, which holds every namespace open until all names are
// gone, as nslab's down does: a diagnostic that separates the effect of that
// method from the rest of nslab. Only run when named (-tools floor-hold).
type floorHoldTool struct{ floorTool }

func (f *floorHoldTool) name() string { return "floor-hold" }
func (f *floorHoldTool) down(ctx context.Context, t floor.Topo) error {
	_, _, err := run(ctx, nil, f.bin, "-hold", "down", t.Kind, strconv.Itoa(t.N), t.Prefix)
	return err
}

// floorV6SysctlTool is the floor with IPv6 disabled in each node by a sysctl
// write, as before 2026-12-03 (now addrgenmode none on its links): a
// diagnostic. Only run when named (-tools floor-v6sysctl).
type floorV6SysctlTool struct{ floorTool }

func (f *floorV6SysctlTool) name() string { return "floor-v6sysctl" }
func (f *floorV6SysctlTool) up(ctx context.Context, t floor.Topo) (upStats, error) {
	out, rss, err := run(ctx, nil, f.bin, "-v6sysctl", "up", t.Kind, strconv.Itoa(t.N), t.Prefix)
	return upStats{maxRSS: rss, phases: strings.TrimSpace(string(out))}, err
}

// floorIPDelTool builds the lab with the floor program and removes it with
// `ip -batch` of `netns del` (the batch tool's teardown): a diagnostic that
// separates the cost of the teardown method from that of the lab's contents.
// Only run when named (-tools floor-ipdel).
type floorIPDelTool struct {
	floorTool
	dir string
}

func (f *floorIPDelTool) name() string { return "floor-ipdel" }
func (f *floorIPDelTool) prepare(_ context.Context, t floor.Topo) error {
	return writeDelBatch(filepath.Join(f.dir, "floor-down.batch"), t)
}
func (f *floorIPDelTool) down(ctx context.Context, t floor.Topo) error {
	_, _, err := run(ctx, nil, "ip", "-batch", filepath.Join(f.dir, "floor-down.batch"))
	return err
}

// nslabIPDelTool builds the lab with nslab and removes its names with
// `ip -batch` of `netns del`, then drops the lab's state (untimed work of
// well under a millisecond): a diagnostic that separates what the kernel
// spends freeing nslab's lab from what nslab's down command adds. Only run
// when named (-tools nslab-ipdel).
type nslabIPDelTool struct {
	nslabTool
}

func (n *nslabIPDelTool) name() string { return "nslab-ipdel" }
func (n *nslabIPDelTool) batch(t floor.Topo) string {
	return filepath.Join(n.dir, labName(t.Kind)+"-down.batch")
}
func (n *nslabIPDelTool) prepare(ctx context.Context, t floor.Topo) error {
	if err := n.nslabTool.prepare(ctx, t); err != nil {
		return err
	}
	return writeDelBatch(n.batch(t), t)
}
func (n *nslabIPDelTool) down(ctx context.Context, t floor.Topo) error {
	if _, _, err := run(ctx, nil, "ip", "-batch", n.batch(t)); err != nil {
		return err
	}
	// Every name is gone: what is left is the lab's state and lock.
	os.RemoveAll(filepath.Join("/run/nslab", labName(t.Kind)))
	os.Remove(filepath.Join("/run/nslab/.locks", labName(t.Kind)+".lock"))
	return nil
}

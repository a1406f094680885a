package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nslab/nslab/internal/fdtab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nsexec"
)

// Options tune Up and Down. The zero value is the default.
type Options struct {
	// DryRun makes Up compute and return the plan without changing anything.
	DryRun bool
	// Progress, if set, receives progress reports.
	Progress Progress
	// Waiting, if set, is called once when another nslab holds the lab's
	// lock and this call waits for it.
	Waiting func()
	// NoWait makes Down return once the names are gone, without waiting for
	// the kernel to free the namespaces.
	NoWait bool
	// Log, if set, receives notes (plain lines) worth showing a user.
	Log func(string)
	// OnPlan, if set, is called with Up's plan before it is applied.
	OnPlan func(*Plan)
	// All makes Cleanup take down every lab on the machine, running ones
	// too (like `mn -c`), not only what crashed or killed runs left.
	All bool
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, args...))
	}
}

// Result is what Up did.
type Result struct {
	Plan  *Plan
	Model *Model
	// Failed lists the run commands that exited within a moment of their
	// start, with their log files.
	Failed []ProcFailure
}

// ProcFailure is a node's run command that failed to start or exited at once.
type ProcFailure struct {
	Node string
	Argv []string
	Log  string
	Err  error
}

func (f ProcFailure) Error() string {
	return fmt.Sprintf("node %q: run %q: %v (log: %s)", f.Node, strings.Join(f.Argv, " "), f.Err, f.Log)
}

// Up brings the lab described by spec up, or, when it runs already, applies
// only the difference between its running model and spec: nodes that do not
// change keep their namespace and their processes. A first Up that fails
// removes everything it made. An Up whose predecessor was interrupted
// (killed) rebuilds the lab from scratch.
func Up(ctx context.Context, spec *topo.Spec, o Options) (*Result, error) {
	want, err := NewModel(spec)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(spec.File); err == nil && spec.File != "" && spec.File != DemoFile {
		want.File = abs
	}
	unlock, err := lock(ctx, spec.Name, o.Waiting)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := loadState(spec.Name)
	if err != nil {
		return nil, err
	}
	if st != nil && (st.Dirty || st.Model == nil) {
		o.logf("lab %s: the last change was interrupted; removing what it left and building again", spec.Name)
		if o.DryRun {
			p := NewPlan(nil, want)
			if o.OnPlan != nil {
				o.OnPlan(p)
			}
			return &Result{Plan: p, Model: want}, nil
		}
		if err := down(ctx, st, o); err != nil {
			return nil, err
		}
		st = nil
	}
	var old *Model
	var lost map[string]bool
	if st != nil {
		old = st.Model
		if lost, err = lostNodes(st); err != nil {
			return nil, err
		}
	}
	plan := newPlan(old, want, lost)
	res := &Result{Plan: plan, Model: want}
	if o.OnPlan != nil {
		o.OnPlan(plan)
	}
	if o.DryRun || plan.Empty() {
		return res, nil
	}
	if st == nil {
		if err := preflight(want); err != nil {
			return nil, err
		}
		st = &State{Version: stateVersion, Lab: spec.Name, Owned: map[string]uint64{}, Created: time.Now().UTC()}
	}
	if err := checkImpairs(plan); err != nil {
		return res, err
	}
	st.File = want.File
	if plan.Fresh {
		os.Remove(EventsPath(spec.Name)) // a new lab, a new event history
	}
	failed, err := apply(ctx, st, plan, want, o)
	res.Failed = failed
	if err != nil && plan.Fresh {
		// Nothing half-made: a first up that failed removes its work.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := down(cctx, st, Options{NoWait: false}); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", derr))
		}
		return res, err
	}
	if err == nil {
		evs := planEvents(plan)
		kind := "lab-changed"
		if plan.Fresh {
			kind = "lab-up"
		}
		appendEvents(spec.Name, append([]Event{{Kind: kind, Detail: fmt.Sprintf("%d nodes, %d links", len(want.Nodes), len(want.Links))}}, evs...))
	}
	if err != nil {
		return res, fmt.Errorf("%w\nthe lab is partly changed: run 'nslab up' again (it rebuilds the lab) or 'nslab down %s'", err, spec.Name)
	}
	return res, nil
}

// lostNodes returns the nodes of the running lab st whose namespace is gone
// (a user's `ip netns del`, say), which up then makes again with their
// links. A name that now holds another namespace is an error: up never
// touches what is not the lab's. One stat per node: ~3 ms for 1000.
func lostNodes(st *State) (map[string]bool, error) {
	var lost map[string]bool
	var errs []error
	for _, n := range st.Model.sortedNodes() {
		ino := st.Owned[n.NS]
		if ino == 0 {
			continue // not recorded (an old state): ownership by mark, not checked here
		}
		var sb syscall.Stat_t
		err := syscall.Stat(netns.Path(n.NS), &sb)
		switch {
		case err == nil && sb.Ino == ino:
			continue
		case err == nil && netns.Exists(n.NS):
			errs = append(errs, fmt.Errorf("lab %q: %s %q: netns %q is another namespace now, not the lab's: remove it (nslab netns del %s) and run up again, or take the lab down", st.Lab, kind(n), n.Name, n.NS, n.NS))
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("lab %q: %s %q: netns %q: %w", st.Lab, kind(n), n.Name, n.NS, err)
		}
		// Gone, or a plain file left where it was mounted.
		if lost == nil {
			lost = map[string]bool{}
		}
		lost[n.Name] = true
	}
	return lost, errors.Join(errs...)
}

// preflight checks, before a first up creates anything, that no name the
// lab needs is taken by something else.
func preflight(m *Model) error {
	var errs []error
	for _, n := range m.sortedNodes() {
		if _, err := os.Lstat(netns.Path(n.NS)); err == nil {
			errs = append(errs, fmt.Errorf("%s %q: netns %q exists already and is not this lab's: remove it or rename the lab", kind(n), n.Name, n.NS))
		}
	}
	root, err := newSession(m.Name, nil)
	if err != nil {
		return err
	}
	defer root.close()
	for _, name := range slicesSorted(m.Host.Ifs) {
		if _, err := netdev.Get(root.root, name); err == nil {
			errs = append(errs, fmt.Errorf("host interface %q exists already in the root namespace: pick another name", name))
		}
	}
	for _, n := range m.sortedNodes() {
		if n.HostDev != "" {
			if _, err := netdev.Get(root.root, n.HostDev); err != nil {
				errs = append(errs, fmt.Errorf("switch %q: host device %q: %w", n.Name, n.HostDev, err))
			}
		}
	}
	return errors.Join(errs...)
}

func apply(ctx context.Context, st *State, p *Plan, want *Model, o Options) ([]ProcFailure, error) {
	s, err := newSession(st.Lab, o.Progress)
	if err != nil {
		return nil, err
	}
	defer s.close()
	// Each namespace the apply touches keeps a descriptor and a netlink
	// socket open (session.get): the table of open files grows once, ahead,
	// instead of doubling on the workers' way (fdtab).
	if n := 2*(len(p.AddNodes)+len(p.Configs)) + 64; n > 128 {
		go fdtab.Grow(n)
	}
	st.encodeAhead(want) // saved at the end
	defer st.waitAhead()
	// The ownership record comes first: whatever happens next, down and
	// cleanup know what may exist.
	st.Dirty = true
	for _, n := range p.AddNodes {
		if _, ok := st.Owned[n.NS]; !ok {
			st.Owned[n.NS] = 0
		}
	}
	for name := range want.Host.Ifs {
		if !slices.Contains(st.RootLinks, name) {
			st.RootLinks = append(st.RootLinks, name)
		}
	}
	if err := st.save(); err != nil {
		return nil, err
	}
	s.step()

	// Processes of removed nodes and of nodes whose commands change stop first.
	for _, n := range p.DelNodes {
		stopProcs(st.Procs[n.Name])
		delete(st.Procs, n.Name)
	}
	for _, c := range p.Configs {
		if c.Restart {
			stopProcs(st.Procs[c.Node.Name])
			delete(st.Procs, c.Node.Name)
		}
	}
	for _, l := range p.DelLinks {
		n, err := s.get(l.Ends[0].NS)
		if err != nil {
			return nil, err
		}
		if err := netdev.Delete(n.h, l.Ends[0].If); err != nil && !errors.Is(err, netdev.ErrNotFound) {
			return nil, fmt.Errorf("link %s: %w", l, err)
		}
		if l.Ends[0].NS == "" {
			p.RootEndsGone = append(p.RootEndsGone, l.Ends[0].If)
		}
		if l.Ends[1].NS == "" {
			p.RootEndsGone = append(p.RootEndsGone, l.Ends[1].If)
		}
		s.step()
	}
	if err := s.deletePorts(p.PeerEndsGone); err != nil {
		return nil, err
	}
	for _, e := range p.StaleEnds {
		n, err := s.get(e.NS)
		if err != nil {
			return nil, err
		}
		if err := netdev.Delete(n.h, e.If); err != nil && !errors.Is(err, netdev.ErrNotFound) {
			return nil, fmt.Errorf("lab %q: interface %s of %s, left by a namespace that vanished: %w", st.Lab, e.If, e.Node, err)
		}
	}
	for _, n := range p.DelNodes {
		// A namespace that vanished gives its host device back when the
		// kernel frees it.
		if n.HostDev != "" && netns.Exists(n.NS) {
			if err := s.returnHostDev(n); err != nil {
				return nil, err
			}
		}
		s.forget(n.NS)
		if err := deleteOwned(n.NS, st.Owned[n.NS], st.Lab); err != nil {
			return nil, err
		}
		delete(st.Owned, n.NS)
		s.step()
	}
	if err := s.waitLinksGone(ctx, p.RootEndsGone); err != nil {
		return nil, err
	}
	if err := s.waitReused(ctx, p.PeerEndsGone, p.AddLinks); err != nil {
		return nil, err
	}
	var j *journal
	saved := false // the final save: the state on disk has every inode
	if len(p.AddNodes) > 0 {
		raiseNeighLimits(len(want.Nodes), o.logf)
		if j, err = openJournal(st.Lab); err != nil {
			return nil, err
		}
		// Until the final save, the journal is what records the new
		// namespaces' inodes; the state is not saved in between (a save
		// was 0.5-2 ms at 1000 nodes, a one-node change's whole work ~10).
		defer func() { j.close(saved) }()
	}
	s.quiet = quietSwitches(p, want)
	var inoMu sync.Mutex
	err = s.createNodes(ctx, p.AddNodes, workers(), j, func(n *NodeModel, ino uint64) {
		inoMu.Lock()
		st.Owned[n.NS] = ino
		inoMu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	for _, n := range p.AddNodes {
		if n.HostDev != "" {
			if err := s.moveHostDev(n); err != nil {
				return nil, err
			}
		}
	}
	// Links one at a time on this goroutine: the kernel creates them one at
	// a time under its RTNL lock anyway, and a second worker only added
	// lock handoffs (star 1000: 0.69-0.76 s with two, 0.51-0.60 s with one).
	if err := parallel(ctx, s, "links", p.AddLinks, 1, s.addLink); err != nil {
		return nil, err
	}
	if err := parallel(ctx, s, "config", p.Configs, workers()*2, s.configure); err != nil {
		return nil, err
	}
	if err := parallel(ctx, s, "impair", p.Impairs, workers(), s.impair); err != nil {
		return nil, err
	}
	if err := s.endQuiet(); err != nil {
		return nil, err
	}
	var fwNodes []string
	for _, c := range p.Configs {
		if c.Firewall {
			fwNodes = append(fwNodes, c.Node.Name)
		}
	}
	if len(fwNodes) > 0 {
		prev := st.Model
		st.Model = want // policies and partitions as wanted now
		err := s.applyFirewalls(st, fwNodes)
		st.Model = prev
		if err != nil {
			return nil, err
		}
	}
	var failed []ProcFailure
	if st.Procs == nil {
		st.Procs = map[string][]Proc{}
	}
	for _, c := range p.Configs {
		if c.Restart && len(c.Node.Run) > 0 {
			procs, f := startProcs(st.Lab, c.Node)
			st.Procs[c.Node.Name] = procs
			failed = append(failed, f...)
		}
	}
	failed = append(failed, watchProcs(st.Procs, 300*time.Millisecond)...)
	st.Model = want
	st.Dirty = false
	wantNS := map[string]bool{}
	for _, n := range want.Nodes {
		wantNS[n.NS] = true
	}
	for ns := range st.Owned {
		if !wantNS[ns] {
			delete(st.Owned, ns)
		}
	}
	st.RootLinks = slicesSorted(want.Host.Ifs)
	if err := st.save(); err != nil {
		return failed, err
	}
	saved = true
	return failed, nil
}

// deleteOwned removes the name of a namespace if it is the lab's: its inode
// is the recorded one, or (inode not yet recorded) it carries the lab's
// mark. A plain file left by an interrupted create is removed too.
func deleteOwned(name string, ino uint64, lab string) error {
	st, err := os.Lstat(netns.Path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !netns.Exists(name) {
		// A plain file: an add interrupted between creating the name and
		// mounting the namespace on it.
		if st.Mode().IsRegular() && st.Size() == 0 {
			return os.Remove(netns.Path(name))
		}
		return nil
	}
	if !owned(name, ino, lab) {
		return nil
	}
	if err := netns.Delete(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func owned(name string, ino uint64, lab string) bool {
	var st syscall.Stat_t
	return syscall.Stat(netns.Path(name), &st) == nil && ownedAs(st.Ino, name, ino, lab)
}

// ownedHandle is owned for the namespace h, opened from the name.
func ownedHandle(h netns.Handle, name string, ino uint64, lab string) bool {
	var st syscall.Stat_t
	return syscall.Fstat(int(h), &st) == nil && ownedAs(st.Ino, name, ino, lab)
}

// ownedAs reports whether the namespace named name, whose inode is have, is
// the lab's: it has the inode recorded when the lab made it or, with none
// recorded, the lab's mark on its lo.
func ownedAs(have uint64, name string, ino uint64, lab string) bool {
	if ino != 0 {
		return have == ino
	}
	return markOf(name) == Mark(lab)
}

// markOf returns the alias of lo in the named namespace.
func markOf(name string) string {
	s, err := newSession("", nil)
	if err != nil {
		return ""
	}
	defer s.close()
	n, err := s.get(name)
	if err != nil {
		return ""
	}
	lo, err := n.h.LinkByIndex(1)
	if err != nil {
		return ""
	}
	return lo.Attrs().Alias
}

func slicesSorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Down removes a lab: its processes, its namespaces (and with them every
// veth and bridge) and its state. By default it returns once the kernel has
// freed the namespaces, so that every name can be reused at once.
func Down(ctx context.Context, lab string, o Options) error {
	unlock, err := lock(ctx, lab, o.Waiting)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadStateForDown(lab)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	// down holds every namespace open (see pinSet): the table of open files
	// grows now, once, while the session starts and processes stop.
	go fdtab.Grow(len(st.Owned) + 64)
	return down(ctx, st, o)
}

// ErrNoLab is returned for a lab that does not run on this machine.
var ErrNoLab = errors.New("no such lab")

// ErrNoNode is returned for a node or switch a running lab does not have.
var ErrNoNode = errors.New("no node or switch")

func down(ctx context.Context, st *State, o Options) error {
	s, err := newSession(st.Lab, o.Progress)
	if err != nil {
		return err
	}
	defer s.close()
	// Marked dirty, a down that is killed half-way is debris for cleanup.
	interrupted := st.Dirty // an up or a down did not finish
	if !st.Dirty {
		st.Dirty = true
		if err := st.save(); err != nil {
			return err
		}
	}
	for _, ps := range st.Procs {
		stopProcs(ps)
	}
	st.Procs = nil
	if interrupted || st.Model == nil || st.Model.hasRun() {
		stopMarked(st.Lab) // processes a crash kept from being recorded
	}
	if st.Model != nil {
		for _, n := range st.Model.sortedNodes() {
			if n.HostDev != "" && netns.Exists(n.NS) && owned(n.NS, st.Owned[n.NS], st.Lab) {
				if err := s.returnHostDev(n); err != nil {
					o.logf("%v", err)
				}
			}
		}
	}
	names := slicesSorted(st.Owned)
	d, err := netns.NewDeleter()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		names = nil // no /run/netns: no name is left to remove
	case err != nil:
		return err
	default:
		defer d.Close()
	}
	bridgesDown := s.downBigBridges(st)
	var w *freeWaiter
	if !o.NoWait {
		w, err = newFreeWaiter(s)
		if err != nil {
			o.logf("not waiting for the kernel to free the namespaces: %v", err)
		}
	}
	var (
		mu      sync.Mutex
		errs    []error
		deleted []string
		pins    = newPinSet()
	)
	// One at a time: with the namespaces pinned, the unmounts' grace
	// periods are short when the other CPU is idle, and a second worker
	// made the loop slower, not faster. A failure does not stop the
	// others, and neither does an interrupt: down finishes what it started.
	parallel(context.WithoutCancel(ctx), s, "delete", names, 1, func(name string) error {
		h, ino, err := d.Open(name)
		if err != nil {
			deleteOwned(name, st.Owned[name], st.Lab) // a stale plain file, if any
			return nil
		}
		if !ownedAs(ino, name, st.Owned[name], st.Lab) {
			h.Close()
			o.logf("netns %s is not this lab's (its identity changed): left alone", name)
			return nil
		}
		if w != nil {
			w.watchHandle(h)
		}
		pins.hold(h)
		err = d.Delete(name)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		} else {
			deleted = append(deleted, name)
		}
		return nil
	})
	// Every name is gone: let go of the namespaces together, so that the
	// kernel frees them in one batch. (Handles pin their namespaces too.)
	bridgesDown()
	pins.release()
	s.forgetAll()
	if err := errors.Join(errs...); err != nil {
		st.save()
		return err
	}
	if err := removeState(st.Lab); err != nil {
		return err
	}
	appendEvents(st.Lab, []Event{{Kind: "lab-down", Detail: fmt.Sprintf("%d namespaces removed", len(deleted))}})
	os.Remove(lockPath(st.Lab)) // still held: see lock
	if w != nil {
		s.report("free", 0, len(deleted))
		if err := w.wait(ctx, 60*time.Second); err != nil {
			return fmt.Errorf("lab %q: %w", st.Lab, err)
		}
		s.report("free", len(deleted), len(deleted))
	}
	return s.waitLinksGone(ctx, st.RootLinks)
}

// Exec runs argv in a node of a running lab like `ip netns exec`, replacing
// the calling process; it returns only on failure.
func Exec(lab, node string, argv []string) error {
	t, err := target(lab, node)
	if err != nil {
		return err
	}
	return nsexec.Exec(t, argv, os.Environ())
}

// Command returns a command that runs argv in a node of a running lab.
func Command(ctx context.Context, lab, node string, argv ...string) (*exec.Cmd, error) {
	t, err := target(lab, node)
	if err != nil {
		return nil, err
	}
	return nsexec.Command(ctx, t, argv...), nil
}

func target(lab, node string) (nsexec.Target, error) {
	// Fast path: a lab's namespaces are named <lab>-<node>; with the lab's
	// state present, there is no need to decode it (a big lab's state is
	// large, and exec should start as fast as ip netns exec).
	if _, err := os.Stat(statePath(lab)); err == nil && node != "" {
		if t, err := nsexec.Named(lab + "-" + node); err == nil {
			return t, nil
		}
	}
	st, err := loadState(lab)
	if err != nil {
		return nsexec.Target{}, err
	}
	if st == nil || st.Model == nil {
		return nsexec.Target{}, fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	n := st.Model.Nodes[node]
	if n == nil {
		return nsexec.Target{}, fmt.Errorf("lab %q: %w %q (nodes and switches: %s)", lab, ErrNoNode, node, strings.Join(slicesSorted(st.Model.Nodes), ", "))
	}
	return nsexec.Named(n.NS)
}

func nodeNames(m *Model) []string {
	var out []string
	for _, n := range m.sortedNodes() {
		if !n.Switch {
			out = append(out, n.Name)
		}
	}
	return out
}

func (m *Model) hasRun() bool {
	for _, n := range m.Nodes {
		if len(n.Run) > 0 {
			return true
		}
	}
	return false
}

// bigBridgePorts is the number of ports from which a switch's bridge is
// built with multicast snooping off until its ports are up (quietSwitches)
// and brought down before its namespace goes (downBigBridges): below it, the
// quadratic steps these avoid cost less than the requests.
const bigBridgePorts = 32

// bigBridges maps the namespace of each switch with at least bigBridgePorts
// ports to its bridge.
func (m *Model) bigBridges() map[string]string {
	ports := map[EndModel]int{}
	for _, l := range m.Links {
		for _, e := range l.Ends {
			if e.Master != "" && e.NS != "" {
				ports[EndModel{NS: e.NS, Master: e.Master}]++
			}
		}
	}
	var out map[string]string
	for e, n := range ports {
		if n >= bigBridgePorts {
			if out == nil {
				out = map[string]string{}
			}
			out[e.NS] = e.Master
		}
	}
	return out
}

// downBigBridges brings down the bridges of st's switches with many ports,
// before down drops the namespaces. Left up, a bridge makes the kernel's
// teardown quadratic: each port it removes re-runs the bridge's port state
// selection over every other port that is still enabled, re-arming each one's
// multicast snooping timers. A bridge that is down has disabled all its ports
// at once, and the teardown skips them: a 1000-host star is freed 10-15 %
// sooner, for one request (see bench/PROFILE.md, "Seventh pass"). It is only
// a shortcut: a namespace that cannot be opened or is not the lab's is left
// to the delete loop, and a failure changes nothing but the time.
//
// The changes run on a goroutine of their own while down removes the names
// (~50 ms for a bridge of 1000 ports, under the kernel's RTNL lock); the
// switches' namespaces are held, by a descriptor here and then by the delete
// loop's pins, until the release after wait has returned. Nothing else may
// hold them then: a namespace let go of after the release is freed in a
// batch of its own (see pinSet), which is why the bridge is not brought down
// through netlink (see netdev.SetDownIn).
func (s *session) downBigBridges(st *State) (wait func()) {
	type bridge struct {
		name string
		ns   netns.Handle
	}
	var todo []bridge
	for _, name := range slicesSorted(st.BigBridges) {
		ns, err := netns.Open(name)
		if err != nil {
			continue
		}
		if ownedHandle(ns, name, st.Owned[name], st.Lab) {
			todo = append(todo, bridge{name, ns})
		} else {
			ns.Close()
		}
	}
	if len(todo) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range todo {
			// Not through netlink: see netdev.SetDownIn. A failure costs
			// time only.
			netdev.SetDownIn(b.ns, st.BigBridges[b.name])
			b.ns.Close() // the delete loop pins the namespace itself
		}
	}()
	return func() { <-done }
}

// downNeedsModel reports whether down needs the model: to give host
// devices back, or to look for processes of run commands.
func (m *Model) downNeedsModel() bool {
	for _, n := range m.Nodes {
		if n.HostDev != "" || len(n.Run) > 0 {
			return true
		}
	}
	return false
}

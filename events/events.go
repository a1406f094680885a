// Package events follows what happens to running labs, like `ip monitor`
// in every namespace of a lab at once plus nslab's own log of its actions.
//
// Two sources are merged into one stream of Event values:
//
//   - "kernel": rtnetlink notifications (link, IPv4/IPv6 address and route
//     multicast groups) from one netlink socket per lab namespace. The socket
//     is created inside the namespace (internal/nsthread) and then read from
//     an ordinary goroutine, so no thread stays in a lab namespace.
//   - "nslab": the actions nslab took (lab up and down, nodes and links
//     created or removed, faults), which the lab engine appends to
//     lab.EventsPath(lab), followed here like `tail -F`.
//
// Namespaces that a later `nslab up` adds to a lab are picked up (the
// /run/netns directory is watched), and processes started from a node's run
// list are watched for their exit. Stream calls its callback from a single
// goroutine, so the callback needs no locking.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netns"
)

// Sources of events.
const (
	SourceKernel = "kernel"
	SourceNslab  = "nslab"
)

// An Event is one thing that happened to a lab. Encoded as JSON it is one
// object with the keys time, lab, source, kind, node, if and detail; new
// keys may be added, existing ones never change.
type Event struct {
	Time   time.Time `json:"time"`
	Lab    string    `json:"lab"`
	Source string    `json:"source"` // SourceKernel or SourceNslab
	// Kind is, for the kernel: link-created, link-removed, link-up,
	// link-down (administrative state), carrier-up, carrier-down,
	// address-added, address-removed, route-added, route-removed,
	// process-exited; for nslab: the kind the engine logged (lab-up,
	// lab-down, node-created, link-down, impairment, partition, heal...).
	Kind   string `json:"kind"`
	Node   string `json:"node"`
	If     string `json:"if"`
	Detail string `json:"detail"`
}

// String formats e as one readable line:
// "15:04:05.000 demo kernel link-down r1:eth0 admin down".
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Time.Local().Format("15:04:05.000"))
	b.WriteString(" " + e.Lab + " " + e.Source + " " + e.Kind)
	switch {
	case e.Node != "" && e.If != "":
		b.WriteString(" " + e.Node + ":" + e.If)
	case e.Node != "":
		b.WriteString(" " + e.Node)
	}
	if e.Detail != "" {
		b.WriteString(" " + e.Detail)
	}
	return b.String()
}

// Options tune Stream. The zero value follows every lab.
type Options struct {
	// Lab, if set, follows only this lab; it need not run yet.
	Lab string
	// Ready, if set, is called once, when the namespaces of the labs that
	// run at the start are subscribed to and their action logs are open:
	// from then on nothing is missed.
	Ready func()
	// Errors, if set, receives problems that do not stop the stream (a
	// namespace that vanished before it could be subscribed to, a netlink
	// receive error). They are dropped otherwise.
	Errors func(error)
	// Interval is how often labs, their namespaces and action logs are
	// looked at again; 0 means 250ms.
	Interval time.Duration
}

// Stream calls fn for every event of the followed labs until ctx is done,
// then returns nil. It returns an error only when it cannot start (no
// permission to open netlink sockets in the namespaces, or /run/netns cannot
// be watched). fn is called from one goroutine at a time, in the order the
// events were received per source.
func Stream(ctx context.Context, o Options, fn func(Event)) error {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &streamer{
		o:    o,
		out:  make(chan Event, 1024),
		labs: map[string]*labFollower{},
		poke: make(chan struct{}, 1),
	}
	monErr := make(chan error, 1)
	go func() {
		monErr <- netns.Monitor(ctx, func(netns.Event) {
			select {
			case s.poke <- struct{}{}:
			default:
			}
		})
	}()
	if err := s.scan(ctx, true); err != nil {
		s.closeAll()
		return err
	}
	if o.Ready != nil {
		o.Ready()
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	defer s.closeAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-s.out:
			fn(e)
		case err := <-monErr:
			if err != nil {
				s.report(err)
			}
			monErr = nil
		case <-s.poke:
			s.scan(ctx, false)
		case <-tick.C:
			s.scan(ctx, false)
		}
	}
}

type streamer struct {
	o    Options
	out  chan Event
	poke chan struct{}
	labs map[string]*labFollower
	wg   sync.WaitGroup
}

func (s *streamer) report(err error) {
	if s.o.Errors != nil && err != nil {
		s.o.Errors(err)
	}
}

// emit hands e to the stream unless ctx is done.
func (s *streamer) emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	select {
	case s.out <- e:
	case <-ctx.Done():
	}
}

// labFollower is the state kept for one followed lab.
type labFollower struct {
	name   string
	log    *tail
	nsSubs map[string]*nsWatch // by namespace name
	procs  map[int]context.CancelFunc
	stamp  time.Time // state file's modification time at the last process scan
}

// scan brings the set of followed labs, namespaces and processes up to
// date. On the first scan, failure to subscribe to a namespace is an error.
func (s *streamer) scan(ctx context.Context, first bool) error {
	names := []string{s.o.Lab}
	if s.o.Lab == "" {
		var err error
		if names, err = lab.Labs(); err != nil {
			return fmt.Errorf("list labs: %w", err)
		}
		// Labs that are down but whose action log is followed stay, so
		// that their lab-down is seen.
		for n := range s.labs {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	var errs []error
	for _, name := range names {
		lf := s.labs[name]
		if lf == nil {
			lf = &labFollower{name: name, nsSubs: map[string]*nsWatch{}, procs: map[int]context.CancelFunc{}}
			lf.log = newTail(lab.EventsPath(name), !first)
			s.labs[name] = lf
		}
		for _, e := range lf.log.read(s.report) {
			e.Source = SourceNslab
			if e.Lab == "" {
				e.Lab = name
			}
			s.emit(ctx, e)
		}
		m, err := lab.LoadModel(name)
		if err != nil {
			if !errors.Is(err, lab.ErrNoLab) {
				s.report(err)
			}
			m = &lab.Model{}
		}
		want := map[string]string{} // namespace -> node
		for _, n := range m.Nodes {
			want[n.NS] = n.Name
		}
		for ns, w := range lf.nsSubs {
			if _, ok := want[ns]; !ok || !netns.Exists(ns) {
				w.stop()
				delete(lf.nsSubs, ns)
			}
		}
		for ns, node := range want {
			if _, ok := lf.nsSubs[ns]; ok || !netns.Exists(ns) {
				continue
			}
			w, err := s.watchNS(ctx, name, node, ns)
			if err != nil {
				err = fmt.Errorf("follow lab %q node %q: %w", name, node, err)
				if first {
					errs = append(errs, err)
				} else {
					s.report(err)
				}
				continue
			}
			lf.nsSubs[ns] = w
		}
		s.scanProcs(ctx, lf)
		if s.o.Lab == "" && len(want) == 0 && m.Name == "" && !lf.log.exists() {
			s.forget(name)
		}
	}
	return errors.Join(errs...)
}

func (s *streamer) forget(name string) {
	lf := s.labs[name]
	for _, w := range lf.nsSubs {
		w.stop()
	}
	for _, c := range lf.procs {
		c()
	}
	delete(s.labs, name)
}

func (s *streamer) closeAll() {
	for name := range s.labs {
		s.forget(name)
	}
	s.wg.Wait()
}

// tail follows a file of JSON lines that may not exist yet, may be removed
// and created again (a new first `nslab up` starts a new log), or
// truncated.
type tail struct {
	path string
	f    *os.File
	ino  uint64
	off  int64
	part []byte // an incomplete last line
	// fromStart says whether a file found for the first time is read from
	// its beginning (it appeared while following) or from its end.
	fromStart bool
}

func newTail(path string, fromStart bool) *tail {
	t := &tail{path: path, fromStart: fromStart}
	t.open()
	t.fromStart = true // any later file is new
	return t
}

func (t *tail) exists() bool { return t.f != nil }

func (t *tail) open() {
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return
	}
	t.f, t.ino, t.off, t.part = f, inode(fi), 0, nil
	if !t.fromStart {
		t.off = fi.Size()
	}
}

// read returns the complete lines added since the last read.
func (t *tail) read(report func(error)) []Event {
	if fi, err := os.Stat(t.path); err != nil || t.f == nil || inode(fi) != t.ino || fi.Size() < t.off {
		// Gone, replaced or truncated: read what is left of the old file
		// first, then start on the new one.
		var evs []Event
		if t.f != nil {
			evs = t.readMore(report)
			t.f.Close()
			t.f = nil
		}
		if err == nil {
			t.open()
			evs = append(evs, t.readMore(report)...)
		}
		return evs
	}
	return t.readMore(report)
}

func (t *tail) readMore(report func(error)) []Event {
	if t.f == nil {
		return nil
	}
	b, err := io.ReadAll(io.NewSectionReader(t.f, t.off, 1<<40))
	if err != nil {
		report(fmt.Errorf("read %s: %w", t.path, err))
	}
	t.off += int64(len(b))
	data := append(t.part, b...)
	last := strings.LastIndexByte(string(data), '\n')
	if last < 0 {
		t.part = data
		return nil
	}
	t.part = slices.Clone(data[last+1:])
	var evs []Event
	for line := range strings.SplitSeq(string(data[:last]), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := ParseLine([]byte(line))
		if err != nil {
			report(fmt.Errorf("%s: %w", t.path, err))
			continue
		}
		evs = append(evs, e)
	}
	return evs
}

// ParseLine decodes one line of a lab's action log (lab.EventsPath). The
// line must be a JSON object with a kind; unknown keys are ignored.
func ParseLine(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("bad event line %.60q: %w", line, err)
	}
	if e.Kind == "" {
		return Event{}, fmt.Errorf("bad event line %.60q: no kind", line)
	}
	return e, nil
}

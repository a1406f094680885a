package events_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nslab/nslab/events"
	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/nslabtest/labtest"
)

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

const pairLab = `
name: ev
nodes:
  a: {interfaces: {eth0: {addresses: [198.18.40.1/30]}}}
  b: {interfaces: {eth0: {addresses: [198.18.40.2/30]}}}
links:
  - endpoints: [a:eth0, b:eth0]
`

// collector gathers a stream's events for assertions.
type collector struct {
	mu  sync.Mutex
	evs []events.Event
	new chan struct{}
}

func (c *collector) add(e events.Event) {
	// Round-trip through JSON, as `nslab events --json` prints it.
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	var back events.Event
	if err := json.Unmarshal(b, &back); err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.evs = append(c.evs, back)
	c.mu.Unlock()
	select {
	case c.new <- struct{}{}:
	default:
	}
}

// wait returns the first event matching ok, failing after d.
func (c *collector) wait(t *testing.T, d time.Duration, what string, ok func(events.Event) bool) events.Event {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		for _, e := range c.evs {
			if ok(e) {
				c.mu.Unlock()
				return e
			}
		}
		all := append([]events.Event(nil), c.evs...)
		c.mu.Unlock()
		select {
		case <-c.new:
		case <-deadline:
			t.Fatalf("no %s event within %v; got %v", what, d, all)
		}
	}
}

// stream starts Stream for lab and waits until it is ready.
func stream(t *testing.T, name string) *collector {
	t.Helper()
	c := &collector{new: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- events.Stream(ctx, events.Options{Lab: name, Ready: func() { close(ready) },
			Errors: func(err error) { t.Logf("stream: %v", err) }}, c.add)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Stream: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Stream: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Stream not ready after 10s")
	}
	return c
}

func TestLinkDownFromKernel(t *testing.T) {
	spec := labtest.New(t, pairLab)
	c := stream(t, spec.Name)
	ns := spec.NetNSName("a")
	h, err := netns.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := nl.NewHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	if err := netdev.SetDown(nh, "eth0"); err != nil {
		t.Fatal(err)
	}
	e := c.wait(t, 5*time.Second, "link-down a:eth0", func(e events.Event) bool {
		return e.Source == events.SourceKernel && e.Kind == "link-down" && e.Node == "a" && e.If == "eth0"
	})
	if e.Lab != spec.Name || e.Time.IsZero() {
		t.Errorf("event %+v: want lab %s and a time", e, spec.Name)
	}
	// The peer loses its carrier: the kernel tells b's namespace too.
	c.wait(t, 5*time.Second, "carrier-down b:eth0", func(e events.Event) bool {
		return e.Kind == "carrier-down" && e.Node == "b" && e.If == "eth0"
	})
	// An address added with iproute2 (a different writer) shows up too.
	if out, err := exec.Command("ip", "-n", ns, "addr", "add", "198.18.41.1/24", "dev", "eth0").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	c.wait(t, 5*time.Second, "address-added", func(e events.Event) bool {
		return e.Kind == "address-added" && e.Node == "a" && e.If == "eth0" && e.Detail == "198.18.41.1/24"
	})
}

// TestActionLog checks that nslab's own actions, as the engine logs them,
// are merged into the stream with source "nslab".
func TestActionLog(t *testing.T) {
	spec := labtest.New(t, pairLab)
	c := stream(t, spec.Name)
	// The lab engine's fault commands append lines like this one.
	line := `{"time":"2026-01-02T03:04:05.123456789Z","lab":"` + spec.Name + `","kind":"partition","node":"a","detail":"a | b"}` + "\n"
	f, err := os.OpenFile(lab.EventsPath(spec.Name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// Written in two pieces: a half line must wait for its end.
	f.WriteString(line[:20])
	f.Sync()
	f.WriteString(line[20:])
	f.Close()
	e := c.wait(t, 5*time.Second, "partition", func(e events.Event) bool { return e.Kind == "partition" })
	want := events.Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Lab: spec.Name, Source: events.SourceNslab, Kind: "partition", Node: "a", Detail: "a | b"}
	if e != want {
		t.Errorf("event = %+v, want %+v", e, want)
	}
}

// TestNewNode checks that a node added to a running lab is followed.
func TestNewNode(t *testing.T) {
	spec := labtest.New(t, pairLab)
	c := stream(t, spec.Name)
	more := strings.Replace(pairLab, "nodes:\n", "nodes:\n  c: {interfaces: {eth0: {addresses: [198.18.40.5/30]}}}\n", 1) +
		"  - endpoints: [c:eth0, a:eth1]\n"
	spec2, err := topo.Parse([]byte(more), "more.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec2.Name = spec.Name
	labtest.Up(t, spec2)
	// nslab logs the new node...
	c.wait(t, 5*time.Second, "node-created c", func(e events.Event) bool {
		return e.Source == events.SourceNslab && e.Kind == "node-created" && e.Node == "c"
	})
	// ...and the new namespace is followed: take its link down.
	h, err := netns.Open(spec.NetNSName("c"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := nl.NewHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The stream subscribes to c's namespace within its poll interval;
		// toggle until it reports (each toggle is a real event).
		netdev.SetDown(nh, "eth0")
		found := false
		c.mu.Lock()
		for _, e := range c.evs {
			found = found || (e.Source == events.SourceKernel && e.Kind == "link-down" && e.Node == "c")
		}
		c.mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no kernel link-down from new node c: %v", c.evs)
		}
		netdev.SetUp(nh, "eth0")
		select {
		case <-c.new:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

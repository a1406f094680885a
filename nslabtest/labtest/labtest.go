// Package labtest brings nslab labs up inside Go tests and takes them down
// when the test ends, whatever its outcome:
//
//	func TestMyServer(t *testing.T) {
//		spec := labtest.New(t, topologyYAML)
//		cmd, _ := lab.Command(t.Context(), spec.Name, "h1", "my-server")
//		...
//	}
//
// Use it with nslabtest.Main in TestMain to fail the run on leftovers.
package labtest

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/nslabtest"
)

// New brings up the lab described by the topology text in yaml, renamed
// to a unique test name (so tests can run in parallel and the leak check
// recognises it), and takes it down when the test ends. It returns the
// parsed spec with its new name.
func New(tb testing.TB, yaml string) *topo.Spec {
	tb.Helper()
	nslabtest.RequireRoot(tb)
	spec, err := topo.Parse([]byte(yaml), tb.Name()+".yaml")
	if err != nil {
		tb.Fatalf("topology: %v", err)
	}
	spec.Name = nslabtest.Name(tb, topo.MaxLabName)
	Up(tb, spec)
	return spec
}

// Up brings spec up and takes it down when the test ends.
func Up(tb testing.TB, spec *topo.Spec) *lab.Result {
	tb.Helper()
	nslabtest.RequireRoot(tb)
	tb.Cleanup(func() {
		if err := lab.Down(context.WithoutCancel(tb.Context()), spec.Name, lab.Options{}); err != nil && !errors.Is(err, lab.ErrNoLab) {
			tb.Errorf("down lab %s: %v", spec.Name, err)
		}
		os.Remove(lab.EventsPath(spec.Name))
	})
	res, err := lab.Up(tb.Context(), spec, lab.Options{})
	if err != nil {
		tb.Fatalf("up lab %s: %v", spec.Name, err)
	}
	for _, f := range res.Failed {
		tb.Errorf("up lab %s: %v", spec.Name, f)
	}
	return res
}

package lab

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/nslab/nslab/nslabtest"
)

// loadStateForDown leaves a plain model undecoded and writes it back
// unchanged; a model with run commands or host devices is decoded.
func TestLoadStateForDown(t *testing.T) {
	nslabtest.RequireRoot(t) // writes under /run/nslab
	name := nslabtest.Name(t, 14)
	t.Cleanup(func() { removeState(name) })
	m := model(t, planBase)
	st := &State{Version: stateVersion, Lab: name, Model: m, Owned: map[string]uint64{name + "-h1": 42}, RootLinks: []string{"x"}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	d, err := loadStateForDown(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Model.Nodes) != 0 {
		t.Errorf("model decoded (%d nodes) although it has no run commands or host devices", len(d.Model.Nodes))
	}
	if d.Owned[name+"-h1"] != 42 || !reflect.DeepEqual(d.RootLinks, []string{"x"}) {
		t.Errorf("state fields lost: owned %v, root links %v", d.Owned, d.RootLinks)
	}
	d.Procs = nil
	if err := d.save(); err != nil {
		t.Fatal(err)
	}
	full, err := loadState(name)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(full.Model)
	b, _ := json.Marshal(m)
	if string(a) != string(b) {
		t.Errorf("model changed by a save of the down-only state:\n%s\nwant\n%s", a, b)
	}

	// A full load keeps the model's JSON for saves until Model is replaced.
	if full.rawModel == nil || full.rawFor != full.Model {
		t.Error("loadState did not keep the model's JSON")
	}
	full.Model = model(t, strings.Replace(planBase, "198.18.2.10/24", "198.18.2.11/24", 1))
	if err := full.save(); err != nil {
		t.Fatal(err)
	}
	again, err := loadState(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Model.Nodes["h2"].Ifs["eth0"].Addrs[0].String(); got != "198.18.2.11/24" {
		t.Errorf("after replacing the model and saving, h2:eth0 has %s, want the new 198.18.2.11/24", got)
	}

	m2 := model(t, strings.Replace(planBase, "  h1:\n", "  h1:\n    run: [[sleep, '100']]\n", 1))
	st.Model = m2
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if d, err = loadStateForDown(name); err != nil {
		t.Fatal(err)
	}
	if !d.Model.hasRun() {
		t.Errorf("a model with run commands was not decoded for down")
	}
}

// The model lives in model.json, apart from state.json: a save that does not
// change the model leaves model.json alone, and a state.json of the older
// layout (model inside) is read and moved to the new one by the next save.
func TestStateFiles(t *testing.T) {
	nslabtest.RequireRoot(t) // writes under /run/nslab
	name := nslabtest.Name(t, 14)
	t.Cleanup(func() { removeState(name) })
	m := model(t, planBase)
	st := &State{Version: stateVersion, Lab: name, Model: m, Owned: map[string]uint64{name + "-h1": 42}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(statePath(name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sb), `"model"`) {
		t.Errorf("state.json holds the model: %.200s", sb)
	}
	inode := func() uint64 {
		t.Helper()
		var s syscall.Stat_t
		if err := syscall.Stat(modelPath(name), &s); err != nil {
			t.Fatal(err)
		}
		return s.Ino
	}
	first := inode()

	// Saves that keep the model (an apply's first two, a fault command's,
	// down's) write state.json only.
	for _, load := range []func(string) (*State, error){loadState, loadStateForDown} {
		s, err := load(name)
		if err != nil {
			t.Fatal(err)
		}
		s.Dirty = true
		if err := s.save(); err != nil {
			t.Fatal(err)
		}
		if inode() != first {
			t.Errorf("a save that kept the model rewrote model.json")
		}
	}
	again, err := loadState(name)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Dirty || again.Owned[name+"-h1"] != 42 || len(again.Model.Nodes) != len(m.Nodes) {
		t.Errorf("after the saves: dirty %v, owned %v, %d nodes (want %d)", again.Dirty, again.Owned, len(again.Model.Nodes), len(m.Nodes))
	}

	// The older layout: the model inside state.json.
	mb, _ := json.Marshal(m)
	old, _ := json.Marshal(stateOnDisk{stateFields: (*stateFields)(&State{Version: stateVersion, Lab: name,
		Owned: map[string]uint64{name + "-h1": 42}}), Model: mb})
	os.Remove(modelPath(name))
	if err := os.WriteFile(statePath(name), old, 0o644); err != nil {
		t.Fatal(err)
	}
	full, err := loadState(name)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(full.Model); string(got) != string(mb) {
		t.Errorf("older layout: model read as\n%s\nwant\n%s", got, mb)
	}
	d, err := loadStateForDown(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.save(); err != nil { // down's save, model not decoded
		t.Fatal(err)
	}
	moved, err := os.ReadFile(modelPath(name))
	if err != nil {
		t.Fatalf("older layout: the save did not write model.json: %v", err)
	}
	if string(moved) != string(mb) {
		t.Errorf("older layout: model.json is\n%s\nwant\n%s", moved, mb)
	}
	if sb, _ := os.ReadFile(statePath(name)); strings.Contains(string(sb), `"model"`) {
		t.Errorf("older layout: state.json still holds the model after a save")
	}
}

// A model encoded ahead is what save writes if it is still the state's
// model at the save, and is ignored if another model replaced it.
func TestSaveUsesModelEncodedAhead(t *testing.T) {
	nslabtest.RequireRoot(t) // writes under /run/nslab
	name := nslabtest.Name(t, 14)
	t.Cleanup(func() { removeState(name) })
	a, b := model(t, planBase), model(t, planBase)
	b.Nodes["h1"].MTU = 1400 // differs from a
	for _, tc := range []struct {
		ahead, saved *Model
	}{{a, a}, {a, b}} {
		st := &State{Version: stateVersion, Lab: name, Owned: map[string]uint64{}}
		st.encodeAhead(tc.ahead)
		st.Model = tc.saved
		if err := st.save(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(modelPath(name))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tc.saved)
		if string(got) != string(want) {
			t.Errorf("model.json is not the saved model's JSON (ahead == saved: %v)", tc.ahead == tc.saved)
		}
	}
}

// A command on a lab that has no state leaves no lock file behind (`nslab
// down nosuchlab` used to leave /run/nslab/.locks/nosuchlab.lock); a lab
// with state keeps its lock file.
func TestLockFileGoesWithoutState(t *testing.T) {
	nslabtest.RequireRoot(t) // writes under /run/nslab
	name := nslabtest.Name(t, 14)
	t.Cleanup(func() { removeState(name); os.Remove(lockPath(name)) })
	if err := Down(t.Context(), name, Options{}); !errors.Is(err, ErrNoLab) {
		t.Fatalf("down of a lab that does not exist: %v, want ErrNoLab", err)
	}
	if _, err := os.Stat(lockPath(name)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lock file after down of a lab that does not exist: %v, want none", err)
	}
	st := &State{Version: stateVersion, Lab: name, Owned: map[string]uint64{}}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	unlock, err := lock(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := os.Stat(lockPath(name)); err != nil {
		t.Errorf("lock file of a lab with state: %v, want it kept", err)
	}
}

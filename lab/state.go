package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// StateDir holds the state of every lab on the machine, one directory per
// lab. It is on a tmpfs, like /run/netns, so both vanish together at reboot.
const StateDir = "/run/nslab"

const stateVersion = 1

// State is the ownership record of a lab: what nslab made and may remove.
// It is written before anything is created and replaced atomically.
type State struct {
	Version int    `json:"version"`
	Lab     string `json:"lab"`
	File    string `json:"file,omitempty"`
	// Model is the lab as last applied completely; nil before the first up
	// finished.
	Model *Model `json:"model,omitempty"`
	// Dirty is set while an apply runs. Found set, it means that apply was
	// interrupted: the kernel objects are somewhere between two models, so
	// the next up rebuilds the lab and down removes everything owned.
	Dirty bool `json:"dirty,omitempty"`
	// Owned lists every namespace nslab made (or is about to make) for the
	// lab, with its nsfs inode once known (from the ownership journal, see
	// journal.go, while an up runs). A namespace is removed only if its
	// inode matches or, when none is known, if it carries the lab's mark
	// (the alias of its lo device).
	Owned map[string]uint64 `json:"owned"`
	// RootLinks are the root-namespace ends of the lab's links: they vanish
	// asynchronously with their peers' namespaces, and down waits for that
	// so that their names can be reused at once.
	RootLinks []string `json:"root_links,omitempty"`
	// Procs are the processes started from the nodes' run lists.
	Procs   map[string][]Proc `json:"procs,omitempty"`
	Faults  *Faults           `json:"faults,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`

	// DownNeedsModel is set when the model has host devices (down gives
	// them back) or run commands (down looks for processes a crash kept
	// from being recorded): the only reasons for down to read the model.
	DownNeedsModel bool `json:"down_needs_model,omitempty"`
	// BigBridges names the bridges of switches with many ports, by
	// namespace, so that down can bring them down first without reading
	// the model (see downBigBridges).
	BigBridges map[string]string `json:"big_bridges,omitempty"`

	// rawModel is the JSON of rawFor, the model as read, and modelSaved says
	// that model.json holds it: save writes the model only once Model is
	// no longer rawFor (an apply replaces Model only at its end, and saves
	// twice before; fault commands never do). Code that changes the model
	// must therefore replace Model, never edit it in place.
	// loadStateForDown may leave it unread: rawFor is then an empty model
	// and rawModel nil.
	rawModel   json.RawMessage
	rawFor     *Model
	modelSaved bool

	// ahead is the JSON of a model being encoded ahead of its save (see
	// encodeAhead), or nil.
	ahead *encoding
}

// An encoding is a model's JSON, made by a goroutine.
type encoding struct {
	model *Model
	done  chan struct{}
	b     []byte
	err   error
}

// encodeAhead starts encoding m, which an apply is about to make the lab's
// model, on another goroutine; save uses the result if Model is still m
// then. The caller must not change m meanwhile (see rawModel). Encoding
// the model of a 1000-host lab takes 7-15 ms in a fresh process, more than
// the kernel's work for a one-node change, during which the other CPU is
// mostly idle; done ahead, that change no longer costs more in a big lab
// than in a small one for this.
func (s *State) encodeAhead(m *Model) {
	e := &encoding{model: m, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		e.b, e.err = json.Marshal(m)
	}()
	s.ahead = e
}

// waitAhead waits for an encoding started by encodeAhead, so that no
// goroutine reads the model once the apply has returned it.
func (s *State) waitAhead() {
	if s.ahead != nil {
		<-s.ahead.done
	}
}

// On disk, a lab's directory holds state.json (State without its model)
// and model.json (the model, once the first up has finished). They are
// apart so that the saves that do not change the model (two per apply, one
// per fault command) and down's read stay small: the model of a 1000-node
// lab is 700 KB of JSON, the rest 40 KB. Versions before this kept the
// model in state.json; readState still reads that, and the next save moves
// the model out.

// stateOnDisk is State with its model kept as raw JSON (in state.json only
// in the older layout).
type stateOnDisk struct {
	*stateFields
	Model json.RawMessage `json:"model,omitempty"` // shadows stateFields.Model
}

type stateFields State // State without its methods

// Faults records the faults injected into a running lab, so that status
// shows them and down (or heal) undoes them.
type Faults struct {
	LinksDown  []string            `json:"links_down,omitempty"` // "node:if"
	Partitions [][2][]string       `json:"partitions,omitempty"`
	Stopped    []string            `json:"stopped,omitempty"`  // nodes
	Impaired   map[string]string   `json:"impaired,omitempty"` // "node:if" -> impairment
	Extra      map[string][]string `json:"extra,omitempty"`
}

// Proc is one process started in a node.
type Proc struct {
	Argv  []string `json:"argv"`
	PID   int      `json:"pid"`
	Start uint64   `json:"start"` // start time in clock ticks since boot (/proc/PID/stat field 22)
	Log   string   `json:"log"`

	// doomed is set when the command was not found before it was started:
	// watchProcs then waits for it to exit however slow the machine is.
	doomed bool
}

// Mark is the alias of the lo device of every namespace nslab makes for a
// lab: "nslab:<lab>". It lets cleanup recognise its own namespaces.
func Mark(lab string) string { return "nslab:" + lab }

func labDir(lab string) string    { return filepath.Join(StateDir, lab) }
func statePath(lab string) string { return filepath.Join(labDir(lab), "state.json") }
func modelPath(lab string) string { return filepath.Join(labDir(lab), "model.json") }
func lockPath(lab string) string  { return filepath.Join(StateDir, ".locks", lab+".lock") }

// LogDir is where the logs of a lab's processes are written.
func LogDir(lab string) string { return filepath.Join(labDir(lab), "logs") }

// loadState reads a lab's state; it returns (nil, nil) when there is none.
func loadState(lab string) (*State, error) { return readState(lab, true) }

// loadStateForDown is loadState for down, which needs the model only for
// the nodes that have a host device (down gives it back) or run commands
// (down looks for processes a crash kept from being recorded). When the
// model has neither, it is not read: Model is an empty model, and save
// leaves model.json alone. At 1000 nodes decoding the model was half of
// down's own time.
func loadStateForDown(lab string) (*State, error) { return readState(lab, false) }

func readState(lab string, decodeModel bool) (*State, error) {
	b, err := os.ReadFile(statePath(lab))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state of lab %q: %w", lab, err)
	}
	var s State
	d := stateOnDisk{stateFields: (*stateFields)(&s)}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, corrupt(lab, statePath(lab), err)
	}
	if s.Owned == nil {
		s.Owned = map[string]uint64{}
	}
	s.fillFromJournal()
	raw, path := d.Model, statePath(lab)
	if len(raw) > 0 && string(raw) != "null" {
		// The older layout: the model inside state.json. The next save
		// writes it to model.json.
		s.DownNeedsModel = bytes.Contains(raw, []byte(`"host_device"`)) || bytes.Contains(raw, []byte(`"run"`))
	} else {
		raw, path = nil, modelPath(lab)
		if !decodeModel && !s.DownNeedsModel {
			if _, err := os.Stat(path); err == nil {
				s.Model = emptyModel(lab)
				s.rawFor, s.modelSaved = s.Model, true
			}
			return &s, nil
		}
		raw, err = os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return &s, nil // no up has finished yet
		}
		if err != nil {
			return nil, fmt.Errorf("read state of lab %q: %w", lab, err)
		}
		s.modelSaved = true
	}
	if decodeModel || s.DownNeedsModel {
		if err := json.Unmarshal(raw, &s.Model); err != nil {
			return nil, corrupt(lab, path, err)
		}
	} else {
		s.Model = emptyModel(lab)
	}
	s.rawModel, s.rawFor = raw, s.Model
	return &s, nil
}

// emptyModel stands for a model that is on disk but was not read.
func emptyModel(lab string) *Model {
	return &Model{Name: lab, Nodes: map[string]*NodeModel{}, Links: map[string]*LinkModel{}}
}

func corrupt(lab, path string, err error) error {
	return fmt.Errorf("read state of lab %q: %s is corrupt (%v): run 'nslab cleanup'", lab, path, err)
}

// save writes the state atomically: each file is written to a temporary
// file renamed over the old one, so that a reader or a process killed at any
// point sees the old file or the new one. A changed model is written first:
// killed between the two, the lab is left with the new model and the old
// state, which is marked dirty during an apply (see State.Dirty). There is
// no fsync: the state lives under /run, like the namespaces it describes,
// and both are gone after a machine crash anyway (at 1000 nodes the sync
// cost more than the write).
func (s *State) save() error {
	s.Updated = time.Now().UTC()
	dir := labDir(s.Lab)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	switch {
	case s.Model == nil:
		if err := os.Remove(modelPath(s.Lab)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
		}
		s.rawModel, s.rawFor, s.modelSaved = nil, nil, false
	case s.Model == s.rawFor && s.modelSaved:
		// Unchanged since read or written.
	default:
		b := s.rawModel
		if s.Model != s.rawFor || b == nil {
			var err error
			if e := s.ahead; e != nil && e.model == s.Model {
				<-e.done
				b, err = e.b, e.err
			} else {
				b, err = json.Marshal(s.Model)
			}
			if err != nil {
				return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
			}
			s.DownNeedsModel = s.Model.downNeedsModel()
			s.BigBridges = s.Model.bigBridges()
		}
		if err := writeFile(dir, modelPath(s.Lab), b); err != nil {
			return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
		}
		s.rawModel, s.rawFor, s.modelSaved = b, s.Model, true
	}
	b, err := json.Marshal(stateOnDisk{stateFields: (*stateFields)(s)})
	if err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	if err := writeFile(dir, statePath(s.Lab), b); err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	return nil
}

// writeFile replaces path (in dir) with b atomically.
func writeFile(dir, path string, b []byte) error {
	f, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func removeState(lab string) error {
	// state.json first: once it is gone the lab is gone (see Labs), even if
	// this process is killed before the rest of the directory.
	if err := os.Remove(statePath(lab)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state of lab %q: %w", lab, err)
	}
	if err := os.RemoveAll(labDir(lab)); err != nil {
		return fmt.Errorf("remove state of lab %q: %w", lab, err)
	}
	return nil
}

// Labs returns the names of the labs that have state on this machine.
func Labs() ([]string, error) {
	ents, err := os.ReadDir(StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if _, err := os.Stat(statePath(e.Name())); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// ErrBusy is returned when another nslab process works on the same lab and
// the caller chose not to wait.
var ErrBusy = errors.New("another nslab is working on this lab")

// lock takes the lab's exclusive lock. It waits while another nslab holds
// it, calling waiting once, until ctx is done.
func lock(ctx context.Context, lab string, waiting func()) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(lockPath(lab)), 0o755); err != nil {
		return nil, fmt.Errorf("lock lab %q: %w", lab, err)
	}
	told := false
	delay := time.Millisecond
	var f *os.File
	for {
		var err error
		if f == nil {
			if f, err = os.OpenFile(lockPath(lab), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
				return nil, fmt.Errorf("lock lab %q: %w", lab, err)
			}
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			// Down removes the lock file while holding it: a lock taken on
			// a file no longer at the path is worthless; take it again.
			var a, b unix.Stat_t
			if unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(lockPath(lab), &b) == nil && a.Ino == b.Ino {
				break
			}
			f.Close()
			f = nil
			continue
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock lab %q: %w", lab, err)
		}
		if !told && waiting != nil {
			waiting()
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lab %q: %w (gave up waiting: %v)", lab, ErrBusy, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return func() {
		// A lab without state (it never came up, or it is gone) keeps no
		// lock file: removed while still held, which the inode check above
		// is for.
		if _, err := os.Stat(statePath(lab)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(lockPath(lab))
		}
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// procStart returns the start time of pid in clock ticks since boot, or 0.
func procStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// alive reports whether p is still the process nslab started.
func (p Proc) alive() bool { return p.PID > 0 && p.Start != 0 && procStart(p.PID) == p.Start }

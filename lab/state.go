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
	// lab, with its nsfs inode once known. A namespace is removed only if
	// its inode matches or, when not yet recorded, if it carries the lab's
	// mark (the alias of its lo device).
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

	// rawModel is the JSON of rawFor, the model as read: save writes it
	// back as it is while Model is still rawFor (an apply replaces Model
	// only at its end, and saves twice before), instead of encoding 1000
	// nodes again. Code that changes the model must therefore replace
	// Model, never edit it in place. loadStateForDown may leave it
	// undecoded: rawFor is then an empty model.
	rawModel json.RawMessage
	rawFor   *Model
}

// stateOnDisk is State with its model kept as raw JSON.
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
}

// Mark is the alias of the lo device of every namespace nslab makes for a
// lab: "nslab:<lab>". It lets cleanup recognise its own namespaces.
func Mark(lab string) string { return "nslab:" + lab }

func labDir(lab string) string    { return filepath.Join(StateDir, lab) }
func statePath(lab string) string { return filepath.Join(labDir(lab), "state.json") }
func lockPath(lab string) string  { return filepath.Join(StateDir, ".locks", lab+".lock") }

// LogDir is where the logs of a lab's processes are written.
func LogDir(lab string) string { return filepath.Join(labDir(lab), "logs") }

// loadState reads a lab's state; it returns (nil, nil) when there is none.
func loadState(lab string) (*State, error) { return readState(lab, true) }

// loadStateForDown is loadState for down, which needs the model only for
// the nodes that have a host device (down gives it back) or run commands
// (down looks for processes a crash kept from being recorded). When the
// model has neither, it is not decoded: Model is an empty model and the
// JSON is kept for save. At 1000 nodes decoding the model was half of
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
		return nil, corrupt(lab, err)
	}
	if s.Owned == nil {
		s.Owned = map[string]uint64{}
	}
	switch {
	case len(d.Model) == 0 || string(d.Model) == "null":
	case decodeModel || bytes.Contains(d.Model, []byte(`"host_device"`)) || bytes.Contains(d.Model, []byte(`"run"`)):
		if err := json.Unmarshal(d.Model, &s.Model); err != nil {
			return nil, corrupt(lab, err)
		}
	default:
		s.Model = &Model{Name: lab, Nodes: map[string]*NodeModel{}, Links: map[string]*LinkModel{}}
	}
	s.rawModel, s.rawFor = d.Model, s.Model
	return &s, nil
}

func corrupt(lab string, err error) error {
	return fmt.Errorf("read state of lab %q: %s is corrupt (%v): run 'nslab cleanup'", lab, statePath(lab), err)
}

// save writes the state atomically: a temporary file renamed over the old
// one, so that a reader or a process killed at any point sees the old state
// or the new one. There is no fsync: the state lives under /run, like the
// namespaces it describes, and both are gone after a machine crash anyway
// (at 1000 nodes the sync cost more than the write).
func (s *State) save() error {
	s.Updated = time.Now().UTC()
	dir := labDir(s.Lab)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	var b []byte
	var err error
	if s.rawModel != nil && s.Model == s.rawFor {
		b, err = json.Marshal(stateOnDisk{stateFields: (*stateFields)(s), Model: s.rawModel})
	} else {
		b, err = json.Marshal(s)
	}
	if err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	f, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	if err := os.Rename(f.Name(), statePath(s.Lab)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save state of lab %q: %w", s.Lab, err)
	}
	return nil
}

func removeState(lab string) error {
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
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
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

package lab

import (
	"maps"
	"os"
	"testing"

	"github.com/nslab/nslab/nslabtest"
)

func TestParseJournal(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]uint64
	}{
		{"empty", "", map[string]uint64{}},
		{"lines", "a-h1 4026532301\na-h2 4026532302\n", map[string]uint64{"a-h1": 4026532301, "a-h2": 4026532302}},
		{"the last record of a name wins", "a-h1 11\na-h1 12\n", map[string]uint64{"a-h1": 12}},
		{"a torn last line is ignored", "a-h1 11\na-h2 4026", map[string]uint64{"a-h1": 11}},
		{"junk is ignored", "a-h1\n 5\na-h2 x\na-h3 0\na-h4 7\n", map[string]uint64{"a-h4": 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseJournal([]byte(tc.in)); !maps.Equal(got, tc.want) {
				t.Errorf("parseJournal(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseJournal(f *testing.F) {
	f.Add([]byte("a-h1 4026532301\na-h2 4026532302\n"))
	f.Add([]byte("a-h1 11\na-h2 40"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, ino := range parseJournal(b) {
			if name == "" || ino == 0 {
				t.Fatalf("parseJournal(%q) gave %q -> %d", b, name, ino)
			}
		}
	})
}

// The journal fills in the inodes the state does not have yet, and only
// those.
func TestStateFilledFromJournal(t *testing.T) {
	nslabtest.RequireRoot(t) // StateDir is root's
	lab := nslabtest.Name(t, 12)
	t.Cleanup(func() { os.RemoveAll(labDir(lab)) })
	j, err := openJournal(lab)
	if err != nil {
		t.Fatal(err)
	}
	for ns, ino := range map[string]uint64{lab + "-a": 101, lab + "-b": 102} {
		if err := j.record(ns, ino); err != nil {
			t.Fatal(err)
		}
	}
	j.close(false)
	st := &State{Lab: lab, Owned: map[string]uint64{lab + "-a": 0, lab + "-b": 7, lab + "-c": 0}}
	st.fillFromJournal()
	want := map[string]uint64{lab + "-a": 101, lab + "-b": 7, lab + "-c": 0}
	if !maps.Equal(st.Owned, want) {
		t.Errorf("Owned = %v, want %v", st.Owned, want)
	}
}

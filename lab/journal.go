package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// The ownership journal (owned.log in the lab's directory) records the
// inode of every namespace an up makes, one "NAME INODE" line appended
// before the namespace gets its name. The state, saved before the
// namespaces are made, lists their names with no inode yet, and is saved
// again with the inodes when the apply ends; the journal covers the time
// between (and goes with that save), so that down and cleanup can tell the
// namespaces of an interrupted up from others that took the same names.
//
// It replaced a netlink request per namespace (the lab's mark on lo, set
// before the name): that request takes the kernel's RTNL lock, which the
// namespace phase is short of already. Nodes still get the mark, later
// (see setupNode), for cleanup's search for orphans.

func journalPath(lab string) string { return filepath.Join(labDir(lab), "owned.log") }

// journal appends to a lab's ownership journal; record is safe for
// concurrent use (each line is one write to a file opened for appending).
type journal struct {
	fd   int
	path string
}

func openJournal(lab string) (*journal, error) {
	p := journalPath(lab)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, fmt.Errorf("lab %q: ownership journal: %w", lab, err)
	}
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab %q: ownership journal %s: %w", lab, p, err)
	}
	return &journal{fd: fd, path: p}, nil
}

// record notes that namespace ns, about to be named, has inode ino.
func (j *journal) record(ns string, ino uint64) error {
	line := make([]byte, 0, len(ns)+22)
	line = append(line, ns...)
	line = append(line, ' ')
	line = strconv.AppendUint(line, ino, 10)
	line = append(line, '\n')
	if n, err := unix.Write(j.fd, line); err != nil || n != len(line) {
		if err == nil {
			err = io.ErrShortWrite
		}
		return fmt.Errorf("ownership journal %s: %w", j.path, err)
	}
	return nil
}

// close closes the journal; with remove (the inodes are in the state now)
// it deletes the file too.
func (j *journal) close(remove bool) {
	unix.Close(j.fd)
	if remove {
		os.Remove(j.path)
	}
}

// readJournal returns the inodes the lab's journal records, the last one
// for a name recorded twice; nil if there is no journal. A torn last line
// (a process killed in mid-write) is ignored.
func readJournal(lab string) map[string]uint64 {
	b, err := os.ReadFile(journalPath(lab))
	if err != nil || len(b) == 0 {
		return nil
	}
	return parseJournal(b)
}

func parseJournal(b []byte) map[string]uint64 {
	b = b[:bytes.LastIndexByte(b, '\n')+1] // a line is whole once its newline is written
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, ino, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if !ok || len(name) == 0 {
			continue
		}
		v, err := strconv.ParseUint(string(ino), 10, 64)
		if err != nil || v == 0 {
			continue
		}
		out[string(name)] = v
	}
	return out
}

// fillFromJournal sets the inode of every owned namespace that has none
// recorded from the journal, if it has one.
func (s *State) fillFromJournal() {
	var j map[string]uint64
	for ns, ino := range s.Owned {
		if ino != 0 {
			continue
		}
		if j == nil {
			if j = readJournal(s.Lab); j == nil {
				return
			}
		}
		if v, ok := j[ns]; ok {
			s.Owned[ns] = v
		}
	}
}

package lab

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/nslab/nslab/netns"
)

// listLabs is Labs; tests narrow it to their own labs.
var listLabs = Labs

// Cleanup removes what crashed or killed nslab processes left: every lab
// whose state says an up or a down was interrupted is taken down, the files
// of a lab without state are removed, and every named namespace that
// carries an nslab mark but belongs to no lab with state is removed.
// Running labs are left alone unless o.All is set, and labs another nslab
// is working on always (both are noted through o.Log). Namespaces and links
// nslab did not make are never touched. It returns a line per thing removed.
func Cleanup(ctx context.Context, o Options) ([]string, error) {
	var done []string
	var errs []error
	labs, err := listLabs()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, l := range labs {
		known[l] = true
		unlock, err := tryLock(ctx, l)
		if err != nil {
			o.logf("lab %s is in use by another nslab: left alone", l)
			continue
		}
		st, err := loadState(l)
		if err == nil && st != nil && !st.Dirty && !o.All {
			unlock() // a running lab, not debris
			o.logf("lab %s is running: left alone (nslab down %s, or nslab cleanup --all)", l, l)
			continue
		}
		if err == nil && st != nil {
			err = down(ctx, st, o)
		} else if err != nil {
			// Unreadable state: fall back to the marks below.
			delete(known, l)
			removeState(l)
		}
		unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, "lab "+l)
	}
	// Directories of labs without state: what a down killed while removing
	// them left.
	if ents, err := os.ReadDir(StateDir); err == nil {
		for _, e := range ents {
			l := e.Name()
			if !e.IsDir() || strings.HasPrefix(l, ".") || known[l] {
				continue
			}
			// An up holds the lock while it writes its first state.
			unlock, err := tryLock(ctx, l)
			if err != nil {
				continue
			}
			if _, err := os.Stat(statePath(l)); errors.Is(err, fs.ErrNotExist) {
				if err := removeState(l); err != nil {
					errs = append(errs, err)
				} else {
					done = append(done, "files of lab "+l+" ("+labDir(l)+")")
				}
			}
			unlock()
		}
	}
	names, err := netns.Names()
	if err != nil {
		return done, errors.Join(append(errs, err)...)
	}
	for _, name := range names {
		if !netns.Exists(name) {
			continue
		}
		mark := markOf(name)
		lab, ok := strings.CutPrefix(mark, "nslab:")
		if !ok || known[lab] || !strings.HasPrefix(name, lab+"-") {
			continue
		}
		if _, err := os.Stat(statePath(lab)); err == nil {
			continue // a lab whose up started since Labs was read
		}
		if err := netns.Delete(name); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, "netns "+name+" (orphan of lab "+lab+")")
	}
	return done, errors.Join(errs...)
}

// tryLock takes the lab's lock if it is free within 50 ms.
func tryLock(ctx context.Context, lab string) (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	return lock(ctx, lab, nil)
}

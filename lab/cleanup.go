package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nslab/nslab/netns"
)

// Cleanup removes what crashed or killed nslab processes left: every lab
// with state whose lock is free is taken down, and every named namespace
// that carries an nslab mark but belongs to no recorded lab is removed.
// Namespaces and links nslab did not make are never touched. It returns a
// line per thing removed.
func Cleanup(ctx context.Context, o Options) ([]string, error) {
	var done []string
	var errs []error
	labs, err := Labs()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, l := range labs {
		known[l] = true
		lctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		unlock, err := lock(lctx, l, nil)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("lab %q is in use by another nslab: left alone", l))
			continue
		}
		st, err := loadState(l)
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
		if err := netns.Delete(name); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, "netns "+name+" (orphan of lab "+lab+")")
	}
	return done, errors.Join(errs...)
}

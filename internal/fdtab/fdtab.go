// Package fdtab sizes the process's table of open files ahead of need.
//
// The kernel grows a process's descriptor table by doubling it (64, 128,
// 256, ... entries), and in a process with more than one thread, which every
// Go program is, each growth waits for an RCU grace period before the old
// table may be freed (expand_fdtable calls synchronize_rcu): about 10 ms on
// this project's 250 Hz kernel. A command that holds a thousand namespaces
// open grows the table four times on its critical path; `nslab down` of a
// 1000-router line spent ~40 ms of its ~130 ms there. Growing it once, early
// and on a goroutine of its own, costs one wait that nothing waits for.
// (A C program such as `ip`, single-threaded, pays no wait at all.)
package fdtab

import "golang.org/x/sys/unix"

// Grow makes room for n descriptors in one step if the table is smaller.
// When it grows the table it blocks for a grace period, so callers run it on
// a goroutine of its own well before the descriptors are needed; a thread
// that needs a larger table meanwhile waits for this growth instead of
// starting one of its own. It is only a hint: it does nothing if n is beyond
// the process's limit on open files or no descriptor can be duplicated.
func Grow(n int) {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || uint64(n) > rl.Cur {
		return
	}
	// F_DUPFD returns the lowest free descriptor >= n-1, which needs a
	// table of at least n entries; the duplicate is closed at once.
	for fd := 0; fd <= 2; fd++ {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, n-1)
		if err == nil {
			unix.Close(d)
			return
		}
		if err != unix.EBADF {
			return
		}
	}
}

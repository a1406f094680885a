//go:build cgo

package main

// The exec fast path: `nslab netns exec NAME [--] CMD [ARGS...]` and `nslab
// exec LAB NODE [--] CMD [ARGS...]` are done by a C constructor that runs
// before the Go runtime starts, the way runc's nsenter enters a container.
// Starting the Go runtime of this 16 MB binary and its package initialisers
// costs 15-20 ms here, against 6-8 ms for the whole of `ip netns exec`; the
// constructor makes nslab's exec as fast as ip's.
//
// The constructor takes only the plain forms above, with names it can check
// as the Go code does. For anything else (flags, a missing namespace or lab,
// a command not found, an /etc/netns file that does not bind, an execve that
// fails) it returns and the Go code runs as if it had not: it enters again
// (entering is idempotent) and reports the problem with nslab's usual
// messages and exit statuses. It does nothing in nslab's re-executions (the
// nsexec child and the lab process supervisor, whose argv is a user's
// command) or when NSLAB_FASTEXEC=0. Without cgo this file is not built and
// the Go code does all of it.
//
// When the constructor returns, it maps in the executable's read-only pages
// (code and constants) with one madvise(MADV_POPULATE_READ) before the Go
// runtime starts: on this VM a page fault costs ~25 µs, and the runtime and
// the package initialisers took ~100 of them in these pages. `nslab version`
// went from 14.6-18.5 ms to 11.9-12.5 ms (perf stat, 40 runs each), and the
// first name `nslab down` removes from 17.6-20.2 to 15.8-16.2 ms after exec;
// the pages count in nslab's RSS (~10 MiB more), shared with the page cache.

/*
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define NSLAB_NSFS_MAGIC 0x6e736673
#define NSLAB_NAME_MAX 255
#define NSLAB_MADV_POPULATE_READ 22 // MADV_POPULATE_READ, Linux 5.14

// nslab_name_ok reports whether s is a name nslab's Go code accepts for a
// namespace (names.CheckNetNS) and that cobra does not take for a flag.
static int nslab_name_ok(const char *s) {
	size_t n = strlen(s);
	if (n == 0 || n > NSLAB_NAME_MAX || s[0] == '-' || strchr(s, '/') != NULL)
		return 0;
	return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int nslab_executable(const char *p) {
	struct stat st;
	return stat(p, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0 &&
	       eaccess(p, X_OK) == 0;
}

// nslab_lookpath resolves cmd as Go's exec.LookPath does, in the host's view
// of the file system; it gives up (returns 0) where LookPath would fail or
// refuse, so that Go reports it.
static int nslab_lookpath(const char *cmd, char *out, size_t size) {
	if (strchr(cmd, '/') != NULL) {
		if (!nslab_executable(cmd) || strlen(cmd) >= size)
			return 0;
		strcpy(out, cmd);
		return 1;
	}
	const char *path = getenv("PATH");
	if (path == NULL)
		return 0;
	for (const char *p = path;; ) {
		const char *end = strchrnul(p, ':');
		size_t n = (size_t)(end - p);
		if (n == 0 || p[0] != '/')
			return 0; // a relative entry: LookPath's ErrDot rules are Go's to apply
		if (n + 1 + strlen(cmd) < size) {
			memcpy(out, p, n);
			out[n] = '/';
			strcpy(out + n + 1, cmd);
			if (nslab_executable(out))
				return 1;
		}
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
}

// nslab_enter is nsexec.Enter: the namespace file at path, a private mount
// namespace, /sys remounted, /etc/netns/<etc>/ files bound over /etc.
static int nslab_enter(const char *path, const char *etc) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct statfs fs;
	if (fstatfs(fd, &fs) != 0 || fs.f_type != NSLAB_NSFS_MAGIC || setns(fd, CLONE_NEWNET) != 0) {
		close(fd);
		return 0;
	}
	close(fd);
	if (unshare(CLONE_NEWNS) != 0 || mount("", "/", "none", MS_SLAVE | MS_REC, NULL) != 0)
		return 0;
	unsigned long flags = 0;
	struct statvfs vfs;
	if (statvfs("/sys", &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		flags = MS_RDONLY;
	if (umount2("/sys", MNT_DETACH) != 0 && errno != EINVAL)
		return 0;
	if (mount(etc, "/sys", "sysfs", flags, NULL) != 0)
		return 0;
	char dir[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
	snprintf(dir, sizeof dir, "/etc/netns/%s", etc);
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT;
	int ok = 1;
	struct dirent *e;
	while (ok && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
		snprintf(dst, sizeof dst, "/etc/%s", e->d_name);
		ok = mount(src, dst, "none", MS_BIND, NULL) == 0;
	}
	closedir(d);
	return ok;
}

static void nslab_fastexec(int argc, char **argv) {
	if (argc < 5 || getenv("NSLAB_NSEXEC_PATH") != NULL || getenv("NSLAB_SUPERVISE") != NULL)
		return;
	const char *f = getenv("NSLAB_FASTEXEC");
	if (f != NULL && strcmp(f, "0") == 0)
		return;
	char name[NSLAB_NAME_MAX + 1], path[PATH_MAX], cmd[PATH_MAX];
	int i;
	if (strcmp(argv[1], "netns") == 0 && strcmp(argv[2], "exec") == 0) {
		// nslab netns exec NAME [--] CMD [ARGS...]
		if (!nslab_name_ok(argv[3]))
			return;
		strcpy(name, argv[3]);
		i = 4;
	} else if (strcmp(argv[1], "exec") == 0) {
		// nslab exec LAB NODE [--] CMD [ARGS...]: the node's namespace is
		// <lab>-<node> while the lab has a state (lab.target's fast path).
		struct stat st;
		if (!nslab_name_ok(argv[2]) || !nslab_name_ok(argv[3]) ||
		    strlen(argv[2]) + 1 + strlen(argv[3]) > NSLAB_NAME_MAX)
			return;
		snprintf(path, sizeof path, "/run/nslab/%s/state.json", argv[2]);
		if (stat(path, &st) != 0)
			return;
		snprintf(name, sizeof name, "%s-%s", argv[2], argv[3]);
		i = 4;
	} else {
		return;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc || !nslab_lookpath(argv[i], cmd, sizeof cmd))
		return;
	snprintf(path, sizeof path, "/run/netns/%s", name);
	if (!nslab_enter(path, name))
		return;
	execv(cmd, argv + i);
	// Go enters again and reports why the command could not be executed.
}

// nslab_prefault_segment maps in, in one call, the pages of a read-only
// segment of the executable (code, constant data), which the Go runtime and
// the package initialisers would otherwise fault in one by one.
static int nslab_prefault_segment(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	(void)data;
	long page = sysconf(_SC_PAGESIZE);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) != 0)
			continue;
		uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
		uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
		madvise((void *)start, end - start, NSLAB_MADV_POPULATE_READ); // EINVAL before Linux 5.14: no harm
	}
	return 1; // the first object is the executable
}

__attribute__((constructor)) static void nslab_start(int argc, char **argv, char **envp) {
	(void)envp;
	nslab_fastexec(argc, argv); // returns only if it did not run the command
	dl_iterate_phdr(nslab_prefault_segment, NULL);
}
*/
import "C"

package netns

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Deleter's opens, unmounts and unlinks are made raw (unix.RawSyscall): they take a
// few microseconds each, and a thousand of them run back to back. Made the
// usual way, each one tells the Go scheduler that the thread may block;
// the runtime's monitor then hands the thread's processor to another
// thread whenever a call passes 20 µs (an unmount often does), which wakes
// the other CPU, and every unmount's expedited RCU grace period must then
// interrupt that CPU too. Raw, the loop over the 1000-router line's names
// took 20-45 ms instead of 39-103 ms (namespaces pinned, nothing freed
// meanwhile), so that it ends within the kernel's first cleanup batch far
// more often (see lab's pinSet). None of these calls waits on anything but
// the kernel's own locks.

func rawOpenat(dir int, name string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	r, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dir), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func rawUnmount(path string, flags int) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_UMOUNT2, uintptr(unsafe.Pointer(p)), uintptr(flags), 0); e != 0 {
		return e
	}
	return nil
}

func rawUnlinkat(dir int, name string) error {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return err
	}
	if _, _, e := unix.RawSyscall(unix.SYS_UNLINKAT, uintptr(dir), uintptr(unsafe.Pointer(p)), 0); e != 0 {
		return e
	}
	return nil
}

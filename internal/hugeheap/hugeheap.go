// Package hugeheap backs the start of the Go heap with transparent huge
// pages where the kernel gives them only to memory that asks
// (/sys/kernel/mm/transparent_hugepage/enabled is "madvise", the default of
// many distributions). The Go runtime does not ask for its heap.
//
// Why nslab wants it: a short command touches tens of megabytes of fresh heap
// (parsing a 1000-host topology, decoding and encoding the lab's state), and
// each 4 KiB page costs a page fault. On the benchmark VM a fault costs ~15-25
// µs (the guest's interrupt enabling is a paravirtual call): `nslab up` on an
// unchanged 1000-host lab took 2400 faults, about half of its 60 ms, and a
// fresh up of that lab 3900. With a 2 MiB page per fault they take a tenth as
// many (bench/PROFILE.md, fourteenth pass).
package hugeheap

import (
	"bytes"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Size is how much heap Reserve prepares: more than a 1000-host lab's
// commands allocate in all. It is address space, not memory: only the
// huge pages the heap then touches are used.
const Size = 64 << 20

// modeFile tells the kernel's transparent huge page mode.
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

// Reserve makes the heap's next Size bytes ask for huge pages, when the
// kernel gives them only on request, and reports whether it did. It
// allocates Size bytes (fresh memory, never touched), advises their range
// MADV_HUGEPAGE, and lets them go with a garbage collection: the runtime
// then hands that range out, lowest addresses first, for what the command
// allocates. Call it first thing in main; it costs one collection of a
// nearly empty heap.
func Reserve() bool {
	mode, err := os.ReadFile(modeFile)
	if err != nil || !bytes.Contains(mode, []byte("[madvise]")) {
		return false
	}
	b := make([]byte, Size)
	err = unix.Madvise(b, unix.MADV_HUGEPAGE)
	runtime.KeepAlive(unsafe.SliceData(b))
	b = nil
	runtime.GC()
	return err == nil
}

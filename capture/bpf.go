package capture

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"golang.org/x/net/bpf"
)

// libpcapNames are the sonames tried, in order, to find libpcap at run time:
// Debian and Ubuntu (package libpcap0.8), then Fedora, Arch and Alpine.
var libpcapNames = []string{"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"}

// pcapNetmaskUnknown is PCAP_NETMASK_UNKNOWN: the filter may not use
// "ip broadcast".
const pcapNetmaskUnknown = 0xffffffff

// bpfProgram is libpcap's struct bpf_program.
type bpfProgram struct {
	Len   uint32
	Insns *bpfInsn // allocated by libpcap, freed by pcap_freecode
}

// bpfInsn is libpcap's struct bpf_insn (the kernel's struct sock_filter).
type bpfInsn struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// libpcap holds the few libpcap functions nslab calls to compile filters.
type libpcap struct {
	mu       sync.Mutex // older libpcap versions kept compiler state in globals
	openDead func(linktype, snaplen int32) uintptr
	compile  func(p uintptr, fp *bpfProgram, expr string, optimize int32, netmask uint32) int32
	freecode func(fp *bpfProgram)
	geterr   func(p uintptr) string
	close    func(p uintptr)
}

// loadLibpcap is done once per process: the library stays loaded.
var loadLibpcap = sync.OnceValues(func() (*libpcap, error) { return openLibpcap(libpcapNames) })

// openLibpcap loads libpcap through dlopen, without cgo, from the first
// soname of names that loads.
func openLibpcap(names []string) (*libpcap, error) {
	var h uintptr
	var errs []error
	for _, n := range names {
		var err error
		if h, err = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_LOCAL); err == nil {
			break
		}
		errs = append(errs, err)
	}
	if h == 0 {
		return nil, fmt.Errorf("filters are compiled by libpcap, which was not found (install Debian package libpcap0.8, or capture without a filter): %w",
			errors.Join(append([]error{errors.ErrUnsupported}, errs...)...))
	}
	l := &libpcap{}
	for _, s := range []struct {
		name string
		fn   any
	}{
		{"pcap_open_dead", &l.openDead},
		{"pcap_compile", &l.compile},
		{"pcap_freecode", &l.freecode},
		{"pcap_geterr", &l.geterr},
		{"pcap_close", &l.close},
	} {
		sym, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, fmt.Errorf("libpcap has no %s: %w", s.name, errors.ErrUnsupported)
		}
		purego.RegisterFunc(s.fn, sym)
	}
	return l, nil
}

// compileFilter compiles a tcpdump filter expression into a classic BPF
// program for packets of the given pcap link type, cut at snaplen, exactly
// as tcpdump would (it is libpcap's own compiler).
func compileFilter(expr string, linkType, snaplen int) ([]bpf.RawInstruction, error) {
	if strings.IndexByte(expr, 0) >= 0 {
		return nil, fmt.Errorf("filter %q: contains a NUL byte", expr)
	}
	l, err := loadLibpcap()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.openDead(int32(linkType), int32(snaplen))
	if p == 0 {
		return nil, fmt.Errorf("filter %q: libpcap pcap_open_dead failed", expr)
	}
	defer l.close(p)
	var prog bpfProgram
	if l.compile(p, &prog, expr, 1, pcapNetmaskUnknown) != 0 {
		return nil, fmt.Errorf("filter %q: %s: %w", expr, l.geterr(p), ErrBadFilter)
	}
	defer l.freecode(&prog)
	if prog.Len == 0 || prog.Insns == nil {
		return nil, fmt.Errorf("filter %q: libpcap returned an empty program: %w", expr, ErrBadFilter)
	}
	insns := unsafe.Slice(prog.Insns, prog.Len)
	out := make([]bpf.RawInstruction, len(insns))
	for i, in := range insns {
		out[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	runtime.KeepAlive(&prog)
	return out, nil
}

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nslab/nslab/nslabtest"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// RequireLibpcap skips (fails in CI) without libpcap.
// LibpcapErr is nil when filters can be compiled here.
func LibpcapErr() error { _, err := loadLibpcap(); return err }

func RequireLibpcap(t *testing.T) {
	t.Helper()
	if err := LibpcapErr(); err != nil {
		if nslabtest.CI() {
			t.Fatalf("CI must install Debian package libpcap0.8: %v", err)
		}
		t.Skipf("no libpcap: %v", err)
	}
}

func TestOpenLibpcapMissing(t *testing.T) {
	_, err := openLibpcap([]string{"libnslab-no-such-library.so.0"})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "libpcap0.8") {
		t.Fatalf("openLibpcap of a missing library: %v", err)
	}
}

func TestCompileFilter(t *testing.T) {
	RequireLibpcap(t)
	prog, err := compileFilter("udp port 4789", dltEthernet, DefaultSnaplen)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(disassemble(t, prog))
	if err != nil {
		t.Fatalf("libpcap's program does not load in x/net/bpf: %v", err)
	}
	udp := frameBytes(unix.IPPROTO_UDP, 4789)
	tcp := frameBytes(unix.IPPROTO_TCP, 4789)
	other := frameBytes(unix.IPPROTO_UDP, 53)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{{"udp 4789", udp, true}, {"tcp 4789", tcp, false}, {"udp 53", other, false}} {
		n, err := vm.Run(tc.pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got := n > 0; got != tc.want {
			t.Errorf("%s: accepted %v, want %v", tc.name, got, tc.want)
		}
	}
	if _, err := compileFilter("udp port", dltEthernet, DefaultSnaplen); !errors.Is(err, ErrBadFilter) {
		t.Errorf("incomplete expression: %v", err)
	}
	if _, err := compileFilter("udp\x00", dltEthernet, DefaultSnaplen); err == nil {
		t.Error("a NUL byte was accepted")
	}
}

func disassemble(t *testing.T, raw []bpf.RawInstruction) []bpf.Instruction {
	t.Helper()
	out := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		out[i] = r.Disassemble()
	}
	return out
}

// frameBytes is an Ethernet/IPv4 frame with the given transport protocol
// and destination port.
func frameBytes(proto uint8, dport uint16) []byte {
	b := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
	b[14] = 0x45
	binary.BigEndian.PutUint16(b[16:], 28)
	b[14+9] = proto
	copy(b[14+12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(b[34:], 1000)
	binary.BigEndian.PutUint16(b[36:], dport)
	return b
}

// auxCmsg builds the control messages a packet socket sends.
func auxCmsg(a unix.TpacketAuxdata, ts time.Time) []byte {
	var b []byte
	add := func(level, typ int32, data []byte) {
		m := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&m[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(m[unix.CmsgLen(0):], data)
		b = append(b, m...)
	}
	ad := make([]byte, 20)
	binary.NativeEndian.PutUint32(ad[0:], a.Status)
	binary.NativeEndian.PutUint32(ad[4:], a.Len)
	binary.NativeEndian.PutUint32(ad[8:], a.Snaplen)
	binary.NativeEndian.PutUint16(ad[12:], a.Mac)
	binary.NativeEndian.PutUint16(ad[14:], a.Net)
	binary.NativeEndian.PutUint16(ad[16:], a.Vlan_tci)
	binary.NativeEndian.PutUint16(ad[18:], a.Vlan_tpid)
	add(unix.SOL_PACKET, unix.PACKET_AUXDATA, ad)
	tsb := make([]byte, 16)
	binary.NativeEndian.PutUint64(tsb[0:], uint64(ts.Unix()))
	binary.NativeEndian.PutUint64(tsb[8:], uint64(ts.Nanosecond()))
	add(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, tsb)
	return b
}

func TestDecodeOOB(t *testing.T) {
	a := unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID, Len: 1514, Snaplen: 1514, Mac: 2, Net: 16, Vlan_tci: 0x2007, Vlan_tpid: 0x88a8}
	ts := time.Unix(1700000000, 123456789)
	m := decodeOOB(auxCmsg(a, ts))
	if !m.haveAux || m.aux != a || !m.ts.Equal(ts) {
		t.Fatalf("decodeOOB = %+v, want aux %+v at %v", m, a, ts)
	}
}

func FuzzDecodeOOB(f *testing.F) {
	f.Add(uint32(unix.TP_STATUS_VLAN_VALID), uint32(60), uint16(5), uint16(0x8100), int64(1), int64(2), 0)
	f.Add(uint32(0), uint32(1514), uint16(0), uint16(0), int64(1700000000), int64(999999999), 7)
	f.Fuzz(func(t *testing.T, status, length uint32, tci, tpid uint16, sec, nsec int64, cut int) {
		a := unix.TpacketAuxdata{Status: status, Len: length, Snaplen: length, Vlan_tci: tci, Vlan_tpid: tpid}
		ts := time.Unix(sec, nsec%1e9)
		if nsec < 0 {
			ts = time.Unix(sec, 0)
		}
		oob := auxCmsg(a, ts)
		m := decodeOOB(oob)
		if !m.haveAux || m.aux != a || !m.ts.Equal(ts) {
			t.Fatalf("round trip: %+v, want %+v at %v", m, a, ts)
		}
		// Truncated or garbled control data must never panic.
		if cut < 0 {
			cut = -cut
		}
		decodeOOB(oob[:cut%(len(oob)+1)])
	})
}

func TestFrameVLAN(t *testing.T) {
	p := frameBytes(unix.IPPROTO_UDP, 9)
	m := meta{aux: unix.TpacketAuxdata{Status: unix.TP_STATUS_VLAN_VALID, Vlan_tci: 42}, haveAux: true}
	got, length := frame(p, len(p), m, true, DefaultSnaplen)
	want := append(append(append([]byte{}, p[:12]...), 0x81, 0x00, 0x00, 42), p[12:]...)
	if !bytes.Equal(got, want) || length != len(p)+4 {
		t.Fatalf("frame = % x (len %d)\nwant    % x (len %d)", got, length, want, len(p)+4)
	}
	got, length = frame(p, len(p), meta{}, true, DefaultSnaplen)
	if !bytes.Equal(got, p) || length != len(p) || &got[0] == &p[0] {
		t.Fatal("an untagged frame must come back as an equal copy")
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(frameBytes(unix.IPPROTO_UDP, 9), uint32(unix.TP_STATUS_VLAN_VALID), uint16(42), uint16(0), 100, true)
	f.Add([]byte{1, 2, 3}, uint32(unix.TP_STATUS_VLAN_VALID|unix.TP_STATUS_VLAN_TPID_VALID), uint16(1), uint16(0x88a8), 2, true)
	f.Fuzz(func(t *testing.T, p []byte, status uint32, tci, tpid uint16, snaplen int, ethernet bool) {
		if snaplen <= 0 {
			snaplen = DefaultSnaplen
		}
		if len(p) > snaplen {
			p = p[:snaplen] // the socket never hands over more than snaplen
		}
		m := meta{aux: unix.TpacketAuxdata{Status: status, Vlan_tci: tci, Vlan_tpid: tpid}, haveAux: true}
		got, length := frame(p, len(p)+10, m, ethernet, snaplen)
		tagged := ethernet && status&unix.TP_STATUS_VLAN_VALID != 0 && len(p) >= 12
		if !tagged {
			if !bytes.Equal(got, p) || length != len(p)+10 {
				t.Fatalf("untagged frame changed")
			}
			return
		}
		if length != len(p)+14 || len(got) != min(len(p)+4, snaplen) {
			t.Fatalf("tagged: %d bytes, length %d; from %d bytes, snaplen %d", len(got), length, len(p), snaplen)
		}
		full := append(append(append([]byte{}, p[:12]...), 0, 0, byte(tci>>8), byte(tci)), p[12:]...)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			binary.BigEndian.PutUint16(full[12:], tpid)
		} else {
			binary.BigEndian.PutUint16(full[12:], unix.ETH_P_8021Q)
		}
		if !bytes.Equal(got, full[:len(got)]) {
			t.Fatalf("tagged frame % x, want % x", got, full)
		}
	})
}

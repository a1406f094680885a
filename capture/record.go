package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"
)

// The two file formats are written here rather than with gopacket's pcapgo:
// pcapgo imports gopacket/layers, whose protocol tables put 5 MB of pointers
// in the data segment of every program that links it. The garbage collector
// scans them in every cycle, whether or not the program ever captures: in
// nslab that was 12 % of the CPU time of an `up` that adds one host to a
// 1000-host lab (0.13 s -> 0.10 s without it). The tests read what is written
// here with pcapgo's readers and with tshark.
//
// Formats: https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html (pcap) and
// https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html (pcapng); both
// little-endian here, as pcapgo and libpcap on x86 write them.

// LINKTYPE_ values (https://www.tcpdump.org/linktypes.html) written to files.
const (
	linkTypeEthernet = 1
	linkTypeRaw      = 101
)

// packetInfo is what is recorded of a packet besides its bytes.
type packetInfo struct {
	ts     time.Time
	caplen int // bytes recorded (len of the data)
	length int // bytes on the wire
}

// pcapng block types and option codes used here.
const (
	ngSectionHeader    = 0x0a0d0d0a
	ngInterface        = 0x00000001
	ngEnhancedPacket   = 0x00000006
	ngByteOrderMagic   = 0x1a2b3c4d
	ngOptEnd           = 0
	ngOptShbHardware   = 2
	ngOptShbOS         = 3
	ngOptShbUserAppl   = 4
	ngOptIfName        = 2
	ngOptIfTsresol     = 9
	ngOptIfFilter      = 11
	ngOptIfOS          = 12
	pcapMagicMicro     = 0xa1b2c3d4
	pcapVersionMajor   = 2
	pcapVersionMinor   = 4
	ngTsresolNanosSecs = 9 // if_tsresol: 10^-9 s
)

// recorder encodes packets as pcap or pcapng records, each handed to the
// destination in one Write and flushed, so that a reader at the other end
// of a pipe sees every packet as soon as it is captured.
type recorder struct {
	dst    io.Writer
	buf    []byte
	pcapng bool
}

// newRecorder writes the file header (pcap) or the section header and the
// interface description (pcapng) to w.
func newRecorder(w io.Writer, o Options, dev string, linkType uint16) (*recorder, error) {
	r := &recorder{dst: w, pcapng: o.Format == FormatPcapng}
	if !r.pcapng {
		r.buf = binary.LittleEndian.AppendUint32(r.buf, pcapMagicMicro)
		r.buf = binary.LittleEndian.AppendUint16(r.buf, pcapVersionMajor)
		r.buf = binary.LittleEndian.AppendUint16(r.buf, pcapVersionMinor)
		r.buf = binary.LittleEndian.AppendUint32(r.buf, 0) // thiszone: UTC
		r.buf = binary.LittleEndian.AppendUint32(r.buf, 0) // sigfigs
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(o.Snaplen))
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(linkType))
		return r, r.emit()
	}
	var shb []byte
	shb = binary.LittleEndian.AppendUint32(shb, ngByteOrderMagic)
	shb = binary.LittleEndian.AppendUint16(shb, 1)          // major version
	shb = binary.LittleEndian.AppendUint16(shb, 0)          // minor version
	shb = binary.LittleEndian.AppendUint64(shb, ^uint64(0)) // section length: not given
	shb = appendOption(shb, ngOptShbUserAppl, []byte("nslab"))
	shb = appendOption(shb, ngOptShbHardware, []byte(runtime.GOARCH))
	shb = appendOption(shb, ngOptShbOS, []byte(runtime.GOOS))
	shb = binary.LittleEndian.AppendUint32(shb, ngOptEnd)
	r.buf = appendBlock(r.buf, ngSectionHeader, shb)

	var idb []byte
	idb = binary.LittleEndian.AppendUint16(idb, linkType)
	idb = binary.LittleEndian.AppendUint16(idb, 0) // reserved
	idb = binary.LittleEndian.AppendUint32(idb, uint32(o.Snaplen))
	idb = appendOption(idb, ngOptIfName, []byte(dev))
	if o.Filter != "" {
		// The first byte says how the filter is given: 0, a libpcap string.
		idb = appendOption(idb, ngOptIfFilter, append([]byte{0}, o.Filter...))
	}
	idb = appendOption(idb, ngOptIfOS, []byte(runtime.GOOS))
	idb = appendOption(idb, ngOptIfTsresol, []byte{ngTsresolNanosSecs})
	idb = binary.LittleEndian.AppendUint32(idb, ngOptEnd)
	r.buf = appendBlock(r.buf, ngInterface, idb)
	return r, r.emit()
}

// appendOption appends a pcapng option: code, length, value padded to 32 bits.
func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	return append(b, zeros[:pad4(len(v))]...)
}

// appendBlock appends a pcapng block: type, total length, body padded to 32
// bits, total length again.
func appendBlock(b []byte, typ uint32, body []byte) []byte {
	n := uint32(12 + len(body) + pad4(len(body)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	b = append(b, zeros[:pad4(len(body))]...)
	return binary.LittleEndian.AppendUint32(b, n)
}

// pad4 is how many zero bytes pad n bytes to a multiple of four.
func pad4(n int) int { return (4 - n&3) & 3 }

var zeros [3]byte

// emit hands what is buffered to the destination and flushes it.
func (r *recorder) emit() error {
	defer func() { r.buf = r.buf[:0] }()
	if _, err := r.dst.Write(r.buf); err != nil {
		return err
	}
	if f, ok := r.dst.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// writePacket records one packet.
func (r *recorder) writePacket(pi packetInfo, data []byte) error {
	if pi.caplen != len(data) || pi.caplen > pi.length {
		return fmt.Errorf("capture length %d, data %d bytes, length %d: inconsistent", pi.caplen, len(data), pi.length)
	}
	if !r.pcapng {
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.ts.Unix()))
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.ts.Nanosecond()/1000))
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.caplen))
		r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.length))
		r.buf = append(r.buf, data...)
		return r.emit()
	}
	// An enhanced packet block: interface 0, a 64-bit timestamp in units of
	// if_tsresol (nanoseconds), high word first.
	n := len(data) + pad4(len(data))
	total := uint32(32 + n)
	ts := uint64(pi.ts.UnixNano())
	r.buf = binary.LittleEndian.AppendUint32(r.buf, ngEnhancedPacket)
	r.buf = binary.LittleEndian.AppendUint32(r.buf, total)
	r.buf = binary.LittleEndian.AppendUint32(r.buf, 0)
	r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(ts>>32))
	r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(ts))
	r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.caplen))
	r.buf = binary.LittleEndian.AppendUint32(r.buf, uint32(pi.length))
	r.buf = append(r.buf, data...)
	r.buf = append(r.buf, zeros[:n-len(data)]...)
	r.buf = binary.LittleEndian.AppendUint32(r.buf, total)
	return r.emit()
}

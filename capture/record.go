package capture

import (
	"bytes"
	"io"
	"runtime"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// recorder encodes packets as pcap or pcapng records, each handed to the
// destination in one Write and flushed, so that a reader at the other end
// of a pipe sees every packet as soon as it is captured.
type recorder struct {
	dst   io.Writer
	buf   bytes.Buffer
	write func(ci gopacket.CaptureInfo, data []byte) error
}

// newRecorder writes the file header (pcap) or the section header and the
// interface description (pcapng) to w.
func newRecorder(w io.Writer, o Options, dev string, lt layers.LinkType) (*recorder, error) {
	r := &recorder{dst: w}
	switch o.Format {
	case FormatPcapng:
		ng, err := pcapgo.NewNgWriterInterface(&r.buf, pcapgo.NgInterface{
			Name:                dev,
			Filter:              o.Filter,
			OS:                  runtime.GOOS,
			LinkType:            lt,
			SnapLength:          uint32(o.Snaplen),
			TimestampResolution: 9,
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
			Hardware:    runtime.GOARCH,
			OS:          runtime.GOOS,
			Application: "nslab",
		}})
		if err != nil {
			return nil, err
		}
		r.write = func(ci gopacket.CaptureInfo, data []byte) error {
			if err := ng.WritePacket(ci, data); err != nil {
				return err
			}
			return ng.Flush()
		}
		if err := ng.Flush(); err != nil {
			return nil, err
		}
	default:
		pw := pcapgo.NewWriter(&r.buf)
		if err := pw.WriteFileHeader(uint32(o.Snaplen), lt); err != nil {
			return nil, err
		}
		r.write = pw.WritePacket
	}
	return r, r.emit()
}

// emit hands what is buffered to the destination and flushes it.
func (r *recorder) emit() error {
	defer r.buf.Reset()
	if _, err := r.dst.Write(r.buf.Bytes()); err != nil {
		return err
	}
	if f, ok := r.dst.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// writePacket records one packet.
func (r *recorder) writePacket(ci gopacket.CaptureInfo, data []byte) error {
	if err := r.write(ci, data); err != nil {
		r.buf.Reset()
		return err
	}
	return r.emit()
}

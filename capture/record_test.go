package capture

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestRecorderRoundTrip writes packets of every padding length in both
// formats and reads them back with gopacket's pcapgo, an independent reader:
// bytes, lengths, timestamps (microseconds in pcap, nanoseconds in pcapng)
// and, in pcapng, the section and interface options.
func TestRecorderRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	var pkts []packetInfo
	var datas [][]byte
	for n := 1; n <= 9; n++ {
		d := bytes.Repeat([]byte{byte(n)}, n)
		datas = append(datas, d)
		pkts = append(pkts, packetInfo{ts: ts.Add(time.Duration(n) * time.Nanosecond), caplen: n, length: n + n%3})
	}
	for _, tc := range []struct {
		format string
		res    time.Duration
	}{{FormatPcap, time.Microsecond}, {FormatPcapng, time.Nanosecond}} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			o := Options{Format: tc.format, Snaplen: 1500, Filter: "udp port 9"}
			r, err := newRecorder(&buf, o, "eth7", linkTypeRaw)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range pkts {
				if err := r.writePacket(p, datas[i]); err != nil {
					t.Fatal(err)
				}
			}
			var src interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
				LinkType() layers.LinkType
			}
			if tc.format == FormatPcapng {
				ng, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatal(err)
				}
				ifc, err := ng.Interface(0)
				if err != nil || ifc.Name != "eth7" || ifc.Filter != o.Filter || ifc.OS != runtime.GOOS || ifc.SnapLength != 1500 || ifc.TimestampResolution != 9 {
					t.Errorf("interface %+v, %v", ifc, err)
				}
				if si := ng.SectionInfo(); si.Application != "nslab" || si.OS != runtime.GOOS || si.Hardware != runtime.GOARCH {
					t.Errorf("section %+v", si)
				}
				src = ng
			} else {
				pr, err := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
				if err != nil {
					t.Fatal(err)
				}
				if pr.Snaplen() != 1500 {
					t.Errorf("snaplen %d", pr.Snaplen())
				}
				src = pr
			}
			if src.LinkType() != layers.LinkTypeRaw {
				t.Errorf("link type %v, want raw", src.LinkType())
			}
			for i, p := range pkts {
				data, ci, err := src.ReadPacketData()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !bytes.Equal(data, datas[i]) || ci.CaptureLength != p.caplen || ci.Length != p.length {
					t.Errorf("packet %d: %x (%d of %d), want %x (%d of %d)", i, data, ci.CaptureLength, ci.Length, datas[i], p.caplen, p.length)
				}
				if want := p.ts.Truncate(tc.res); !ci.Timestamp.Equal(want) {
					t.Errorf("packet %d: time %v, want %v", i, ci.Timestamp, want)
				}
			}
			if _, _, err := src.ReadPacketData(); err != io.EOF {
				t.Errorf("after the last packet: %v, want EOF", err)
			}
		})
	}
}

func TestRecorderRefusesInconsistentLengths(t *testing.T) {
	r, err := newRecorder(io.Discard, Options{}, "x", linkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []packetInfo{{caplen: 3, length: 3}, {caplen: 2, length: 1}} {
		if err := r.writePacket(p, []byte{1, 2}); err == nil {
			t.Errorf("writePacket(%+v, 2 bytes) = nil, want an error", p)
		}
	}
}

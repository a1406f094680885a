package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/nslab/nslab/internal/nsthread"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// rcvbuf is the socket receive buffer asked for: tcpdump's default of 2 MiB,
// so short bursts are not dropped while the writer is slow.
const rcvbuf = 2 << 20

// packetSocket is an AF_PACKET socket bound to one interface.
type packetSocket struct {
	f        *os.File // non-blocking fd in Go's poller: deadlines wake reads
	rc       syscall.RawConn
	buf      []byte // snaplen bytes
	oob      []byte
	ethernet bool // frames start with an Ethernet header (VLAN tags go back in)
	loopback bool // drop the outgoing copy of each packet
}

// openSocket makes a packet socket in ns, attaches filter (if any), and only
// then binds it to the interface, so that no packet reaches it unfiltered.
// Only socket(2) runs inside ns; everything after acts on the socket.
func openSocket(ns vnetns.NsHandle, ifc iface, filter []bpf.RawInstruction, snaplen int) (*packetSocket, error) {
	fd := -1
	err := nsthread.Do(ns, func() error {
		// Protocol 0: the socket receives nothing until bind names one.
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		return err
	})
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			err = fmt.Errorf("open packet socket: this kernel has no AF_PACKET (CONFIG_PACKET): %w", errors.Join(errors.ErrUnsupported, err))
		} else {
			err = fmt.Errorf("open packet socket: %w", err)
		}
		return nil, err
	}
	s := &packetSocket{
		f:        os.NewFile(uintptr(fd), "packet socket"),
		buf:      make([]byte, snaplen),
		oob:      make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{})))+unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))),
		ethernet: ifc.linkType == linkTypeEthernet,
		loopback: ifc.loopback,
	}
	if err := s.setup(ifc.index, filter); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *packetSocket) setup(ifindex int, filter []bpf.RawInstruction) error {
	rc, err := s.f.SyscallConn()
	if err != nil {
		return err
	}
	s.rc = rc
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		serr = configure(int(fd), ifindex, filter)
	})
	return errors.Join(cerr, serr)
}

func configure(fd, ifindex int, filter []bpf.RawInstruction) error {
	if len(filter) > 0 {
		if len(filter) > unix.BPF_MAXINSNS {
			return fmt.Errorf("filter program has %d instructions, more than the kernel's %d", len(filter), unix.BPF_MAXINSNS)
		}
		prog := make([]unix.SockFilter, len(filter))
		for i, in := range filter {
			prog[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
			return fmt.Errorf("attach filter (SO_ATTACH_FILTER): %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("set PACKET_AUXDATA: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("set SO_TIMESTAMPNS: %w", err)
	}
	// Best effort: the kernel caps it at net.core.rmem_max.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind packet socket to ifindex %d: %w", ifindex, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *packetSocket) close() error { return s.f.Close() }

// read returns the next packet, blocking until one comes or the read
// deadline passes (os.ErrDeadlineExceeded). data is a new slice.
func (s *packetSocket) read() ([]byte, packetInfo, error) {
	for {
		var n, oobn int
		var from unix.Sockaddr
		var rerr error
		err := s.rc.Read(func(fd uintptr) bool {
			// MSG_TRUNC: n is the packet's full length even when
			// the buffer (snaplen) is shorter.
			n, oobn, _, from, rerr = unix.Recvmsg(int(fd), s.buf, s.oob, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, packetInfo{}, err
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && s.loopback && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // lo delivers each packet back as incoming: keep that copy
		}
		m := decodeOOB(s.oob[:oobn])
		if m.ts.IsZero() {
			m.ts = time.Now()
		}
		length := n
		if m.haveAux {
			length = int(m.aux.Len)
		}
		data, length := frame(s.buf[:min(n, len(s.buf))], length, m, s.ethernet, len(s.buf))
		ci := packetInfo{ts: m.ts, caplen: len(data), length: length}
		return data, ci, nil
	}
}

// meta is what the kernel says about a packet in control messages.
type meta struct {
	aux     unix.TpacketAuxdata
	haveAux bool
	ts      time.Time
}

// decodeOOB parses the control messages of a packet socket's recvmsg:
// PACKET_AUXDATA and SO_TIMESTAMPNS. Unknown or short messages are skipped.
func decodeOOB(oob []byte) meta {
	var m meta
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return m
	}
	for _, c := range msgs {
		switch {
		case c.Header.Level == unix.SOL_PACKET && c.Header.Type == unix.PACKET_AUXDATA &&
			len(c.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})):
			a := &m.aux
			a.Status = binary.NativeEndian.Uint32(c.Data[0:])
			a.Len = binary.NativeEndian.Uint32(c.Data[4:])
			a.Snaplen = binary.NativeEndian.Uint32(c.Data[8:])
			a.Mac = binary.NativeEndian.Uint16(c.Data[12:])
			a.Net = binary.NativeEndian.Uint16(c.Data[14:])
			a.Vlan_tci = binary.NativeEndian.Uint16(c.Data[16:])
			a.Vlan_tpid = binary.NativeEndian.Uint16(c.Data[18:])
			m.haveAux = true
		case c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SO_TIMESTAMPNS &&
			len(c.Data) >= int(unsafe.Sizeof(unix.Timespec{})):
			sec := int64(binary.NativeEndian.Uint64(c.Data[0:]))
			nsec := int64(binary.NativeEndian.Uint64(c.Data[8:]))
			m.ts = time.Unix(sec, nsec)
		}
	}
	return m
}

// frame copies a received packet, putting back the 802.1Q tag that the
// kernel moved out of an Ethernet frame into auxdata (as libpcap does), and
// keeps at most snaplen bytes. length is the packet's length on the wire;
// it returns the copy and the length corrected for the tag.
func frame(p []byte, length int, m meta, ethernet bool, snaplen int) ([]byte, int) {
	const macs = 12
	if !ethernet || !m.haveAux || m.aux.Status&unix.TP_STATUS_VLAN_VALID == 0 || len(p) < macs {
		return append([]byte(nil), p...), length
	}
	tpid := uint16(unix.ETH_P_8021Q)
	if m.aux.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		tpid = m.aux.Vlan_tpid
	}
	out := make([]byte, 0, len(p)+4)
	out = append(out, p[:macs]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, m.aux.Vlan_tci)
	out = append(out, p[macs:]...)
	if len(out) > snaplen {
		out = out[:snaplen]
	}
	return out, length + 4
}

package probe

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// probeICMP sends one echo request and waits for the matching reply or ICMP
// error. It uses a raw socket unless dgram is set or raw sockets are not
// permitted, and then an ICMP datagram ("ping") socket.
func probeICMP(ctx context.Context, r Request, dgram bool) Result {
	proto := unix.IPPROTO_ICMP
	if r.Dst.Is6() {
		proto = unix.IPPROTO_ICMPV6
	}
	raw := sockSpec{typ: unix.SOCK_RAW, proto: proto, icmpFilter: true, name: "raw icmp"}
	ping := sockSpec{typ: unix.SOCK_DGRAM, proto: proto, recvErr: true, name: "icmp datagram"}
	var (
		s    *sock
		zone uint32
		err  error
	)
	if !dgram {
		s, zone, err = openSock(r.NS, r.Dst, raw)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			dgram = true
		}
	}
	if dgram {
		s, zone, err = openSock(r.NS, r.Dst, ping)
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			err = fmt.Errorf("%w (icmp probes need CAP_NET_RAW, or a group within net.ipv4.ping_group_range of the namespace)", err)
		}
	}
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", r, err)}
	}
	defer s.Close()
	stop := s.watch(ctx)
	defer stop()

	id, seq := rand.IntN(1<<16), rand.IntN(1<<16)
	nonce := make([]byte, 16)
	crand.Read(nonce)
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if s.v6 {
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	// For ICMPv6 the kernel fills in the checksum (and for ping sockets the
	// identifier too).
	wb, err := (&icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: nonce}}).Marshal(nil)
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("probe %s: marshal echo request: %w", r, err)}
	}
	dst := r.Dst.WithZone("")
	start := time.Now()
	if err := s.send(wb, sockaddr(dst, 0, zone)); err != nil {
		return s.failure(r, start, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.recv(buf)
		if err != nil {
			var errno unix.Errno
			if !dgram && errors.As(err, &errno) && !errors.Is(err, os.ErrDeadlineExceeded) {
				// A raw socket's pending error may come from any
				// probe's ICMP error in this namespace; the message
				// itself is still queued and is matched below.
				continue
			}
			return s.failure(r, start, err)
		}
		p := buf[:n]
		if !dgram && !s.v6 {
			// Raw IPv4 sockets return the IP header too.
			if len(p) < 20 {
				continue
			}
			p = p[min(int(p[0]&0x0f)*4, len(p)):]
		}
		m, err := icmp.ParseMessage(proto, p)
		if err != nil {
			continue
		}
		var quoted []byte
		switch b := m.Body.(type) {
		case *icmp.Echo:
			if m.Type == replyType && from == dst && (dgram || b.ID == id) && b.Seq == seq && bytes.Equal(b.Data, nonce) {
				return Result{Verdict: OK, RTT: time.Since(start)}
			}
		case *icmp.DstUnreach:
			quoted = b.Data
		case *icmp.TimeExceeded:
			quoted = b.Data
		case *icmp.PacketTooBig:
			quoted = b.Data
		case *icmp.ParamProb:
			quoted = b.Data
		}
		if quoted == nil {
			continue
		}
		qdst, qid, qseq, echo := quotedEcho(quoted, s.v6)
		if !echo || qdst != dst || qid != id || qseq != seq {
			continue
		}
		ie := &ICMPError{IPv6: s.v6, Type: icmpType(m.Type), Code: m.Code, From: from}
		return Result{Verdict: ie.Verdict(), RTT: time.Since(start), Err: fmt.Errorf("probe %s: %w", r, ie)}
	}
}

func icmpType(t icmp.Type) int {
	switch t := t.(type) {
	case ipv4.ICMPType:
		return int(t)
	case ipv6.ICMPType:
		return int(t)
	}
	return -1
}

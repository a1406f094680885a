package probe

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// probeTCP connects to r.Dst:r.Port and closes the connection at once.
// A TCP reset reads as Refused, silence as Timeout.
func probeTCP(ctx context.Context, r Request) Result {
	s, zone, err := openSock(r.NS, r.Dst, sockSpec{typ: unix.SOCK_STREAM, proto: unix.IPPROTO_TCP, recvErr: true, name: "tcp"})
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", r, err)}
	}
	defer s.Close()
	stop := s.watch(ctx)
	defer stop()
	start := time.Now()
	if err := s.connect(sockaddr(r.Dst.WithZone(""), r.Port, zone)); err != nil {
		return s.failure(r, start, err)
	}
	return Result{Verdict: OK, RTT: time.Since(start)}
}

// probeUDP sends a datagram with a random nonce from a connected socket and
// waits for the same bytes to come back (see Listen). An ICMP port
// unreachable reads as Refused, silence as Timeout.
func probeUDP(ctx context.Context, r Request) Result {
	s, zone, err := openSock(r.NS, r.Dst, sockSpec{typ: unix.SOCK_DGRAM, proto: unix.IPPROTO_UDP, recvErr: true, name: "udp"})
	if err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", r, err)}
	}
	defer s.Close()
	stop := s.watch(ctx)
	defer stop()
	start := time.Now()
	// A connected UDP socket accepts datagrams from the peer only and
	// reports its ICMP errors on the next receive.
	if err := s.connect(sockaddr(r.Dst.WithZone(""), r.Port, zone)); err != nil {
		return s.failure(r, start, err)
	}
	nonce := make([]byte, 16)
	crand.Read(nonce)
	msg := append([]byte("nslab-probe "), nonce...)
	if err := s.send(msg, nil); err != nil {
		return s.failure(r, start, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := s.recv(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return Result{Verdict: Timeout}
			}
			return s.failure(r, start, err)
		}
		if bytes.Equal(buf[:n], msg) {
			return Result{Verdict: OK, RTT: time.Since(start)}
		}
	}
}

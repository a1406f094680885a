// Package probe checks reachability from inside a network namespace: ICMP
// echo, TCP connect and UDP echo probes, each answered with a Verdict that
// tells an answer ("ok") from an active refusal ("refused"), silence
// ("timeout") and a missing route ("unreachable"). It is what `nslab check`
// runs; Listen starts the small TCP and UDP responders that the probes talk to.
//
// The iproute2-era equivalents are `ip netns exec NS ping -c1 -W1 ADDR`,
// `... nc -z ADDR PORT` and `... nc -u ADDR PORT`; this package runs no
// subprocess. Every socket is created on a thread inside the namespace (via
// internal/nsthread, which the socket keeps) and then used from ordinary
// goroutines with deadlines, so a probe costs no locked thread while it waits
// and thousands of probes can run at once.
//
// # Concurrency
//
// Probe, ProbeAll and Listen are safe for concurrent use; they share no state.
// The namespace handle in a Request must stay open until Probe returns.
//
// # Privileges
//
// ICMP probes use a raw socket, which needs CAP_NET_RAW in the namespace's
// user namespace; without it they fall back to an unprivileged ICMP datagram
// ("ping") socket, which the kernel allows only to groups within the
// namespace's net.ipv4.ping_group_range. TCP and UDP probes need no privilege.
package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	vnetns "github.com/vishvananda/netns"
)

// Proto is the protocol of a probe.
type Proto string

// The protocols a probe can use.
const (
	ICMP Proto = "icmp" // ICMP or ICMPv6 echo request, like ping
	TCP  Proto = "tcp"  // TCP connect (SYN, then close), like nc -z
	UDP  Proto = "udp"  // a datagram that the peer must echo back (see Listen)
)

// Verdict is the outcome of a probe.
type Verdict string

// The verdicts of a probe.
const (
	// OK: the peer answered (echo reply, TCP handshake, UDP echo).
	OK Verdict = "ok"
	// Refused: an active refusal: a TCP RST, or an ICMP port unreachable
	// or administratively-prohibited error (what a firewall "reject" sends).
	Refused Verdict = "refused"
	// Timeout: no answer before the deadline (a firewall "drop", a dead
	// host, or a UDP peer that does not echo).
	Timeout Verdict = "timeout"
	// Unreachable: no route to the destination, or an ICMP net or host
	// unreachable error from the path.
	Unreachable Verdict = "unreachable"
	// Error: the probe could not be run (bad request, socket failure,
	// cancelled context); Result.Err says why.
	Error Verdict = "error"
)

// DefaultTimeout is the wait of a Request whose Timeout is zero.
const DefaultTimeout = time.Second

// Request describes one probe. The zero Timeout means DefaultTimeout.
type Request struct {
	NS      vnetns.NsHandle // the namespace the probe is sent from; must be open
	Proto   Proto
	Dst     netip.Addr    // IPv4 or IPv6 destination; a zone is honoured for link-local IPv6
	Port    int           // destination port for TCP and UDP, 1-65535; ignored for ICMP
	Timeout time.Duration // how long to wait for an answer; 0 = DefaultTimeout
}

// String describes the request as "proto dst[:port]".
func (r Request) String() string {
	if r.Proto == ICMP {
		return fmt.Sprintf("%s %s", r.Proto, r.Dst)
	}
	return fmt.Sprintf("%s %s", r.Proto, netip.AddrPortFrom(r.Dst, uint16(r.Port)))
}

// Result is the outcome of one probe.
type Result struct {
	Verdict Verdict
	// RTT is the time from sending to the answer (for OK) or to the
	// refusal or unreachable error; zero for Timeout and Error.
	RTT time.Duration
	// Err is the cause: the error behind Error, and the kernel's errno or
	// ICMP error behind Refused and Unreachable (an *ICMPError, a
	// syscall.Errno). It is nil for OK, and for Timeout unless the
	// sender's own firewall dropped the probe (EPERM on send).
	Err error
}

// ErrBadRequest is wrapped by the Err of a Result whose Request is invalid.
var ErrBadRequest = errors.New("invalid probe request")

// check validates r and returns a one-line error naming what to fix.
func (r Request) check() error {
	if !r.NS.IsOpen() {
		return fmt.Errorf("probe %s: %w: no source namespace (Request.NS is not open)", r, ErrBadRequest)
	}
	if !r.Dst.IsValid() {
		return fmt.Errorf("probe %s: %w: no destination address", r.Proto, ErrBadRequest)
	}
	if r.Dst.IsUnspecified() {
		return fmt.Errorf("probe %s: %w: destination is the unspecified address", r, ErrBadRequest)
	}
	if r.Timeout < 0 {
		return fmt.Errorf("probe %s: %w: negative timeout %v", r, ErrBadRequest, r.Timeout)
	}
	switch r.Proto {
	case ICMP:
	case TCP, UDP:
		if r.Port < 1 || r.Port > 65535 {
			return fmt.Errorf("probe %s: %w: port %d is not in 1-65535", r, ErrBadRequest, r.Port)
		}
	default:
		return fmt.Errorf("probe %q to %s: %w: unknown protocol (use icmp, tcp or udp)", r.Proto, r.Dst, ErrBadRequest)
	}
	return nil
}

// Probe sends one probe from r.NS and waits for its answer until r.Timeout
// or ctx ends, whichever comes first. A cancelled or expired ctx gives the
// Error verdict with ctx's error, so that "the caller gave up" is never read
// as "the network dropped it". Probe never panics on bad input: an invalid
// Request gives Error with an error wrapping ErrBadRequest.
//
// Equivalent to `ip netns exec NS ping -c1 -W T DST` (icmp), `... nc -z -w T
// DST PORT` (tcp), or a UDP datagram that Listen's responder echoes (udp).
func Probe(ctx context.Context, r Request) Result {
	if err := r.check(); err != nil {
		return Result{Verdict: Error, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", r, err)}
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if r.Dst.Is4In6() {
		r.Dst = r.Dst.Unmap()
	}
	// When ctx ends before the probe's own timeout, running out of time
	// is the caller giving up, not a verdict on the network.
	callerLimits := false
	if d, ok := ctx.Deadline(); ok && d.Before(time.Now().Add(r.Timeout)) {
		callerLimits = true
	}
	pctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	var res Result
	switch r.Proto {
	case ICMP:
		res = probeICMP(pctx, r, false)
	case TCP:
		res = probeTCP(pctx, r)
	case UDP:
		res = probeUDP(pctx, r)
	}
	// The probe's own deadline is a Timeout verdict; the caller's
	// cancellation is not.
	if res.Verdict == Timeout {
		err := ctx.Err()
		if err == nil && callerLimits {
			err = context.DeadlineExceeded
		}
		if err != nil {
			return Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", r, err)}
		}
	}
	return res
}

// ProbeAll runs the probes of rs with at most parallel of them at once
// (parallel < 1 means 64) and returns their results in the order of rs.
// Once ctx ends, the probes not yet started get the Error verdict with ctx's
// error without being sent.
func ProbeAll(ctx context.Context, rs []Request, parallel int) []Result {
	if parallel < 1 {
		parallel = 64
	}
	out := make([]Result, len(rs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, r := range rs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < len(rs); j++ {
				out[j] = Result{Verdict: Error, Err: fmt.Errorf("probe %s: %w", rs[j], ctx.Err())}
			}
			wg.Wait()
			return out
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = Probe(ctx, r)
		})
	}
	wg.Wait()
	return out
}

// deadline returns ctx's deadline (Probe always sets one).
func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(DefaultTimeout)
	}
	return d
}

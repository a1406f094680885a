// Package shape impairs the traffic a network device sends, with the kernel's
// queueing disciplines set through netlink: a rate limit with tbf, and delay,
// jitter, loss, duplication, corruption and reordering with netem. It is
// nslab's `tc qdisc` (iproute2's tc-tbf(8) and tc-netem(8)), without running
// tc.
//
// An Impairment is a plain value that Parse reads from words like
// "rate=10mbit delay=20ms loss=1%" and String writes back. Apply sets it on
// one device, in the namespace of a netlink handle; Get reads it back from
// the kernel and Clear removes it. Shaping is egress only: to impair a link
// in both directions, apply the same Impairment to both of its ends.
//
// Kernels differ: a kernel may lack netem (CONFIG_NET_SCH_NETEM) or tbf.
// Detect probes once which qdiscs the kernel offers, and Apply refuses, before
// changing anything, an Impairment that needs a missing one, with one line
// that names the setting, the kernel option and the module
// (errors.ErrUnsupported).
//
// nslab marks its qdiscs with fixed handles (6e74:, 6e6e:, 6e6f:, 6e75:) and
// touches no root qdisc that someone else set (ErrForeign).
//
// Functions here may be called from any goroutine; calls for the same device
// must be serialized by the caller.
package shape

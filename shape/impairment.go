package shape

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// An Impairment is what one link end does to the packets it sends: a rate
// limit (tbf) and netem's delay, jitter, loss, duplication, corruption and
// reordering. The zero value changes nothing.
//
// Rates are bits per second and percentages are 0 to 100, as in tc(8).
// An Impairment is a plain value: copy and compare it freely.
type Impairment struct {
	// Rate is the egress rate limit in bits per second, 0 = unlimited. The
	// kernel counts whole bytes, so it must be a multiple of 8 (tc's
	// `rate`). It is measured on the frames the device sends, Ethernet
	// header included, so TCP payload gets about 95% of it.
	Rate uint64
	// Burst is the token bucket size in bytes (tc's `burst`); 0 means the
	// default, DefaultBurst(Rate, MTU):
	// max(Rate/8/100, 2×(MTU+14)), that is 10 ms of traffic but never less
	// than two full frames. Burst is only meaningful with Rate.
	Burst uint32
	// Delay is added to every packet (netem `delay`). Whole microseconds.
	Delay time.Duration
	// Jitter varies Delay uniformly by ± Jitter (netem's second delay
	// argument). It needs Delay. Whole microseconds.
	Jitter time.Duration
	// Loss is the percentage of packets dropped at random (netem `loss`).
	Loss float64
	// Duplicate is the percentage of packets sent twice (netem `duplicate`).
	Duplicate float64
	// Corrupt is the percentage of packets with one flipped bit (netem
	// `corrupt`).
	Corrupt float64
	// Reorder is the percentage of packets sent at once, ahead of the
	// delayed others (netem `reorder`). It needs Delay.
	Reorder float64
	// Limit is the queue length in packets; 0 means the default. With
	// netem it is netem's `limit` (default 1000 packets). With a rate limit
	// alone it sets tbf's byte limit to Limit×(MTU+14); the default is the
	// burst plus 50 ms of traffic at Rate (tc's `latency 50ms`).
	Limit uint32
}

// maxTick is the longest time the kernel's 32-bit psched fields hold: ticks
// of 64 ns (PSCHED_SHIFT 6), about 274 s.
const maxTick = time.Duration(math.MaxUint32) << 6

// IsZero reports whether i changes nothing.
func (i Impairment) IsZero() bool { return i == Impairment{} }

// NeedsNetem reports whether i uses a netem feature: delay, jitter, loss,
// duplicate, corrupt or reorder. Rate, Burst and Limit alone need only tbf.
func (i Impairment) NeedsNetem() bool {
	return i.Delay != 0 || i.Jitter != 0 || i.Loss != 0 || i.Duplicate != 0 || i.Corrupt != 0 || i.Reorder != 0
}

// netemWords returns the words of i that need netem, for error messages.
func (i Impairment) netemWords() []string {
	var w []string
	if i.Delay != 0 {
		w = append(w, "delay "+formatDuration(i.Delay))
	}
	if i.Jitter != 0 {
		w = append(w, "jitter "+formatDuration(i.Jitter))
	}
	for _, p := range []struct {
		k string
		v float64
	}{{"loss", i.Loss}, {"duplicate", i.Duplicate}, {"corrupt", i.Corrupt}, {"reorder", i.Reorder}} {
		if p.v != 0 {
			w = append(w, p.k+" "+formatPercent(p.v))
		}
	}
	return w
}

// String returns i in a stable, tc-like form, "rate 10mbit delay 20ms loss
// 1%", with the fields always in the order of the struct and zero fields left
// out; a zero Impairment is "none". Parse(strings.Fields(i.String())) gives i
// back.
func (i Impairment) String() string {
	if i.IsZero() {
		return "none"
	}
	var w []string
	if i.Rate != 0 {
		w = append(w, "rate", FormatRate(i.Rate))
	}
	if i.Burst != 0 {
		w = append(w, "burst", formatSize(i.Burst))
	}
	if i.Delay != 0 {
		w = append(w, "delay", formatDuration(i.Delay))
	}
	if i.Jitter != 0 {
		w = append(w, "jitter", formatDuration(i.Jitter))
	}
	if i.Loss != 0 {
		w = append(w, "loss", formatPercent(i.Loss))
	}
	if i.Duplicate != 0 {
		w = append(w, "duplicate", formatPercent(i.Duplicate))
	}
	if i.Corrupt != 0 {
		w = append(w, "corrupt", formatPercent(i.Corrupt))
	}
	if i.Reorder != 0 {
		w = append(w, "reorder", formatPercent(i.Reorder))
	}
	if i.Limit != 0 {
		w = append(w, "limit", strconv.FormatUint(uint64(i.Limit), 10))
	}
	return strings.Join(w, " ")
}

// Validate reports the first reason the kernel could not apply i, in one line
// that names the setting: percentages outside 0-100, a rate that is not a
// whole number of bytes per second, jitter or reorder without delay, burst
// without rate, or times longer than the kernel's qdiscs can hold.
func (i Impairment) Validate() error {
	if i.Rate%8 != 0 {
		return fmt.Errorf("rate %s: the kernel counts whole bytes per second; use a multiple of 8bit", FormatRate(i.Rate))
	}
	if i.Limit != 0 && i.Rate == 0 && !i.NeedsNetem() {
		return fmt.Errorf("limit %d: a queue limit needs a rate or a netem setting", i.Limit)
	}
	if i.Burst != 0 && i.Rate == 0 {
		return fmt.Errorf("burst %s: a burst needs a rate", formatSize(i.Burst))
	}
	if i.Rate != 0 && i.Burst != 0 {
		if t := xmitTime(i.Rate/8, uint64(i.Burst)); t > maxTick {
			return fmt.Errorf("burst %s: at rate %s it lasts %s; the kernel's limit is %s", formatSize(i.Burst), FormatRate(i.Rate), t.Round(time.Second), maxTick.Round(time.Second))
		}
	}
	for _, d := range []struct {
		k string
		v time.Duration
	}{{"delay", i.Delay}, {"jitter", i.Jitter}} {
		switch {
		case d.v < 0:
			return fmt.Errorf("%s %s: must not be negative", d.k, d.v)
		case d.v%time.Microsecond != 0:
			return fmt.Errorf("%s %s: netem counts whole microseconds", d.k, d.v)
		case d.v > maxTick:
			return fmt.Errorf("%s %s: the kernel's limit is %s", d.k, formatDuration(d.v), maxTick.Round(time.Second))
		}
	}
	if i.Jitter != 0 && i.Delay == 0 {
		return fmt.Errorf("jitter %s: jitter needs a delay", formatDuration(i.Jitter))
	}
	for _, p := range []struct {
		k string
		v float64
	}{{"loss", i.Loss}, {"duplicate", i.Duplicate}, {"corrupt", i.Corrupt}, {"reorder", i.Reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 100 {
			return fmt.Errorf("%s %v: a percentage must be between 0 and 100", p.k, p.v)
		}
		if pctBack(pct(p.v)) != p.v {
			return fmt.Errorf("%s %s: the kernel's resolution is 0.000001%%; use at most 6 decimals", p.k, formatPercent(p.v))
		}
	}
	if i.Reorder != 0 && i.Delay == 0 {
		return fmt.Errorf("reorder %s: reordering needs a delay (packets are sent ahead of the delayed ones)", formatPercent(i.Reorder))
	}
	return nil
}

// Parse reads an Impairment from words as written on the command line or in
// a topology file. Each setting is either one word "key=value" or two words
// "key value" (the form String prints); arguments containing spaces are split
// first. Keys:
//
//	rate=10mbit     bits per second, tc units (see ParseRate)
//	burst=32kb      bytes: b, kb|k (1024), mb|m, gb|g, kbit, mbit, gbit (tc's sizes)
//	delay=20ms      Go or tc durations: 100us, 20ms, 1.5s, 20msec, 1sec
//	jitter=5ms      needs delay
//	loss=1%         percent, the % sign is optional
//	duplicate=0.5%  corrupt=0.1%  reorder=25% (reorder needs delay)
//	limit=1000      queue length in packets
//
// The single word "none" is the zero Impairment. A key may appear once. The
// error names the bad word and is one line.
func Parse(args []string) (Impairment, error) {
	var words []string
	for _, a := range args {
		words = append(words, strings.Fields(a)...)
	}
	var i Impairment
	if len(words) == 1 && words[0] == "none" {
		return i, nil
	}
	seen := make(map[string]bool)
	for n := 0; n < len(words); n++ {
		word := words[n]
		key, val, ok := strings.Cut(word, "=")
		set, known := setters[key]
		if !known {
			return Impairment{}, fmt.Errorf("impairment %q: unknown setting; use rate, burst, delay, jitter, loss, duplicate, corrupt, reorder or limit", word)
		}
		if !ok {
			if n+1 >= len(words) {
				return Impairment{}, fmt.Errorf("impairment %q: missing value (write %s=VALUE)", key, key)
			}
			n++
			val = words[n]
			word = key + " " + val
		}
		if seen[key] {
			return Impairment{}, fmt.Errorf("impairment %q: %s given twice", word, key)
		}
		seen[key] = true
		if err := set(&i, val); err != nil {
			return Impairment{}, fmt.Errorf("impairment %q: %w", word, err)
		}
	}
	if err := i.Validate(); err != nil {
		return Impairment{}, fmt.Errorf("impairment: %w", err)
	}
	return i, nil
}

var setters = map[string]func(*Impairment, string) error{
	"rate": func(i *Impairment, v string) (err error) {
		i.Rate, err = parseRate(v)
		return err
	},
	"burst": func(i *Impairment, v string) (err error) {
		i.Burst, err = parseSize(v)
		return err
	},
	"delay": func(i *Impairment, v string) (err error) {
		i.Delay, err = parseDuration(v)
		return err
	},
	"jitter": func(i *Impairment, v string) (err error) {
		i.Jitter, err = parseDuration(v)
		return err
	},
	"loss":      func(i *Impairment, v string) (err error) { i.Loss, err = parsePercent(v); return err },
	"duplicate": func(i *Impairment, v string) (err error) { i.Duplicate, err = parsePercent(v); return err },
	"corrupt":   func(i *Impairment, v string) (err error) { i.Corrupt, err = parsePercent(v); return err },
	"reorder":   func(i *Impairment, v string) (err error) { i.Reorder, err = parsePercent(v); return err },
	"limit": func(i *Impairment, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("not a packet count from 1 to %d", uint32(math.MaxUint32))
		}
		i.Limit = uint32(n)
		return nil
	},
}

// rateUnits are tc(8)'s rate units, in bits per second. Matching ignores case.
var rateUnits = map[string]*big.Int{
	"": big.NewInt(1), "bit": big.NewInt(1),
	"kbit": big.NewInt(1e3), "mbit": big.NewInt(1e6), "gbit": big.NewInt(1e9), "tbit": big.NewInt(1e12),
	"kibit": big.NewInt(1 << 10), "mibit": big.NewInt(1 << 20), "gibit": big.NewInt(1 << 30), "tibit": big.NewInt(1 << 40),
	"bps":  big.NewInt(8),
	"kbps": big.NewInt(8e3), "mbps": big.NewInt(8e6), "gbps": big.NewInt(8e9), "tbps": big.NewInt(8e12),
	"kibps": big.NewInt(8 << 10), "mibps": big.NewInt(8 << 20), "gibps": big.NewInt(8 << 30), "tibps": big.NewInt(8 << 40),
}

// sizeUnits are tc(8)'s size units, in bytes (k, m, g are powers of 1024).
var sizeUnits = map[string]*big.Int{
	"": big.NewInt(1), "b": big.NewInt(1),
	"k": big.NewInt(1 << 10), "kb": big.NewInt(1 << 10),
	"m": big.NewInt(1 << 20), "mb": big.NewInt(1 << 20),
	"g": big.NewInt(1 << 30), "gb": big.NewInt(1 << 30),
	"kbit": big.NewInt(1 << 7), "mbit": big.NewInt(1 << 17), "gbit": big.NewInt(1 << 27),
}

// ParseRate reads a rate in tc(8)'s units and returns bits per second. A
// bare number or "bit" is bits per second; kbit, mbit, gbit, tbit multiply by
// powers of 1000 and kibit, mibit, gibit, tibit by powers of 1024; "bps" is
// bytes per second, with the same prefixes (so "mbps" is 8,000,000 bit/s, as
// tc defines it). Units ignore case ("10Mbit"); the number may have a decimal
// fraction ("1.5mbit") but the result must be a whole number of bits.
func ParseRate(s string) (uint64, error) {
	v, err := parseRate(s)
	if err != nil {
		return 0, fmt.Errorf("rate %q: %w", s, err)
	}
	return v, nil
}

func parseRate(s string) (uint64, error) {
	v, err := parseUnits(s, rateUnits, math.MaxUint64)
	if err != nil {
		return 0, fmt.Errorf("%w; write e.g. 10mbit, 500kbit, 1gbit or 2mbps (bytes)", err)
	}
	return v, nil
}

func parseSize(s string) (uint32, error) {
	v, err := parseUnits(s, sizeUnits, math.MaxUint32)
	if err != nil {
		return 0, fmt.Errorf("%w; write e.g. 32kb, 1500b or 1mb", err)
	}
	return uint32(v), nil
}

// parseUnits reads a decimal number followed by one of units and returns the
// exact product, which must be a whole number in [0, max].
func parseUnits(s string, units map[string]*big.Int, max uint64) (uint64, error) {
	end := 0
	dots := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		if s[end] == '.' {
			dots++
		}
		end++
	}
	num, unit := s[:end], strings.ToLower(s[end:])
	if num == "" || num == "." || dots > 1 {
		return 0, errors.New("not a number")
	}
	mul, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", s[end:])
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, errors.New("not a number")
	}
	r.Mul(r, new(big.Rat).SetInt(mul))
	if !r.IsInt() {
		return 0, errors.New("not a whole number")
	}
	n := r.Num()
	if !n.IsUint64() || n.Uint64() > max {
		return 0, errors.New("too large")
	}
	return n.Uint64(), nil
}

// FormatRate writes bits per second in tc's units, exactly: the largest of
// tbit, gbit, mbit, kbit that divides the rate, else bit ("10mbit",
// "1500kbit", "12bit").
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		s string
		n uint64
	}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps != 0 && bps%u.n == 0 {
			return strconv.FormatUint(bps/u.n, 10) + u.s
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

func formatSize(b uint32) string {
	for _, u := range []struct {
		s string
		n uint32
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}} {
		if b != 0 && b%u.n == 0 {
			return strconv.FormatUint(uint64(b/u.n), 10) + u.s
		}
	}
	return strconv.FormatUint(uint64(b), 10) + "b"
}

// parseDuration accepts Go durations and tc's usec, msec, sec suffixes.
func parseDuration(s string) (time.Duration, error) {
	for _, r := range []struct{ tc, gos string }{{"usecs", "us"}, {"usec", "us"}, {"msecs", "ms"}, {"msec", "ms"}, {"secs", "s"}, {"sec", "s"}} {
		if strings.HasSuffix(s, r.tc) {
			s = strings.TrimSuffix(s, r.tc) + r.gos
			break
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("not a duration; write e.g. 20ms, 500us or 1.5s")
	}
	return d, nil
}

// formatDuration writes d exactly in the largest of s, ms, us, ns that
// divides it.
func formatDuration(d time.Duration) string {
	for _, u := range []struct {
		s string
		n time.Duration
	}{{"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}} {
		if d != 0 && d%u.n == 0 {
			return strconv.FormatInt(int64(d/u.n), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

func parsePercent(s string) (float64, error) {
	num := strings.TrimSuffix(s, "%")
	bad := num == ""
	for _, c := range num {
		bad = bad || !(c >= '0' && c <= '9' || c == '.')
	}
	v, err := strconv.ParseFloat(num, 64)
	if bad || err != nil || v > 100 {
		return 0, fmt.Errorf("not a percentage; write a number from 0 to 100, e.g. 1%% or 0.5%%")
	}
	return v, nil
}

func formatPercent(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + "%"
}

package shape

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

var parseCases = []struct {
	name string
	args []string
	want Impairment
	str  string // String of want
}{
	{"rate mbit", []string{"rate=10mbit"}, Impairment{Rate: 10e6}, "rate 10mbit"},
	{"rate capitalised", []string{"rate=10Mbit"}, Impairment{Rate: 10e6}, "rate 10mbit"},
	{"rate gbit", []string{"rate=1gbit"}, Impairment{Rate: 1e9}, "rate 1gbit"},
	{"rate kbit", []string{"rate=500kbit"}, Impairment{Rate: 500e3}, "rate 500kbit"},
	{"rate decimal", []string{"rate=1.5mbit"}, Impairment{Rate: 1.5e6}, "rate 1500kbit"},
	{"rate bare bits", []string{"rate=8000"}, Impairment{Rate: 8000}, "rate 8kbit"},
	{"rate bit", []string{"rate=1000bit"}, Impairment{Rate: 1000}, "rate 1kbit"},
	{"rate mbps is bytes", []string{"rate=2mbps"}, Impairment{Rate: 16e6}, "rate 16mbit"},
	{"rate bps", []string{"rate=100bps"}, Impairment{Rate: 800}, "rate 800bit"},
	{"rate kibit", []string{"rate=1kibit"}, Impairment{Rate: 1024}, "rate 1024bit"},
	{"rate mibps", []string{"rate=1mibps"}, Impairment{Rate: 8 << 20}, "rate 8388608bit"},
	{"rate tbit", []string{"rate=2tbit"}, Impairment{Rate: 2e12}, "rate 2tbit"},
	{"burst kb", []string{"rate=10mbit", "burst=32kb"}, Impairment{Rate: 10e6, Burst: 32 << 10}, "rate 10mbit burst 32kb"},
	{"burst bytes", []string{"rate=10mbit", "burst=1600"}, Impairment{Rate: 10e6, Burst: 1600}, "rate 10mbit burst 1600b"},
	{"burst kbit", []string{"rate=10mbit", "burst=8kbit"}, Impairment{Rate: 10e6, Burst: 1024}, "rate 10mbit burst 1kb"},
	{"burst k", []string{"rate=10mbit", "burst=2k"}, Impairment{Rate: 10e6, Burst: 2048}, "rate 10mbit burst 2kb"},
	{"burst mb", []string{"rate=1gbit", "burst=1mb"}, Impairment{Rate: 1e9, Burst: 1 << 20}, "rate 1gbit burst 1mb"},
	{"delay jitter", []string{"delay=20ms", "jitter=5ms"}, Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}, "delay 20ms jitter 5ms"},
	{"delay tc msec", []string{"delay=20msec"}, Impairment{Delay: 20 * time.Millisecond}, "delay 20ms"},
	{"delay tc usec", []string{"delay=250usec"}, Impairment{Delay: 250 * time.Microsecond}, "delay 250us"},
	{"delay seconds", []string{"delay=1.5s"}, Impairment{Delay: 1500 * time.Millisecond}, "delay 1500ms"},
	{"delay tc sec", []string{"delay=2sec"}, Impairment{Delay: 2 * time.Second}, "delay 2s"},
	{"loss", []string{"loss=1%"}, Impairment{Loss: 1}, "loss 1%"},
	{"loss without sign", []string{"loss=0.5"}, Impairment{Loss: 0.5}, "loss 0.5%"},
	{"loss all", []string{"loss=100%"}, Impairment{Loss: 100}, "loss 100%"},
	{"loss zero", []string{"loss=0%"}, Impairment{}, "none"},
	{"netem all", []string{"delay=20ms", "jitter=5ms", "loss=1%", "duplicate=0.5%", "corrupt=0.1%", "reorder=25%", "limit=1000"},
		Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Duplicate: 0.5, Corrupt: 0.1, Reorder: 25, Limit: 1000},
		"delay 20ms jitter 5ms loss 1% duplicate 0.5% corrupt 0.1% reorder 25% limit 1000"},
	{"rate and netem", []string{"rate=10mbit", "delay=20ms", "loss=1%"}, Impairment{Rate: 10e6, Delay: 20 * time.Millisecond, Loss: 1}, "rate 10mbit delay 20ms loss 1%"},
	{"two-word form", []string{"rate", "10mbit", "delay", "20ms"}, Impairment{Rate: 10e6, Delay: 20 * time.Millisecond}, "rate 10mbit delay 20ms"},
	{"one string", []string{"rate=10mbit delay 20ms"}, Impairment{Rate: 10e6, Delay: 20 * time.Millisecond}, "rate 10mbit delay 20ms"},
	{"any order", []string{"loss=1%", "rate=10mbit"}, Impairment{Rate: 10e6, Loss: 1}, "rate 10mbit loss 1%"},
	{"none", []string{"none"}, Impairment{}, "none"},
	{"empty", nil, Impairment{}, "none"},
	{"rate limit", []string{"rate=10mbit", "limit=100"}, Impairment{Rate: 10e6, Limit: 100}, "rate 10mbit limit 100"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
			back, err := Parse(strings.Fields(got.String()))
			if err != nil || back != got {
				t.Errorf("Parse(String()) = %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"unknown key", []string{"speed=10mbit"}, `impairment "speed=10mbit": unknown setting`},
		{"unknown unit", []string{"rate=10xbit"}, `impairment "rate=10xbit": unknown unit "xbit"`},
		{"rate not a number", []string{"rate=fast"}, `impairment "rate=fast": not a number`},
		{"rate fraction of a bit", []string{"rate=0.5bit"}, `not a whole number`},
		{"rate too large", []string{"rate=100000000tbit"}, `too large`},
		{"rate not bytes", []string{"rate=1001bit"}, `rate 1001bit: the kernel counts whole bytes per second`},
		{"burst without rate", []string{"burst=32kb"}, `burst 32kb: a burst needs a rate`},
		{"burst too large", []string{"rate=1mbit", "burst=5gb"}, `impairment "burst=5gb": too large`},
		{"burst lasts too long", []string{"rate=8bit", "burst=1mb"}, `burst 1mb: at rate 8bit it lasts`},
		{"delay negative", []string{"delay=-5ms"}, `impairment "delay=-5ms": not a duration`},
		{"delay garbage", []string{"delay=soon"}, `impairment "delay=soon": not a duration`},
		{"delay below microseconds", []string{"delay=1500ns"}, `delay 1.5µs: netem counts whole microseconds`},
		{"delay too long", []string{"delay=300s"}, `delay 300s: the kernel's limit is`},
		{"jitter without delay", []string{"jitter=5ms"}, `jitter 5ms: jitter needs a delay`},
		{"reorder without delay", []string{"reorder=25%"}, `reorder 25%: reordering needs a delay`},
		{"loss above 100", []string{"loss=101%"}, `impairment "loss=101%": not a percentage`},
		{"loss negative", []string{"loss=-1%"}, `impairment "loss=-1%": not a percentage`},
		{"loss nan", []string{"loss=NaN"}, `not a percentage`},
		{"loss exponent", []string{"loss=1e1"}, `not a percentage`},
		{"loss too precise", []string{"loss=0.0000001%"}, `loss 0.0000001%: the kernel's resolution is 0.000001%`},
		{"limit zero", []string{"delay=1ms", "limit=0"}, `impairment "limit=0": not a packet count`},
		{"limit alone", []string{"limit=10"}, `limit 10: a queue limit needs a rate or a netem setting`},
		{"twice", []string{"rate=1mbit", "rate=2mbit"}, `impairment "rate=2mbit": rate given twice`},
		{"missing value", []string{"rate"}, `impairment "rate": missing value`},
		{"two-word bad value", []string{"rate", "delay=5ms"}, `impairment "rate delay=5ms": not a number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.args)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error containing %q", tc.args, got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tc.args, err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	for s, want := range map[string]uint64{"10mbit": 10e6, "10Mbit": 10e6, "1gbit": 1e9, "500kbit": 500e3, "1mbps": 8e6, "64000": 64000} {
		got, err := ParseRate(s)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if _, err := ParseRate("10 mbit"); err == nil || !strings.HasPrefix(err.Error(), `rate "10 mbit": `) {
		t.Errorf("ParseRate(%q) error = %v, want one naming the rate", "10 mbit", err)
	}
}

func TestCheck(t *testing.T) {
	here := Caps{TBF: true, HTB: true}
	i := Impairment{Rate: 10e6, Delay: 20 * time.Millisecond, Loss: 1}
	err := here.Check(i)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Check(%s) = %v, want errors.ErrUnsupported", i, err)
	}
	want := "delay 20ms, loss 1% need the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM, module sch_netem)"
	if err.Error() != want {
		t.Errorf("Check error = %q, want %q", err, want)
	}
	if err := here.Check(Impairment{Delay: 20 * time.Millisecond}); err == nil ||
		err.Error() != "delay 20ms needs the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM, module sch_netem)" {
		t.Errorf("Check(delay) = %v", err)
	}
	if err := here.Check(Impairment{Rate: 10e6, Limit: 10}); err != nil {
		t.Errorf("Check(rate) = %v, want nil", err)
	}
	if err := (Caps{Netem: true}).Check(Impairment{Rate: 1e6}); !errors.Is(err, errors.ErrUnsupported) ||
		!strings.Contains(err.Error(), "CONFIG_NET_SCH_TBF") {
		t.Errorf("Check(rate) without tbf = %v", err)
	}
	if err := (Caps{TBF: true, Netem: true}).Check(i); err != nil {
		t.Errorf("Check with netem = %v, want nil", err)
	}
}

func TestConversions(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 7 * time.Microsecond, 20 * time.Millisecond, 1234567 * time.Microsecond, maxTick.Truncate(time.Microsecond)} {
		if got := ticksDur(durTicks(d)); got != d {
			t.Errorf("ticksDur(durTicks(%v)) = %v", d, got)
		}
	}
	for _, p := range []float64{0.000001, 0.1, 0.5, 1, 25, 33.333333, 99.999999, 100} {
		if got := pctBack(pct(p)); got != p {
			t.Errorf("pctBack(pct(%v)) = %v", p, got)
		}
	}
	// Bursts read back exactly up to about 120 Mbit/s, and round ones at
	// any rate.
	for _, rate := range []uint64{8, 64e3, 1e6, 20e6, 100e6, 120e6, 10e9} {
		for _, b := range []uint32{25000, 32 << 10, 1 << 20, 1 << 30} {
			if xmitTime(rate/8, uint64(b)) > maxTick {
				continue
			}
			if got := ticksBytes(rate/8, tbfTicks(rate/8, uint64(b))); got != b {
				t.Errorf("rate %d burst %d reads back as %d", rate, b, got)
			}
		}
	}
	for _, rate := range []uint64{8, 64e3, 1e6, 20e6, 100e6} {
		for _, b := range []uint32{1514, 3028, 3029, 12345} {
			if xmitTime(rate/8, uint64(b)) > maxTick {
				continue
			}
			if got := ticksBytes(rate/8, tbfTicks(rate/8, uint64(b))); got != b {
				t.Errorf("rate %d burst %d reads back as %d", rate, b, got)
			}
		}
	}
	if got := DefaultBurst(20e6, 1500); got != 25000 {
		t.Errorf("DefaultBurst(20mbit, 1500) = %d, want 25000", got)
	}
	if got := DefaultBurst(64e3, 1500); got != 3028 {
		t.Errorf("DefaultBurst(64kbit, 1500) = %d, want 3028", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(strings.Join(tc.args, " "))
	}
	f.Add("rate=1.5kibps burst=3.5k delay=1.000001s jitter=1us loss=0.000001 reorder=100")
	f.Fuzz(func(t *testing.T, s string) {
		i, err := Parse([]string{s})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse(%q): error is not one line: %q", s, err)
			}
			return
		}
		if err := i.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %+v, which does not validate: %v", s, i, err)
		}
		str := i.String()
		back, err := Parse(strings.Fields(str))
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; Parse(String() = %q): %v", s, i, str, err)
		}
		if back != i {
			t.Fatalf("Parse(%q) = %+v; Parse(String() = %q) = %+v", s, i, str, back)
		}
		if back.String() != str {
			t.Fatalf("String not stable: %q then %q", str, back.String())
		}
	})
}

// TestBuild checks the qdiscs Apply would install, and that reading them back
// gives the Impairment again, without a kernel: this covers the netem path on
// kernels that lack netem, where TestNetem skips.
func TestBuild(t *testing.T) {
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0", Index: 7, MTU: 1500}}
	for _, i := range []Impairment{
		{Rate: 20e6},
		{Rate: 20e6, Burst: 32 << 10, Limit: 100},
		{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Duplicate: 0.5, Corrupt: 0.1, Reorder: 25, Limit: 500},
		{Rate: 10e6, Delay: 20 * time.Millisecond, Loss: 1},
		{Rate: 10e6, Burst: 1 << 20, Delay: time.Microsecond, Limit: 3},
		{Loss: 100},
	} {
		for _, major := range []uint16{majorNetemA, majorNetemB} {
			tr, err := build(l, i, major)
			if err != nil {
				t.Fatalf("build(%s): %v", i, err)
			}
			if got := tr.impairment(1500); got != i {
				t.Errorf("build(%s) reads back as %s", i, got)
			}
			root := tr.root.Attrs()
			if root.LinkIndex != 7 || root.Parent != netlink.HANDLE_ROOT {
				t.Errorf("build(%s): root %v", i, root)
			}
			switch {
			case !i.NeedsNetem():
				if tr.root.Type() != "tbf" || root.Handle != netlink.MakeHandle(majorTBF, 0) || tr.child != nil {
					t.Errorf("build(%s) = %v %v, want one tbf 6e74:", i, tr.root, tr.child)
				}
			case i.Rate == 0:
				if tr.root.Type() != "netem" || root.Handle != netlink.MakeHandle(major, 0) || tr.child != nil {
					t.Errorf("build(%s) = %v %v, want one netem %x:", i, tr.root, tr.child, major)
				}
			default:
				c := tr.child.Attrs()
				if tr.root.Type() != "netem" || tr.child.Type() != "tbf" || root.Handle != netlink.MakeHandle(major, 0) ||
					c.Parent != netlink.MakeHandle(major, 1) || c.Handle != netlink.MakeHandle(majorChild, 0) || c.LinkIndex != 7 {
					t.Errorf("build(%s) = %v %v, want netem %x: with tbf 6e75: under %x:1", i, tr.root, tr.child, major, major)
				}
			}
			if n, ok := tr.root.(*netlink.Netem); ok && i.Reorder != 0 && n.Gap != 1 {
				t.Errorf("build(%s): netem gap %d, want 1 (as tc sets it)", i, n.Gap)
			}
		}
	}
	if got := nextNetemMajor(tree{root: &netlink.Netem{QdiscAttrs: netlink.QdiscAttrs{Handle: netlink.MakeHandle(majorNetemA, 0)}}}); got != majorNetemB {
		t.Errorf("next netem major after 6e6e: = %x", got)
	}
	if got := nextNetemMajor(tree{root: &netlink.Netem{QdiscAttrs: netlink.QdiscAttrs{Handle: netlink.MakeHandle(majorNetemB, 0)}}}); got != majorNetemA {
		t.Errorf("next netem major after 6e6f: = %x", got)
	}
}

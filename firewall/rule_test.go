package firewall

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		p, err := parsePrefix(s)
		if err != nil {
			panic(err)
		}
		out = append(out, p)
	}
	return out
}

var parseCases = []struct {
	name string
	in   string
	want Rule
	str  string // canonical form, when it differs from in
}{
	{"deny tcp port from prefix", "deny in tcp 5432 from 198.18.1.0/24",
		Rule{Action: Deny, Direction: In, Proto: TCP, Port: 5432, From: pfx("198.18.1.0/24")}, ""},
	{"reject udp port", "reject in udp 53", Rule{Action: Reject, Direction: In, Proto: UDP, Port: 53}, ""},
	{"allow icmp to v6", "allow out icmp to fd00::/8", Rule{Action: Allow, Direction: Out, Proto: ICMP, To: pfx("fd00::/8")}, ""},
	{"deny forward from address", "deny forward from 198.18.1.10",
		Rule{Action: Deny, Direction: Forward, From: pfx("198.18.1.10/32")}, ""},
	{"address with /32 prints bare", "deny forward from 198.18.1.10/32",
		Rule{Action: Deny, Direction: Forward, From: pfx("198.18.1.10")}, "deny forward from 198.18.1.10"},
	{"no proto", "allow in", Rule{Action: Allow, Direction: In}, ""},
	{"tcp any port", "allow in tcp", Rule{Action: Allow, Direction: In, Proto: TCP}, ""},
	{"to before from", "deny out to fd00::1 from fd00::2",
		Rule{Action: Deny, Direction: Out, From: pfx("fd00::2"), To: pfx("fd00::1")}, "deny out from fd00::2 to fd00::1"},
	{"mixed families", "deny in tcp 22 from 198.18.0.0/15,fd00::/8 to 198.18.2.1",
		Rule{Action: Deny, Direction: In, Proto: TCP, Port: 22, From: pfx("198.18.0.0/15", "fd00::/8"), To: pfx("198.18.2.1")}, ""},
	{"extra spaces", "  reject   in  tcp  80 ", Rule{Action: Reject, Direction: In, Proto: TCP, Port: 80}, "reject in tcp 80"},
	{"port with protocol and to", "allow in udp 5353 to 198.18.0.255",
		Rule{Action: Allow, Direction: In, Proto: UDP, Port: 5353, To: pfx("198.18.0.255")}, ""},
}

func TestParseRule(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRule(tc.in)
			if err != nil {
				t.Fatalf("ParseRule(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRule(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			want := tc.str
			if want == "" {
				want = tc.in
			}
			if s := got.String(); s != want {
				t.Errorf("String() = %q, want %q", s, want)
			}
		})
	}
}

func TestParseRuleErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "want \"ACTION DIRECTION"},
		{"deny", "want \"ACTION DIRECTION"},
		{"drop in", `unknown action "drop": want allow, deny or reject`},
		{"deny inbound", `unknown direction "inbound": want in, out or forward`},
		{"deny in sctp", `unknown word "sctp": want a protocol`},
		{"deny in 22", "port 22 needs a protocol before it"},
		{"deny in tcp 0", `port "0" is not a number in 1-65535`},
		{"deny in tcp 65536", `port "65536" is not a number in 1-65535`},
		{"deny in tcp http", `port "http" is not a number`},
		{"deny in icmp 8", "icmp takes no port"},
		{"deny in from", `"from" needs a prefix`},
		{"deny in from 198.18.0.1/33", `bad prefix "198.18.0.1/33"`},
		{"deny in from 198.18.1.5/24", "prefix 198.18.1.5/24 has host bits set: use 198.18.1.0/24"},
		{"deny in from fe80::1%eth0", `bad address "fe80::1%eth0"`},
		{"deny in from host1", `bad address "host1"`},
		{"deny in from 198.18.0.1,,198.18.0.2", "empty prefix in list"},
		{"deny in from 198.18.0.1 from 198.18.0.2", `"from" given twice`},
		{"deny in from 198.18.0.1 to fd00::1", "no address family in common"},
		{"deny in tcp 22 from 198.18.0.1 extra", `unknown word "extra": want "from" or "to"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseRule(tc.in)
			if err == nil {
				t.Fatalf("ParseRule(%q) = nil error, want one containing %q", tc.in, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "firewall rule ") || strings.Contains(msg, "\n") {
				t.Errorf("ParseRule(%q) error = %q, want one line naming the rule and containing %q", tc.in, msg, tc.want)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	p := Policy{
		Rules: []Rule{
			{Action: Allow, Direction: In, Proto: TCP, Port: 22},
			{Action: "block", Direction: In},
			{Action: Deny, Direction: In, Port: 80},
			{Action: Deny, Direction: Out, From: []netip.Prefix{netip.MustParsePrefix("fd00::1/8")}},
		},
		Default:    map[Direction]Action{In: Deny, "sideways": Deny, Out: "drop"},
		Masquerade: []string{"eth0", "eth0", "a-very-long-interface-name"},
	}
	err := p.Validate()
	if err == nil {
		t.Fatal("Validate = nil, want errors")
	}
	for _, want := range []string{
		`firewall rule 2 "block in": unknown action "block"`,
		`firewall rule 3 "deny in 80": port 80 needs protocol tcp or udp`,
		`firewall rule 4 "deny out from fd00::1/8": prefix fd00::1/8 has host bits set: use fd00::/8`,
		`firewall default: unknown direction "sideways"`,
		`firewall default for "out": unknown action "drop"`,
		`firewall masquerade: interface "eth0" listed twice`,
		`firewall masquerade: interface name "a-very-long-interface-name" is 26 bytes long`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error lacks %q; got:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("Validate gave %d problems, want 7:\n%v", n, err)
	}
	if err := (Policy{Rules: []Rule{{Action: Allow, Direction: Forward}}, Default: map[Direction]Action{Forward: Reject}, Masquerade: []string{"eth0"}}).Validate(); err != nil {
		t.Errorf("Validate of a good policy: %v", err)
	}
}

func TestCompile(t *testing.T) {
	// Count the nftables rules each policy rule becomes.
	for _, tc := range []struct {
		rule string
		want int
	}{
		{"allow in", 1},
		{"deny in tcp 22", 1},
		{"reject in", 2},     // tcp reset + icmpx
		{"allow in icmp", 2}, // icmp + icmpv6
		{"allow in icmp from 198.18.0.0/15", 1},
		{"deny in from 198.18.0.1,198.18.0.2 to 198.18.1.1,198.18.1.2", 4},
		{"deny in from 198.18.0.1,fd00::1", 2},
		{"deny in from 198.18.0.1,fd00::1 to fd00::2", 1},
		{"reject in from 198.18.0.1,fd00::1", 4},
	} {
		r, err := ParseRule(tc.rule)
		if err != nil {
			t.Fatal(err)
		}
		got := compileRule(r)
		if len(got) != tc.want {
			t.Errorf("compileRule(%q) made %d rules, want %d", tc.rule, len(got), tc.want)
		}
		for _, g := range got {
			if g.comment != tc.rule {
				t.Errorf("compileRule(%q) comment = %q", tc.rule, g.comment)
			}
		}
	}
	c := compile(Policy{Default: map[Direction]Action{In: Reject, Out: Allow, Forward: Deny}})
	if n := len(c["input"]); n != 3+2 {
		t.Errorf("input chain has %d rules, want 3 built-in + 2 default reject", n)
	}
	if n := len(c["output"]); n != 3 {
		t.Errorf("output chain has %d rules, want 3 built-in", n)
	}
	if n := len(c["forward"]); n != 1+1 {
		t.Errorf("forward chain has %d rules, want 1 built-in + 1 default deny", n)
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct {
		bits, n int
		want    []byte
	}{
		{24, 4, []byte{255, 255, 255, 0}},
		{15, 4, []byte{255, 254, 0, 0}},
		{1, 4, []byte{128, 0, 0, 0}},
		{8, 16, append([]byte{255}, make([]byte, 15)...)},
	} {
		if got := mask(tc.bits, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("mask(%d, %d) = %v, want %v", tc.bits, tc.n, got, tc.want)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Add("deny in from ::ffff:198.18.0.1")
	f.Add("reject forward udp 1 to 0.0.0.0/0,::/0")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseRule(%q) error has several lines: %q", s, err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRule(%q) = %#v, which does not validate: %v", s, r, err)
		}
		s2 := r.String()
		r2, err := ParseRule(s2)
		if err != nil {
			t.Fatalf("ParseRule(%q) = %#v; ParseRule(String() = %q): %v", s, r, s2, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip of %q via %q: got %#v, want %#v", s, s2, r2, r)
		}
		if s3 := r2.String(); s3 != s2 {
			t.Fatalf("String not stable: %q then %q", s2, s3)
		}
		if len(compileRule(r)) == 0 {
			t.Fatalf("rule %q compiles to nothing", s2)
		}
	})
}

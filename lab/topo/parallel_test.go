package topo

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// bigLine is a line of n routers with the features a cut must survive:
// keys before and after nodes:, comments and blank lines between nodes,
// flow and block mappings and sequences, quoted keys and values.
func bigLine(n int) []byte {
	var b strings.Builder
	b.WriteString("# a generated line\nname: pl\nnodes:\n")
	for i := range n {
		if i%97 == 5 {
			b.WriteString("\n  # a comment between nodes\n")
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "  r%d:\n    sysctls: {net.ipv4.ip_forward: 1}\n    interfaces:\n", i)
			fmt.Fprintf(&b, "      eth0: {addresses: [198.19.%d.%d/31]}\n", i/128, 2*(i%128))
			fmt.Fprintf(&b, "    routes:\n      - {to: default, via: 198.19.%d.%d}\n", i/128, 2*(i%128)+1)
			fmt.Fprintf(&b, "      - to: 198.18.%d.0/24\n        via: 198.19.%d.%d\n", i%250, i/128, 2*(i%128)+1)
		case 1:
			fmt.Fprintf(&b, "  \"r%d\":\n    interfaces:\n      eth0:\n        addresses:\n        - \"198.19.%d.%d/31\"\n", i, i/128, 2*(i%128))
		case 2:
			fmt.Fprintf(&b, "  r%d: {interfaces: {eth0: {addresses: ['198.19.%d.%d/31']}}}  # flow\n", i, i/128, 2*(i%128))
		}
	}
	b.WriteString("switches:\n  sw: {}\n")
	b.WriteString("links:\n  - endpoints: [r0:eth1, sw]\n")
	return []byte(b.String())
}

// dump writes everything of a node tree the parser reads.
func dumpNode(w *bytes.Buffer, n *yaml.Node, depth int) {
	if n == nil {
		fmt.Fprintf(w, "%*snil\n", depth, "")
		return
	}
	fmt.Fprintf(w, "%*s%d %s %q %d:%d s%d\n", depth, "", n.Kind, n.Tag, n.Value, n.Line, n.Column, n.Style)
	for _, c := range n.Content {
		dumpNode(w, c, depth+1)
	}
}

// checkSame fails if decodeParallel accepts data but gives another tree
// than decoding it whole (or accepts what does not decode whole).
func checkSame(t *testing.T, data []byte) (cut bool) {
	t.Helper()
	par, ok := decodeParallel(data)
	if !ok {
		return false
	}
	seq := decodeOne(data)
	if seq == nil {
		t.Fatalf("decoded in pieces, but whole it does not decode as one document:\n%s", data)
	}
	var a, b bytes.Buffer
	dumpNode(&a, par, 0)
	dumpNode(&b, seq, 0)
	if a.String() != b.String() {
		t.Fatalf("pieces and whole differ:\n--- pieces\n%s\n--- whole\n%s\n--- file\n%s", a.String(), b.String(), data)
	}
	return true
}

func withMinParallel(t testing.TB, n int) {
	old := minParallel
	minParallel = n
	t.Cleanup(func() { minParallel = old })
}

func TestDecodeParallelSameTree(t *testing.T) {
	withMinParallel(t, 0)
	for _, n := range []int{2, 3, 10, 200} {
		cut := checkSame(t, bigLine(n))
		if n >= 10 && !cut {
			t.Fatalf("%d routers: not decoded in pieces", n)
		}
	}
	for parts := 2; parts <= 4; parts++ {
		if cuts := cutPoints(bigLine(200), parts); len(cuts) != parts-1 {
			t.Fatalf("%d parts: cuts at %v", parts, cuts)
		}
	}
}

// Files a cut could misread are decoded whole.
func TestDecodeParallelRefuses(t *testing.T) {
	withMinParallel(t, 0)
	base := string(bigLine(20))
	for name, data := range map[string]string{
		"anchor":              strings.Replace(base, "  r3:", "  r3: &x", 1),
		"block scalar":        strings.Replace(base, "  r3:\n", "  r3:\n    run: |\n      echo\n", 1),
		"multi-line flow":     strings.Replace(base, "[198.19.0.6/31]", "[198.19.0.6/31,\n  198.19.0.7/31]", 1),
		"multi-line quote":    strings.Replace(base, "\"198.19.0.2/31\"", "\"198.19.0.2/31\n  x\"", 1),
		"tab":                 strings.Replace(base, "  r3:", "\tr3:", 1),
		"document marker":     "---\n" + base,
		"nodes indented by 4": strings.ReplaceAll(strings.ReplaceAll(base, "\n  ", "\n    "), "\n    #", "\n  #"),
		"one-space line":      strings.Replace(base, "  r3:", " r3:", 1),
		"nodes twice":         base + "nodes:\n  x: {}\n",
		"complex key":         strings.Replace(base, "  r3:", "  ? r3\n  :", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := decodeParallel([]byte(data)); ok {
				t.Errorf("decoded in pieces:\n%s", data)
			}
		})
	}
}

// Parse gives the same spec, and the same problems, either way.
func TestParseParallelSameResult(t *testing.T) {
	good := bigLine(300)
	bad := bytes.Replace(good, []byte("  r200:"), []byte("  r2:"), 1) // a duplicate across the cut
	bad = bytes.Replace(bad, []byte("  r249:\n    sysctls"), []byte("  r249:\n    colour: blue\n    sysctls"), 1)
	for _, data := range [][]byte{good, bad} {
		withMinParallel(t, 1<<30)
		s1, e1 := Parse(data, "f.yaml")
		withMinParallel(t, 0)
		if _, ok := decodeParallel(data); !ok {
			t.Fatal("not decoded in pieces")
		}
		s2, e2 := Parse(data, "f.yaml")
		if !reflect.DeepEqual(s1, s2) || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Errorf("whole: %v %v\npieces: %v %v", s1 != nil, e1, s2 != nil, e2)
		}
	}
	_, err := Parse(bad, "f.yaml")
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(fmt.Sprint(pe.Problems), `duplicate key "r2"`) || !strings.Contains(fmt.Sprint(pe.Problems), `"colour"`) {
		t.Errorf("problems of the bad file: %v", err)
	}
}

// FuzzDecodeParallel: whatever the input, a file decoded in pieces gives
// the tree it gives whole.
func FuzzDecodeParallel(f *testing.F) {
	f.Add(bigLine(4))
	f.Add([]byte("name: x\nnodes:\n  a: {}\n  b:\n    x: 1\n  c: [1]\nlinks: []\n"))
	f.Add([]byte("nodes:\n  a: 1\n  b\n  c: d\n"))
	f.Add([]byte("nodes:\n  a:\n  - 1\n  b: 2\n"))
	f.Add([]byte("nodes:\n  a: x\n  'b': y\n  c: z\nx: 1\nnodes2:\n  d: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		withMinParallel(t, 0)
		checkSame(t, data)
	})
}

package graph_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// model loads a topology file of the repository and derives its model.
func model(t *testing.T, path string) *lab.Model {
	t.Helper()
	spec, err := topo.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	m, err := lab.NewModel(spec)
	if err != nil {
		t.Fatalf("model of %s: %v", path, err)
	}
	return m
}

var inputs = []struct{ name, path string }{
	{"demo", "../lab/demo.yaml"},
	{"two-lans", "../examples/two-lans.yaml"},
}

func TestGolden(t *testing.T) {
	for _, in := range inputs {
		for _, format := range []string{"dot", "mermaid"} {
			t.Run(in.name+"."+format, func(t *testing.T) {
				g := graph.New(model(t, in.path))
				var buf bytes.Buffer
				if err := graph.Write(&buf, g, format); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", in.name+"."+format)
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got := buf.String(); got != string(want) {
					t.Errorf("%s output differs from %s:\n--- got\n%s\n--- want\n%s", format, golden, got, want)
				}
				// Deterministic: a second rendering is byte for byte the same.
				var again bytes.Buffer
				graph.Write(&again, graph.New(model(t, in.path)), format)
				if !bytes.Equal(again.Bytes(), buf.Bytes()) {
					t.Errorf("%s output is not deterministic", format)
				}
			})
		}
	}
}

// TestMermaidMentionsEverything checks the picture against the model: every
// node and every interface address of the lab appears in it.
func TestMermaidMentionsEverything(t *testing.T) {
	m := model(t, "../lab/demo.yaml")
	var buf bytes.Buffer
	if err := graph.New(m).Mermaid(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for name, n := range m.Nodes {
		if !strings.Contains(out, `"`+name) {
			t.Errorf("node %s missing", name)
		}
		for ifname, i := range n.Ifs {
			for _, a := range i.Addrs {
				if !strings.Contains(out, a.String()) {
					t.Errorf("address %s of %s:%s missing", a, name, ifname)
				}
			}
		}
	}
	if got, want := strings.Count(out, "---"), len(m.Links); got != want {
		t.Errorf("%d edges, want %d (one per link)", got, want)
	}
}

// TestSVG parses the SVG as XML and checks one element per node and link,
// all inside the canvas and no two nodes on the same spot.
func TestSVG(t *testing.T) {
	for _, in := range append(inputs, struct{ name, path string }{"star100", "../examples/star100.yaml"}) {
		t.Run(in.name, func(t *testing.T) {
			m := model(t, in.path)
			g := graph.New(m)
			var buf bytes.Buffer
			if err := g.SVG(&buf); err != nil {
				t.Fatal(err)
			}
			nodes, links := map[string]bool{}, map[string]bool{}
			dec := xml.NewDecoder(&buf)
			for {
				tok, err := dec.Token()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("SVG is not XML: %v", err)
				}
				se, ok := tok.(xml.StartElement)
				if !ok || se.Name.Local != "g" {
					continue
				}
				for _, a := range se.Attr {
					switch a.Name.Local {
					case "data-node":
						if nodes[a.Value] {
							t.Errorf("node %s drawn twice", a.Value)
						}
						nodes[a.Value] = true
					case "data-link":
						if links[a.Value] {
							t.Errorf("link %s drawn twice", a.Value)
						}
						links[a.Value] = true
					}
				}
			}
			wantNodes := len(m.Nodes)
			if len(m.Host.Ifs) > 0 {
				wantNodes++
			}
			if len(nodes) != wantNodes {
				t.Errorf("%d node elements, want %d", len(nodes), wantNodes)
			}
			for key := range m.Links {
				if !links[key] {
					t.Errorf("link %s not drawn", key)
				}
			}
			if len(links) != len(m.Links) {
				t.Errorf("%d link elements, want %d", len(links), len(m.Links))
			}
			spots := map[[2]float64]string{}
			for _, n := range g.Nodes {
				if n.X <= 0 || n.Y <= 0 || n.X >= g.Width || n.Y >= g.Height {
					t.Errorf("node %s at (%v,%v) outside the %vx%v canvas", n.Name, n.X, n.Y, g.Width, g.Height)
				}
				p := [2]float64{n.X, n.Y}
				if o, dup := spots[p]; dup {
					t.Errorf("nodes %s and %s overlap", o, n.Name)
				}
				spots[p] = n.Name
			}
		})
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	err := graph.Write(io.Discard, graph.New(model(t, "../lab/demo.yaml")), "png")
	if err == nil || !strings.Contains(err.Error(), `"png"`) || !strings.Contains(err.Error(), "mermaid") {
		t.Errorf("Write(png) = %v, want an error naming the format and the choices", err)
	}
}

func TestHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := graph.New(model(t, "../lab/demo.yaml")).HTML(&buf); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.HasPrefix(s, "<!DOCTYPE html>") || !strings.Contains(s, "<svg") || !strings.Contains(s, `data-node="r1"`) {
		t.Errorf("HTML page lacks the doctype or the SVG:\n%s", s)
	}
}

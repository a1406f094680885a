// Package graph draws a lab: its nodes, switches, the host and the links
// between them, with interface names and addresses, as Graphviz DOT,
// Mermaid, SVG or a self-contained HTML page.
//
// DOT and Mermaid are text for documents and pull requests; SVG is laid out
// here, in Go (a layered layout from the best-connected node outwards), so
// no Graphviz install is needed. Every output is deterministic: the same
// model gives the same bytes.
//
// A Graph is a plain value built by New from a lab.Model (a running lab's
// model from lab.LoadModel, or a file's from lab.NewModel). It is not
// modified by the writers and is safe for concurrent reads.
package graph

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
)

// Node kinds.
const (
	KindNode   = "node"   // a network namespace
	KindSwitch = "switch" // a bridge in a namespace of its own
	KindHost   = "host"   // the root namespace
)

// A Graph is a lab's picture: nodes with positions and links between them.
type Graph struct {
	Lab    string
	Nodes  []*Node // sorted by name
	Links  []*Link // sorted by key
	Width  float64 // SVG canvas size
	Height float64
}

// A Node is a node, switch or the host, placed at (X, Y), its centre.
type Node struct {
	Name  string
	Kind  string // KindNode, KindSwitch or KindHost
	NetNS string // "" for the host
	X, Y  float64
}

// A Link is a veth pair between two nodes.
type Link struct {
	Key  string // lab.LinkModel.Key
	Ends [2]End
}

// An End is one end of a link: an interface of a node (or a port of a
// switch's bridge, then Port is set) with its addresses.
type End struct {
	Node  string
	If    string
	Port  bool     // a bridge port of a switch: shown without its name
	Addrs []string // prefixes, sorted
}

// ID returns "node:if", the name status and events use for an interface.
func (e End) ID() string { return e.Node + ":" + e.If }

// label returns the text shown next to the end: interface and addresses.
func (e End) label() []string {
	if e.Port {
		return nil
	}
	return append([]string{e.If}, e.Addrs...)
}

// Formats lists the formats Write accepts.
var Formats = []string{"dot", "mermaid", "svg", "html"}

// New builds the graph of m and lays it out. The host appears only when the
// lab has interfaces in the root namespace.
func New(m *lab.Model) *Graph {
	g := &Graph{Lab: m.Name}
	for _, n := range m.Nodes {
		k := KindNode
		if n.Switch {
			k = KindSwitch
		}
		g.Nodes = append(g.Nodes, &Node{Name: n.Name, Kind: k, NetNS: n.NS})
	}
	if m.Host != nil && len(m.Host.Ifs) > 0 {
		g.Nodes = append(g.Nodes, &Node{Name: topo.HostName, Kind: KindHost})
	}
	slices.SortFunc(g.Nodes, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
	for _, key := range slices.Sorted(maps.Keys(m.Links)) {
		lm := m.Links[key]
		l := &Link{Key: key}
		for i, e := range lm.Ends {
			end := End{Node: e.Node, If: e.If, Port: e.Master != ""}
			nm := m.Nodes[e.Node]
			if e.NS == "" {
				nm = m.Host
			}
			if nm != nil && nm.Ifs[e.If] != nil {
				for _, a := range nm.Ifs[e.If].Addrs {
					end.Addrs = append(end.Addrs, a.String())
				}
			}
			l.Ends[i] = end
		}
		g.Links = append(g.Links, l)
	}
	g.layout()
	return g
}

// Node returns the node called name, or nil.
func (g *Graph) Node(name string) *Node {
	i, ok := slices.BinarySearchFunc(g.Nodes, name, func(n *Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return g.Nodes[i]
}

// Write writes g in format, one of Formats.
func Write(w io.Writer, g *Graph, format string) error {
	switch format {
	case "dot":
		return g.DOT(w)
	case "mermaid":
		return g.Mermaid(w)
	case "svg":
		return g.SVG(w)
	case "html":
		return g.HTML(w)
	}
	return fmt.Errorf("graph format %q: unknown: use one of %s", format, strings.Join(Formats, ", "))
}

// Layout constants, in SVG user units.
const (
	nodeW   = 120.0
	nodeH   = 40.0
	colW    = 190.0
	rowH    = 210.0
	margin  = 70.0
	maxRow  = 8 // nodes per row before a layer wraps
	fontPx  = 13
	labelPx = 11
)

// layout places the nodes in layers: a breadth-first search from the
// best-connected node (ties by name) of each connected component; each layer
// is ordered by the mean position of its neighbours in the layer above, so
// links cross little, and wrapped every maxRow nodes.
func (g *Graph) layout() {
	adj := map[string][]string{}
	for _, l := range g.Links {
		a, b := l.Ends[0].Node, l.Ends[1].Node
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	for k := range adj {
		slices.Sort(adj[k])
		adj[k] = slices.Compact(adj[k])
	}
	order := slices.Clone(g.Nodes)
	slices.SortStableFunc(order, func(a, b *Node) int { return cmp.Compare(len(adj[b.Name]), len(adj[a.Name])) })
	depth := map[string]int{}
	var layers [][]string
	for _, start := range order {
		if _, seen := depth[start.Name]; seen {
			continue
		}
		depth[start.Name] = 0
		queue := []string{start.Name}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			d := depth[n]
			for len(layers) <= d {
				layers = append(layers, nil)
			}
			layers[d] = append(layers[d], n)
			for _, m := range adj[n] {
				if _, seen := depth[m]; !seen {
					depth[m] = d + 1
					queue = append(queue, m)
				}
			}
		}
	}
	pos := map[string]float64{} // index within its layer
	for i, layer := range layers {
		if i > 0 {
			bary := map[string]float64{}
			for _, n := range layer {
				sum, cnt := 0.0, 0
				for _, m := range adj[n] {
					if depth[m] == i-1 {
						sum += pos[m]
						cnt++
					}
				}
				if cnt > 0 {
					bary[n] = sum / float64(cnt)
				}
			}
			slices.SortStableFunc(layer, func(a, b string) int {
				if c := cmp.Compare(bary[a], bary[b]); c != 0 {
					return c
				}
				return strings.Compare(a, b)
			})
		}
		for j, n := range layer {
			pos[n] = float64(j)
		}
	}
	widest := 1
	for _, layer := range layers {
		widest = max(widest, min(len(layer), maxRow))
	}
	g.Width = 2*margin + float64(widest)*colW
	row := 0
	for _, layer := range layers {
		for start := 0; start < len(layer); start += maxRow {
			part := layer[start:min(start+maxRow, len(layer))]
			span := g.Width - 2*margin
			for j, name := range part {
				n := g.Node(name)
				n.X = margin + span*(float64(j)+0.5)/float64(len(part))
				n.Y = margin + float64(row)*rowH
			}
			row++
		}
	}
	g.Height = 2*margin + float64(max(row-1, 0))*rowH
}

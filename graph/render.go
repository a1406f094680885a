package graph

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// dotQuote quotes s as a DOT string.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// DOT writes g as an undirected Graphviz graph: `dot -Tsvg` draws it. Each
// link is an edge whose tail and head labels are the interfaces and their
// addresses.
func (g *Graph) DOT(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "graph %s {\n", dotQuote(g.Lab))
	fmt.Fprintf(b, "  label=%s;\n  labelloc=t;\n", dotQuote("lab "+g.Lab))
	b.WriteString("  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n")
	b.WriteString("  edge [fontname=\"sans-serif\", fontsize=10];\n")
	for _, n := range g.Nodes {
		switch n.Kind {
		case KindSwitch:
			fmt.Fprintf(b, "  %s [shape=box, style=filled, fillcolor=\"#dde7f3\", label=%s];\n", dotQuote(n.Name), dotQuote(n.Name+"\n(switch)"))
		case KindHost:
			fmt.Fprintf(b, "  %s [shape=box3d, label=%s];\n", dotQuote(n.Name), dotQuote("host\n(root namespace)"))
		default:
			fmt.Fprintf(b, "  %s;\n", dotQuote(n.Name))
		}
	}
	for _, l := range g.Links {
		fmt.Fprintf(b, "  %s -- %s", dotQuote(l.Ends[0].Node), dotQuote(l.Ends[1].Node))
		var attrs []string
		if t := l.Ends[0].label(); t != nil {
			attrs = append(attrs, "taillabel="+dotQuote(strings.Join(t, "\n")))
		}
		if h := l.Ends[1].label(); h != nil {
			attrs = append(attrs, "headlabel="+dotQuote(strings.Join(h, "\n")))
		}
		if len(attrs) > 0 {
			fmt.Fprintf(b, " [%s]", strings.Join(attrs, ", "))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	return b.Flush()
}

// mermaidText escapes s for a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}

// Mermaid writes g as a Mermaid flowchart, ready to paste into Markdown
// (GitHub, GitLab and most wikis render it in a ```mermaid block). Nodes are
// rounded, switches square, the host a trapezoid; a link is labelled with
// both ends' interfaces and addresses.
func (g *Graph) Mermaid(w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString("flowchart LR\n")
	ids := map[string]string{}
	for i, n := range g.Nodes {
		id := fmt.Sprintf("n%d", i)
		ids[n.Name] = id
		t := mermaidText(n.Name)
		switch n.Kind {
		case KindSwitch:
			fmt.Fprintf(b, "  %s[\"%s (switch)\"]\n", id, t)
		case KindHost:
			fmt.Fprintf(b, "  %s[/\"%s\"\\]\n", id, t)
		default:
			fmt.Fprintf(b, "  %s(\"%s\")\n", id, t)
		}
	}
	for _, l := range g.Links {
		var parts []string
		for _, e := range l.Ends {
			if t := e.label(); t != nil {
				parts = append(parts, mermaidText(e.Node+":"+strings.Join(t, " ")))
			}
		}
		if len(parts) == 0 {
			fmt.Fprintf(b, "  %s --- %s\n", ids[l.Ends[0].Node], ids[l.Ends[1].Node])
			continue
		}
		fmt.Fprintf(b, "  %s ---|\"%s\"| %s\n", ids[l.Ends[0].Node], strings.Join(parts, "<br/>"), ids[l.Ends[1].Node])
	}
	b.WriteString("  classDef switch fill:#dde7f3,stroke:#4a6fa5\n")
	var sw []string
	for _, n := range g.Nodes {
		if n.Kind == KindSwitch {
			sw = append(sw, ids[n.Name])
		}
	}
	if len(sw) > 0 {
		fmt.Fprintf(b, "  class %s switch\n", strings.Join(sw, ","))
	}
	return b.Flush()
}

func esc(s string) string { return html.EscapeString(s) }

// f formats a coordinate.
func f(v float64) string { return fmt.Sprintf("%.1f", v) }

// svgStyle is shared by the static SVG and the live page, which changes
// data-state attributes and relies on these rules to show them.
const svgStyle = `
.node rect{fill:#fff;stroke:#333;stroke-width:1.5}
.node.switch rect{fill:#dde7f3;stroke:#4a6fa5}
.node.host rect{fill:#f3eedd;stroke:#8a7a3a}
.node.absent rect{stroke:#c00;stroke-dasharray:4 3}
.node text{font:bold 13px sans-serif;text-anchor:middle;dominant-baseline:central}
.link line{stroke:#2a7;stroke-width:2.5}
.link[data-state=unknown] line{stroke:#888}
.link[data-state=down] line{stroke:#d00;stroke-dasharray:8 6}
.link[data-state=no-carrier] line{stroke:#e80;stroke-dasharray:2 5}
.link[data-state=impaired] line{stroke:#c6c;stroke-dasharray:12 4 2 4}
.link[data-state=partitioned] line{stroke:#d00;stroke-dasharray:1 8;stroke-width:4}
.link text{font:11px sans-serif;fill:#333;text-anchor:start}
.link text.counters{fill:#555;font-size:10px}
`

// SVG writes g as a standalone SVG image. Each node is one <g class="node">
// with a data-node attribute, each link one <g class="link"> with data-link
// (its key) and data-state (always "unknown" here: `nslab serve` sets it to
// up, down, no-carrier, impaired or partitioned). Interface labels carry
// data-if="node:if", and empty <text class="counters"> elements are ready
// for live counters.
func (g *Graph) SVG(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" data-lab="%s">`+"\n",
		f(g.Width), f(g.Height), f(g.Width), f(g.Height), esc(g.Lab))
	fmt.Fprintf(b, "<title>lab %s</title>\n<style>%s</style>\n", esc(g.Lab), svgStyle)
	b.WriteString("<g class=\"links\">\n")
	for _, l := range g.Links {
		a, z := g.Node(l.Ends[0].Node), g.Node(l.Ends[1].Node)
		if a == nil || z == nil {
			continue
		}
		fmt.Fprintf(b, `<g class="link" data-link="%s" data-state="unknown">`, esc(l.Key))
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, f(a.X), f(a.Y), f(z.X), f(z.Y))
		for i, e := range l.Ends {
			from, to := a, z
			if i == 1 {
				from, to = z, a
			}
			x, y := labelPoint(from, to)
			lines := e.label()
			if to.Y < from.Y {
				y -= float64(len(lines)) * 13 // above the node: the block ends at the point
			}
			x += 6 // beside the line, not across it
			fmt.Fprintf(b, `<text x="%s" y="%s" data-if="%s">`, f(x), f(y), esc(e.ID()))
			for j, t := range lines {
				dy := "0"
				if j > 0 {
					dy = "1.2em"
				}
				fmt.Fprintf(b, `<tspan x="%s" dy="%s">%s</tspan>`, f(x), dy, esc(t))
			}
			b.WriteString("</text>")
			fmt.Fprintf(b, `<text class="counters" x="%s" y="%s" data-counters="%s"></text>`, f(x), f(y-14), esc(e.ID()))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n<g class=\"nodes\">\n")
	for _, n := range g.Nodes {
		rx := "10"
		if n.Kind != KindNode {
			rx = "2"
		}
		fmt.Fprintf(b, `<g class="node %s" data-node="%s"><rect x="%s" y="%s" width="%s" height="%s" rx="%s"/><text x="%s" y="%s">%s</text></g>`+"\n",
			n.Kind, esc(n.Name), f(n.X-nodeW/2), f(n.Y-nodeH/2), f(nodeW), f(nodeH), rx, f(n.X), f(n.Y), esc(n.Name))
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Flush()
}

// labelPoint is where an end's label goes: on the link, just outside the
// node's box on the way to the other node.
func labelPoint(from, to *Node) (float64, float64) {
	dx, dy := to.X-from.X, to.Y-from.Y
	d := math.Hypot(dx, dy)
	if d == 0 {
		return from.X, from.Y + nodeH
	}
	off := min(d*0.3, nodeH/2+28)
	return from.X + dx/d*off, from.Y + dy/d*off
}

// HTML writes a self-contained page showing g's SVG.
func (g *Graph) HTML(w io.Writer) error {
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lab %s</title>\n"+
		"<style>body{font-family:sans-serif;margin:1em}svg{max-width:100%%;height:auto}</style></head>\n"+
		"<body><h1>lab %s</h1>\n", esc(g.Lab), esc(g.Lab))
	if err := g.SVG(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, "</body></html>\n")
	return err
}

package topo

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"

	"go.yaml.in/yaml/v3"
)

// A big topology file is mostly its nodes: mapping, one entry per node,
// and decoding it is single-threaded: a 1000-router line (470 KB) takes
// 0.11-0.15 s in a fresh process, a tenth of bringing the lab up. When the
// file is in plain block form, decodeParallel cuts that mapping between two
// nodes, decodes the pieces on several threads and joins the trees.
//
// The cut is safe only where a line can start nothing but a new key of
// nodes:, so cutPoints refuses any file with a construct that could span
// lines or refer across them: anchors and aliases, block scalars, tags,
// complex keys, directives, document markers, escapes, tabs, and lines whose quotes or
// flow brackets do not close on the line. Each piece keeps its lines'
// numbers (it is preceded by as many empty lines), so positions in problems
// are the file's. If a piece fails to decode, the caller decodes the whole
// file, which reports the problem as it would have anyway.

// minParallel is the size from which decodeParallel cuts a file (a var for
// the tests).
var minParallel = 128 << 10

// cutPoints returns the offsets of lines at which data's nodes: mapping may
// be cut into parts pieces of about equal size, or nil.
func cutPoints(data []byte, parts int) []int {
	if len(data) < minParallel || parts < 2 {
		return nil
	}
	if bytes.ContainsAny(data, "\t\r\\&*|>%!@`?") {
		return nil
	}
	var (
		cands            []int // starts of lines that begin a key of nodes: (not the first)
		inNodes, seen    bool
		first            bool // nodes: has had its first key
		regStart, regEnd = -1, -1
	)
	for s := 0; s < len(data); {
		e := bytes.IndexByte(data[s:], '\n')
		if e < 0 {
			e = len(data)
		} else {
			e += s
		}
		l := data[s:e]
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) || !closedLine(l) {
			return nil
		}
		switch {
		case len(l) > 0 && l[0] != ' ' && l[0] != '#':
			if inNodes {
				inNodes, regEnd = false, s
			}
			if string(bytes.TrimRight(l, " ")) == "nodes:" {
				if seen {
					return nil
				}
				seen, inNodes, regStart = true, true, e+1
			}
		case !inNodes || isBlank(l):
		case !first:
			// nodes:' first key sets its indentation: two spaces, like the
			// cuts (and makes nodes: a block mapping).
			if len(l) < 3 || l[0] != ' ' || l[1] != ' ' || !keyStart(l[2]) {
				return nil
			}
			first = true
		case l[0] == ' ' && l[1] != ' ':
			return nil // one space: not a key of nodes:, not inside one
		case l[0] == ' ' && l[1] == ' ' && keyStart(l[2]):
			cands = append(cands, s)
		}
		s = e + 1
	}
	if inNodes {
		regEnd = len(data)
	}
	if parts = min(parts, len(cands)+1); parts < 2 || regEnd <= regStart {
		return nil
	}
	var cuts []int
	j := 0
	for k := 1; k < parts; k++ {
		want := regStart + (regEnd-regStart)*k/parts
		for j < len(cands)-1 && cands[j] < want {
			j++
		}
		if len(cuts) == 0 || cands[j] > cuts[len(cuts)-1] {
			cuts = append(cuts, cands[j])
		}
	}
	return cuts
}

// isBlank reports whether l holds nothing but spaces and a comment.
func isBlank(l []byte) bool {
	t := bytes.TrimLeft(l, " ")
	return len(t) == 0 || t[0] == '#'
}

// keyStart reports whether c can start a plain key (a node's name).
func keyStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// closedLine reports whether every quote and flow bracket opened on l is
// closed on l (a comment ends the line).
func closedLine(l []byte) bool {
	depth := 0
	var quote byte
	for i, c := range l {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' '):
			return depth == 0
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return quote == 0 && depth == 0
}

// decodeParallel returns the top-level node of data decoded in pieces, or
// ok false if data cannot be cut or a piece does not decode as expected.
func decodeParallel(data []byte) (root *yaml.Node, ok bool) {
	cuts := cutPoints(data, min(runtime.GOMAXPROCS(0), 4))
	if cuts == nil {
		return nil, false
	}
	pieces := make([][]byte, len(cuts)+1)
	pieces[0] = data[:cuts[0]]
	line := 1 // of cuts[i], counted on from the previous cut
	for i, c := range cuts {
		end := len(data)
		if i+1 < len(cuts) {
			end = cuts[i+1]
		}
		prev := 0
		if i > 0 {
			prev = cuts[i-1]
		}
		line += bytes.Count(data[prev:c], []byte{'\n'})
		b := make([]byte, 0, line+len("nodes:\n")+end-c)
		b = append(b, bytes.Repeat([]byte{'\n'}, line-2)...)
		b = append(b, "nodes:\n"...)
		pieces[i+1] = append(b, data[c:end]...)
	}
	roots := make([]*yaml.Node, len(pieces))
	var wg sync.WaitGroup
	for i := range pieces {
		wg.Go(func() { roots[i] = decodeOne(pieces[i]) })
	}
	wg.Wait()
	nodes := make([]*yaml.Node, len(roots))
	for i, r := range roots {
		if r == nil || r.Kind != yaml.MappingNode {
			return nil, false
		}
		// The first piece ends with nodes:, the others start with it; a
		// middle piece has nothing else.
		at := len(r.Content) - 2
		if i > 0 {
			at = 0
		}
		if at < 0 || r.Content[at].Value != "nodes" || r.Content[at+1].Kind != yaml.MappingNode ||
			(i > 0 && i < len(roots)-1 && len(r.Content) != 2) {
			return nil, false
		}
		nodes[i] = r.Content[at+1]
	}
	for _, n := range nodes[1:] {
		nodes[0].Content = append(nodes[0].Content, n.Content...)
	}
	last := roots[len(roots)-1]
	roots[0].Content = append(roots[0].Content, last.Content[2:]...)
	return roots[0], true
}

// decodeOne decodes a document that must be the only one in b, or nil.
func decodeOne(b []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil || len(doc.Content) == 0 {
		return nil
	}
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil
	}
	return doc.Content[0]
}

package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/lab"
	"github.com/spf13/cobra"
)

func init() { register(newGraphCmd) }

func newGraphCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "graph LAB|FILE",
		Short: "Draw a lab (running, or from a topology file) as dot, mermaid, svg or html",
		Long: `Draw a lab's nodes, switches and links, with interface names and addresses.
LAB is a running lab (see 'nslab list'); anything else is read as a topology
file. Formats: mermaid (paste into Markdown in a ` + "```mermaid" + ` block), dot (for
Graphviz), svg (laid out by nslab, no Graphviz needed) and html (the SVG in a
page). The output goes to stdout and is the same for the same lab.`,
		Example: "  nslab graph examples/two-lans.yaml --format mermaid\n  nslab graph demo --format svg > demo.svg",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := graphModel(args[0])
			if err != nil {
				return err
			}
			return graph.Write(cmd.OutOrStdout(), graph.New(m), format)
		},
	}
	c.Flags().StringVar(&format, "format", "mermaid", "output format: "+strings.Join(graph.Formats, ", "))
	return c
}

// graphModel returns the model of a running lab named arg, or else of the
// topology file arg.
func graphModel(arg string) (*lab.Model, error) {
	if _, err := os.Stat(arg); err != nil && !strings.ContainsAny(arg, "/.") {
		m, lerr := lab.LoadModel(arg)
		if lerr == nil {
			return m, nil
		}
		if !errors.Is(lerr, lab.ErrNoLab) {
			return nil, lerr
		}
		return nil, fmt.Errorf("graph %q: no running lab and no file of that name (see 'nslab list')", arg)
	}
	spec, err := loadSpec(arg)
	if err != nil {
		return nil, err
	}
	return lab.NewModel(spec)
}

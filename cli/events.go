package cli

import (
	"encoding/json"
	"fmt"

	"github.com/nslab/nslab/events"
	"github.com/nslab/nslab/lab"
	"github.com/spf13/cobra"
)

func init() { register(newEventsCmd) }

func newEventsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "events [LAB]",
		Short: "Follow what happens to running labs: kernel notifications and nslab's actions",
		Long: `Print, as it happens, what changes in a lab (or in every lab): links created,
removed, up and down, carrier changes, addresses and routes (from the
kernel's netlink notifications in each lab namespace), processes that exit,
and nslab's own actions (lab up/down, nodes and links added or removed,
impairments, partitions). Nodes added to a running lab are followed too.
With --json, one JSON object a line:
  {"time":"...","lab":"demo","source":"kernel","kind":"link-down","node":"r1","if":"eth0","detail":"admin down"}
Stop it with Ctrl-C.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var o events.Options
			if len(args) == 1 {
				o.Lab = args[0]
				if _, err := lab.LoadModel(o.Lab); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "nslab events: lab %q is not running; waiting for it\n", o.Lab)
				}
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			o.Errors = func(err error) { fmt.Fprintf(errw, "nslab events: %v\n", err) }
			enc := json.NewEncoder(out)
			return events.Stream(cmd.Context(), o, func(e events.Event) {
				if asJSON {
					enc.Encode(e)
					return
				}
				fmt.Fprintln(out, e)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "one JSON object per event and line")
	return c
}

package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/shape"
	"github.com/spf13/cobra"
)

func init() {
	register(newNodeCmd)
	register(newPartitionCmd)
	register(newHealCmd)
	addLinkSetForm(linkSetForm{
		// nslab link set LAB NODE:IF rate=10mbit delay=20ms | --clear
		match: func(args []string) bool {
			return len(args) >= 2 && !strings.Contains(args[0], ":") && strings.Contains(args[1], ":")
		},
		flags: func(c *cobra.Command) {
			c.Flags().Bool("clear", false, "lab form: remove the impairment of LAB NODE:IF")
			c.Use = "set NS:DEV ACTION... | set LAB NODE:IF IMPAIRMENT... [--clear]"
			c.Long += `

Lab form: set the egress impairment of a lab node's interface, live:
  nslab link set LAB NODE:IF rate=10mbit [burst=32kb] [delay=20ms jitter=5ms]
                             [loss=1%] [duplicate=1%] [corrupt=0.1%] [reorder=25%] [limit=1000]
  nslab link set LAB NODE:IF --clear
rate needs the tbf qdisc; the others need netem (refused whole, with the kernel
option named, when the kernel lacks it).`
		},
		run: func(c *cobra.Command, args []string) error {
			clear, _ := c.Flags().GetBool("clear")
			var imp shape.Impairment
			if !clear {
				if len(args) < 3 {
					return fmt.Errorf("link set %s %s: give an impairment (such as rate=10mbit delay=20ms) or --clear", args[0], args[1])
				}
				var err error
				if imp, err = shape.Parse(args[2:]); err != nil {
					return fmt.Errorf("link set %s %s: %w", args[0], args[1], err)
				}
			} else if len(args) > 2 {
				return fmt.Errorf("link set %s %s: --clear takes no impairment", args[0], args[1])
			}
			if err := lab.Impair(c.Context(), args[0], args[1], imp); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s %s: %s\n", args[0], args[1], imp)
			return nil
		},
	})
}

// newLinkStateCmd is `nslab link down|up LAB NODE:IF`.
func newLinkStateCmd(up bool) *cobra.Command {
	verb := "down"
	if up {
		verb = "up"
	}
	return &cobra.Command{
		Use:   verb + " LAB NODE:IF",
		Short: fmt.Sprintf("Take a lab link %s at NODE:IF (both directions stop carrying traffic)", verb),
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := lab.SetLinkState(c.Context(), args[0], args[1], up); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s %s: link %s\n", args[0], args[1], verb)
			return nil
		},
	}
}

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "Stop and start lab nodes"}
	for _, running := range []bool{false, true} {
		verb := "stop"
		short := "Stop a lab node: freeze its processes (SIGSTOP) and take its interfaces down"
		if running {
			verb = "start"
			short = "Start a stopped lab node again: resume its processes, interfaces up"
		}
		c.AddCommand(&cobra.Command{
			Use:   verb + " LAB NODE",
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := lab.SetNodeState(cmd.Context(), args[0], args[1], running); err != nil {
					return err
				}
				done := "stopped"
				if running {
					done = "started"
				}
				fmt.Fprintf(os.Stderr, "%s %s: %s\n", args[0], args[1], done)
				return nil
			},
		})
	}
	return c
}

func newPartitionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "partition LAB NODE[,NODE...] NODE[,NODE...]",
		Short: "Cut all traffic (IPv4 and IPv6) between two groups of lab nodes, until 'nslab heal'",
		Example: `  nslab partition demo h1,h3 h2
  nslab heal demo`,
		Args: cobra.ExactArgs(3),
		RunE: func(c *cobra.Command, args []string) error {
			a, b := strings.Split(args[1], ","), strings.Split(args[2], ",")
			if err := lab.Partition(c.Context(), args[0], a, b); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: partitioned %s | %s\n", args[0], args[1], args[2])
			return nil
		},
	}
}

func newHealCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "heal LAB",
		Short: "Remove every partition of a lab",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := lab.Heal(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: healed\n", args[0])
			return nil
		},
	}
}

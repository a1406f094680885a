package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nsexec"
	"github.com/spf13/cobra"
)

func init() { register(newNetnsCmd) }

func newNetnsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "netns",
		Short: "Manage named network namespaces, like 'ip netns' (and interchangeable with it)",
	}
	var jsonOut bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls", "show"},
		Short:   "List named namespaces and their NSID (ip netns list)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := netns.List()
			if err != nil {
				return err
			}
			if jsonOut {
				type row struct {
					Name string `json:"name"`
					ID   *int   `json:"id,omitempty"`
				}
				rows := []row{}
				for _, e := range es {
					r := row{Name: e.Name}
					if e.NSID >= 0 {
						id := e.NSID
						r.ID = &id
					}
					rows = append(rows, r)
				}
				return printJSON(cmd.OutOrStdout(), rows)
			}
			for _, e := range es {
				switch {
				case e.Stale:
					fmt.Fprintf(cmd.OutOrStdout(), "%s (stale: not a namespace mount)\n", e.Name)
				case e.NSID >= 0:
					fmt.Fprintf(cmd.OutOrStdout(), "%s (id: %d)\n", e.Name, e.NSID)
				default:
					fmt.Fprintln(cmd.OutOrStdout(), e.Name)
				}
			}
			return nil
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")

	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a named network namespace (ip netns add)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return netns.Add(args[0])
		},
	}
	del := &cobra.Command{
		Use:     "del NAME...",
		Aliases: []string{"delete"},
		Short:   "Remove named network namespaces (ip netns del)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var first error
			for _, n := range args {
				if err := netns.Delete(n); err != nil {
					if first == nil {
						first = err
					} else {
						fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
					}
				}
			}
			return first
		},
	}
	exec := &cobra.Command{
		Use:   "exec NAME -- CMD [ARGS...]",
		Short: "Run a command in a namespace (ip netns exec): own mount namespace, /sys remounted, /etc/netns/NAME overlays",
		Long: `Run CMD with ARGS (as argv, no shell) in the named namespace, exactly as
'ip netns exec' does: the command gets a private mount namespace, /sys shows the
namespace's devices, and each file of /etc/netns/NAME/ is bind-mounted over its
twin in /etc. nslab is replaced by the command: stdio, signals and the exit
status are the command's.`,
		Args:               cobra.MinimumNArgs(2),
		DisableFlagParsing: false,
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := dropDash(args[1:])
			if len(argv) == 0 {
				return fmt.Errorf("exec in netns %q: no command given: write 'nslab netns exec %s -- CMD [ARGS...]'", args[0], args[0])
			}
			t, err := nsexec.Named(args[0])
			if err != nil {
				return err
			}
			err = nsexec.Exec(t, argv, os.Environ())
			fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
			return &ExitError{Code: nsexec.ExitCode(err)}
		},
	}
	exec.Flags().SetInterspersed(false)
	identify := &cobra.Command{
		Use:   "identify [PID]",
		Short: "Print the name of the namespace a process is in (ip netns identify)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid := 0
			if len(args) == 1 {
				p, err := strconv.Atoi(args[0])
				if err != nil || p <= 0 {
					return fmt.Errorf("invalid pid %q: give a process id", args[0])
				}
				pid = p
			}
			ns, err := netns.Identify(pid)
			if err != nil {
				return err
			}
			if len(ns) == 0 {
				fmt.Fprintln(cmd.OutOrStdout())
			}
			for _, n := range ns {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	pids := &cobra.Command{
		Use:   "pids NAME",
		Short: "List the processes in a namespace (ip netns pids)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := netns.Pids(args[0])
			if err != nil {
				return err
			}
			for _, p := range ps {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			return nil
		},
	}
	attach := &cobra.Command{
		Use:   "attach NAME PID",
		Short: "Name the namespace of a running process (ip netns attach)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[1])
			if err != nil || pid <= 0 {
				return fmt.Errorf("invalid pid %q: give a process id", args[1])
			}
			return netns.Attach(args[0], pid)
		},
	}
	set := &cobra.Command{
		Use:   "set NAME auto|NSID",
		Short: "Assign an NSID to a namespace (ip netns set)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := -1
			if args[1] != "auto" {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 0 {
					return fmt.Errorf("invalid nsid %q: give 'auto' or a number >= 0", args[1])
				}
				id = n
			}
			_, err := netns.SetNSID(args[0], id)
			return err
		},
	}
	monitor := &cobra.Command{
		Use:   "monitor",
		Short: "Print namespace names as they are added and deleted (ip netns monitor)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return netns.Monitor(cmd.Context(), func(e netns.Event) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", e.Op, e.Name)
			})
		},
	}
	c.AddCommand(list, add, del, exec, identify, pids, attach, set, monitor)
	return c
}

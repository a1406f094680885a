package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/internal/hugeheap"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() {
	register(newUpCmd)
	register(newDownCmd)
	register(newListCmd)
	register(newStatusCmd)
	register(newExecCmd)
	register(newCheckCmd)
	register(newCleanupCmd)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress shows a lab operation's progress on stderr: a line that updates
// in place on a terminal, one line per finished phase otherwise.
func progress(w *os.File) lab.Progress {
	tty := isTerminal(w)
	starts := map[string]time.Time{}
	return func(phase string, done, total int) {
		if _, ok := starts[phase]; !ok {
			starts[phase] = time.Now()
		}
		if tty && total >= 50 {
			fmt.Fprintf(w, "\r\033[K%-10s %d/%d", phase, done, total)
			if done == total {
				fmt.Fprintf(w, " (%.2fs)\n", time.Since(starts[phase]).Seconds())
			}
			return
		}
		if done == total && total > 0 {
			fmt.Fprintf(w, "%-10s %d done in %.3fs\n", phase, total, time.Since(starts[phase]).Seconds())
		}
	}
}

// keepWorkingOnClosedOutput keeps a lab change from stopping half-way when
// whoever reads nslab's output goes away (`nslab up | head`): a Go program
// that writes to a closed pipe on stdout or stderr is killed by SIGPIPE,
// unless it has asked for that signal. Asked for, the writes fail (EPIPE),
// their errors are ignored, and the change completes. (A signal a program
// handles is back to its default in the commands it starts; an ignored one
// would not be.)
func keepWorkingOnClosedOutput() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) }

func loadSpec(arg string) (*topo.Spec, error) {
	if arg == "" {
		return lab.Demo()
	}
	spec, err := topo.Load(arg)
	if err != nil {
		var te *topo.Error
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%s is not a valid topology (%d problems; nothing was changed):\n%w", arg, len(te.Problems), err)
		}
		return nil, fmt.Errorf("read topology: %w", err)
	}
	return spec, nil
}

func newUpCmd() *cobra.Command {
	var o lab.Options
	var quiet bool
	c := &cobra.Command{
		Use:   "up [FILE]",
		Short: "Bring a lab up from a topology file (or the demo lab), or apply a changed file to a running lab",
		Long: `Bring the lab described by FILE up: validate it, plan, create its namespaces,
bridges and veth pairs in parallel, and print its nodes and addresses. On a
running lab, apply only the difference (nodes that did not change keep their
namespace and processes). With no FILE, bring up the demo lab.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keepWorkingOnClosedOutput()
			// Huge pages for the heap an up fills (the topology, the model,
			// the state), where the kernel gives them on request: 4 KiB
			// page faults were half of an unchanged up's time on the
			// benchmark VM. It costs ~4 ms, so only up pays it.
			hugeheap.Reserve()
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			spec, err := loadSpec(file)
			if err != nil {
				return err
			}
			o.Waiting = func() { fmt.Fprintf(os.Stderr, "waiting for another nslab working on lab %s...\n", spec.Name) }
			o.Log = func(s string) { fmt.Fprintln(os.Stderr, s) }
			if !quiet {
				o.Progress = progress(os.Stderr)
			}
			if !quiet || o.DryRun {
				o.OnPlan = func(p *lab.Plan) { fmt.Fprint(os.Stderr, p) }
			}
			start := time.Now()
			res, err := lab.Up(cmd.Context(), spec, o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.DryRun {
				fmt.Fprintln(os.Stderr, "dry run: nothing was changed")
				return nil
			}
			switch {
			case quiet:
			case res.Plan.Empty():
				fmt.Fprintf(os.Stderr, "lab %s is up to date: nothing to do\n", spec.Name)
			default:
				fmt.Fprintf(os.Stderr, "lab %s is up (%.2fs)\n", spec.Name, time.Since(start).Seconds())
			}
			if !quiet {
				printLabTable(out, res.Model)
				fmt.Fprintf(out, "\nnext:\n  nslab status %[1]s\n  nslab exec %[1]s %[2]s -- ping -c1 %[3]s\n  nslab check %[1]s\n  nslab down %[1]s\n",
					spec.Name, firstNode(res.Model), someAddr(res.Model))
			}
			for _, f := range res.Failed {
				fmt.Fprintf(os.Stderr, "nslab: %v\n", f)
			}
			if len(res.Failed) > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan and change nothing")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return c
}

// dropDash removes the "--" that separates a command from nslab's own
// arguments (cobra keeps it once flag parsing has stopped).
func dropDash(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

func firstNode(m *lab.Model) string {
	for _, n := range sortedKeys(m.Nodes) {
		if !m.Nodes[n].Switch {
			return n
		}
	}
	return ""
}

func someAddr(m *lab.Model) string {
	first := firstNode(m)
	for _, n := range sortedKeys(m.Nodes) {
		if n == first {
			continue
		}
		for _, i := range sortedKeys(m.Nodes[n].Ifs) {
			for _, a := range m.Nodes[n].Ifs[i].Addrs {
				return a.Addr().String()
			}
		}
	}
	return "127.0.0.1"
}

func printLabTable(w io.Writer, m *lab.Model) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tNETNS\tINTERFACE\tADDRESSES\tPEER")
	peers := map[string]string{}
	for _, l := range m.Links {
		peers[l.Ends[0].Node+":"+l.Ends[0].If] = l.Ends[1].String()
		peers[l.Ends[1].Node+":"+l.Ends[1].If] = l.Ends[0].String()
	}
	const limit = 60
	rows := 0
	for _, name := range sortedKeys(m.Nodes) {
		n := m.Nodes[name]
		if n.Switch {
			continue
		}
		rows++
		if rows > limit {
			continue
		}
		if len(n.Ifs) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t\t\n", name, n.NS)
		}
		for _, i := range sortedKeys(n.Ifs) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, n.NS, i, addrList(n.Ifs[i]), peers[name+":"+i])
		}
	}
	for _, i := range sortedKeys(m.Host.Ifs) {
		fmt.Fprintf(tw, "host\t(root)\t%s\t%s\t%s\n", i, addrList(m.Host.Ifs[i]), peers["host:"+i])
	}
	tw.Flush()
	if rows > limit {
		fmt.Fprintf(w, "... and %d more nodes ('nslab status %s' lists them all)\n", rows-limit, m.Name)
	}
	var sws []string
	for _, name := range sortedKeys(m.Nodes) {
		if m.Nodes[name].Switch {
			sws = append(sws, fmt.Sprintf("%s (netns %s)", name, m.Nodes[name].NS))
		}
	}
	if len(sws) > 0 {
		fmt.Fprintf(w, "switches: %s\n", strings.Join(sws, ", "))
	}
}

func addrList(i *lab.IfModel) string {
	var s []string
	for _, a := range i.Addrs {
		s = append(s, a.String())
	}
	return strings.Join(s, ",")
}

// labArg accepts a lab name or a topology file and returns the lab name.
func labArg(arg string) (string, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") || strings.ContainsRune(arg, '/') {
		spec, err := topo.Load(arg)
		if err != nil {
			return "", fmt.Errorf("read topology %s: %w", arg, err)
		}
		return spec.Name, nil
	}
	return arg, nil
}

func newDownCmd() *cobra.Command {
	var noWait bool
	c := &cobra.Command{
		Use:   "down LAB|FILE...",
		Short: "Remove a lab: its processes, namespaces, links and state",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keepWorkingOnClosedOutput()
			var errs []error
			for _, a := range args {
				name, err := labArg(a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				start := time.Now()
				err = lab.Down(cmd.Context(), name, lab.Options{
					NoWait:  noWait,
					Waiting: func() { fmt.Fprintf(os.Stderr, "waiting for another nslab working on lab %s...\n", name) },
					Log:     func(s string) { fmt.Fprintln(os.Stderr, s) },
				})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(os.Stderr, "lab %s is down (%.2fs)\n", name, time.Since(start).Seconds())
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVar(&noWait, "no-wait", false, "return once the names are gone, without waiting for the kernel to free the namespaces")
	return c
}

func newListCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the labs on this machine",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ls, err := lab.List()
			if err != nil {
				return err
			}
			if jsonOut {
				if ls == nil {
					ls = []lab.Summary{}
				}
				return printJSON(cmd.OutOrStdout(), ls)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "LAB\tNODES\tSWITCHES\tLINKS\tNAMESPACES\tCREATED\tFILE")
			for _, l := range ls {
				note := ""
				if l.Dirty {
					note = " (interrupted: run 'nslab up' or 'nslab down')"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s%s\n", l.Lab, l.Nodes, l.Switches, l.Links, l.Namespaces,
					l.Created.Local().Format("2006-01-02 15:04:05"), l.File, note)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

func newStatusCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "status LAB",
		Short: "Show a running lab: nodes, interfaces, addresses, link state, counters, processes, faults",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labArg(args[0])
			if err != nil {
				return err
			}
			st, err := lab.GetStatus(name)
			if err != nil {
				return err
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

func printStatus(w io.Writer, st *lab.Status) {
	fmt.Fprintf(w, "lab %s", st.Lab)
	if st.File != "" {
		fmt.Fprintf(w, " (%s)", st.File)
	}
	fmt.Fprintf(w, ", up since %s\n", st.Created.Local().Format("2006-01-02 15:04:05"))
	if st.Dirty {
		fmt.Fprintln(w, "WARNING: the last change was interrupted: run 'nslab up FILE' (it rebuilds) or 'nslab down'")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tINTERFACE\tSTATE\tMTU\tADDRESSES\tPEER\tRX/TX PKTS")
	state := func(i lab.IfStatus) string {
		switch {
		case i.Missing:
			return "MISSING"
		case !i.Up:
			return "down"
		case !i.Carrier:
			return "no-carrier"
		}
		return "up"
	}
	for _, n := range st.Nodes {
		if !n.Present {
			fmt.Fprintf(tw, "%s\t%s\t-\tNETNS MISSING\t\t\t\t\n", n.Name, n.Kind)
			continue
		}
		for _, i := range n.Interfaces {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d/%d\n", n.Name, n.Kind, i.Name, state(i), i.MTU,
				strings.Join(i.Addresses, ","), i.Peer, i.Stats.RxPackets, i.Stats.TxPackets)
		}
	}
	for _, i := range st.Host {
		fmt.Fprintf(tw, "host\troot\t%s\t%s\t%d\t%s\t%s\t%d/%d\n", i.Name, state(i), i.MTU, strings.Join(i.Addresses, ","), i.Peer, i.Stats.RxPackets, i.Stats.TxPackets)
	}
	tw.Flush()
	for _, n := range st.Nodes {
		for _, p := range n.Procs {
			s := "running"
			if !p.Running {
				s = "EXITED"
			}
			fmt.Fprintf(w, "process %s pid %d %s: %s (log %s)\n", n.Name, p.PID, s, strings.Join(p.Argv, " "), p.Log)
		}
	}
	printFaults(w, st.Faults)
}

func newExecCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "exec LAB NODE -- CMD [ARGS...]",
		Short: "Run a command in a lab node, like 'ip netns exec' (exit status passed on)",
		Args:  cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			argv := dropDash(args[2:])
			if len(argv) == 0 {
				return fmt.Errorf("no command given: nslab exec %s %s -- CMD [ARGS...]", args[0], args[1])
			}
			err := lab.Exec(args[0], args[1], argv)
			if errors.Is(err, lab.ErrNoLab) || errors.Is(err, lab.ErrNoNode) {
				return err
			}
			fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
			return &ExitError{Code: 127}
		},
	}
	c.Flags().SetInterspersed(false)
	return c
}

func newCleanupCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what crashed or killed nslab runs left behind (only what nslab made; --all: running labs too)",
		Long: `Remove what crashed or killed nslab runs left behind: labs whose up or down
was interrupted, and namespaces marked by nslab that belong to no lab. Running
labs are left alone unless --all is given (then, like 'mn -c', every lab on the
machine is taken down). Namespaces and links nslab did not make are never touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keepWorkingOnClosedOutput()
			done, err := lab.Cleanup(cmd.Context(), lab.Options{All: all, Log: func(s string) { fmt.Fprintln(os.Stderr, s) }})
			for _, d := range done {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", d)
			}
			if len(done) == 0 && err == nil {
				fmt.Fprintln(os.Stderr, "nothing to clean up")
			}
			return err
		},
	}
	c.Flags().BoolVar(&all, "all", false, "also take down every running lab")
	return c
}

package cli

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var o lab.CheckOptions
	var jsonOut bool
	var junit string
	c := &cobra.Command{
		Use:   "check LAB|FILE",
		Short: "Probe a running lab from inside its namespaces and compare with what should be reachable",
		Long: `Probe a running lab from inside its namespaces (ICMP echo, TCP connect, UDP
echo; IPv4 and IPv6; in parallel, each bounded by a timeout). Without an expect
section in the lab's file, every node must reach every address of every other
node that its addresses and routes cover. With one, each expect line is checked.
Prints a matrix; exits 1 on any mismatch.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labArg(args[0])
			if err != nil {
				return err
			}
			rep, err := lab.Check(cmd.Context(), name, o)
			if err != nil {
				return err
			}
			if junit != "" {
				if err := writeJUnit(junit, rep); err != nil {
					return err
				}
			}
			if jsonOut {
				if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
					return err
				}
			} else {
				printReport(cmd.OutOrStdout(), rep)
			}
			if !rep.OK() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	c.Flags().StringVar(&junit, "junit", "", "also write a JUnit XML report to this file")
	c.Flags().DurationVar(&o.Timeout, "timeout", time.Second, "timeout of each probe")
	c.Flags().IntVar(&o.Parallel, "parallel", 64, "probes at once")
	c.Flags().BoolVar(&o.AllPairs, "all-pairs", false, "also check all-pairs reachability when the lab has expectations")
	return c
}

func printReport(w io.Writer, rep *lab.Report) {
	// A matrix of nodes: ok when every probe from the row to the column
	// passed, FAIL when one did not, . when nothing was probed.
	type cell struct{ pass, fail int }
	cells := map[[2]string]*cell{}
	for _, p := range rep.Probes {
		k := [2]string{p.From, p.To}
		if cells[k] == nil {
			cells[k] = &cell{}
		}
		if p.Pass {
			cells[k].pass++
		} else {
			cells[k].fail++
		}
	}
	if len(rep.Nodes) <= 24 {
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		fmt.Fprint(tw, "from \\ to")
		for _, n := range rep.Nodes {
			fmt.Fprintf(tw, "\t%s", n)
		}
		fmt.Fprintln(tw)
		for _, f := range rep.Nodes {
			fmt.Fprint(tw, f)
			for _, t := range rep.Nodes {
				c := cells[[2]string{f, t}]
				switch {
				case f == t:
					fmt.Fprint(tw, "\t-")
				case c == nil:
					fmt.Fprint(tw, "\t.")
				case c.fail > 0:
					fmt.Fprint(tw, "\tFAIL")
				default:
					fmt.Fprint(tw, "\tok")
				}
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	var lines []string
	seen := map[string]bool{}
	for _, p := range rep.Probes {
		if p.Line != "" && !seen[p.Line] {
			seen[p.Line] = true
			lines = append(lines, p.Line)
		}
	}
	for _, l := range lines {
		ok := true
		var got []string
		for _, p := range rep.Probes {
			if p.Line == l {
				ok = ok && p.Pass
				got = append(got, fmt.Sprintf("%s %s", p.Addr, p.Got))
			}
		}
		mark := "pass"
		if !ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s  (%s)\n", mark, l, strings.Join(got, ", "))
	}
	for _, p := range rep.Probes {
		if !p.Pass && p.Line == "" {
			fmt.Fprintf(w, "FAIL  %s -> %s %s %s: want %s, got %s %s\n", p.From, p.To, p.Addr, p.Proto, p.Want, p.Got, p.Detail)
		}
	}
	fmt.Fprintf(w, "%d probes: %d passed, %d failed (%.2fs)\n", len(rep.Probes), rep.Passed, rep.Failed, rep.Elapsed.Seconds())
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string        `xml:"name,attr"`
	Class   string        `xml:"classname,attr"`
	Time    float64       `xml:"time,attr"`
	Failure *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(path string, rep *lab.Report) error {
	s := junitSuite{Name: "nslab check " + rep.Lab, Tests: len(rep.Probes), Failures: rep.Failed, Time: rep.Elapsed.Seconds()}
	for _, p := range rep.Probes {
		name := fmt.Sprintf("%s -> %s %s %s", p.From, p.To, p.Addr, p.Proto)
		if p.Port != 0 {
			name = fmt.Sprintf("%s -> %s %s:%d/%s", p.From, p.To, p.Addr, p.Port, p.Proto)
		}
		c := junitCase{Name: name + " " + p.Want, Class: rep.Lab, Time: p.RTT.Seconds()}
		if p.Line != "" {
			c.Class = rep.Lab + ": " + p.Line
		}
		if !p.Pass {
			c.Failure = &junitFailure{Message: fmt.Sprintf("want %s, got %s", p.Want, p.Got), Text: p.Detail}
		}
		s.Cases = append(s.Cases, c)
	}
	b, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append([]byte(xml.Header), append(b, '\n')...), 0o644); err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func printFaults(w io.Writer, f *lab.Faults) {
	if f == nil {
		return
	}
	for _, l := range f.LinksDown {
		fmt.Fprintf(w, "fault: link %s down\n", l)
	}
	for _, p := range f.Partitions {
		fmt.Fprintf(w, "fault: partition %s | %s\n", strings.Join(p[0], ","), strings.Join(p[1], ","))
	}
	for _, n := range f.Stopped {
		fmt.Fprintf(w, "fault: node %s stopped\n", n)
	}
	for _, k := range sortedKeys(f.Impaired) {
		fmt.Fprintf(w, "impairment: %s %s\n", k, f.Impaired[k])
	}
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine returns the facts that go with the figures.
func machine() string {
	sh := func(argv ...string) string {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mn := sh("/usr/bin/python3", "-c", "import mininet.net; print(mininet.net.VERSION)")
	return fmt.Sprintf("nproc %d (%s), MemTotal %s, kernel %s, %s, Mininet %s, %s, %s",
		runtime.NumCPU(), cpu, mem, sh("uname", "-r"), sh("ip", "-V"), mn, sh("go", "version"), sh("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"))
}

func report(c config, tools []tool, res map[key]*result, ex *extras, started time.Time) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("## Run of %s\n\n", started.Format("2006-01-02T15:04:05Z"))
	p("Machine: %s.\n\n", machine())
	p("Command: `go run ./bench -n %s -runs %s -tools %s -topos %s -extras %d`; finished after %s.\n\n",
		join(c.ns), join(c.runs), strings.Join(c.tools, ","), strings.Join(c.topos, ","), c.extras, time.Since(started).Round(time.Second))
	names := []string{}
	for _, t := range tools {
		names = append(names, t.name())
	}
	for _, kind := range c.topos {
		for _, what := range []string{"up (until ready)", "down (until freed)", "up command", "down command"} {
			p("**%s — %s**, seconds: median [min–max] (÷ floor)\n\n| tool |", kind, what)
			for _, n := range c.ns {
				p(" N=%d |", n)
			}
			p("\n|---|")
			for range c.ns {
				p("---|")
			}
			p("\n")
			for _, tn := range names {
				row := fmt.Sprintf("| %s |", tn)
				any := false
				for _, n := range c.ns {
					r := res[key{kind, tn, n}]
					ref := res[key{kind, "floor", n}]
					if r == nil {
						row += " – |"
						continue
					}
					any = true
					s, rs := pick(r, what), sample(nil)
					if ref != nil && tn != "floor" {
						rs = pick(ref, what)
					}
					var refm time.Duration
					if len(rs) > 0 {
						refm = rs.median()
					}
					row += " " + s.cell(refm) + " |"
				}
				if any {
					p("%s\n", row)
				}
			}
			p("\n")
		}
		// Per-host cost and scaling.
		p("**%s — up per node** (median up / N, ms): ", kind)
		var parts []string
		for _, tn := range names {
			var cells []string
			for _, n := range c.ns {
				if r := res[key{kind, tn, n}]; r != nil {
					cells = append(cells, fmt.Sprintf("N=%d %s", n, ms(r.up.median()/time.Duration(n))))
				}
			}
			if len(cells) > 0 {
				parts = append(parts, tn+": "+strings.Join(cells, ", "))
			}
		}
		p("%s.\n\n", strings.Join(parts, "; "))
		p("**%s — down per node** (median until freed / N, ms): ", kind)
		parts = nil
		for _, tn := range names {
			var cells []string
			for _, n := range c.ns {
				if r := res[key{kind, tn, n}]; r != nil {
					cells = append(cells, fmt.Sprintf("N=%d %s", n, ms(r.down.median()/time.Duration(n))))
				}
			}
			if len(cells) > 0 {
				parts = append(parts, tn+": "+strings.Join(cells, ", "))
			}
		}
		p("%s.\n\n", strings.Join(parts, "; "))
		// Phases and memory.
		for _, n := range c.ns {
			var ph []string
			for _, tn := range []string{"floor", "batch"} {
				if r := res[key{kind, tn, n}]; r != nil && len(r.phases) > 0 && r.phases[0] != "" {
					ph = append(ph, fmt.Sprintf("%s (first run) %s", tn, r.phases[0]))
				}
			}
			if r := res[key{kind, "nslab", n}]; r != nil {
				ph = append(ph, fmt.Sprintf("nslab max RSS %.1f MiB", float64(slices.Max(r.rss))/1024))
			}
			if len(ph) > 0 {
				p("- %s N=%d: %s\n", kind, n, strings.Join(ph, "; "))
			}
		}
		p("\n")
	}
	if ex != nil {
		p("**nslab on an existing star of %d hosts** (%d fresh ups, %d of the others), seconds: median [min–max] (÷ fresh up)\n\n", ex.n, len(ex.fresh), len(ex.unchanged))
		f := ex.fresh.median()
		p("| fresh up (until ready) | unchanged up | add one host (until it answers) | remove that host |\n|---|---|---|---|\n")
		p("| %s | %s | %s | %s |\n\n", ex.fresh.cell(0), ex.unchanged.cell(f), ex.change.cell(f), ex.revert.cell(f))
		p("Adding one host, beyond an unchanged up of the same lab (differences within each run), ms: star of %d hosts %s [%s–%s], star of %d hosts %s [%s–%s].\n\n",
			ex.small, ms(ex.smallExtra.median()), ms(ex.smallExtra.min()), ms(ex.smallExtra.max()),
			ex.n, ms(ex.extra.median()), ms(ex.extra.min()), ms(ex.extra.max()))
		p("Of which the up command's own extra time (nslab's work) %s [%s–%s] at %d hosts, %s [%s–%s] at %d; and the wait from its end until the new host answers (the kernel floods the first packet's ARP request to every port of the switch) %s [%s–%s] at %d, %s [%s–%s] at %d.\n\n",
			ms(ex.smallExtraCmd.median()), ms(ex.smallExtraCmd.min()), ms(ex.smallExtraCmd.max()), ex.small,
			ms(ex.extraCmd.median()), ms(ex.extraCmd.min()), ms(ex.extraCmd.max()), ex.n,
			ms(ex.smallFirstAnsw.median()), ms(ex.smallFirstAnsw.min()), ms(ex.smallFirstAnsw.max()), ex.small,
			ms(ex.firstAnswer.median()), ms(ex.firstAnswer.min()), ms(ex.firstAnswer.max()), ex.n)
		p("The control for that wait: the first host's first probe to an old host it has not talked to (a different one each cycle, timed the same way, right after): %s [%s–%s] at %d hosts, %s [%s–%s] at %d; the same flood, with no change of the lab involved.\n\n",
			ms(ex.smallColdFirst.median()), ms(ex.smallColdFirst.min()), ms(ex.smallColdFirst.max()), ex.small,
			ms(ex.coldFirst.median()), ms(ex.coldFirst.min()), ms(ex.coldFirst.max()), ex.n)
		p("nslab max RSS during a fresh up of %d hosts: %.1f MiB.\n\n", ex.n, float64(slices.Max(ex.rss))/1024)
		if len(ex.ipExec) > 0 {
			ipm := ex.ipExec.median()
			p("**exec start-up latency** (`true` in host h1 of the %d-host star, %d runs each, interleaved), ms: median [min–max] (÷ ip netns exec)\n\n", ex.n, len(ex.ipExec))
			p("| ip netns exec NS true | nslab netns exec NS true | nslab exec LAB h1 -- true |\n|---|---|---|\n")
			cellms := func(s sample) string {
				return fmt.Sprintf("%s [%s–%s] (%.2f×)", ms(s.median()), ms(s.min()), ms(s.max()), float64(s.median())/float64(ipm))
			}
			p("| %s | %s | %s |\n\n", cellms(ex.ipExec), cellms(ex.nsExec), cellms(ex.labExec))
		}
	}
	p("%s", targets(c, res, ex))
	return b.String()
}

func pick(r *result, what string) sample {
	switch what {
	case "up (until ready)":
		return r.up
	case "down (until freed)":
		return r.down
	case "up command":
		return r.upCmd
	}
	return r.downCmd
}

func join(v []int) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ",")
}

// targets checks the targets at N=1000 (or the largest N <= 1000
// that ran).
func targets(c config, res map[key]*result, ex *extras) string {
	var b strings.Builder
	b.WriteString("**Targets** (issue 4)\n\n")
	ratio := func(kind, a, bt string, n int, what string) (float64, bool) {
		ra, rb := res[key{kind, a, n}], res[key{kind, bt, n}]
		if ra == nil || rb == nil {
			return 0, false
		}
		return float64(pick(ra, what).median()) / float64(pick(rb, what).median()), true
	}
	line := func(ok bool, format string, args ...any) {
		mark := "MET"
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(&b, "- %s: %s\n", mark, fmt.Sprintf(format, args...))
	}
	for _, kind := range c.topos {
		n := 0
		for _, x := range c.ns {
			if x <= 1000 && x > n {
				n = x
			}
		}
		if v, ok := ratio(kind, "nslab", "floor", n, "up (until ready)"); ok {
			line(v <= 1.3, "%s N=%d: nslab up ≤ 1.3× floor: %.2f×", kind, n, v)
		}
		if v, ok := ratio(kind, "nslab", "floor", n, "down (until freed)"); ok {
			line(v <= 1.3, "%s N=%d: nslab down ≤ 1.3× floor: %.2f×", kind, n, v)
		}
		if v, ok := ratio(kind, "batch", "nslab", n, "up (until ready)"); ok {
			line(v >= 5, "%s N=%d: nslab up ≥ 5× faster than ip -batch: %.1f×", kind, n, v)
		}
		if v, ok := ratio(kind, "mininet", "nslab", n, "up (until ready)"); ok {
			line(v >= 10, "%s N=%d: nslab up ≥ 10× faster than Mininet: %.1f×", kind, n, v)
		}
		if v, ok := ratio(kind, "nslab", "batch", n, "down (until freed)"); ok {
			line(v <= 1.0, "%s N=%d: nslab down no slower than ip -batch: %.2f×", kind, n, v)
		}
	}
	if ex != nil {
		f := float64(ex.fresh.median())
		line(float64(ex.unchanged.median()) < 0.05*f, "unchanged up < 5%% of a fresh up (star N=%d): %.1f%%", ex.n, 100*float64(ex.unchanged.median())/f)
		// Proportional to the change, not to the lab: what adding a host
		// costs beyond an unchanged up must not grow with the lab (at
		// most 2× for a lab 10× the size; the unchanged up itself, which
		// reads the file and the state, is the target above).
		// The first answer's ARP request reaches every port of the
		// switch: a first packet to any host costs that in a big lab,
		// changed or not, so the change is measured beyond the control
		// probe of the same cycle (coldFirst).
		big, small := minus(ex.extra, ex.coldFirst).median(), minus(ex.smallExtra, ex.smallColdFirst).median()
		g := float64(big) / float64(max(small, time.Millisecond))
		line(g <= 2, "one-node change proportional to the change, not to the lab: adding a host until it answers costs %s ms beyond an unchanged up and a first packet to an old host at %d hosts, %s ms at %d hosts (%.1f× for a lab %d× the size); with that first packet %s and %s ms (%.1f×); the whole up that adds it is %.1f%% of a fresh up",
			ms(big), ex.n, ms(small), ex.small, g, ex.n/ex.small,
			ms(ex.extra.median()), ms(ex.smallExtra.median()), float64(ex.extra.median())/float64(max(ex.smallExtra.median(), time.Millisecond)),
			100*float64(ex.change.median())/f)
		// The same for nslab's own part, without the first packet's
		// flood, which grows with the switch whatever builds it.
		gc := float64(ex.extraCmd.median()) / float64(max(ex.smallExtraCmd.median(), time.Millisecond))
		line(gc <= 2, "one-node change, nslab's own part (the up command, without the wait for the first answer): %s ms beyond an unchanged up at %d hosts, %s ms at %d hosts (%.1f×)",
			ms(ex.extraCmd.median()), ex.n, ms(ex.smallExtraCmd.median()), ex.small, gc)
		if len(ex.ipExec) > 0 {
			v := float64(ex.nsExec.median()) / float64(ex.ipExec.median())
			line(v <= 1.2, "nslab netns exec ≤ 1.2× ip netns exec: %.2f× (nslab exec LAB NODE: %.2f×)", v, float64(ex.labExec.median())/float64(ex.ipExec.median()))
		}
		mib := float64(slices.Max(ex.rss)) / 1024
		line(mib < 150, "nslab RSS < 150 MiB at %d hosts: %.1f MiB", ex.n, mib)
	}
	b.WriteString("\n")
	return b.String()
}

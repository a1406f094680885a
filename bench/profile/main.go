// Command profile writes a CPU profile of lab.Up (what `nslab up` runs)
// building the benchmark's star in-process, then removes the lab:
//
//	go run ./bench/profile [-n 1000] [-o /tmp/nslab-up.pprof]
//	go tool pprof -top -nodecount=25 /tmp/nslab-up.pprof
//
// It needs root and uses the lab name "bzp" (namespaces bzp-*).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/nslab/nslab/bench/floor"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
)

// The main goroutine stays on the main thread, which never changes namespace.
func init() { runtime.LockOSThread() }

func main() {
	n := flag.Int("n", 1000, "hosts in the star")
	out := flag.String("o", "/tmp/nslab-up.pprof", "profile file")
	kind := flag.String("topo", "star", "star or line")
	printOnly := flag.Bool("print", false, "print the topology file and exit")
	flag.Parse()
	if *printOnly {
		os.Stdout.Write(file(*kind, *n))
		return
	}
	if err := profile(*kind, *n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
}

// file returns the benchmark's topology file (nil for an unknown kind).
func file(kind string, n int) []byte {
	switch kind {
	case "star":
		return []byte(floor.StarYAML("bzp", n))
	case "line":
		return []byte(floor.LineYAML("bzp", n))
	}
	return nil
}

func profile(kind string, n int, out string) error {
	file := file(kind, n)
	if file == nil {
		return fmt.Errorf("topology %q: want star or line", kind)
	}
	ctx := context.Background()
	t0 := time.Now()
	spec, err := topo.Parse(file, "bzp.yaml")
	if err != nil {
		return err
	}
	parse := time.Since(t0)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	t0 = time.Now()
	last := t0
	phases := ""
	progress := func(phase string, done, total int) {
		if done == total {
			now := time.Now()
			phases += fmt.Sprintf(" %s %.3fs", phase, now.Sub(last).Seconds())
			last = now
		}
	}
	_, err = lab.Up(ctx, spec, lab.Options{Progress: progress})
	up := time.Since(t0)
	pprof.StopCPUProfile()
	var ru, ru2 = rusage(), 0.0
	t0 = time.Now()
	derr := lab.Down(ctx, "bzp", lab.Options{})
	os.Remove(lab.EventsPath("bzp"))
	ru2 = rusage()
	fmt.Printf("parse %.3fs, lab.Up %.3fs (process CPU so far %.2fs), lab.Down %.3fs (CPU %.2fs); profile in %s\nphases (time since the previous phase ended):%s\n",
		parse.Seconds(), up.Seconds(), ru, time.Since(t0).Seconds(), ru2-ru, out, phases)
	if err != nil {
		return err
	}
	return derr
}

func rusage() float64 {
	var r syscallRusage
	getrusage(&r)
	return r.seconds()
}

// Command nslab manages Linux network namespaces and labs of them.
// See the README for the commands and `nslab --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/nslab/nslab/cli"
	"github.com/nslab/nslab/nsexec"
)

// Keep main on the process's first thread (m0), which the Go runtime never
// terminates: no other goroutine can then ever run there, so a namespace
// change that could not be undone can never be inherited by it.
func init() { runtime.LockOSThread() }

func main() {
	nsexec.MaybeChild() // a re-exec of nslab to start a command in a namespace
	if os.Getenv("GOGC") == "" {
		// nslab's commands are short and their heap is mostly live (a parsed
		// topology, a lab's state): collecting at twice the default heap
		// growth made `nslab up` on an unchanged 1000-host lab 17 % faster
		// (0.110 -> 0.092 s; 33 -> 34 MiB), a 1000-router line's up uses
		// 51 MiB instead of 43.
		debug.SetGCPercent(200)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

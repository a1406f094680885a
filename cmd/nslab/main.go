// Command nslab manages Linux network namespaces and labs of them.
// See the README for the commands and `nslab --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

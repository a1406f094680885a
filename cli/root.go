// Package cli is nslab's command line: cobra commands that turn flags and
// arguments into calls of the library packages, print results on stdout and
// everything else on stderr. It holds no logic a Go user of the library
// would need.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
)

// commands are the top-level commands; each file of this package registers
// its noun from init.
var commands []func() *cobra.Command

func register(f func() *cobra.Command) { commands = append(commands, f) }

// ExitError carries a command's exit status without an error message, for
// `exec` (the child's status) and `check` (failed expectations).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// NewRoot returns the nslab root command.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "nslab",
		Short: "Linux network namespaces and labs of them, fast and leak-free",
		Long: `nslab manages Linux network namespaces exactly like 'ip netns' (same /run/netns
names, /etc/netns overlays), wires them with veth pairs and bridges, and brings
whole declarative labs (a YAML topology) up and down in seconds.

Run 'nslab up' with no file for a demo lab.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

// Run executes the command line args and returns the process exit status.
func Run(ctx context.Context, args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
	if h := hint(err); h != "" {
		fmt.Fprintf(os.Stderr, "hint: %s\n", h)
	}
	return 1
}

func hint(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission) && os.Geteuid() != 0:
		return "nslab needs CAP_SYS_ADMIN (mounts under /run/netns) and CAP_NET_ADMIN (links): run it as root, e.g. with sudo"
	case errors.Is(err, errors.ErrUnsupported):
		return "this kernel lacks a feature the request needs; see the message for the kernel option or module"
	}
	return ""
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nslab/nslab/web"
	"github.com/spf13/cobra"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	var listen string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Show the running labs live in a web browser (read-only, loopback)",
		Long: `Serve a local web page that shows every running lab as a graph, with each
link's state (up, down, no carrier, impaired, partitioned), its counters
(packets, bytes, drops per interface) and each node's processes, refreshed
every second. The page is read-only and, by default, bound to 127.0.0.1 and
answers only to loopback names. Actions, when there are some, will need the
token printed at start. Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			remote := !web.IsLoopbackHost(listen)
			if remote {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is not a loopback address: anyone who can reach it sees your labs\n", listen)
			}
			s, err := web.New(web.Options{AllowRemote: remote})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("serve: listen on %s: %w (pick another port with --listen)", listen, err)
			}
			hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(cmd.OutOrStdout(), "nslab serve: http://%s/\ntoken for actions: %s\n", ln.Addr(), s.Token())
			ctx := cmd.Context()
			stop := context.AfterFunc(ctx, func() {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				defer cancel()
				hs.Shutdown(sctx)
			})
			defer stop()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7878", "address:port to listen on (a non-loopback address is allowed, with a warning)")
	return c
}

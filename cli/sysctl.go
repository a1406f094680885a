package cli

import (
	"fmt"
	"strings"

	"github.com/nslab/nslab/sysctl"
	"github.com/spf13/cobra"
)

func init() { register(newSysctlCmd) }

func newSysctlCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sysctl NS KEY[=VALUE]...",
		Short: "Read or set network sysctls of a namespace (ip netns exec NS sysctl [-w] KEY[=VALUE])",
		Long: `Read or set the per-namespace network sysctls (keys under net) of NS, a name
from 'nslab netns list' or host. Each KEY is printed as 'KEY = VALUE' after it
is read or set. A key with '/' is a path under /proc/sys, for interface names
with dots: net/ipv4/conf/eth0.5/forwarding.`,
		Example: `  nslab sysctl r1 net.ipv4.ip_forward=1
  nslab sysctl r1 net.ipv4.ip_forward net.ipv6.conf.all.forwarding`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := nsName(args[0])
			if err != nil {
				return err
			}
			// Check every key before changing anything.
			for _, kv := range args[1:] {
				k, _, _ := strings.Cut(kv, "=")
				if _, err := sysctl.Path(k); err != nil {
					return err
				}
			}
			s := newSession()
			defer s.Close()
			h, err := s.open(ns)
			if err != nil {
				return err
			}
			for _, kv := range args[1:] {
				k, v, set := strings.Cut(kv, "=")
				if set {
					if err := sysctl.Set(h, k, v); err != nil {
						return sysctl.WithNetNS(err, ns)
					}
				}
				got, err := sysctl.Get(h, k)
				if err != nil {
					return sysctl.WithNetNS(err, ns)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s = %s\n", k, got)
			}
			return nil
		},
	}
}

package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/nslab/nslab/ipaddr"
	"github.com/spf13/cobra"
)

func init() { register(newAddrCmd) }

func newAddrCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "addr",
		Short: "Manage IPv4/IPv6 addresses of devices in namespaces (ip addr)",
		Args:  cobra.ArbitraryArgs,
		RunE:  unknownVerb("add, del or list"),
	}
	var nodad bool
	parse := func(args []string) (ns, dev string, p netip.Prefix, err error) {
		if ns, dev, err = splitDev(args[0]); err != nil {
			return
		}
		if p, err = netip.ParsePrefix(args[1]); err != nil {
			err = fmt.Errorf("address %q: give an address with its prefix length, such as 198.18.0.1/24 or fd00::1/64", args[1])
		}
		return
	}
	add := &cobra.Command{
		Use:     "add NS:DEV PREFIX",
		Short:   "Add an address to a device (ip addr add PREFIX dev DEV [nodad])",
		Example: "  nslab addr add r1:eth0 198.18.0.1/24\n  nslab addr add r1:eth0 fd00::1/64 --nodad",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, dev, p, err := parse(args)
			if err != nil {
				return err
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns)
			if err != nil {
				return err
			}
			return ipaddr.WithNetNS(ipaddr.Add(h, dev, p, ipaddr.Options{NoDAD: nodad}), ns)
		},
	}
	add.Flags().BoolVar(&nodad, "nodad", false, "skip IPv6 duplicate address detection: usable at once")
	del := &cobra.Command{
		Use:     "del NS:DEV PREFIX",
		Aliases: []string{"delete"},
		Short:   "Remove an address from a device (ip addr del PREFIX dev DEV)",
		Example: "  nslab addr del r1:eth0 198.18.0.1/24",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, dev, p, err := parse(args)
			if err != nil {
				return err
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns)
			if err != nil {
				return err
			}
			return ipaddr.WithNetNS(ipaddr.Del(h, dev, p), ns)
		},
	}
	var jsonOut bool
	list := &cobra.Command{
		Use:     "list NS[:DEV]",
		Aliases: []string{"ls", "show"},
		Short:   "List the addresses of a namespace or of one device (ip addr show [dev DEV])",
		Example: "  nslab addr list r1\n  nslab addr list r1:eth0 --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, dev := args[0], ""
			if strings.Contains(args[0], ":") {
				var err error
				if ns, dev, err = splitDev(args[0]); err != nil {
					return err
				}
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns)
			if err != nil {
				return err
			}
			as, err := ipaddr.ListDetail(h, dev)
			if err != nil {
				return ipaddr.WithNetNS(err, ns)
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), as)
			}
			for _, a := range as {
				extra := ""
				if a.Tentative {
					extra = " tentative"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s%s\n", a.Dev, a.Prefix, extra)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	c.AddCommand(add, del, list)
	return c
}

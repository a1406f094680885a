package cli

import (
	"fmt"

	"github.com/nslab/nslab/iproute"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
)

func init() { register(newRouteCmd) }

func newRouteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "route",
		Short: "Manage the routes of a namespace's main table (ip route)",
		Args:  cobra.ArbitraryArgs,
		RunE:  unknownVerb("add, del, replace or list"),
	}
	add := &cobra.Command{
		Use:   "add NS TO|default [via ADDR] [dev DEV] [metric N]",
		Short: "Add a route (ip route add)",
		Example: `  nslab route add r1 default via 198.18.0.254
  nslab route add r1 198.19.0.0/16 dev eth0
  nslab route add r1 fd00:99::/48 via fd00::2 metric 10`,
		Args: cobra.MinimumNArgs(2),
	}
	del := &cobra.Command{
		Use:     "del NS TO|default [via ADDR] [dev DEV] [metric N]",
		Aliases: []string{"delete"},
		Short:   "Delete a route (ip route del); via, dev and metric narrow the match",
		Example: `  nslab route del r1 default`,
		Args:    cobra.MinimumNArgs(2),
	}
	replace := &cobra.Command{
		Use:     "replace NS TO|default [via ADDR] [dev DEV] [metric N]",
		Short:   "Add a route or replace the one to the same destination (ip route replace)",
		Example: `  nslab route replace r1 default via 198.18.0.253`,
		Args:    cobra.MinimumNArgs(2),
	}
	add.RunE = routeRun("add", iproute.Parse, iproute.Add)
	del.RunE = routeRun("del", iproute.ParseAny, iproute.Del)
	replace.RunE = routeRun("replace", iproute.Parse, iproute.Replace)

	var jsonOut, all bool
	list := &cobra.Command{
		Use:     "list NS",
		Aliases: []string{"ls", "show"},
		Short:   "List the routes of the main table, IPv4 and IPv6 (ip route; ip -6 route)",
		Example: "  nslab route list r1\n  nslab route list r1 --all --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, err := nsName(args[0])
			if err != nil {
				return err
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns)
			if err != nil {
				return err
			}
			list := iproute.List
			if all {
				list = iproute.ListAll
			}
			rs, err := list(h)
			if err != nil {
				return iproute.WithNetNS(err, ns)
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), rs)
			}
			for _, r := range rs {
				fmt.Fprintln(cmd.OutOrStdout(), r)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	list.Flags().BoolVar(&all, "all", false, "include the routes the kernel made for addresses (proto kernel)")
	c.AddCommand(add, del, replace, list)
	return c
}

// routeRun returns the RunE of `route add|del|replace NS ROUTE...`.
func routeRun(op string, parse func([]string) (iproute.Route, error), fn func(*netlink.Handle, iproute.Route) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ns, err := nsName(args[0])
		if err != nil {
			return err
		}
		r, err := parse(args[1:])
		if err != nil {
			return fmt.Errorf("route %s in netns %q: %w", op, ns, err)
		}
		s := newSession()
		defer s.Close()
		h, err := s.handle(ns)
		if err != nil {
			return err
		}
		return iproute.WithNetNS(fn(h, r), ns)
	}
}

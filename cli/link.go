package cli

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

func init() { register(newLinkCmd) }

// hostNS is the command-line name of the namespace nslab itself runs in.
const hostNS = "host"

// nsSession opens namespaces and netlink handles by command-line name and
// closes them all at the end of a command.
type nsSession struct {
	ns      map[string]vnetns.NsHandle
	handles map[string]*netlink.Handle
}

func newSession() *nsSession {
	return &nsSession{ns: map[string]vnetns.NsHandle{}, handles: map[string]*netlink.Handle{}}
}

func (s *nsSession) Close() {
	for _, h := range s.handles {
		h.Close()
	}
	for _, n := range s.ns {
		n.Close()
	}
}

// open returns a handle to the namespace called name: a name in /run/netns,
// or "host" for the namespace nslab runs in.
func (s *nsSession) open(name string) (vnetns.NsHandle, error) {
	if n, ok := s.ns[name]; ok {
		return n, nil
	}
	var n vnetns.NsHandle
	var err error
	if name == hostNS {
		n, err = openHost()
	} else {
		n, err = netns.Open(name)
	}
	if err != nil {
		return vnetns.None(), err
	}
	s.ns[name] = n
	return n, nil
}

// handle returns a netlink handle bound to the namespace called name.
func (s *nsSession) handle(name string) (*netlink.Handle, error) {
	if h, ok := s.handles[name]; ok {
		return h, nil
	}
	n, err := s.open(name)
	if err != nil {
		return nil, err
	}
	h, err := nl.NewHandle(n)
	if err != nil {
		return nil, fmt.Errorf("netns %q: %w", name, err)
	}
	s.handles[name] = h
	return h, nil
}

// openHost opens the namespace of the calling thread, locked while it reads
// it; unswitched threads are all in the namespace nslab was started in.
func openHost() (vnetns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n, err := vnetns.Get()
	if err != nil {
		return vnetns.None(), fmt.Errorf("open host netns: %w", err)
	}
	return n, nil
}

// splitDev splits NS:DEV at its last ':' (interface names cannot contain
// one; namespace names can).
func splitDev(arg string) (ns, dev string, err error) {
	i := strings.LastIndexByte(arg, ':')
	if i <= 0 || i == len(arg)-1 {
		return "", "", fmt.Errorf("%q: give NS:DEV, such as r1:eth0 (NS is a name from 'nslab netns list', or host)", arg)
	}
	return arg[:i], arg[i+1:], nil
}

// nsName returns the argument as a namespace name, "host" included.
func nsName(arg string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("empty namespace: give a name from 'nslab netns list', or host")
	}
	return arg, nil
}

// A linkSetForm is one form of `nslab link set`. The first form whose match
// accepts the arguments runs. The device form (NS:DEV ACTION...) is built
// in; another file may add a form (such as `link set LAB NODE:IF --rate R`)
// from its init with addLinkSetForm, with its own flags.
type linkSetForm struct {
	match func(args []string) bool
	flags func(c *cobra.Command)
	run   func(c *cobra.Command, args []string) error
}

var linkSetForms []linkSetForm

func addLinkSetForm(f linkSetForm) { linkSetForms = append(linkSetForms, f) }

func newLinkCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "link",
		Short: "Manage network devices in namespaces: veth pairs, bridges, moves, up/down, MTU (ip link)",
		Long: `Manage network devices. NS is a namespace name from 'nslab netns list', or
'host' for the namespace nslab runs in; a device is named NS:DEV, such as r1:eth0.`,
		Args: cobra.ArbitraryArgs,
		RunE: unknownVerb("add, move, set, del or list"),
	}
	c.AddCommand(newLinkAddCmd(), newLinkMoveCmd(), newLinkSetCmd(), newLinkDelCmd(), newLinkListCmd(), newLinkStateCmd(false), newLinkStateCmd(true))
	return c
}

func newLinkAddCmd() *cobra.Command {
	add := &cobra.Command{
		Use:   "add",
		Short: "Create a device (ip link add)",
		Args:  cobra.ArbitraryArgs,
		RunE:  unknownVerb("veth or bridge (other kinds: dummy, vlan, bond, vrf... are not offered here)"),
	}
	var mtu int
	var up bool
	var alias string
	veth := &cobra.Command{
		Use:   "veth NS1:IF1 NS2:IF2",
		Short: "Create a veth pair with each end born in its namespace (ip link add IF1 netns NS1 type veth peer IF2 netns NS2)",
		Example: `  nslab link add veth r1:eth0 r2:eth0 --mtu 1400 --up
  nslab link add veth host:veth-r1 r1:eth0 --up`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns1, if1, err := splitDev(args[0])
			if err != nil {
				return err
			}
			ns2, if2, err := splitDev(args[1])
			if err != nil {
				return err
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns1)
			if err != nil {
				return err
			}
			a := netdev.End{Name: if1, MTU: mtu, Up: up, Alias: alias, NetNSName: ns1}
			b := netdev.End{Name: if2, MTU: mtu, Up: up, Alias: alias, NetNSName: ns2}
			var peerH *netlink.Handle
			if ns2 != ns1 {
				if b.NS, err = s.open(ns2); err != nil {
					return err
				}
				if peerH, err = s.handle(ns2); err != nil {
					return err
				}
			}
			return netdev.AddVeth(h, a, b, peerH)
		},
	}
	veth.Flags().IntVar(&mtu, "mtu", 0, "MTU of both ends (0 = kernel default)")
	veth.Flags().BoolVar(&up, "up", false, "bring both ends up")
	veth.Flags().StringVar(&alias, "alias", "", "alias (IFLA_IFALIAS) of both ends")

	var bmtu int
	var bup bool
	var balias string
	bridge := &cobra.Command{
		Use:     "bridge NS:BR",
		Short:   "Create a bridge (ip link add BR type bridge)",
		Example: `  nslab link add bridge sw1:br0 --up`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, br, err := splitDev(args[0])
			if err != nil {
				return err
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(ns)
			if err != nil {
				return err
			}
			err = netdev.AddBridge(h, br, netdev.BridgeOptions{MTU: bmtu, Up: bup, Alias: balias})
			return netdev.WithNetNS(err, ns)
		},
	}
	bridge.Flags().IntVar(&bmtu, "mtu", 0, "MTU (0 = kernel default)")
	bridge.Flags().BoolVar(&bup, "up", false, "bring the bridge up")
	bridge.Flags().StringVar(&balias, "alias", "", "alias (IFLA_IFALIAS)")
	add.AddCommand(veth, bridge)
	return add
}

func newLinkMoveCmd() *cobra.Command {
	var newName string
	c := &cobra.Command{
		Use:   "move [NS:]DEV NS2",
		Short: "Move a device to another namespace (ip link set DEV netns NS2 [name NEW]); it arrives DOWN, addresses flushed",
		Long: `Move a device to another namespace, renaming it on the way with --name.
Without NS: the device is taken from the host namespace. NS2 may be 'host'
(or 1) for the namespace nslab runs in. The kernel brings the device DOWN and
flushes its addresses and routes; bridges and lo cannot move.`,
		Example: `  nslab link move veth-r1 r1 --name eth1
  nslab link move r1:eth1 host`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dev := hostNS, args[0]
			if strings.Contains(args[0], ":") {
				var err error
				if src, dev, err = splitDev(args[0]); err != nil {
					return err
				}
			}
			dst, err := nsName(args[1])
			if err != nil {
				return err
			}
			if dst == "1" {
				dst = hostNS
			}
			s := newSession()
			defer s.Close()
			h, err := s.handle(src)
			if err != nil {
				return err
			}
			to, err := s.open(dst)
			if err != nil {
				return err
			}
			return netdev.WithNetNS(netdev.Move(h, dev, to, newName), src)
		},
	}
	c.Flags().StringVar(&newName, "name", "", "new name of the device in the target namespace")
	return c
}

func newLinkSetCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "set NS:DEV ACTION...",
		Short: "Change a device: up, down, mtu N, master BR, nomaster, alias A, group G (ip link set)",
		Long: `Change a device. Actions run in the order given:
  up | down          bring the device up or down (NS:lo up makes 127.0.0.1 work)
  mtu N              set the MTU
  master BR          enslave it to bridge BR (same namespace)
  nomaster           release it from its bridge
  alias A            set its alias (IFLA_IFALIAS); alias "" removes it
  group G            put it in device group G`,
		Example: `  nslab link set r1:lo up
  nslab link set r1:eth0 mtu 1400 up
  nslab link set sw1:p1 master br0 up`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range linkSetForms {
				if f.match(args) {
					return f.run(cmd, args)
				}
			}
			return fmt.Errorf("link set %q: give NS:DEV and actions, such as 'nslab link set r1:eth0 up'", args[0])
		},
	}
	for _, f := range linkSetForms {
		if f.flags != nil {
			f.flags(c)
		}
	}
	return c
}

func init() {
	addLinkSetForm(linkSetForm{
		match: func(args []string) bool { return strings.Contains(args[0], ":") },
		run:   runLinkSetDev,
	})
}

type linkAction struct {
	verb string
	arg  string
	n    int
}

// parseLinkActions checks every action before any is applied.
func parseLinkActions(words []string) ([]linkAction, error) {
	if len(words) == 0 {
		return nil, fmt.Errorf("no action: give up, down, mtu N, master BR, nomaster, alias A or group G")
	}
	var out []linkAction
	for i := 0; i < len(words); i++ {
		a := linkAction{verb: words[i]}
		switch a.verb {
		case "up", "down", "nomaster":
		case "mtu", "master", "alias", "group":
			if i+1 >= len(words) {
				return nil, fmt.Errorf("%q needs a value", a.verb)
			}
			i++
			a.arg = words[i]
			switch a.verb {
			case "mtu":
				n, err := strconv.Atoi(a.arg)
				if err != nil || n <= 0 {
					return nil, fmt.Errorf("mtu %q is not a positive number, such as 1500", a.arg)
				}
				a.n = n
			case "group":
				n, err := strconv.ParseUint(a.arg, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("group %q is not a number from 0 to 4294967295", a.arg)
				}
				a.n = int(n)
			}
		default:
			return nil, fmt.Errorf("unknown action %q: give up, down, mtu N, master BR, nomaster, alias A or group G", a.verb)
		}
		out = append(out, a)
	}
	return out, nil
}

func runLinkSetDev(cmd *cobra.Command, args []string) error {
	ns, dev, err := splitDev(args[0])
	if err != nil {
		return err
	}
	actions, err := parseLinkActions(args[1:])
	if err != nil {
		return fmt.Errorf("link set %s: %w", args[0], err)
	}
	s := newSession()
	defer s.Close()
	h, err := s.handle(ns)
	if err != nil {
		return err
	}
	for _, a := range actions {
		switch a.verb {
		case "up":
			err = netdev.SetUp(h, dev)
		case "down":
			err = netdev.SetDown(h, dev)
		case "mtu":
			err = netdev.SetMTU(h, dev, a.n)
		case "master":
			err = netdev.SetMaster(h, dev, a.arg)
		case "nomaster":
			err = netdev.SetNoMaster(h, dev)
		case "alias":
			err = netdev.SetAlias(h, dev, a.arg)
		case "group":
			err = netdev.SetGroup(h, dev, uint32(a.n))
		}
		if err != nil {
			return netdev.WithNetNS(err, ns)
		}
	}
	return nil
}

func newLinkDelCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "del NS:DEV...",
		Aliases: []string{"delete"},
		Short:   "Delete devices (ip link del); deleting one end of a veth deletes both",
		Example: `  nslab link del r1:eth0`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := newSession()
			defer s.Close()
			for _, arg := range args {
				ns, dev, err := splitDev(arg)
				if err != nil {
					return err
				}
				h, err := s.handle(ns)
				if err != nil {
					return err
				}
				if err := netdev.Delete(h, dev); err != nil {
					return netdev.WithNetNS(err, ns)
				}
			}
			return nil
		},
	}
}

func newLinkListCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:     "list NS",
		Aliases: []string{"ls", "show"},
		Short:   "List the devices of a namespace (ip -s link show)",
		Example: `  nslab link list r1
  nslab link list host --json`,
		Args: cobra.ExactArgs(1),
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
			is, err := netdev.List(h)
			if err != nil {
				return netdev.WithNetNS(err, ns)
			}
			if jsonOut {
				return printJSON(cmd.OutOrStdout(), is)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKIND\tSTATE\tMTU\tMASTER\tALIAS")
			for _, i := range is {
				state := "DOWN"
				switch {
				case i.Up && i.OperUp:
					state = "UP"
				case i.Up:
					state = "UP,NO-CARRIER"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", i.Name, i.Kind, state, i.MTU, dash(i.Master), dash(i.Alias))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return c
}

// unknownVerb is the RunE of a command that only groups subcommands: help
// without arguments, a one-line error for an unknown subcommand.
func unknownVerb(verbs string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return fmt.Errorf("%s: unknown command %q: give %s", cmd.CommandPath(), args[0], verbs)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Package firewall gives a network namespace a small stateful firewall and
// optional NAT, compiled to nftables through github.com/google/nftables (no
// nft binary is run). It is what a lab node's "firewall:" section becomes.
//
// nslab owns its tables and touches nothing else in the namespace: the
// filter table "nslab" (family inet) and, when masquerading, the nat tables
// "nslab-nat" of families ip and ip6. Apply replaces them in one atomic
// nftables transaction (like `nft -f` of a file that deletes and re-creates
// them), so a namespace never sees half a policy, and a failed Apply leaves
// the previous one in place. Other tables, e.g. those of a routing daemon or
// of the user, stay as they are; their chains still see the packets too
// (netfilter runs every base chain of a hook, and a drop in any of them
// wins).
//
// # What a policy means
//
// The table "nslab" has three base chains, input, output and forward
// (hooks of the same names, priority filter, policy accept). Each starts
// with built-in rules, then has the policy's rules in order (first match
// wins), then the default action of its direction:
//
//   - ct state established,related accept, in every direction: the rules
//     judge the first packet of a connection, and replies to a connection
//     the rules allowed (an outgoing TCP connection, say, under a
//     default "deny" for "in") pass. A connection already open when a
//     deny rule is applied keeps working until it ends.
//   - iifname/oifname "lo" accept (in, out): the namespace may always talk
//     to itself.
//   - ICMPv6 neighbour discovery (types 133-136) accept (in, out): IPv6
//     does not work without it.
//
// # Concurrency
//
// Apply, Clear and Tables are safe to call from any goroutine, on the same
// or different namespaces: each uses its own netlink socket bound to the
// namespace and never changes the calling thread's namespace. The kernel
// runs each Apply or Clear as one transaction; when two race on one
// namespace, the last to commit wins.
//
// # Kernel support
//
// The kernel needs nf_tables with conntrack (nft_ct), reject
// (nft_reject_inet) and, for Masquerade, nft_masq and IPv4/IPv6 NAT. When a
// piece is missing, Apply fails with an error that wraps
// errors.ErrUnsupported and says so in one line.
package firewall

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TableName is the name of nslab's filter table (family inet).
const TableName = "nslab"

// NATTableName is the name of nslab's nat tables (families ip and ip6),
// present only while a policy masquerades.
const NATTableName = "nslab-nat"

// ownTables are the tables nslab may create, in the order Tables reports
// them.
var ownTables = []*nftables.Table{
	{Name: TableName, Family: nftables.TableFamilyINet},
	{Name: NATTableName, Family: nftables.TableFamilyIPv4},
	{Name: NATTableName, Family: nftables.TableFamilyIPv6},
}

// Apply makes p the firewall of the network namespace ns, replacing
// whatever an earlier Apply set there, in one atomic nftables batch. It
// validates p first and changes nothing when p is invalid. Applying the same
// policy again changes nothing visible (it is idempotent). Only nslab's
// tables (see TableName, NATTableName) are touched.
//
// Equivalent to `ip netns exec NS nft -f FILE` where FILE deletes and
// re-creates "table inet nslab" (and "table ip/ip6 nslab-nat").
func Apply(ns vnetns.NsHandle, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	c, err := dial(ns)
	if err != nil {
		return fmt.Errorf("apply firewall: %w", err)
	}
	defer c.CloseLasting()

	filter := ownTables[0]
	replace(c, filter)
	accept := nftables.ChainPolicyAccept
	hooks := map[Direction]*nftables.ChainHook{In: nftables.ChainHookInput, Out: nftables.ChainHookOutput, Forward: nftables.ChainHookForward}
	rules := compile(p)
	for _, d := range directions {
		ch := c.AddChain(&nftables.Chain{
			Name: chainOf[d], Table: filter, Type: nftables.ChainTypeFilter,
			Hooknum: hooks[d], Priority: nftables.ChainPriorityFilter, Policy: &accept,
		})
		addRules(c, filter, ch, rules[chainOf[d]])
	}
	for _, t := range ownTables[1:] {
		if len(p.Masquerade) == 0 {
			// add + delete: removes the table if present, and is a
			// no-op otherwise, in the same transaction.
			c.AddTable(t)
			c.DelTable(t)
			continue
		}
		replace(c, t)
		ch := c.AddChain(&nftables.Chain{
			Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept,
		})
		addRules(c, t, ch, natRules(p.Masquerade))
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("apply firewall: %w", kernelError(err))
	}
	return nil
}

// replace queues the commands that empty t by deleting it (creating it
// first so that the delete cannot fail) and create it afresh.
func replace(c *nftables.Conn, t *nftables.Table) {
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
}

func addRules(c *nftables.Conn, t *nftables.Table, ch *nftables.Chain, rs []nftRule) {
	for _, r := range rs {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r.exprs, UserData: comment(r.comment)})
	}
}

// comment returns nft's user data for a rule comment, cut to the 128 bytes
// nft accepts.
func comment(s string) []byte {
	if len(s) > 127 {
		s = s[:127]
	}
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

// Clear removes nslab's tables from the network namespace ns, in one
// transaction, and nothing else. It is not an error when there are none.
//
// Equivalent to `ip netns exec NS nft delete table inet nslab` (and the
// nat tables).
func Clear(ns vnetns.NsHandle) error {
	c, err := dial(ns)
	if err != nil {
		return fmt.Errorf("clear firewall: %w", err)
	}
	defer c.CloseLasting()
	present, err := list(c)
	if err != nil {
		return fmt.Errorf("clear firewall: %w", err)
	}
	for _, t := range present {
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("clear firewall: %w", kernelError(err))
	}
	return nil
}

// Tables returns nslab's tables present in the network namespace ns, each
// as "FAMILY NAME" the way nft prints them ("inet nslab", "ip nslab-nat",
// "ip6 nslab-nat"), in that order. None means the namespace has no nslab
// firewall.
//
// Equivalent to `ip netns exec NS nft list tables`, filtered.
func Tables(ns vnetns.NsHandle) ([]string, error) {
	c, err := dial(ns)
	if err != nil {
		return nil, fmt.Errorf("list firewall tables: %w", err)
	}
	defer c.CloseLasting()
	present, err := list(c)
	if err != nil {
		return nil, fmt.Errorf("list firewall tables: %w", err)
	}
	var out []string
	for _, t := range present {
		out = append(out, familyName(t.Family)+" "+t.Name)
	}
	return out, nil
}

// list returns those of ownTables present in the namespace.
func list(c *nftables.Conn) ([]*nftables.Table, error) {
	all, err := c.ListTables()
	if err != nil {
		return nil, kernelError(err)
	}
	var out []*nftables.Table
	for _, own := range ownTables {
		for _, t := range all {
			if t.Name == own.Name && t.Family == own.Family {
				out = append(out, own)
				break
			}
		}
	}
	return out, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	}
	return fmt.Sprintf("family%d", f)
}

// dial opens a lasting nftables connection bound to ns.
func dial(ns vnetns.NsHandle) (*nftables.Conn, error) {
	if int(ns) <= 0 {
		return nil, fmt.Errorf("invalid netns handle %d: open the namespace first", int(ns))
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)), nftables.AsLasting())
	if err != nil {
		return nil, kernelError(fmt.Errorf("open nftables netlink socket: %w", err))
	}
	return c, nil
}

// kernelError explains errnos that mean a missing kernel feature, wrapping
// errors.ErrUnsupported, and keeps any error on one line.
func kernelError(err error) error {
	switch {
	case errors.Is(err, unix.EPROTONOSUPPORT):
		err = fmt.Errorf("kernel has no nf_tables (CONFIG_NF_TABLES): %w (%w)", errors.ErrUnsupported, err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EAFNOSUPPORT):
		err = fmt.Errorf("kernel lacks an nftables feature the policy needs (nft_ct, nft_reject_inet, nft_masq, IPv4/IPv6 NAT): %w (%w)", errors.ErrUnsupported, err)
	}
	return oneLine{err}
}

// oneLine prints an error (errors.Join inside google/nftables uses
// newlines) on one line, and unwraps to it.
type oneLine struct{ err error }

func (e oneLine) Error() string { return strings.ReplaceAll(e.err.Error(), "\n", "; ") }
func (e oneLine) Unwrap() error { return e.err }

package lab

import (
	"net/netip"
	"time"

	"context"
	"errors"
	"fmt"
	"github.com/nslab/nslab/internal/nl"
	"github.com/vishvananda/netlink"
	"slices"
	"strings"
	"syscall"

	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/shape"
)

// withState runs fn on a running lab's state under the lab's lock and saves
// the state if fn succeeds.
func withState(ctx context.Context, lab string, fn func(s *session, st *State) error) error {
	unlock, err := lock(ctx, lab, nil)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(lab)
	if err != nil {
		return err
	}
	if st == nil || st.Model == nil {
		return fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	if st.Faults == nil {
		st.Faults = &Faults{}
	}
	s, err := newSession(lab, nil)
	if err != nil {
		return err
	}
	defer s.close()
	if err := fn(s, st); err != nil {
		return err
	}
	return st.save()
}

// endpoint resolves "node:if" in a running lab to the node and interface.
func (m *Model) endpoint(ref string) (*NodeModel, string, error) {
	node, ifname, ok := strings.Cut(ref, ":")
	if !ok || node == "" || ifname == "" {
		return nil, "", fmt.Errorf("%q is not NODE:IF (for example h1:eth0)", ref)
	}
	n := m.Nodes[node]
	if n == nil || n.Switch {
		return nil, "", fmt.Errorf("lab %q has no node %q (nodes: %s)", m.Name, node, strings.Join(nodeNames(m), ", "))
	}
	if n.Ifs[ifname] == nil {
		return nil, "", fmt.Errorf("node %q has no interface %q (it has: %s)", node, ifname, strings.Join(slicesSorted(n.Ifs), ", "))
	}
	return n, ifname, nil
}

// SetLinkState takes the interface NODE:IF of a running lab down (up=false)
// or back up. A veth whose end is down has no carrier at either end, so the
// link carries nothing in either direction, as when a cable is pulled.
func SetLinkState(ctx context.Context, lab, ref string, up bool) error {
	return withState(ctx, lab, func(s *session, st *State) error {
		n, ifname, err := st.Model.endpoint(ref)
		if err != nil {
			return err
		}
		h, err := s.get(n.NS)
		if err != nil {
			return err
		}
		key := n.Name + ":" + ifname
		if up {
			if err := netdev.SetUp(h.h, ifname); err != nil {
				return err
			}
			waitRoutes(h.h, ifname, n.Ifs[ifname].Addrs)
			st.Faults.LinksDown = slices.DeleteFunc(st.Faults.LinksDown, func(s string) bool { return s == key })
			appendEvents(lab, []Event{{Kind: "link-up", Node: n.Name, If: ifname}})
			return nil
		}
		if err := netdev.SetDown(h.h, ifname); err != nil {
			return err
		}
		if !slices.Contains(st.Faults.LinksDown, key) {
			st.Faults.LinksDown = append(st.Faults.LinksDown, key)
		}
		appendEvents(lab, []Event{{Kind: "link-down", Node: n.Name, If: ifname}})
		return nil
	})
}

// Impair sets (or, with a zero Impairment, clears) the impairment of the
// egress of NODE:IF in a running lab. When the kernel lacks a qdisc the
// request needs, nothing changes and the error says which one.
func Impair(ctx context.Context, lab, ref string, imp shape.Impairment) error {
	return withState(ctx, lab, func(s *session, st *State) error {
		n, ifname, err := st.Model.endpoint(ref)
		if err != nil {
			return err
		}
		h, err := s.get(n.NS)
		if err != nil {
			return err
		}
		caps := shape.Detect(h.h)
		if err := caps.Check(imp); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		if err := shape.Apply(h.h, ifname, imp, caps); err != nil {
			return fmt.Errorf("%s: %w", ref, err)
		}
		key := n.Name + ":" + ifname
		if st.Faults.Impaired == nil {
			st.Faults.Impaired = map[string]string{}
		}
		if imp.IsZero() {
			delete(st.Faults.Impaired, key)
		} else {
			st.Faults.Impaired[key] = imp.String()
		}
		appendEvents(lab, []Event{{Kind: "impairment", Node: n.Name, If: ifname, Detail: imp.String()}})
		return nil
	})
}

// SetNodeState stops a node (its processes are frozen with SIGSTOP and its
// interfaces taken down) or starts it again (SIGCONT, interfaces up, except
// those taken down on their own with SetLinkState).
func SetNodeState(ctx context.Context, lab, node string, running bool) error {
	return withState(ctx, lab, func(s *session, st *State) error {
		n := st.Model.Nodes[node]
		if n == nil || n.Switch {
			return fmt.Errorf("lab %q has no node %q (nodes: %s)", lab, node, strings.Join(nodeNames(st.Model), ", "))
		}
		h, err := s.get(n.NS)
		if err != nil {
			return err
		}
		sig := syscall.SIGCONT
		if !running {
			sig = syscall.SIGSTOP
		}
		for _, p := range st.Procs[node] {
			if p.alive() {
				syscall.Kill(-p.PID, sig)
				syscall.Kill(p.PID, sig)
			}
		}
		var errs []error
		for _, i := range slicesSorted(n.Ifs) {
			if running {
				if slices.Contains(st.Faults.LinksDown, node+":"+i) {
					continue
				}
				errs = append(errs, netdev.SetUp(h.h, i))
				waitRoutes(h.h, i, n.Ifs[i].Addrs)
			} else {
				errs = append(errs, netdev.SetDown(h.h, i))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("node %q: %w", node, err)
		}
		if running {
			st.Faults.Stopped = slices.DeleteFunc(st.Faults.Stopped, func(s string) bool { return s == node })
			appendEvents(lab, []Event{{Kind: "node-started", Node: node}})
		} else if !slices.Contains(st.Faults.Stopped, node) {
			st.Faults.Stopped = append(st.Faults.Stopped, node)
			appendEvents(lab, []Event{{Kind: "node-stopped", Node: node}})
		}
		return nil
	})
}

// waitRoutes waits (briefly, polling) until the connected routes of the
// interface's addresses are back after it came up: the kernel restores
// IPv6 routes from a work queue, so right after an interface is set up its
// IPv6 subnet is not yet reachable.
func waitRoutes(h *netlink.Handle, ifname string, addrs []netip.Prefix) {
	want := map[netip.Prefix]bool{}
	for _, a := range addrs {
		if a.Addr().Is6() {
			want[a.Masked()] = true
		}
	}
	if len(want) == 0 {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		routes, err := nl.RouteList(h, netlink.FAMILY_V6)
		if err != nil {
			return
		}
		found := 0
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
				ones, _ := r.Dst.Mask.Size()
				if want[netip.PrefixFrom(p.Unmap(), ones)] {
					found++
				}
			}
		}
		if found >= len(want) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

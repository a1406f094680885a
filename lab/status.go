package lab

import (
	"fmt"
	"slices"
	"time"

	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
)

// Status is a running lab as the kernel shows it now.
type Status struct {
	Lab     string       `json:"lab"`
	File    string       `json:"file,omitempty"`
	Dirty   bool         `json:"interrupted,omitempty"`
	Created time.Time    `json:"created"`
	Updated time.Time    `json:"updated"`
	Nodes   []NodeStatus `json:"nodes"`
	Host    []IfStatus   `json:"host_interfaces,omitempty"`
	Faults  *Faults      `json:"faults,omitempty"`
}

// NodeStatus is one node or switch.
type NodeStatus struct {
	Name       string       `json:"name"`
	Kind       string       `json:"kind"` // "node" or "switch"
	NetNS      string       `json:"netns"`
	Present    bool         `json:"present"`
	Interfaces []IfStatus   `json:"interfaces"`
	Procs      []ProcStatus `json:"processes,omitempty"`
}

// IfStatus is one interface of a node, as the kernel reports it.
type IfStatus struct {
	Name      string            `json:"name"`
	Addresses []string          `json:"addresses,omitempty"`
	MTU       int               `json:"mtu"`
	Up        bool              `json:"up"`
	Carrier   bool              `json:"carrier"`
	Peer      string            `json:"peer,omitempty"` // the other end of its link
	Stats     netdev.Stats      `json:"stats"`
	Missing   bool              `json:"missing,omitempty"`
	Extra     map[string]string `json:"extra,omitempty"`
}

// ProcStatus is one process started from a node's run list.
type ProcStatus struct {
	Argv    []string `json:"argv"`
	PID     int      `json:"pid"`
	Running bool     `json:"running"`
	Log     string   `json:"log"`
}

// GetStatus reads the state of a running lab and what the kernel says of
// each of its namespaces and interfaces.
func GetStatus(lab string) (*Status, error) {
	st, err := loadState(lab)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	out := &Status{Lab: lab, File: st.File, Dirty: st.Dirty, Created: st.Created, Updated: st.Updated, Faults: st.Faults}
	if st.Model == nil {
		return out, nil
	}
	s, err := newSession(lab, nil)
	if err != nil {
		return nil, err
	}
	defer s.close()
	peers := map[string]string{}
	for _, l := range st.Model.Links {
		peers[l.Ends[0].Node+":"+l.Ends[0].If] = l.Ends[1].String()
		peers[l.Ends[1].Node+":"+l.Ends[1].If] = l.Ends[0].String()
	}
	for _, n := range st.Model.sortedNodes() {
		ns := NodeStatus{Name: n.Name, Kind: kind(n), NetNS: n.NS, Present: netns.Exists(n.NS)}
		var devs map[string]netdev.Info
		if ns.Present {
			if h, err := s.get(n.NS); err == nil {
				devs = map[string]netdev.Info{}
				if infos, err := netdev.List(h.h); err == nil {
					for _, d := range infos {
						devs[d.Name] = d
					}
				}
			}
		}
		names := slicesSorted(n.Ifs)
		if n.Switch {
			names = []string{n.Bridge}
			for _, l := range st.Model.sortedLinks() {
				for _, e := range l.Ends {
					if e.Node == n.Name && e.Master != "" {
						names = append(names, e.If)
					}
				}
			}
		}
		for _, name := range names {
			is := IfStatus{Name: name, Peer: peers[n.Name+":"+name]}
			if im := n.Ifs[name]; im != nil {
				for _, a := range im.Addrs {
					is.Addresses = append(is.Addresses, a.String())
				}
			}
			if d, ok := devs[name]; ok {
				is.MTU, is.Up, is.Carrier, is.Stats = d.MTU, d.Up, d.OperUp, d.Stats
			} else {
				is.Missing = true
			}
			ns.Interfaces = append(ns.Interfaces, is)
		}
		for _, p := range st.Procs[n.Name] {
			ns.Procs = append(ns.Procs, ProcStatus{Argv: p.Argv, PID: p.PID, Running: p.alive() && !zombie(p.PID), Log: p.Log})
		}
		out.Nodes = append(out.Nodes, ns)
	}
	for _, name := range slicesSorted(st.Model.Host.Ifs) {
		is := IfStatus{Name: name, Peer: peers["host:"+name]}
		for _, a := range st.Model.Host.Ifs[name].Addrs {
			is.Addresses = append(is.Addresses, a.String())
		}
		if d, err := netdev.Get(s.root, name); err == nil {
			is.MTU, is.Up, is.Carrier, is.Stats = d.MTU, d.Up, d.OperUp, d.Stats
		} else {
			is.Missing = true
		}
		out.Host = append(out.Host, is)
	}
	return out, nil
}

// Summary is one lab in List.
type Summary struct {
	Lab        string    `json:"lab"`
	File       string    `json:"file,omitempty"`
	Nodes      int       `json:"nodes"`
	Switches   int       `json:"switches"`
	Links      int       `json:"links"`
	Namespaces int       `json:"namespaces_present"`
	Dirty      bool      `json:"interrupted,omitempty"`
	Created    time.Time `json:"created"`
}

// List returns the labs on this machine.
func List() ([]Summary, error) {
	labs, err := Labs()
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, l := range labs {
		st, err := loadState(l)
		if err != nil || st == nil {
			continue
		}
		s := Summary{Lab: l, File: st.File, Dirty: st.Dirty || st.Model == nil, Created: st.Created}
		for ns := range st.Owned {
			if netns.Exists(ns) {
				s.Namespaces++
			}
		}
		if st.Model != nil {
			for _, n := range st.Model.Nodes {
				if n.Switch {
					s.Switches++
				} else {
					s.Nodes++
				}
			}
			s.Links = len(st.Model.Links)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Summary) int { return compareStrings(a.Lab, b.Lab) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Event is one action nslab took on a lab. Actions are appended, one JSON
// object a line, to EventsPath(lab), which `nslab events` follows.
type Event struct {
	Time   time.Time `json:"time"`
	Lab    string    `json:"lab"`
	Kind   string    `json:"kind"` // lab-up, lab-down, node-created, node-removed, link-created, link-removed, link-down, link-up, impairment, partition, heal, node-stopped, node-started
	Node   string    `json:"node,omitempty"`
	If     string    `json:"if,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// EventsPath is the file of a lab's actions. It outlives the lab's state
// (so that a follower sees lab-down) and is truncated by the next first up.
func EventsPath(lab string) string { return filepath.Join(StateDir, ".events", lab+".jsonl") }

// appendEvents writes events in one write; failures are not fatal to the
// action they describe.
func appendEvents(lab string, evs []Event) {
	if len(evs) == 0 {
		return
	}
	if err := os.MkdirAll(filepath.Dir(EventsPath(lab)), 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(EventsPath(lab), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC()
	var buf []byte
	for _, e := range evs {
		e.Lab = lab
		if e.Time.IsZero() {
			e.Time = now
		}
		b, _ := json.Marshal(e)
		buf = append(append(buf, b...), '\n')
	}
	f.Write(buf)
}

// planEvents describes an applied plan as events.
func planEvents(p *Plan) []Event {
	var evs []Event
	for _, n := range p.DelNodes {
		evs = append(evs, Event{Kind: "node-removed", Node: n.Name, Detail: n.NS})
	}
	for _, l := range p.DelLinks {
		evs = append(evs, Event{Kind: "link-removed", Node: l.Ends[0].Node, If: l.Ends[0].If, Detail: l.String()})
	}
	for _, n := range p.AddNodes {
		evs = append(evs, Event{Kind: "node-created", Node: n.Name, Detail: n.NS})
	}
	for _, l := range p.AddLinks {
		evs = append(evs, Event{Kind: "link-created", Node: l.Ends[0].Node, If: l.Ends[0].If, Detail: l.String()})
	}
	return evs
}

// LoadModel returns the model of a running lab, as last applied.
func LoadModel(lab string) (*Model, error) {
	st, err := loadState(lab)
	if err != nil {
		return nil, err
	}
	if st == nil || st.Model == nil {
		return nil, fmt.Errorf("lab %q: %w (see 'nslab list')", lab, ErrNoLab)
	}
	return st.Model, nil
}

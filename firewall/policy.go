package firewall

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/nslab/nslab/internal/names"
)

// A Policy is the whole firewall of one network namespace.
type Policy struct {
	// Rules are tried in order for packets that start a connection (or are
	// not tracked); the first that matches decides.
	Rules []Rule
	// Default is what happens to a packet no rule matched, per direction;
	// a direction that is not set allows.
	Default map[Direction]Action
	// Masquerade lists the output interfaces of the namespace whose
	// outgoing traffic is source-NATed to the interface's address (nft
	// "oifname X masquerade"). Empty means no NAT. Routing traffic through
	// the namespace also needs IP forwarding on, which Apply does not set.
	Masquerade []string
}

// Validate reports every problem of the policy at once, one per line, each
// naming the rule (by position and text) or the setting it is about.
func (p Policy) Validate() error {
	var errs []error
	for i, r := range p.Rules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("firewall rule %d %q: %w", i+1, r.String(), err))
		}
	}
	for _, d := range slices.Sorted(maps.Keys(p.Default)) {
		if err := checkDirection(d); err != nil {
			errs = append(errs, fmt.Errorf("firewall default: %w", err))
			continue
		}
		if err := checkAction(p.Default[d]); err != nil {
			errs = append(errs, fmt.Errorf("firewall default for %q: %w", string(d), err))
		}
	}
	for i, name := range p.Masquerade {
		if err := names.CheckIf(name); err != nil {
			errs = append(errs, fmt.Errorf("firewall masquerade: %w", err))
		} else if slices.Contains(p.Masquerade[:i], name) {
			errs = append(errs, fmt.Errorf("firewall masquerade: interface %q listed twice", name))
		}
	}
	return errors.Join(errs...)
}

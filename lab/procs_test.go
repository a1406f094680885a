package lab

import "testing"

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"true", false},    // in PATH
		{"/bin/sh", false}, // a path that exists
		{"nslt-no-such-command", true},
		{"/nonexistent/nslt-cmd", true},
		{"/etc/nslt-overlay-only", false}, // /etc/netns may provide it in the node
	} {
		if got := missing(tc.name); got != tc.want {
			t.Errorf("missing(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Package names holds the naming rules of the kernel objects nslab makes:
// network namespace names (file names under /run/netns) and interface names
// (IFNAMSIZ), checked before any system call so that a bad name is reported
// with the object it belongs to instead of a bare EINVAL.
package names

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
)

// MaxIfName is the longest interface name the kernel accepts (IFNAMSIZ - 1).
const MaxIfName = 15

// MaxNetNSName is the longest network namespace name (NAME_MAX).
const MaxNetNSName = 255

// TestPrefix starts the name of every kernel object nslab's tests make, so a
// leak check can tell them from everything else on the machine.
const TestPrefix = "nslt-"

// CheckNetNS reports whether name can name a network namespace, with the rules
// of iproute2's invalid_name: not empty, at most 255 bytes, no '/', not "." or "..".
func CheckNetNS(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("netns name is empty")
	case len(name) > MaxNetNSName:
		return fmt.Errorf("netns name %q is %d bytes long; the limit is %d", trunc(name), len(name), MaxNetNSName)
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("netns name %q contains '/'", name)
	case name == "." || name == "..":
		return fmt.Errorf("netns name %q is not allowed", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("netns name %q contains a NUL byte", name)
	}
	return nil
}

// CheckIf reports whether name can name a network interface: 1 to 15 bytes,
// no '/', ':' or white space, and not ".", "..", "all" or "default".
func CheckIf(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > MaxIfName:
		return fmt.Errorf("interface name %q is %d bytes long; the kernel's limit is %d (IFNAMSIZ)", name, len(name), MaxIfName)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case name == "all" || name == "default":
		return fmt.Errorf("interface name %q clashes with /proc/sys/net/*/conf/%s", name, name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || r == 0 || unicode.IsSpace(r) {
			return fmt.Errorf("interface name %q contains %q, which the kernel refuses", name, r)
		}
	}
	return nil
}

// Unique returns prefix followed by n random hexadecimal digits.
func Unique(prefix string, n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)[:n]
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

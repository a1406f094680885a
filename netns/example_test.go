package netns_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/nslab/nslab/netns"
)

func ExamplePath() {
	fmt.Println(netns.Path("blue"))
	// Output: /run/netns/blue
}

// Names are checked before any system call, with iproute2's rules.
func ExampleAdd_invalidName() {
	for _, name := range []string{"", "a/b", ".."} {
		fmt.Println(netns.Add(name))
	}
	// Output:
	// add netns "": netns name is empty
	// add netns "a/b": netns name "a/b" contains '/'
	// add netns "..": netns name ".." is not allowed
}

// Create a named namespace, set it up before it gets its name, use it and
// remove it; `ip netns list` shows it meanwhile. Needs root.
func ExampleCreate() {
	h, err := netns.Create("blue", func(netns.Handle) error {
		// This runs on a thread inside the new namespace.
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
	if errors.Is(err, fs.ErrExist) {
		fmt.Println("blue exists already")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close() // the handle keeps the namespace alive until closed
	fmt.Println(netns.Exists("blue"))
	if err := netns.Delete("blue"); err != nil {
		fmt.Println(err)
	}
}

// List the named namespaces and their ids, like `ip netns list`.
func ExampleList() {
	es, err := netns.List()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range es {
		switch {
		case e.Stale:
			fmt.Printf("%s (stale)\n", e.Name)
		case e.NSID >= 0:
			fmt.Printf("%s (id: %d)\n", e.Name, e.NSID)
		default:
			fmt.Println(e.Name)
		}
	}
}

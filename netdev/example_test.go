package netdev_test

import (
	"log"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
)

// A veth pair between two named namespaces, both ends up, created from a
// handle in the first one; the second end is brought up with a handle in its
// own namespace that AddVeth opens.
func ExampleAddVeth() {
	r1, err := netns.Open("r1")
	if err != nil {
		log.Fatal(err)
	}
	defer r1.Close()
	r2, err := netns.Open("r2")
	if err != nil {
		log.Fatal(err)
	}
	defer r2.Close()
	h, err := nl.NewHandle(r1)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	err = netdev.AddVeth(h,
		netdev.End{Name: "eth0", MTU: 1400, Up: true, Alias: "nslab:demo"},
		netdev.End{NS: r2, Name: "eth0", MTU: 1400, Up: true, Alias: "nslab:demo"},
		nil)
	if err != nil {
		log.Fatal(netdev.WithNetNS(err, "r1"))
	}
}

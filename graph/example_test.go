package graph_test

import (
	"fmt"
	"os"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
)

// A topology file drawn as Mermaid, for a README or a pull request.
func Example() {
	spec, err := topo.Parse([]byte(`
name: pair
nodes:
  a: {interfaces: {eth0: {addresses: [198.18.0.1/30]}}}
  b: {interfaces: {eth0: {addresses: [198.18.0.2/30]}}}
links:
  - endpoints: [a:eth0, b:eth0]
`), "pair.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := lab.NewModel(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := graph.New(m).Mermaid(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// flowchart LR
	//   n0("a")
	//   n1("b")
	//   n0 ---|"a:eth0 198.18.0.1/30<br/>b:eth0 198.18.0.2/30"| n1
	//   classDef switch fill:#dde7f3,stroke:#4a6fa5
}

package lab

import (
	_ "embed"

	"github.com/nslab/nslab/lab/topo"
)

//go:embed demo.yaml
var demoYAML []byte

// DemoYAML returns the topology of the demo lab that `nslab up` brings up
// when given no file.
func DemoYAML() []byte { return demoYAML }

// DemoFile is the file name the demo lab's spec carries.
const DemoFile = "(demo)"

// Demo returns the parsed demo lab.
func Demo() (*topo.Spec, error) { return topo.Parse(demoYAML, DemoFile) }

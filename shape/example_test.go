package shape_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/nslab/nslab/shape"
)

func ExampleParse() {
	i, err := shape.Parse([]string{"rate=10Mbit", "delay=20ms", "loss=1%"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(i)
	fmt.Println(i.Rate, i.Delay, i.NeedsNetem())

	_, err = shape.Parse([]string{"rate=10mbit", "lag=5ms"})
	fmt.Println(err)
	// Output:
	// rate 10mbit delay 20ms loss 1%
	// 10000000 20ms true
	// impairment "lag=5ms": unknown setting; use rate, burst, delay, jitter, loss, duplicate, corrupt, reorder or limit
}

func ExampleCaps_Check() {
	caps := shape.Caps{TBF: true, HTB: true} // a kernel without netem, as Detect reports it
	i := shape.Impairment{Rate: 20e6}
	fmt.Println(caps.Check(i))
	i.Delay, i.Loss = 20*time.Millisecond, 1
	err := caps.Check(i)
	fmt.Println(err)
	fmt.Println(errors.Is(err, errors.ErrUnsupported))
	// Output:
	// <nil>
	// delay 20ms, loss 1% need the netem qdisc, which this kernel lacks (CONFIG_NET_SCH_NETEM, module sch_netem)
	// true
}

func ExampleParseRate() {
	for _, s := range []string{"10mbit", "1.5Mbit", "2mbps", "1kibit"} {
		bps, err := shape.ParseRate(s)
		fmt.Println(bps, shape.FormatRate(bps), err)
	}
	// Output:
	// 10000000 10mbit <nil>
	// 1500000 1500kbit <nil>
	// 16000000 16mbit <nil>
	// 1024 1024bit <nil>
}

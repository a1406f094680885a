package lab_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/lab/topo"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/shape"
)

const impLab = `
name: x
nodes:
  a:
    interfaces: {eth0: {addresses: [198.18.0.1/24, "fd00:b::1/64"]}}
  b:
    interfaces: {eth0: {addresses: [198.18.0.2/24, "fd00:b::2/64"], impair: "rate=5mbit"}}
    run: ["sleep 300"]
links:
  - endpoints: [a:eth0, b:eth0]
    impair: rate=20mbit
`

func reachable(t *testing.T, name string) bool {
	t.Helper()
	rep, err := lab.Check(t.Context(), name, lab.CheckOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Probes {
		if !p.Pass {
			t.Logf("%s -> %s %s: %s %s", p.From, p.To, p.Addr, p.Got, p.Detail)
		}
	}
	return rep.OK()
}

func qdisc(t *testing.T, ns, dev string) string {
	t.Helper()
	out, err := exec.Command("tc", "-n", ns, "qdisc", "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc -n %s qdisc show dev %s: %v\n%s", ns, dev, err, out)
	}
	return string(out)
}

func TestImpairmentsFromFileAndLive(t *testing.T) {
	spec := parse(t, impLab)
	tcAvailable(t)
	upLab(t, spec)
	// The link's rate on a's end, the interface's own on b's end.
	if q := qdisc(t, spec.NetNSName("a"), "eth0"); !strings.Contains(q, "tbf") || !strings.Contains(q, "rate 20Mbit") {
		t.Errorf("a:eth0 qdisc: %s", q)
	}
	if q := qdisc(t, spec.NetNSName("b"), "eth0"); !strings.Contains(q, "rate 5Mbit") {
		t.Errorf("b:eth0 qdisc: %s", q)
	}
	// Live change, recorded in status.
	imp, _ := shape.Parse([]string{"rate=10mbit"})
	if err := lab.Impair(t.Context(), spec.Name, "a:eth0", imp); err != nil {
		t.Fatal(err)
	}
	if q := qdisc(t, spec.NetNSName("a"), "eth0"); !strings.Contains(q, "rate 10Mbit") {
		t.Errorf("a:eth0 after live change: %s", q)
	}
	st, _ := lab.GetStatus(spec.Name)
	if st.Faults == nil || st.Faults.Impaired["a:eth0"] != "rate 10mbit" {
		t.Errorf("status does not record the impairment: %+v", st.Faults)
	}
	// A request this kernel cannot do is refused whole: nothing changes.
	bad, _ := shape.Parse([]string{"rate=1mbit", "delay=20ms"})
	err := lab.Impair(t.Context(), spec.Name, "a:eth0", bad)
	if shape.Detect(nil).Netem {
		t.Log("this kernel has netem: delay is applied")
	} else {
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "CONFIG_NET_SCH_NETEM") {
			t.Fatalf("delay without netem: %v", err)
		}
		if q := qdisc(t, spec.NetNSName("a"), "eth0"); !strings.Contains(q, "rate 10Mbit") {
			t.Errorf("a refused request changed a:eth0: %s", q)
		}
	}
	// Cleared.
	if err := lab.Impair(t.Context(), spec.Name, "a:eth0", shape.Impairment{}); err != nil {
		t.Fatal(err)
	}
	if q := qdisc(t, spec.NetNSName("a"), "eth0"); strings.Contains(q, "tbf") {
		t.Errorf("a:eth0 after clear: %s", q)
	}
	if !reachable(t, spec.Name) {
		t.Error("lab unreachable after impairments")
	}
}

func TestLinkDownAndNodeStop(t *testing.T) {
	spec := parse(t, impLab)
	upLab(t, spec)
	if !reachable(t, spec.Name) {
		t.Fatal("lab not reachable at start")
	}
	if err := lab.SetLinkState(t.Context(), spec.Name, "a:eth0", false); err != nil {
		t.Fatal(err)
	}
	if reachable(t, spec.Name) {
		t.Error("a and b still reach each other with a:eth0 down")
	}
	st, _ := lab.GetStatus(spec.Name)
	if st.Faults == nil || len(st.Faults.LinksDown) != 1 {
		t.Errorf("status does not record the link down: %+v", st.Faults)
	}
	if err := lab.SetLinkState(t.Context(), spec.Name, "a:eth0", true); err != nil {
		t.Fatal(err)
	}
	if !eventually(3*time.Second, func() bool { return reachable(t, spec.Name) }) {
		t.Error("not reachable after link up")
	}
	// Node stop: its process is frozen, its links are down.
	if err := lab.SetNodeState(t.Context(), spec.Name, "b", false); err != nil {
		t.Fatal(err)
	}
	if reachable(t, spec.Name) {
		t.Error("stopped node b still reachable")
	}
	st, _ = lab.GetStatus(spec.Name)
	pid := st.Nodes[1].Procs[0].PID
	if s := procState(pid); s != "T" {
		t.Errorf("process %d of stopped node b is in state %q, want T (stopped)", pid, s)
	}
	if err := lab.SetNodeState(t.Context(), spec.Name, "b", true); err != nil {
		t.Fatal(err)
	}
	// IPv6 neighbour discovery after the interfaces come back can take a
	// moment: wait for it, with a deadline.
	if !eventually(3*time.Second, func() bool { return reachable(t, spec.Name) }) {
		t.Error("node b not reachable after start")
	}
	if s := procState(pid); s == "T" {
		t.Errorf("process %d still stopped after node start", pid)
	}
	// Bad references name the object.
	if err := lab.SetLinkState(t.Context(), spec.Name, "a:eth9", false); err == nil || !strings.Contains(err.Error(), `node "a" has no interface "eth9"`) {
		t.Errorf("bad interface: %v", err)
	}
}

func TestPartitionAndHeal(t *testing.T) {
	spec, err := lab.Demo()
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = nslabtest.Name(t, topo.MaxLabName)
	renameHostEnds(t, spec)
	upLab(t, spec)
	if err := lab.Partition(t.Context(), spec.Name, []string{"h1", "h3"}, []string{"h2"}); err != nil {
		t.Fatal(err)
	}
	rep, err := lab.Check(t.Context(), spec.Name, lab.CheckOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Probes {
		cut := (p.From == "h2") != (p.To == "h2") && p.From != "r1" && p.To != "r1"
		if cut == p.Pass {
			t.Errorf("partition h1,h3 | h2: %s -> %s %s: got %s", p.From, p.To, p.Addr, p.Got)
		}
	}
	st, _ := lab.GetStatus(spec.Name)
	if st.Faults == nil || len(st.Faults.Partitions) != 1 {
		t.Errorf("status does not record the partition: %+v", st.Faults)
	}
	if err := lab.Heal(t.Context(), spec.Name); err != nil {
		t.Fatal(err)
	}
	if !reachable(t, spec.Name) {
		t.Error("not reachable after heal")
	}
	if err := lab.Partition(t.Context(), spec.Name, []string{"h1"}, []string{"h1"}); err == nil {
		t.Error("a node in both groups was accepted")
	}
}

// eventually polls cond until it holds or d has passed.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

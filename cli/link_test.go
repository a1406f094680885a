package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/nslab/nslab/cli"
	"github.com/nslab/nslab/nslabtest"
)

// Keep main on m0 so no goroutine dying in a throwaway namespace wedges it.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

// nslab runs the command line in-process and returns its stdout.
func nslab(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := cli.NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func mustNslab(t *testing.T, args ...string) string {
	t.Helper()
	out, err := nslab(t, args...)
	if err != nil {
		t.Fatalf("nslab %s: %v", strings.Join(args, " "), err)
	}
	return out
}

type ipLink struct {
	Ifname    string   `json:"ifname"`
	Flags     []string `json:"flags"`
	MTU       int      `json:"mtu"`
	Operstate string   `json:"operstate"`
	Master    string   `json:"master"`
	LinkNSID  *int     `json:"link_netnsid"`
}

// ipLinks returns `ip -j -n NS link show` by name.
func ipLinks(t *testing.T, ns string) map[string]ipLink {
	t.Helper()
	b, err := exec.Command("ip", "-j", "-n", ns, "link", "show").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", ns, err)
	}
	var ls []ipLink
	if err := json.Unmarshal(b, &ls); err != nil {
		t.Fatal(err)
	}
	m := map[string]ipLink{}
	for _, l := range ls {
		m[l.Ifname] = l
	}
	return m
}

func requireIP(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) is needed to cross-check")
	}
}

func TestLinkAddrRouteSysctl(t *testing.T) {
	requireIP(t)
	t.Parallel()
	a, _ := nslabtest.NewNamedNS(t)
	b, _ := nslabtest.NewNamedNS(t)

	mustNslab(t, "link", "add", "veth", a+":eth0", b+":eth1", "--mtu", "1400", "--up")
	la, lb := ipLinks(t, a), ipLinks(t, b)
	if l, ok := la["eth0"]; !ok || l.MTU != 1400 || !slices.Contains(l.Flags, "UP") || l.LinkNSID == nil {
		t.Errorf("ip -n %s: eth0 = %+v, want an up veth, MTU 1400, peer in another netns", a, l)
	}
	if l, ok := lb["eth1"]; !ok || l.MTU != 1400 || !slices.Contains(l.Flags, "UP") {
		t.Errorf("ip -n %s: eth1 = %+v, want up, MTU 1400", b, l)
	}

	mustNslab(t, "link", "set", a+":lo", "up")
	if l := ipLinks(t, a)["lo"]; !slices.Contains(l.Flags, "UP") {
		t.Errorf("lo flags %v after 'link set NS:lo up'", l.Flags)
	}
	mustNslab(t, "link", "set", a+":eth0", "mtu", "1300", "down")
	if l := ipLinks(t, a)["eth0"]; l.MTU != 1300 || slices.Contains(l.Flags, "UP") {
		t.Errorf("eth0 = %+v after mtu 1300 down", l)
	}
	mustNslab(t, "link", "set", a+":eth0", "up")

	var infos []struct {
		Name string `json:"name"`
		MTU  int    `json:"mtu"`
		Up   bool   `json:"up"`
	}
	if err := json.Unmarshal([]byte(mustNslab(t, "link", "list", a, "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[1].Name != "eth0" || infos[1].MTU != 1300 || !infos[1].Up {
		t.Errorf("link list --json = %+v", infos)
	}

	mustNslab(t, "addr", "add", a+":eth0", "198.18.3.1/24")
	mustNslab(t, "addr", "add", a+":eth0", "fd00:3::1/64", "--nodad")
	out := mustNslab(t, "addr", "list", a+":eth0")
	if !strings.Contains(out, "eth0 198.18.3.1/24\n") || !strings.Contains(out, "eth0 fd00:3::1/64\n") {
		t.Errorf("addr list:\n%s", out)
	}
	ipa, _ := exec.Command("ip", "-n", a, "-br", "addr", "show", "dev", "eth0").Output()
	if !strings.Contains(string(ipa), "198.18.3.1/24") || !strings.Contains(string(ipa), "fd00:3::1/64") {
		t.Errorf("ip addr: %s", ipa)
	}

	mustNslab(t, "route", "add", a, "198.19.0.0/16", "via", "198.18.3.2", "metric", "9")
	mustNslab(t, "route", "add", a, "default", "dev", "eth0")
	out = mustNslab(t, "route", "list", a)
	if out != "default dev eth0\n198.19.0.0/16 via 198.18.3.2 dev eth0 metric 9\n" {
		t.Errorf("route list:\n%s", out)
	}
	ipr, _ := exec.Command("ip", "-n", a, "route").Output()
	if !strings.Contains(string(ipr), "198.19.0.0/16 via 198.18.3.2 dev eth0 metric 9") || !strings.Contains(string(ipr), "default dev eth0") {
		t.Errorf("ip route:\n%s", ipr)
	}
	mustNslab(t, "route", "del", a, "198.19.0.0/16")
	mustNslab(t, "route", "del", a, "default")
	if out := mustNslab(t, "route", "list", a); out != "" {
		t.Errorf("routes left after del:\n%s", out)
	}

	if out := mustNslab(t, "sysctl", a, "net.ipv4.ip_forward=1", "net/ipv4/conf/eth0/forwarding"); out != "net.ipv4.ip_forward = 1\nnet/ipv4/conf/eth0/forwarding = 1\n" {
		t.Errorf("sysctl set:\n%s", out)
	}
	if out := mustNslab(t, "sysctl", b, "net.ipv4.ip_forward"); out != "net.ipv4.ip_forward = 0\n" {
		t.Errorf("sysctl in the other namespace:\n%s", out)
	}

	mustNslab(t, "link", "move", a+":eth0", b, "--name", "eth2")
	if _, ok := ipLinks(t, a)["eth0"]; ok {
		t.Error("eth0 still in the source after move")
	}
	if l, ok := ipLinks(t, b)["eth2"]; !ok || slices.Contains(l.Flags, "UP") {
		t.Errorf("moved eth2 = %+v (present %v), want present and DOWN", l, ok)
	}
	mustNslab(t, "link", "del", b+":eth2")
	if ls := ipLinks(t, b); len(ls) != 1 {
		t.Errorf("after del: %v, want only lo", ls)
	}
}

func TestBridge(t *testing.T) {
	requireIP(t)
	t.Parallel()
	a, _ := nslabtest.NewNamedNS(t)
	mustNslab(t, "link", "add", "bridge", a+":br0", "--up")
	mustNslab(t, "link", "add", "veth", a+":p0", a+":p1")
	mustNslab(t, "link", "set", a+":p0", "master", "br0", "up")
	if l := ipLinks(t, a)["p0"]; l.Master != "br0" || !slices.Contains(l.Flags, "UP") {
		t.Errorf("p0 = %+v, want up in br0", l)
	}
	mustNslab(t, "link", "set", a+":p0", "nomaster")
	if l := ipLinks(t, a)["p0"]; l.Master != "" {
		t.Errorf("p0 master %q after nomaster", l.Master)
	}
}

func TestBadInputsCreateNothing(t *testing.T) {
	requireIP(t)
	t.Parallel()
	a, _ := nslabtest.NewNamedNS(t)
	b, _ := nslabtest.NewNamedNS(t)
	mustNslab(t, "link", "add", "veth", a+":eth0", b+":eth0")
	before := [2]int{len(ipLinks(t, a)), len(ipLinks(t, b))}
	for _, c := range []struct {
		args []string
		want string // in the message
	}{
		{[]string{"link", "add", "veth", a + ":averylongname16b", b + ":x"}, "IFNAMSIZ"},
		{[]string{"link", "add", "veth", a + ":x", b + ":bad/name"}, `"bad/name"`},
		{[]string{"link", "add", "veth", "nslt-nosuchns:x", b + ":y"}, `netns "nslt-nosuchns"`},
		{[]string{"link", "add", "veth", a + ":x", "nslt-nosuchns:y"}, `netns "nslt-nosuchns"`},
		{[]string{"link", "add", "veth", a + ":eth0", b + ":y"}, "exists"},
		{[]string{"link", "add", "veth", "eth0", b + ":y"}, "NS:DEV"},
		{[]string{"link", "add", "dummy", a + ":d0"}, "veth or bridge"},
		{[]string{"link", "set", a + ":eth0", "mtu", "1300", "frobnicate"}, `unknown action "frobnicate"`},
		{[]string{"link", "set", a + ":eth0", "mtu"}, `"mtu" needs a value`},
		{[]string{"link", "set", a + ":nosuch", "up"}, `"nosuch" in netns "` + a + `": no such device`},
		{[]string{"link", "set", a + ":eth0", "master", "eth0"}, "not a bridge"},
		{[]string{"link", "move", a + ":eth0", b}, "give a new name"},
		{[]string{"link", "del", a + ":nosuch"}, "no such device"},
		{[]string{"addr", "add", a + ":eth0", "banana"}, `address "banana"`},
		{[]string{"addr", "add", a + ":nosuch", "198.18.0.1/24"}, "no such device"},
		{[]string{"route", "add", a, "198.18.1.7/24", "dev", "eth0"}, "host bits"},
		{[]string{"route", "add", a, "198.18.1.0/24"}, "give a gateway"},
		{[]string{"route", "add", a, "198.18.1.0/24", "via", "198.51.100.1"}, "not on a connected subnet"},
		{[]string{"sysctl", a, "kernel.hostname=x"}, "not under net"},
		{[]string{"sysctl", a, "net.core.netdev_max_backlog=5"}, "only in the initial network namespace"},
	} {
		_, err := nslab(t, c.args...)
		if err == nil {
			t.Errorf("nslab %s: no error", strings.Join(c.args, " "))
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
			t.Errorf("nslab %s:\n got %q\nwant one line containing %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	after := [2]int{len(ipLinks(t, a)), len(ipLinks(t, b))}
	if after != before {
		t.Errorf("bad inputs changed the device count from %v to %v", before, after)
	}
	if l := ipLinks(t, a)["eth0"]; l.MTU != 1500 {
		t.Errorf("a rejected 'link set' changed the MTU to %d", l.MTU)
	}
	if out, _ := exec.Command("ip", "-n", a, "route").Output(); len(out) != 0 {
		t.Errorf("routes appeared:\n%s", out)
	}
}

package quiet

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nslab/nslab/nslabtest"
	"golang.org/x/sys/unix"
)

const spinEnv = "NSLAB_QUIET_TEST_SPIN"

func TestMain(m *testing.M) {
	if os.Getenv(spinEnv) != "" {
		for { // an ordinary process that would run on any idle CPU
		}
	}
	os.Exit(m.Run())
}

// spinner starts an ordinary process that spins, and returns a reader of
// the time it has spent on a CPU.
func spinner(t *testing.T) func() time.Duration {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), spinEnv+"=1")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
	path := "/proc/" + strconv.Itoa(c.Process.Pid) + "/schedstat"
	ran := func() time.Duration {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ns, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return time.Duration(ns)
	}
	for deadline := time.Now().Add(5 * time.Second); ran() < 20*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("the spinning process did not get 20 ms of CPU within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ran
}

// busy runs for d on the calling thread and returns how long the other
// process ran meanwhile.
func busy(d time.Duration, ran func() time.Duration) time.Duration {
	r0 := ran()
	for t0 := time.Now(); time.Since(t0) < d; {
	}
	return ran() - r0
}

// While f runs, an ordinary process gets no CPU; outside Run it does. After
// Run, the calling thread is an ordinary one again, on every CPU it had.
func TestRunHoldsEveryCPU(t *testing.T) {
	nslabtest.RequireRoot(t)
	if runtime.NumCPU() > MaxCPUs || runtime.GOMAXPROCS(0) < runtime.NumCPU() {
		t.Fatalf("Run does not hold %d CPUs with GOMAXPROCS %d: run the test on at most %d CPUs, GOMAXPROCS at least the CPUs", runtime.NumCPU(), runtime.GOMAXPROCS(0), MaxCPUs)
	}
	ran := spinner(t)
	const d = 30 * time.Millisecond
	// Control: with nothing held, the spinning process runs (on another
	// CPU, or on this one in turns).
	if got := busy(d, ran); got < d/10 {
		t.Fatalf("control: the spinning process ran %v in %v of another's busy loop; the test cannot tell", got, d)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err != nil {
		t.Fatal(err)
	}
	var got time.Duration
	if !Run(func() { got = busy(d, ran) }) {
		t.Fatal("Run did not hold every CPU (as root, on a machine of at most MaxCPUs)")
	}
	if got > 0 {
		t.Errorf("an ordinary process ran %v while Run held the CPUs for %v", got, d)
	}
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy != unix.SCHED_NORMAL {
		t.Errorf("after Run the thread's policy is %d, want SCHED_NORMAL", a.Policy)
	}
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil {
		t.Fatal(err)
	}
	if after != mask {
		t.Errorf("after Run the thread may run on CPUs %v, want %v", after, mask)
	}
}

// Run calls f exactly once, whether or not it can hold the CPUs.
func TestRunCallsOnce(t *testing.T) {
	n := 0
	Run(func() { n++ })
	if n != 1 {
		t.Fatalf("Run called f %d times, want 1", n)
	}
}

// When f panics, the panic goes on, and the spinners stop and the calling
// thread is put back all the same.
func TestRunPanicInF(t *testing.T) {
	nslabtest.RequireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of f", r)
			}
		}()
		Run(func() { panic("boom") })
	}()
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Policy != unix.SCHED_NORMAL {
		t.Errorf("after a panic in f the thread's policy is %d, want SCHED_NORMAL", a.Policy)
	}
	ran := spinner(t)
	if got := busy(30*time.Millisecond, ran); got < 3*time.Millisecond {
		t.Errorf("after a panic in f an ordinary process ran %v in 30 ms: CPUs still held", got)
	}
}

package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nslab/nslab/nsexec"
)

// startProcs starts a node's run commands in its namespace, each in its own
// session with stdout and stderr appended to a log file under LogDir.
func startProcs(lab string, n *NodeModel) ([]Proc, []ProcFailure) {
	var procs []Proc
	var failed []ProcFailure
	if err := os.MkdirAll(LogDir(lab), 0o755); err != nil {
		return nil, []ProcFailure{{Node: n.Name, Err: err}}
	}
	t, err := nsexec.Named(n.NS)
	if err != nil {
		return nil, []ProcFailure{{Node: n.Name, Err: err}}
	}
	for i, argv := range n.Run {
		log := filepath.Join(LogDir(lab), n.Name+"."+strconv.Itoa(i)+".log")
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			failed = append(failed, ProcFailure{Node: n.Name, Argv: argv, Log: log, Err: err})
			continue
		}
		cmd := nsexec.Command(context.Background(), t, argv...)
		cmd.Env = append(cmd.Env, procMark(lab), "NSLAB_NODE="+n.Name)
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		fmt.Fprintf(f, "--- %s nslab: starting %q\n", time.Now().UTC().Format(time.RFC3339), argv)
		err = cmd.Start()
		f.Close()
		if err != nil {
			failed = append(failed, ProcFailure{Node: n.Name, Argv: argv, Log: log, Err: err})
			continue
		}
		p := Proc{Argv: argv, PID: cmd.Process.Pid, Start: procStart(cmd.Process.Pid), Log: log}
		procs = append(procs, p)
		go cmd.Wait() // reap it if it ends while nslab still runs
	}
	return procs, failed
}

// watchProcs waits up to d for any started process to exit, and reports
// those that did: a command that cannot run fails at once.
func watchProcs(all map[string][]Proc, d time.Duration) []ProcFailure {
	deadline := time.Now().Add(d)
	var failed []ProcFailure
	for {
		failed = failed[:0]
		for node, ps := range all {
			for _, p := range ps {
				if !p.alive() || zombie(p.PID) {
					failed = append(failed, ProcFailure{Node: node, Argv: p.Argv, Log: p.Log, Err: fmt.Errorf("exited at once")})
				}
			}
		}
		if len(failed) > 0 || time.Now().After(deadline) || len(all) == 0 {
			return failed
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == ')' && i+2 < len(s) {
			return s[i+2] == 'Z' || s[i+2] == 'X'
		}
	}
	return false
}

// procMark is the environment variable that marks the processes nslab
// starts for a lab (and their children), so that a down after a crash finds
// them even when the crash came before they were recorded.
func procMark(lab string) string { return "NSLAB_LAB=" + lab }

// LabProcs returns the PIDs of the processes that carry the lab's mark.
func LabProcs(lab string) []int {
	want := []byte(procMark(lab) + "\x00")
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		if bytes.HasPrefix(b, want) || bytes.Contains(b, append([]byte{0}, want...)) {
			out = append(out, pid)
		}
	}
	return out
}

// stopMarked ends every process that carries the lab's mark.
func stopMarked(lab string) {
	var ps []Proc
	for _, pid := range LabProcs(lab) {
		ps = append(ps, Proc{PID: pid, Start: procStart(pid)})
	}
	stopProcs(ps)
}

// stopProcs ends the processes nslab started (and only those: a process
// whose start time differs is someone else's that reused the PID): SIGTERM
// to the process group, SIGKILL after a grace period.
func stopProcs(ps []Proc) {
	var live []Proc
	for _, p := range ps {
		if p.alive() {
			syscall.Kill(-p.PID, syscall.SIGTERM)
			syscall.Kill(p.PID, syscall.SIGTERM)
			live = append(live, p)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, p := range live {
		for p.alive() && !zombie(p.PID) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if p.alive() && !zombie(p.PID) {
			syscall.Kill(-p.PID, syscall.SIGKILL)
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

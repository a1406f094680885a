package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
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
		// A supervisor (a re-exec of this binary, see superviseInit) runs
		// the command in the node and records its exit status as an event.
		cmd := exec.Command("/proc/self/exe", argv...)
		cmd.Args = argv
		cmd.Env = append(os.Environ(), procMark(lab), "NSLAB_NODE="+n.Name,
			envSupervise+"="+strings.Join([]string{lab, n.Name, t.Path, t.Etc}, "\x1f"))
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		fmt.Fprintf(f, "--- %s nslab: starting %q\n", time.Now().UTC().Format(time.RFC3339), argv)
		err = cmd.Start()
		f.Close()
		if err != nil {
			failed = append(failed, ProcFailure{Node: n.Name, Argv: argv, Log: log, Err: err})
			continue
		}
		p := Proc{Argv: argv, PID: cmd.Process.Pid, Start: procStart(cmd.Process.Pid), Log: log, doomed: missing(argv[0])}
		procs = append(procs, p)
		go cmd.Wait() // reap it if it ends while nslab still runs
	}
	return procs, failed
}

// watchProcs waits up to d for any started process to exit, and reports
// those that did: a command that cannot run fails at once. A command that
// was not found (doomed) is waited for until it has exited, up to 10 s, so
// that it is reported even on a machine too busy to start it within d.
func watchProcs(all map[string][]Proc, d time.Duration) []ProcFailure {
	now := time.Now()
	deadline, last := now.Add(d), now.Add(10*time.Second)
	var failed []ProcFailure
	for {
		failed = failed[:0]
		waiting := false
		for node, ps := range all {
			for _, p := range ps {
				if !p.alive() || zombie(p.PID) {
					failed = append(failed, ProcFailure{Node: node, Argv: p.Argv, Log: p.Log, Err: fmt.Errorf("exited at once")})
				} else if p.doomed {
					waiting = true
				}
			}
		}
		now := time.Now()
		if (!waiting && (len(failed) > 0 || now.After(deadline))) || now.After(last) || len(all) == 0 {
			return failed
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// missing reports a command that cannot be found, looked up as the node
// will: through PATH, or as a path. (A node's /etc/netns overlay can add
// files under /etc, which are not judged here.)
func missing(name string) bool {
	if strings.HasPrefix(name, "/etc/") {
		return false
	}
	_, err := exec.LookPath(name)
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
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

const envSupervise = "NSLAB_SUPERVISE"

// superviseInit turns a re-exec of the running binary into the supervisor
// of one run command: it starts the command in its node (through nsexec),
// passes SIGTERM, SIGINT and SIGHUP on to it, waits, appends a
// "process-exited" event with the exit status to the lab's events, and
// exits with the command's status. It runs from this package's init, so
// any binary that imports lab can start lab processes.
func superviseInit() {
	v, ok := os.LookupEnv(envSupervise)
	if !ok {
		return
	}
	os.Unsetenv(envSupervise)
	f := strings.Split(v, "\x1f")
	if len(f) != 4 {
		fmt.Fprintf(os.Stderr, "nslab: bad %s\n", envSupervise)
		os.Exit(126)
	}
	labName, node := f[0], f[1]
	cmd := nsexec.Command(context.Background(), nsexec.Target{Path: f[2], Etc: f[3]}, os.Args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "nslab: %v\n", err)
		os.Exit(126)
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	code, detail := 0, "exited with status 0"
	if ee, ok := err.(*exec.ExitError); ok {
		ws := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled():
			code, detail = 128+int(ws.Signal()), "killed by signal "+ws.Signal().String()
		default:
			code, detail = ws.ExitStatus(), fmt.Sprintf("exited with status %d", ws.ExitStatus())
		}
	} else if err != nil {
		code, detail = 126, err.Error()
	}
	fmt.Fprintf(os.Stderr, "--- %s nslab: %q %s\n", time.Now().UTC().Format(time.RFC3339), os.Args, detail)
	appendEvents(labName, []Event{{Kind: "process-exited", Node: node, Detail: fmt.Sprintf("%q %s", strings.Join(os.Args, " "), detail)}})
	os.Exit(code)
}

func init() { superviseInit() }

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

package web_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nslab/nslab/internal/nl"
	"github.com/nslab/nslab/netdev"
	"github.com/nslab/nslab/netns"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/nslabtest/labtest"
	"github.com/nslab/nslab/web"
)

const chromiumPath = "/usr/bin/chromium"

// browser is headless Chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4).
type browser struct {
	cmd     *exec.Cmd
	w       *os.File
	r       *bufio.Reader
	mu      sync.Mutex
	id      int
	session string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if nslabtest.CI() {
			t.Fatalf("%s missing: .ci/run installs the Debian package chromium", chromiumPath)
		}
		t.Skipf("%s missing (apt-get install chromium)", chromiumPath)
	}
	toChrome, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromiumPath, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "--window-size=1200,800", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = &logWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChrome.Close()
	fromChrome.Close()
	b := &browser{cmd: cmd, w: ourW, r: bufio.NewReader(ourR)}
	t.Cleanup(func() {
		b.call("Browser.close", nil)
		ourW.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test made
			<-done
		}
		ourR.Close()
	})
	var targets struct {
		TargetInfos []struct{ TargetID, Type string } `json:"targetInfos"`
	}
	if err := b.callInto("Target.getTargets", nil, &targets); err != nil {
		t.Fatal(err)
	}
	for _, ti := range targets.TargetInfos {
		if ti.Type == "page" {
			var att struct{ SessionID string }
			if err := b.callInto("Target.attachToTarget", map[string]any{"targetId": ti.TargetID, "flatten": true}, &att); err != nil {
				t.Fatal(err)
			}
			b.session = att.SessionID
			return b
		}
	}
	t.Fatalf("chromium has no page target: %+v", targets)
	return nil
}

type logWriter struct{ t *testing.T }

func (l *logWriter) Write(p []byte) (int, error) { return len(p), nil } // chromium is chatty; its stderr is not needed

func (b *browser) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id++
	msg := map[string]any{"id": b.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" && method != "Browser.close" {
		msg["sessionId"] = b.session
	}
	out, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(out, 0)); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	for {
		line, err := b.r.ReadBytes(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		var resp struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if err := json.Unmarshal(line[:len(line)-1], &resp); err != nil {
			return nil, err
		}
		if resp.ID != b.id {
			continue // an event
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, resp.Error.Message)
		}
		return resp.Result, nil
	}
}

func (b *browser) callInto(method string, params, v any) error {
	res, err := b.call(method, params)
	if err != nil {
		return err
	}
	return json.Unmarshal(res, v)
}

// eval returns the value of a JavaScript expression in the page.
func (b *browser) eval(expr string) (any, error) {
	var r struct {
		Result struct {
			Value any
		}
		ExceptionDetails *struct{ Text string }
	}
	if err := b.callInto("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r); err != nil {
		return nil, err
	}
	if r.ExceptionDetails != nil {
		return nil, errors.New(r.ExceptionDetails.Text)
	}
	return r.Result.Value, nil
}

// waitFor polls expr until it equals want, and returns how long it took.
func (b *browser) waitFor(t *testing.T, expr string, want any, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got any
	for time.Since(start) < d {
		v, err := b.eval(expr)
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if got = v; fmt.Sprint(v) == fmt.Sprint(want) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond) // polling the page's DOM, not the kernel
	}
	t.Fatalf("%s = %v after %v, want %v", expr, got, d, want)
	return 0
}

// TestBrowser is the end-to-end test: the page, loaded in headless
// Chromium, shows a running lab's nodes, and a link taken down shows as
// down within two seconds.
func TestBrowser(t *testing.T) {
	b := startBrowser(t)
	spec := labtest.New(t, pairLab)
	s, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	if _, err := b.call("Page.navigate", map[string]any{"url": base}); err != nil {
		t.Fatal(err)
	}
	sel := `document.querySelector('section[data-lab="` + spec.Name + `"]')`
	b.waitFor(t, `Array.from(`+sel+`?.querySelectorAll("g.node") ?? []).map(g => g.dataset.node).join(",")`, "a,b", 15*time.Second)
	linkState := sel + `?.querySelector('g.link[data-link="a:eth0=b:eth0"]')?.dataset.state`
	b.waitFor(t, linkState, web.StateUp, 10*time.Second)

	// Take a:eth0 down, as `nslab` does: netlink in the node's namespace.
	h, err := netns.Open(spec.NetNSName("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := nl.NewHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	if err := netdev.SetDown(nh, "eth0"); err != nil {
		t.Fatal(err)
	}
	took := b.waitFor(t, linkState, web.StateDown, 2*time.Second)
	t.Logf("the page showed the link down after %v", took.Round(time.Millisecond))

	var shot struct{ Data string }
	if err := b.callInto("Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), "serve.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

package web_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/nslabtest/labtest"
	"github.com/nslab/nslab/web"
)

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

const pairLab = `
name: web
nodes:
  a: {interfaces: {eth0: {addresses: [198.18.50.1/30]}}}
  b: {interfaces: {eth0: {addresses: [198.18.50.2/30]}}}
links:
  - endpoints: [a:eth0, b:eth0]
`

// serve starts the handler on a loopback port and returns its base URL.
func serve(t *testing.T, s *web.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func TestToken(t *testing.T) {
	s, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Token()) < 32 {
		t.Fatalf("token %q is too short", s.Token())
	}
	for _, tc := range []struct {
		name, method, host, auth string
		want                     int
	}{
		{"post without token", "POST", "127.0.0.1:1", "", http.StatusForbidden},
		{"post with a wrong token", "POST", "127.0.0.1:1", "Bearer nope", http.StatusForbidden},
		{"post with the token gets past the check", "POST", "127.0.0.1:1", "Bearer " + s.Token(), http.StatusMethodNotAllowed},
		{"get the page", "GET", "localhost:1", "", http.StatusOK},
		{"rebinding host", "GET", "evil.example:1", "", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://"+tc.host+"/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("%s %s = %d, want %d: %s", tc.method, tc.host, w.Code, tc.want, w.Body)
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost": true, "[::1]:80": true, "127.9.9.9": true,
		"0.0.0.0:80": false, "198.18.0.1:80": false, "example.com": false, "[fd00::1]:1": false,
	} {
		if got := web.IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, r.Status, b)
	}
	return b
}

func TestAPI(t *testing.T) {
	spec := labtest.New(t, pairLab)
	s, err := web.New(web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, s)
	var list []lab.Summary
	if err := json.Unmarshal(get(t, base+"api/labs"), &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range list {
		found = found || l.Lab == spec.Name
	}
	if !found {
		t.Errorf("/api/labs does not list %s: %+v", spec.Name, list)
	}
	var v web.LabView
	if err := json.Unmarshal(get(t, base+"api/labs/"+spec.Name), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Links) != 1 || v.Links[0].Key != "a:eth0=b:eth0" || v.Links[0].State != web.StateUp {
		t.Errorf("links = %+v, want a:eth0=b:eth0 up", v.Links)
	}
	svg := string(get(t, base+"api/labs/"+spec.Name+"/graph.svg"))
	if !strings.Contains(svg, `data-node="a"`) || !strings.Contains(svg, `data-link="a:eth0=b:eth0"`) {
		t.Errorf("graph.svg lacks nodes or link:\n%s", svg)
	}
	r, err := http.Get(base + "api/labs/nosuchlab")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown lab: %s, want 404", r.Status)
	}
	page := string(get(t, base))
	if !strings.Contains(page, "app.js") {
		t.Errorf("page does not load app.js")
	}
}

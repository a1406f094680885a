// Package web is the HTTP server behind `nslab serve`: a local, read-only
// web page that shows every running lab as a graph, with each link's state
// (up, down, no carrier, impaired, partitioned), live counters per
// interface and each node's processes, refreshed every second.
//
// The page is embedded in the binary (plain JavaScript, no build step). It
// draws the SVG of package graph and polls two JSON endpoints:
//
//	GET /api/labs              lab.List()
//	GET /api/labs/{name}       a LabView: status, model and link states
//	GET /api/labs/{name}/graph.svg
//
// The server is meant for loopback: requests whose Host header is not a
// loopback name are refused (a defence against DNS rebinding) unless the
// server was made with AllowRemote. Any request other than GET or HEAD needs
// the server's token (header "Authorization: Bearer TOKEN"); there are no
// such actions yet. A Server is safe for concurrent use.
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nslab/nslab/graph"
	"github.com/nslab/nslab/lab"
	"github.com/nslab/nslab/netdev"
)

//go:embed page
var pageFS embed.FS

// Options configure New. The zero value is a loopback-only server with a
// random token.
type Options struct {
	// Token is required by non-GET requests; "" means a random one.
	Token string
	// AllowRemote accepts requests for any Host, for a server bound to a
	// non-loopback address on purpose.
	AllowRemote bool
}

// Server serves the page and the API.
type Server struct {
	token string
	o     Options
	mux   *http.ServeMux
}

// New returns a server; it does not listen (use it as an http.Handler).
func New(o Options) (*Server, error) {
	s := &Server{o: o, token: o.Token, mux: http.NewServeMux()}
	if s.token == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		s.token = hex.EncodeToString(b)
	}
	page, err := fs.Sub(pageFS, "page")
	if err != nil {
		return nil, err
	}
	s.mux.Handle("GET /", http.FileServerFS(page))
	s.mux.HandleFunc("GET /api/labs", s.labs)
	s.mux.HandleFunc("GET /api/labs/{name}", s.lab)
	s.mux.HandleFunc("GET /api/labs/{name}/graph.svg", s.svg)
	return s, nil
}

// Token returns the token that actions need.
func (s *Server) Token() string { return s.token }

// ServeHTTP checks the Host header and the token, then serves r.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.o.AllowRemote && !IsLoopbackHost(r.Host) {
		http.Error(w, "nslab serve answers only to loopback names (localhost, 127.0.0.1, [::1])", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			http.Error(w, "this action needs the token printed by 'nslab serve' (header Authorization: Bearer TOKEN)", http.StatusForbidden)
			return
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// IsLoopbackHost reports whether host (a Host header or a listen address,
// with or without port) names the loopback: localhost or a loopback IP.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(v)
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, lab.ErrNoLab) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

func (s *Server) labs(w http.ResponseWriter, r *http.Request) {
	l, err := lab.List()
	if err != nil {
		httpError(w, err)
		return
	}
	if l == nil {
		l = []lab.Summary{}
	}
	writeJSON(w, l)
}

func (s *Server) lab(w http.ResponseWriter, r *http.Request) {
	v, err := View(r.PathValue("name"))
	if err != nil {
		httpError(w, err)
		return
	}
	writeJSON(w, v)
}

func (s *Server) svg(w http.ResponseWriter, r *http.Request) {
	m, err := lab.LoadModel(r.PathValue("name"))
	if err != nil {
		httpError(w, err)
		return
	}
	var b bytes.Buffer
	if err := graph.New(m).SVG(&b); err != nil {
		httpError(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(b.Bytes())
}

// Link states, as LinkView.State and the page's data-state attribute.
const (
	StateUp          = "up"
	StateDown        = "down"        // an end is administratively down or missing
	StateNoCarrier   = "no-carrier"  // both ends up, but no carrier
	StateImpaired    = "impaired"    // an impairment is set on an end
	StatePartitioned = "partitioned" // the ends are on opposite sides of a partition
)

// LabView is what the page shows of one lab.
type LabView struct {
	Lab     string      `json:"lab"`
	Version string      `json:"version"` // changes when the lab's model changes
	Status  *lab.Status `json:"status"`
	Links   []LinkView  `json:"links"`
	Time    time.Time   `json:"time"`
}

// LinkView is one link and its state.
type LinkView struct {
	Key    string     `json:"key"`
	State  string     `json:"state"`
	Detail string     `json:"detail,omitempty"`
	Ends   [2]EndView `json:"ends"`
}

// EndView is one end of a link as the kernel shows it.
type EndView struct {
	ID      string       `json:"id"` // "node:if"
	Up      bool         `json:"up"`
	Carrier bool         `json:"carrier"`
	Missing bool         `json:"missing"`
	Stats   netdev.Stats `json:"stats"`
}

// View reads a running lab's status and model and works out each link's
// state. It is what GET /api/labs/{name} returns.
func View(name string) (*LabView, error) {
	m, err := lab.LoadModel(name)
	if err != nil {
		return nil, err
	}
	st, err := lab.GetStatus(name)
	if err != nil {
		return nil, err
	}
	v := &LabView{Lab: name, Status: st, Time: time.Now().UTC(), Version: st.Updated.Format(time.RFC3339Nano)}
	ifs := map[string]lab.IfStatus{}
	for _, n := range st.Nodes {
		for _, i := range n.Interfaces {
			ifs[n.Name+":"+i.Name] = i
		}
	}
	for _, i := range st.Host {
		ifs["host:"+i.Name] = i
	}
	g := graph.New(m)
	for _, l := range g.Links {
		lv := LinkView{Key: l.Key}
		for i, e := range l.Ends {
			is, ok := ifs[e.ID()]
			lv.Ends[i] = EndView{ID: e.ID(), Up: is.Up, Carrier: is.Carrier, Missing: !ok || is.Missing, Stats: is.Stats}
		}
		lv.State, lv.Detail = linkState(l, lv.Ends, st.Faults)
		v.Links = append(v.Links, lv)
	}
	return v, nil
}

// linkState decides a link's state; the worst wins: partitioned, down,
// no carrier, impaired, up.
func linkState(l *graph.Link, ends [2]EndView, f *lab.Faults) (string, string) {
	if f != nil {
		a, b := l.Ends[0].Node, l.Ends[1].Node
		for _, p := range f.Partitions {
			if (slices.Contains(p[0], a) && slices.Contains(p[1], b)) || (slices.Contains(p[1], a) && slices.Contains(p[0], b)) {
				return StatePartitioned, strings.Join(p[0], ",") + " | " + strings.Join(p[1], ",")
			}
		}
	}
	for _, e := range ends {
		if e.Missing {
			return StateDown, e.ID + " missing"
		}
		if !e.Up {
			return StateDown, e.ID + " down"
		}
		if f != nil && slices.Contains(f.LinksDown, e.ID) {
			return StateDown, e.ID + " taken down"
		}
	}
	for _, e := range ends {
		if !e.Carrier {
			return StateNoCarrier, e.ID + " has no carrier"
		}
	}
	if f != nil {
		for _, e := range ends {
			if imp, ok := f.Impaired[e.ID]; ok {
				return StateImpaired, e.ID + " " + imp
			}
		}
	}
	return StateUp, ""
}

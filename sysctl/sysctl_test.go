package sysctl_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/nslab/nslab/internal/nsthread"
	"github.com/nslab/nslab/nslabtest"
	"github.com/nslab/nslab/sysctl"
)

// Keep main on m0 so no goroutine dying in a throwaway namespace wedges it.
func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) { os.Exit(nslabtest.Main(m)) }

func TestPath(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
		{"net/ipv4/conf/eth0.5/forwarding", "/proc/sys/net/ipv4/conf/eth0.5/forwarding"},
		{"/proc/sys/net/ipv6/conf/all/forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"},
		{"net.core.somaxconn", "/proc/sys/net/core/somaxconn"},
		{"kernel.hostname", ""},
		{"net", ""},
		{"net/../kernel/hostname", ""},
		{"net..ipv4", ""},
		{"", ""},
		{"net/ipv4//ip_forward", ""},
		{"vm.swappiness", ""},
	} {
		got, err := sysctl.Path(c.key)
		if c.want == "" {
			if err == nil {
				t.Errorf("Path(%q) = %q, want an error", c.key, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Path(%q) = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
}

// FuzzPath checks that every accepted key maps to a clean path under
// /proc/sys/net.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"net.ipv4.ip_forward", "net/ipv4/conf/eth0.5/forwarding", "net/../x", "/proc/sys/net/a", "net.a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p, err := sysctl.Path(key)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/proc/sys/net/") {
			t.Fatalf("Path(%q) = %q, not under /proc/sys/net", key, p)
		}
		for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
			if part == "" || part == "." || part == ".." {
				t.Fatalf("Path(%q) = %q has component %q", key, p, part)
			}
		}
	})
}

func TestSetIsPerNamespace(t *testing.T) {
	t.Parallel()
	a, b := nslabtest.NewNS(t), nslabtest.NewNS(t)
	const key = "net.ipv4.ip_forward"
	if err := sysctl.Set(a, key, "1"); err != nil {
		t.Fatal(err)
	}
	if err := sysctl.Set(b, key, "0"); err != nil {
		t.Fatal(err)
	}
	if v, err := sysctl.Get(a, key); err != nil || v != "1" {
		t.Errorf("Get in a = %q, %v; want 1", v, err)
	}
	if v, err := sysctl.Get(b, key); err != nil || v != "0" {
		t.Errorf("Get in b = %q, %v; want 0", v, err)
	}
	// Read and Write act on the calling thread's namespace.
	err := nsthread.Do(b, func() error {
		if err := sysctl.Write("net/ipv4/ip_unprivileged_port_start", "80"); err != nil {
			return err
		}
		v, err := sysctl.Read("net.ipv4.ip_unprivileged_port_start")
		if v != "80" {
			t.Errorf("Read after Write = %q, want 80", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sysctl.Get(a, "net.ipv4.ip_unprivileged_port_start"); v != "1024" {
		t.Errorf("a's ip_unprivileged_port_start = %q, want the default 1024", v)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ns := nslabtest.NewNS(t)
	// A global-only knob: present in the initial namespace, absent here.
	if _, err := os.Stat("/proc/sys/net/core/netdev_max_backlog"); err == nil {
		err := sysctl.Set(ns, "net.core.netdev_max_backlog", "2000")
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "only in the initial network namespace") {
			t.Errorf("global-only key: %v", err)
		}
	}
	err := sysctl.Set(ns, "net/ipv4/conf/nosuch0/forwarding", "1")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `no device "nosuch0"`) {
		t.Errorf("per-device key of a missing device: %v", err)
	}
	err = sysctl.Set(ns, "net.ipv4.ip_forward", "banana")
	if !errors.Is(err, fs.ErrInvalid) && !strings.Contains(fmt.Sprint(err), "refused") {
		t.Errorf("bad value: %v", err)
	}
	err = sysctl.WithNetNS(sysctl.Set(ns, "kernel.hostname", "x"), "r1")
	if err == nil || !strings.HasPrefix(err.Error(), `set sysctl "kernel.hostname" in netns "r1": `) {
		t.Errorf("non-net key: %v", err)
	}
}

// A Writer writes in the calling thread's namespace, several keys under one
// directory and others, and fails as Write does.
func TestWriter(t *testing.T) {
	t.Parallel()
	a, b := nslabtest.NewNS(t), nslabtest.NewNS(t)
	keys := [][2]string{
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.default.dad_transmits", "0"},
		{"net/ipv6/conf/lo/keep_addr_on_down", "1"},
		{"net.ipv4.ip_forward", "1"},
		{"net.core.somaxconn", "1234"},
	}
	err := nsthread.Do(b, func() error {
		var w sysctl.Writer
		defer w.Close()
		for _, kv := range keys {
			if err := w.Write(kv[0], kv[1]); err != nil {
				return err
			}
		}
		// Failures as for Write: a missing key, a refused value, a key
		// outside net; the Writer still works after them.
		if err := w.Write("net.ipv6.conf.all.nosuch", "1"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no such key") {
			t.Errorf("missing key: %v", err)
		}
		if err := w.Write("net.ipv4.ip_forward", "banana"); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("bad value: %v", err)
		}
		if err := w.Write("net.ipv4.ip_forward", "1\n0"); err == nil {
			t.Error("value with a newline: no error")
		}
		if err := w.Write("kernel.hostname", "x"); err == nil || !strings.HasPrefix(err.Error(), `set sysctl "kernel.hostname": `) {
			t.Errorf("non-net key: %v", err)
		}
		return w.Write("net.ipv4.ip_unprivileged_port_start", "80")
	})
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, [2]string{"net.ipv4.ip_unprivileged_port_start", "80"})
	for _, kv := range keys {
		if v, err := sysctl.Get(b, kv[0]); err != nil || v != kv[1] {
			t.Errorf("%s in b = %q, %v; want %s", kv[0], v, err, kv[1])
		}
		if v, err := sysctl.Get(a, kv[0]); err != nil || v == kv[1] {
			t.Errorf("%s in a = %q, %v: changed by a Writer in b", kv[0], v, err)
		}
	}
}

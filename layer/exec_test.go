package layer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrord-go/mirrord/schema"
)

func TestGoStatic(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	local := filepath.Join(w.tmp, "local.txt")
	if err := os.WriteFile(local, []byte("local file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
		fail bool
	}{
		{"hostname", []string{"hostname"}, "fake-pod-7d9f", false},
		{"remote file", []string{"read", "/app/test.txt"}, "hello from the pod", false},
		{"remote stat", []string{"stat", "/app/test.txt"}, "19", false},
		{"missing remote file", []string{"read", "/app/nope.txt"}, "no such file", true},
		{"local file", []string{"read", local}, "local file", false},
		{"kube config not found", []string{"read", filepath.Join(w.home, ".kube/config")}, "no such file", true},
		{"resolv.conf is the pod's", []string{"read", "/etc/resolv.conf"}, "nameserver 127.0.0.153", false},
		{"hostname file", []string{"read", "/etc/hostname"}, "fake-pod-7d9f", false},
		{"resolve a service", []string{"resolve", "web"}, "127.0.0.77", false},
		{"resolve an fqdn", []string{"resolve", "kubernetes.default.svc.cluster.local"}, "127.0.0.78", false},
		{"unknown name", []string{"resolve", "nope"}, "no such host", true},
		{"http by name", []string{"get", "web:80"}, "peer=127.0.0.77:80 body=hello from web", false},
		{"refused by the pod", []string{"get", "127.0.0.77:81"}, "connection refused", true},
		{"udp", []string{"udp", "127.0.0.99:9999", "ping"}, "peer=127.0.0.99:9999 reply=PING", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := w.run(t, defaultFeatures(), append([]string{probe}, tt.args...)...)
			if tt.fail {
				r.expectFail(t, tt.want)
			} else {
				r.expect(t, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, defaultFeatures(), goProbe(t), "exit", "7")
	if r.err != nil || r.code != 7 {
		t.Fatalf("exit code %d, err %v, output %s", r.code, r.err, r.out)
	}
	r = w.run(t, defaultFeatures(), "/bin/sh", "-c", "kill -TERM $$")
	if r.err != nil || r.code != 128+15 {
		t.Fatalf("killed by SIGTERM: exit code %d, err %v", r.code, r.err)
	}
}

func TestProgramNotFound(t *testing.T) {
	w := newWorld(t)
	r := w.run(t, defaultFeatures(), "no-such-program-xyz")
	if r.err == nil || r.code != -1 {
		t.Fatalf("want an error, got exit %d err %v", r.code, r.err)
	}
	t.Log(r.err)
}

func TestFeaturesOff(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	localHost, _ := os.Hostname()
	localResolv, _ := os.ReadFile("/etc/resolv.conf")
	local := filepath.Join(w.tmp, "remote-by-pattern.txt")
	if err := os.WriteFile(local, []byte("the local copy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*schema.FeatureConfig, *fakeAgent)
		args   []string
		want   string
		fail   bool
	}{
		{"hostname off", func(f *schema.FeatureConfig, _ *fakeAgent) { f.Hostname = false }, []string{"hostname"}, localHost, false},
		{"dns off keeps resolv.conf local", func(f *schema.FeatureConfig, _ *fakeAgent) { f.Network.DNS.Enabled = false },
			[]string{"read", "/etc/resolv.conf"}, string(localResolv), false},
		{"outgoing tcp off", func(f *schema.FeatureConfig, _ *fakeAgent) { f.Network.Outgoing.TCP = false },
			[]string{"get", "127.0.0.77:80"}, "connection refused", true},
		{"filter.local keeps a destination local", func(f *schema.FeatureConfig, _ *fakeAgent) {
			f.Network.Outgoing.Filter = &schema.TrafficFilter{Local: []string{"127.0.0.1"}}
		}, []string{"get", w.addr}, "peer=" + w.addr + " body=hello from web", false},
		{"filter.remote by name", func(f *schema.FeatureConfig, _ *fakeAgent) {
			f.Network.Outgoing.Filter = &schema.TrafficFilter{Remote: []string{"web:80"}}
		}, []string{"get", "127.0.0.77:80"}, "body=hello from web", false},
		{"fs local", func(f *schema.FeatureConfig, _ *fakeAgent) { f.FS.Mode = schema.FSLocal },
			[]string{"read", "/app/test.txt"}, "no such file", true},
		{"fs.not_found", func(f *schema.FeatureConfig, _ *fakeAgent) { f.FS.NotFound = []string{`^/app/`} },
			[]string{"read", "/app/test.txt"}, "no such file", true},
		{"mapping", func(f *schema.FeatureConfig, _ *fakeAgent) {
			f.FS.Mapping = map[string]string{`^/data/(.*)$`: "/app/$1"}
		},
			[]string{"read", "/data/test.txt"}, "hello from the pod", false},
		{"write mode: a write lands in the pod", func(f *schema.FeatureConfig, _ *fakeAgent) { f.FS.Mode = schema.FSWrite },
			[]string{"write", "/app/out.txt"}, "wrote", false},
		{"read mode: writes stay local", func(f *schema.FeatureConfig, _ *fakeAgent) {},
			[]string{"write", filepath.Join(w.tmp, "written.txt")}, "wrote", false},
		{"agent without fs support falls back to local", func(f *schema.FeatureConfig, a *fakeAgent) {
			f.FS.ReadOnly = []string{`remote-by-pattern\.txt$`}
			a.fsUnsupported = true
		}, []string{"read", local}, "the local copy", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := defaultFeatures()
			tt.mutate(&f, w.agent)
			defer func() { w.agent.fsUnsupported = false }()
			r := w.run(t, f, append([]string{probe}, tt.args...)...)
			if tt.fail {
				r.expectFail(t, tt.want)
			} else {
				r.expect(t, tt.want)
			}
		})
	}
	w.agent.mu.Lock()
	written := w.agent.files["/app/out.txt"]
	w.agent.mu.Unlock()
	if written != "written\n" {
		t.Errorf("write mode: the pod's /app/out.txt is %q, want the program's %q", written, "written\n")
	}
	if n := w.agent.tcpDials.Load(); n != 1 {
		t.Errorf("the agent dialled %d TCP connections, want 1 (only filter.remote)", n)
	}
}

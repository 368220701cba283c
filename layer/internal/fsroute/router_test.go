package fsroute

import (
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/schema"
)

var testEnv = Env{Home: "/home/dev", Cwd: "/home/dev/project", Exe: "/home/dev/project/bin/app", TmpDir: "/var/folders/tmp"}

func TestRouteGolden(t *testing.T) {
	type tc struct {
		path string
		acc  Access
		want Outcome
		why  string // substring of Decision.Why
	}
	tests := []struct {
		name  string
		cfg   schema.FSConfig
		cases []tc
	}{
		{
			name: "read mode defaults",
			cfg:  schema.FSConfig{Mode: "read"},
			cases: []tc{
				{"/app/test.txt", Read, Remote, "mode read"},
				{"/app/test.txt", Write, Local, "writes stay local"},
				{"/etc/resolv.conf", Read, Remote, "default remote"},
				{"/etc/resolv.conf", Write, Local, "default local"},
				{"/etc/hosts", Read, Remote, "default remote"},
				{"/etc/hostname", Read, Remote, "default remote"},
				{"/etc/ssl/certs/ca.pem", Read, Remote, "default remote"},
				{"/etc/ssl/certs", Read, Remote, "default remote"},
				{"/etc/passwd", Read, Local, "default local"},
				{"/etc/hostsx", Read, Local, "default local"},
				{"/usr/lib/x86_64-linux-gnu/libc.so.6", Read, Local, "default local"},
				{"/proc/self/maps", Read, Local, "default local"},
				{"/tmp/x", Read, Local, "default local"},
				{"/var/tmp/x", Read, Local, "default local"},
				{"/var/folders/tmp/abc", Read, Local, "default local"},
				{"/", Read, Local, "default local"},
				{"/srv/app/main.py", Read, Local, "default local"},
				{"/srv/app/lib.SO", Read, Local, "default local"}, // case-insensitive
				{"/srv/node_modules/x/index.json", Read, Local, "default local"},
				{"/home/dev/project/data.txt", Read, Local, "default local"},
				{"/home/dev/project", Read, Local, "default local"},
				{"/home/dev/projectX/data.txt", Read, Local, "default local"}, // ^/home
				{"/home/dev/project/bin/app", Read, Local, "default local"},
				{"/home/dev/.bashrc", Read, Local, "default local"},
				{"/home/dev/.kube/config", Read, NotFound, "default not-found"},
				{"/home/dev/.kube", Read, NotFound, "default not-found"},
				{"/home/dev/.config/gcloud/creds.json", Read, NotFound, "default not-found"},
				{"/home/dev/.azure/x", Write, NotFound, "default not-found"},
				{"/var/run/secrets/kubernetes.io/serviceaccount/token", Read, Remote, "mode read"},
			},
		},
		{
			name: "write mode",
			cfg:  schema.FSConfig{Mode: "write"},
			cases: []tc{
				{"/app/out.txt", Write, Remote, "mode write"},
				{"/app/in.txt", Read, Remote, "mode write"},
				{"/tmp/x", Write, Local, "default local"},
				{"/etc/hosts", Write, Local, "default local"},
			},
		},
		{
			name: "local mode ignores everything",
			cfg:  schema.FSConfig{Mode: "local", NotFound: []string{"^/app"}, ReadWrite: []string{"^/data"}},
			cases: []tc{
				{"/app/x", Read, Local, "mode local"},
				{"/data/x", Write, Local, "mode local"},
				{"/home/dev/.kube/config", Read, Local, "mode local"},
			},
		},
		{
			name: "localwithoverrides",
			cfg:  schema.FSConfig{Mode: "localwithoverrides", ReadOnly: []string{`^/app/config\.yaml$`}},
			cases: []tc{
				{"/app/x", Read, Local, "localwithoverrides"},
				{"/app/config.yaml", Read, Remote, "read_only"},
				{"/app/config.yaml", Write, Local, "read_only (writes"},
				{"/etc/resolv.conf", Read, Remote, "default remote"},
			},
		},
		{
			name: "user patterns beat defaults, in order",
			cfg: schema.FSConfig{
				Mode:      "read",
				NotFound:  []string{`^/app/secret`},
				ReadWrite: []string{`^/app/data`, `^/tmp/shared`},
				ReadOnly:  []string{`^/etc/passwd$`},
				Local:     []string{`^/app/`, `^/etc/hosts$`},
			},
			cases: []tc{
				{"/app/secret.txt", Read, NotFound, "fs.not_found"},
				{"/APP/SECRET.txt", Read, NotFound, "fs.not_found"},
				{"/app/data/x", Write, Remote, "read_write"},
				{"/tmp/shared/x", Write, Remote, "read_write"},
				{"/etc/passwd", Read, Remote, "read_only"},
				{"/app/other", Read, Local, "fs.local"},
				{"/etc/hosts", Read, Local, "fs.local"},
				{"/srv/x", Read, Remote, "mode read"},
			},
		},
		{
			name: "mapping applies before the patterns",
			cfg: schema.FSConfig{
				Mode:     "read",
				Mapping:  map[string]string{`^/home/dev/work/(.*)$`: "/app/$1", `^/b`: "/tmp/b"},
				NotFound: []string{`^/app/private`},
			},
			cases: []tc{
				{"/home/dev/work/test.txt", Read, Remote, "mode read"},
				{"/home/dev/work/private/x", Read, NotFound, "fs.not_found"},
				{"/bin/sh", Read, Local, "default local"}, // mapped to /tmp/bin/sh
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.cases {
				got := r.Route(c.path, c.acc)
				if got.Outcome != c.want || !strings.Contains(got.Why, c.why) {
					t.Errorf("Route(%q, %v) = %v (%s), want %v (%s)", c.path, c.acc, got.Outcome, got.Why, c.want, c.why)
				}
			}
		})
	}
}

func TestMappingResult(t *testing.T) {
	r, err := New(schema.FSConfig{Mode: "read", Mapping: map[string]string{`^/home/dev/work/(.*)$`: "/app/$1"}}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Route("/home/dev/work/a/b.txt", Read); d.Path != "/app/a/b.txt" {
		t.Errorf("mapped path = %q", d.Path)
	}
}

func TestRouteAt(t *testing.T) {
	r, err := New(schema.FSConfig{Mode: "read", NotFound: []string{`^/srv/hidden`}}, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		base       string
		baseRemote bool
		path       string
		want       Outcome
		wantPath   string
	}{
		{"/home/dev/project", false, "data.txt", Local, "data.txt"},
		{"/srv", false, "file.txt", Local, "file.txt"}, // relative: local even where absolute would be remote
		{"/home/dev", false, ".kube/config", NotFound, "/home/dev/.kube/config"},
		{"/home/dev/project", false, "../.kube/config", NotFound, "/home/dev/.kube/config"},
		{"/srv", false, "hidden/x", NotFound, "/srv/hidden/x"},
		{"/app", true, "test.txt", Remote, "/app/test.txt"},                    // remote dirfd
		{"/app", true, "../etc/passwd", Local, "/etc/passwd"},                  // remote dirfd, default local
		{"/home/dev/project", false, "/app/test.txt", Remote, "/app/test.txt"}, // absolute ignores base
		{"/x", false, "/app//y/../test.txt", Remote, "/app/test.txt"},
	}
	for _, tt := range tests {
		d := r.RouteAt(tt.base, tt.baseRemote, tt.path, Read)
		if d.Outcome != tt.want || d.Path != tt.wantPath {
			t.Errorf("RouteAt(%q, %v, %q) = %v %q (%s), want %v %q", tt.base, tt.baseRemote, tt.path, d.Outcome, d.Path, d.Why, tt.want, tt.wantPath)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		cfg  schema.FSConfig
		want string
	}{
		{schema.FSConfig{Mode: "bogus"}, "feature.fs.mode"},
		{schema.FSConfig{Mode: "read", NotFound: []string{"("}}, `feature.fs.not_found: pattern "("`},
		{schema.FSConfig{Mode: "read", Mapping: map[string]string{"[": "x"}}, "feature.fs.mapping"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, testEnv); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) err = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestIsWrite(t *testing.T) {
	tests := []struct {
		flags uint64
		want  bool
	}{{0, false}, {0x80000, false}, {0x10000, false}, {1, true}, {2, true}, {0x40, true}, {0x200, true}, {0x400, true}}
	for _, tt := range tests {
		if got := IsWrite(tt.flags); got != tt.want {
			t.Errorf("IsWrite(%#x) = %v", tt.flags, got)
		}
	}
}

// TestFastMatchers checks that every pattern shape compiled to a string
// matcher agrees with the regexp it stands for.
func TestFastMatchers(t *testing.T) {
	pats := append(append([]string{`^/app/x\.txt$`, `^/APP`, `secret`, `\.log$`, `^/a(/|$)`, `(?:x)`, `^/a|^/b`}, defaultLocal(testEnv)...), defaultRemote...)
	pats = append(pats, defaultNotFound(testEnv)...)
	paths := []string{"/", "/app/x.txt", "/App/X.TXT", "/app/x.txtz", "/APP2", "/a", "/a/b", "/ab", "/x/secret/y", "/l.log", ".log",
		"/proc", "/proc/1", "/process", "/lib.so", ".so", "/x.SO", "/home/dev/.kube/config", "/home/dev/.bashrc", "/etc/resolv.conf",
		"/etc/resolv.confx", "/etc/ssl/certs", "/etc/ssl/certsx", "/var/folders/tmp/x", "/home/dev/project", "/home/dev/project2", "/b"}
	fast := 0
	for _, p := range pats {
		m, re, err := compileMatcher(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(reMatch); !ok {
			fast++
		}
		for _, path := range paths {
			if got, want := m.match(path, strings.ToLower(path)), re.MatchString(path); got != want {
				t.Errorf("pattern %q (%T) on %q: %v, regexp says %v", p, m, path, got, want)
			}
		}
	}
	if fast < len(pats)*3/4 {
		t.Errorf("only %d of %d patterns use a string matcher", fast, len(pats))
	}
}

package discover

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDiscover(t *testing.T) {
	tests := []struct {
		name   string
		files  []string
		active string
		env    map[string]string
		want   Result // paths relative to the workspace
	}{
		{name: "none", want: Result{Source: SourceNone, Candidates: []string{}}},
		{
			name:  "first workspace file by name",
			files: []string{".mirrord/z_mirrord.json", ".mirrord/b.mirrord.yaml", ".mirrord/amirrord.toml", ".mirrord/other.json", "root.mirrord.json", "notes.json"},
			want: Result{Default: ".mirrord/amirrord.toml", Source: SourceWorkspace, Candidates: []string{
				".mirrord/amirrord.toml", ".mirrord/b.mirrord.yaml", ".mirrord/other.json", ".mirrord/z_mirrord.json", "root.mirrord.json"}},
		},
		{
			name:  "only non-default names",
			files: []string{".mirrord/config.json", "mirrord.toml"},
			want:  Result{Source: SourceNone, Candidates: []string{".mirrord/config.json", "mirrord.toml"}},
		},
		{
			name:  "env beats workspace, relative to workspace",
			files: []string{".mirrord/mirrord.json"},
			env:   map[string]string{EnvConfigFile: "conf/x.toml"},
			want:  Result{Default: "conf/x.toml", Source: SourceEnv, Candidates: []string{".mirrord/mirrord.json"}},
		},
		{
			name:   "active beats env",
			files:  []string{".mirrord/mirrord.json", ".mirrord/other.json"},
			active: ".mirrord/other.json",
			env:    map[string]string{EnvConfigFile: "conf/x.toml"},
			want:   Result{Default: ".mirrord/other.json", Source: SourceActive, Candidates: []string{".mirrord/mirrord.json", ".mirrord/other.json"}},
		},
		{
			name:  "empty env value is ignored",
			files: []string{".mirrord/mirrord.yml"},
			env:   map[string]string{EnvConfigFile: " "},
			want:  Result{Default: ".mirrord/mirrord.yml", Source: SourceWorkspace, Candidates: []string{".mirrord/mirrord.yml"}},
		},
		{
			name:  "directories and hidden files are not candidates",
			files: []string{".mirrord/dir.json/x", ".mirrord/.mirrord.json", ".mirrord/mirrord.txt"},
			want:  Result{Source: SourceNone, Candidates: []string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := t.TempDir()
			for _, f := range tt.files {
				write(t, filepath.Join(ws, f), "{}")
			}
			var env func(string) (string, bool)
			if tt.env != nil {
				env = envOf(tt.env)
			}
			got, err := Discover(ws, tt.active, env)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want.Default != "" {
				want.Default = filepath.Join(ws, want.Default)
			}
			for i, c := range want.Candidates {
				want.Candidates[i] = filepath.Join(ws, c)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Discover:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDiscoverErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	write(t, file, "")
	for _, ws := range []string{"", "/does/not/exist", file} {
		if _, err := Discover(ws, "", nil); err == nil {
			t.Errorf("Discover(%q): no error", ws)
		}
	}
}

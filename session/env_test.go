package session

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/schema"
)

func TestMergeEnv(t *testing.T) {
	local := []string{"PATH=/usr/bin", "HOME=/home/me", "LANG=C", "AWS_PROFILE=dev"}
	remote := []protocol.EnvVar{
		{Name: "PATH", Value: "/pod/bin"}, {Name: "HOME", Value: "/root"}, {Name: "DB_URL", Value: "pg://db"}, {Name: "LANG", Value: "en_US"},
		{Name: "APP_TIMEOUT", Value: "5"}, {Name: "LOG_LEVEL", Value: "info"}, {Name: "BUNDLE_GEMFILE", Value: "x"},
	}
	files := map[string]string{"/tmp/.env": "FROM_FILE=1\nDB_URL=pg://file # comment\n"}
	readFile := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	tests := []struct {
		name    string
		cfg     schema.EnvConfig
		want    []string // KEY=value that must be present
		absent  []string // keys that must be absent
		wantErr string
	}{
		{name: "default keeps local PATH and HOME",
			want:   []string{"PATH=/usr/bin", "HOME=/home/me", "DB_URL=pg://db", "LANG=en_US"},
			absent: []string{"BUNDLE_GEMFILE"}},
		{name: "include", cfg: schema.EnvConfig{Include: schema.StringList{"DB_*", "LOG_?EVEL"}},
			want: []string{"DB_URL=pg://db", "LOG_LEVEL=info", "LANG=C"}, absent: []string{"APP_TIMEOUT"}},
		{name: "exclude", cfg: schema.EnvConfig{Exclude: schema.StringList{"DB_URL;APP_*"}},
			want: []string{"LANG=en_US", "LOG_LEVEL=info"}, absent: []string{"DB_URL", "APP_TIMEOUT"}},
		{name: "env false excludes everything remote", cfg: schema.EnvConfig{Exclude: schema.StringList{"*"}},
			want: []string{"LANG=C"}, absent: []string{"DB_URL"}},
		{name: "override wins last", cfg: schema.EnvConfig{Override: map[string]string{"DB_URL": "pg://local", "NEW": "1"}},
			want: []string{"DB_URL=pg://local", "NEW=1"}},
		{name: "mapping with capture groups", cfg: schema.EnvConfig{Mapping: map[string]string{".+_TIMEOUT": "1000", "^LOG_(.+)$": "for-$1"}},
			want: []string{"APP_TIMEOUT=1000", "LOG_LEVEL=for-LEVEL"}},
		{name: "unset is case-insensitive", cfg: schema.EnvConfig{Unset: schema.StringList{"aws_profile", "db_url"}},
			absent: []string{"AWS_PROFILE", "DB_URL"}, want: []string{"LANG=en_US"}},
		{name: "env_file beats the target, override beats env_file",
			cfg:  schema.EnvConfig{EnvFile: "/tmp/.env", Override: map[string]string{"FROM_FILE": "2"}},
			want: []string{"DB_URL=pg://file", "FROM_FILE=2"}},
		{name: "missing env_file", cfg: schema.EnvConfig{EnvFile: "/nope"}, wantErr: "feature.env.env_file"},
		{name: "bad mapping regex", cfg: schema.EnvConfig{Mapping: map[string]string{"(": "x"}}, wantErr: "feature.env.mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeEnv(local, remote, tt.cfg, readFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !slices.Contains(got.Vars, w) {
					t.Errorf("missing %s in %v", w, got.Vars)
				}
			}
			for _, a := range tt.absent {
				for _, kv := range got.Vars {
					if strings.HasPrefix(kv, a+"=") {
						t.Errorf("%s should be absent, got %s", a, kv)
					}
				}
			}
			seen := map[string]bool{}
			for _, kv := range got.Vars {
				k, _, _ := strings.Cut(kv, "=")
				if seen[k] {
					t.Errorf("duplicate %s", k)
				}
				seen[k] = true
			}
		})
	}
}

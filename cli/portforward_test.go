package cli

import (
	"strings"
	"testing"
)

func TestParseForward(t *testing.T) {
	tests := []struct {
		in      string
		want    forward
		wantErr string
	}{
		{in: "18080:internal-only:80", want: forward{18080, "internal-only:80"}},
		{in: "web.ns.svc:8080", want: forward{8080, "web.ns.svc:8080"}},
		{in: "0:10.0.0.1:53", want: forward{0, "10.0.0.1:53"}},
		{in: "80", wantErr: "wrong number"},
		{in: "1:2:3:4", wantErr: "wrong number"},
		{in: ":80", wantErr: "host is empty"},
		{in: "x:host:80", wantErr: "local port"},
		{in: "host:99999", wantErr: "remote port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseForward(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "-L") {
					t.Fatalf("err = %v, want %q naming -L", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSessionFlagsBecomeOverrides(t *testing.T) {
	cmd := newExecCmd()
	args := []string{"-t", "deploy/web", "-n", "ns1", "-a", "agents", "-e", "--agent-ttl", "9", "-x", "A;B", "--no-outgoing"}
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	res, err := loadSessionConfig(cmd)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.Target.Path.String() != "deployment/web" || c.Target.Namespace != "ns1" || c.Agent.Namespace != "agents" ||
		!c.Agent.Ephemeral || c.Agent.TTL != 9 || strings.Join(c.Feature.Env.Exclude, ";") != "A;B" ||
		c.Feature.Network.Outgoing.TCP || c.Feature.Network.Outgoing.UDP {
		t.Errorf("flags not applied: %+v", c)
	}

	cmd = newExecCmd()
	if err := cmd.Flags().Parse([]string{"--agent-ttl", "soon"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSessionConfig(cmd); err == nil || !strings.Contains(err.Error(), "--agent-ttl") {
		t.Errorf("a bad flag value must name the flag, got %v", err)
	}
}

func TestBareConfigFlag(t *testing.T) {
	tests := []struct{ in, want string }{
		{"exec -f a.json -- env", "exec -f a.json -- env"},
		{"exec -f -t x -- env", "exec -f " + defaultConfigFile + " -t x -- env"},
		{"ls -f", "ls -f " + defaultConfigFile},
		{"exec -- prog -f -x", "exec -- prog -f -x"},
	}
	for _, tt := range tests {
		if got := strings.Join(bareConfigFlag(strings.Fields(tt.in)), " "); got != tt.want {
			t.Errorf("%q → %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseReverse(t *testing.T) {
	tests := []struct {
		in      string
		want    reverseForward
		wantErr string
	}{
		{in: "80:18081", want: reverseForward{80, 18081}},
		{in: "8080", want: reverseForward{8080, 8080}},
		{in: "0:80", wantErr: "remote port"},
		{in: "80:0", wantErr: "local port"},
		{in: "80:x", wantErr: "local port"},
		{in: "80:1:2", wantErr: "local port"},
		{in: "", wantErr: "remote port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseReverse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "-R") {
					t.Fatalf("err = %v, want %q naming -R", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

package layer

import (
	"strings"
	"testing"
)

func TestKernelCheck(t *testing.T) {
	tests := []struct {
		rel     string
		wantErr string
	}{
		{"6.18.44-fc-v769", ""},
		{"5.14.0-427.el9.x86_64", ""},
		{"5.19.0", ""},
		{"5.13.19-generic", "needs Linux 5.14 or newer"},
		{"4.19.0-26-amd64", "needs Linux 5.14 or newer"},
		{"10.0", ""},
		{"garbage", "cannot read the kernel release"},
	}
	for _, tt := range tests {
		k, err := ParseKernelRelease(tt.rel)
		if err == nil {
			err = checkKernel(k)
		}
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.rel, err, tt.wantErr)
		}
	}
	if _, err := CheckKernel(); err != nil {
		t.Fatalf("this machine's kernel: %v", err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	if _, err := lookPath("sh", "/nonexistent:/bin", dir); err != nil {
		t.Errorf("sh in /bin: %v", err)
	}
	if _, err := lookPath("sh", "/nonexistent", dir); err == nil || !strings.Contains(err.Error(), `program "sh" not found`) {
		t.Errorf("sh not on PATH: %v", err)
	}
	if _, err := lookPath("./nope", "", dir); err == nil {
		t.Error("a missing relative path was accepted")
	}
	if got := getenv([]string{"A=1", "PATH=/x", "PATH=/y"}, "PATH"); got != "/y" {
		t.Errorf("getenv takes the last PATH: %q", got)
	}
}

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/notify"
	"github.com/mirrord-go/mirrord/schema"
)

func TestErrnoOf(t *testing.T) {
	tests := []struct {
		err  error
		want unix.Errno
	}{
		{&protocol.Error{Code: protocol.CodeUnreachable, Errno: int(unix.EHOSTUNREACH)}, unix.EHOSTUNREACH},
		{protocol.Errorf(protocol.CodeNotFound, "x"), unix.ENOENT},
		{protocol.Errorf(protocol.CodePermission, "x"), unix.EACCES},
		{protocol.Errorf(protocol.CodeUnsupported, "x"), unix.ENOSYS},
		{protocol.Errorf(protocol.CodeInternal, "x"), unix.EIO},
		{fmt.Errorf("wrapped: %w", unix.EPIPE), unix.EPIPE},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), unix.ETIMEDOUT},
		{errors.New("other"), unix.EIO},
	}
	for _, tt := range tests {
		if got := errnoOf(tt.err, unix.EIO); got != tt.want {
			t.Errorf("errnoOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRenderResolvConf(t *testing.T) {
	got := renderResolvConf(protocol.ResolvConf{Nameservers: []string{"10.96.0.10"}, Search: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Ndots: 5})
	want := "# The target pod's DNS configuration, served by mirrord.\nnameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

type nopRemote struct{ Remote }

// TestRulesFollowFeatures: only what the enabled features need is trapped.
func TestRulesFollowFeatures(t *testing.T) {
	all := schema.Default().Feature
	none := all
	none.Hostname = false
	none.FS.Mode = schema.FSLocal
	none.Network.DNS.Enabled = false
	none.Network.Outgoing.TCP, none.Network.Outgoing.UDP = false, false
	dnsOnly := none
	dnsOnly.Network.DNS.Enabled = true
	tests := []struct {
		name    string
		f       schema.FeatureConfig
		trapped []int
		not     []int
	}{
		{"everything", all, []int{unix.SYS_UNAME, unix.SYS_OPENAT, unix.SYS_NEWFSTATAT, unix.SYS_CONNECT, unix.SYS_SENDTO, notify.ProbeNr}, nil},
		{"nothing", none, []int{notify.ProbeNr}, []int{unix.SYS_UNAME, unix.SYS_OPENAT, unix.SYS_NEWFSTATAT, unix.SYS_CONNECT}},
		{"dns only", dnsOnly, []int{unix.SYS_OPENAT, unix.SYS_CONNECT, unix.SYS_RECVFROM}, []int{unix.SYS_NEWFSTATAT, unix.SYS_UNAME}},
	}
	for _, tt := range tests {
		s, err := New(Config{Remote: nopRemote{}, Features: tt.f})
		if err != nil {
			t.Fatal(err)
		}
		rules := map[int]notify.Rule{}
		for _, r := range s.Rules() {
			rules[r.Nr] = r
		}
		for _, nr := range tt.trapped {
			if r, ok := rules[nr]; !ok || r.Action == notify.Errno {
				t.Errorf("%s: syscall %d is not trapped", tt.name, nr)
			}
		}
		for _, nr := range tt.not {
			if _, ok := rules[nr]; ok {
				t.Errorf("%s: syscall %d is trapped", tt.name, nr)
			}
		}
		if r := rules[unix.SYS_IO_URING_SETUP]; r.Action != notify.Errno || r.Val != uint32(unix.ENOSYS) {
			t.Errorf("%s: io_uring_setup is not refused with ENOSYS", tt.name)
		}
		if _, err := s.Program(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

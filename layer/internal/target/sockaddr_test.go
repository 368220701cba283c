package target

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSockaddrRoundTrip(t *testing.T) {
	tests := []struct {
		fam  int
		ap   string
		want string // as decoded
	}{
		{unix.AF_INET, "10.96.0.5:80", "10.96.0.5:80"},
		{unix.AF_INET6, "[fd00::1]:443", "[fd00::1]:443"},
		{unix.AF_INET6, "10.96.0.5:53", "[::ffff:10.96.0.5]:53"}, // v4 on a v6 socket: mapped
		{unix.AF_INET, "[::ffff:10.96.0.5]:53", "10.96.0.5:53"},  // mapped on a v4 socket: unmapped
	}
	for _, tt := range tests {
		b := EncodeInet(tt.fam, netip.MustParseAddrPort(tt.ap))
		sa, err := ParseSockaddr(b)
		if err != nil || sa.String() != tt.want || int(sa.Family) != tt.fam {
			t.Errorf("EncodeInet(%d, %s) decodes to %v (%d), %v; want %s", tt.fam, tt.ap, sa, sa.Family, err, tt.want)
		}
	}
}

func TestParseUnix(t *testing.T) {
	tests := []struct {
		raw  []byte
		want string
	}{
		{append([]byte{unix.AF_UNIX, 0}, "/run/x.sock\x00\x00"...), "unix:/run/x.sock"},
		{append([]byte{unix.AF_UNIX, 0}, "\x00abstract\x00"...), "unix:@abstract"},
		{[]byte{1}, ""},
	}
	for _, tt := range tests {
		sa, err := ParseSockaddr(tt.raw)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%q accepted", tt.raw)
			}
			continue
		}
		if err != nil || sa.String() != tt.want {
			t.Errorf("%q = %v, %v; want %s", tt.raw, sa, err, tt.want)
		}
	}
}

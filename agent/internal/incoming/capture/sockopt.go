//go:build linux

package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ip6tSOOriginalDst is IP6T_SO_ORIGINAL_DST (linux/netfilter_ipv6/ip6_tables.h),
// which x/sys/unix lacks; it has the same value as SO_ORIGINAL_DST.
const ip6tSOOriginalDst = 80

// OriginalDst returns where a redirected connection was going before the
// redirect rewrote it to the agent's listener: conntrack keeps the
// original tuple, and SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST
// (IPv6) reads it. An IPv4 connection accepted on a dual-stack [::]
// listener is asked through SOL_IP, which the kernel accepts on IPv6
// sockets too.
func OriginalDst(c *net.TCPConn) (netip.AddrPort, error) {
	remote, ok := c.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("original destination: connection has no TCP peer address")
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	var dst netip.AddrPort
	var serr error
	v4 := remote.IP.To4() != nil
	cerr := raw.Control(func(fd uintptr) {
		if v4 {
			// The classic idiom: IPv6Mreq is 20 bytes, enough for the
			// 16-byte sockaddr_in the kernel writes.
			m, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
			if err != nil {
				serr = err
				return
			}
			b := m.Multiaddr // sockaddr_in: family, port (network order), address
			dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
			return
		}
		// IPv6MTUInfo starts with a RawSockaddrInet6: the 28 bytes of
		// sockaddr_in6 the kernel writes fit in it.
		m, err := unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, ip6tSOOriginalDst)
		if err != nil {
			serr = err
			return
		}
		port := binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, m.Addr.Port))
		dst = netip.AddrPortFrom(netip.AddrFrom16(m.Addr.Addr), port)
	})
	if cerr != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", cerr)
	}
	if serr != nil {
		// ENOENT: no conntrack entry, the connection was not redirected.
		return netip.AddrPort{}, fmt.Errorf("original destination of the connection from %s: %w", remote, os.NewSyscallError("getsockopt", serr))
	}
	return dst, nil
}

// Control returns a net.Dialer Control function that sets SO_MARK to mark,
// so that the agent's passthrough connections to the target's own ports
// are not redirected back to the agent. Setting it needs CAP_NET_ADMIN.
func Control(mark uint32) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return fmt.Errorf("marking the socket for %s: %w", address, err)
		}
		if serr != nil {
			return fmt.Errorf("setting SO_MARK %#x for %s (the agent needs CAP_NET_ADMIN): %w", mark, address, os.NewSyscallError("setsockopt", serr))
		}
		return nil
	}
}

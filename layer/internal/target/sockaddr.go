package target

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Sockaddr is a decoded struct sockaddr from the caller's memory.
type Sockaddr struct {
	Family uint16
	// AddrPort is set for AF_INET and AF_INET6. A v4-mapped IPv6 address
	// stays mapped: it is what the caller wrote.
	AddrPort netip.AddrPort
	// Path is the unix socket path; abstract names start with "@".
	Path string
}

func (s Sockaddr) String() string {
	switch s.Family {
	case unix.AF_INET, unix.AF_INET6:
		return s.AddrPort.String()
	case unix.AF_UNIX:
		return "unix:" + s.Path
	}
	return fmt.Sprintf("family %d", s.Family)
}

// ParseSockaddr decodes a sockaddr of any supported family.
func ParseSockaddr(b []byte) (Sockaddr, error) {
	if len(b) < 2 {
		return Sockaddr{}, unix.EINVAL
	}
	fam := binary.NativeEndian.Uint16(b)
	switch fam {
	case unix.AF_INET:
		if len(b) < 8 {
			return Sockaddr{}, unix.EINVAL
		}
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return Sockaddr{Family: fam, AddrPort: netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:]))}, nil
	case unix.AF_INET6:
		if len(b) < 24 {
			return Sockaddr{}, unix.EINVAL
		}
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return Sockaddr{Family: fam, AddrPort: netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[2:]))}, nil
	case unix.AF_UNIX:
		p := b[2:]
		abstract := len(p) > 0 && p[0] == 0
		if abstract {
			p = p[1:]
		}
		for len(p) > 0 && p[len(p)-1] == 0 {
			p = p[:len(p)-1]
		}
		if !abstract {
			for i, c := range p {
				if c == 0 {
					p = p[:i]
					break
				}
			}
		}
		s := string(p)
		if abstract {
			s = "@" + s
		}
		return Sockaddr{Family: fam, Path: s}, nil
	}
	return Sockaddr{Family: fam}, nil
}

// ReadSockaddr reads and decodes the sockaddr of length n at addr.
func (p Proc) ReadSockaddr(addr uint64, n uint64) (Sockaddr, error) {
	if addr == 0 || n < 2 {
		return Sockaddr{}, unix.EFAULT
	}
	n = min(n, 128) // sizeof(struct sockaddr_storage)
	b := make([]byte, n)
	if err := p.Read(addr, b); err != nil {
		return Sockaddr{}, err
	}
	return ParseSockaddr(b)
}

// EncodeInet renders ap for a socket of family fam: a v4 address on an
// AF_INET6 socket becomes v4-mapped, a mapped address on an AF_INET
// socket is unmapped.
func EncodeInet(fam int, ap netip.AddrPort) []byte {
	if fam == unix.AF_INET6 {
		b := make([]byte, unix.SizeofSockaddrInet6)
		binary.NativeEndian.PutUint16(b, unix.AF_INET6)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		a16 := ap.Addr().As16()
		copy(b[8:24], a16[:])
		return b
	}
	b := make([]byte, unix.SizeofSockaddrInet4)
	binary.NativeEndian.PutUint16(b, unix.AF_INET)
	binary.BigEndian.PutUint16(b[2:], ap.Port())
	a4 := ap.Addr().Unmap().As4()
	copy(b[4:8], a4[:])
	return b
}

// ToUnix converts ap to a x/sys sockaddr for a socket of family fam.
func ToUnix(fam int, ap netip.AddrPort) unix.Sockaddr {
	if fam == unix.AF_INET6 {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
}

// FromUnix converts a x/sys sockaddr to an AddrPort (zero if not inet).
func FromUnix(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
	}
	return netip.AddrPort{}
}

// WriteSockaddrOut fills the (addr, *addrlen) out-parameters of
// getpeername, accept and recvfrom: the address is truncated to *addrlen
// and *addrlen is set to the full length, as the kernel does.
func (m *Mem) WriteSockaddrOut(p Proc, addrPtr, lenPtr uint64, enc []byte) error {
	if addrPtr == 0 || lenPtr == 0 {
		return nil
	}
	lb := make([]byte, 4)
	if err := p.Read(lenPtr, lb); err != nil {
		return err
	}
	have := int(int32(binary.NativeEndian.Uint32(lb)))
	if have < 0 {
		return unix.EINVAL
	}
	if err := m.Write(addrPtr, enc[:min(have, len(enc))]); err != nil {
		return err
	}
	binary.NativeEndian.PutUint32(lb, uint32(len(enc)))
	return m.Write(lenPtr, lb)
}

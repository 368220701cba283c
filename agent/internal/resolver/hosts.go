package resolver

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// lookupHosts returns the addresses the target's /etc/hosts gives host, in
// file order. A missing file is no entry. As in glibc, the search list does
// not apply to /etc/hosts.
func (r *Resolver) lookupHosts(host string) ([]netip.Addr, error) {
	file := r.path("/etc/hosts")
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the target's hosts file (%s): %w", file, err)
	}
	defer f.Close()
	addrs, err := parseHosts(bufio.NewScanner(f), host)
	if err != nil {
		return nil, fmt.Errorf("reading the target's hosts file (%s): %w", file, err)
	}
	return addrs, nil
}

// parseHosts scans hosts(5) lines for host (case-insensitive, trailing dot
// ignored) as a canonical name or an alias.
func parseHosts(sc *bufio.Scanner, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(host, ".")
	var out []netip.Addr
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), host) {
				if !slices.Contains(out, ip) {
					out = append(out, ip)
				}
				break
			}
		}
	}
	return out, sc.Err()
}

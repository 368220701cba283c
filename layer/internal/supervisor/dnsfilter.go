package supervisor

import (
	"bufio"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// localDNSTimeout bounds a query answered by the local nameserver.
const localDNSTimeout = 5 * time.Second

// routeQuery applies feature.network.dns.filter to one query a program
// sent towards port 53 through a relay. It returns true when the query is
// for the local nameserver, which then answers it (in a goroutine owned by
// Serve); false sends it to the pod as usual. Inspecting the queries works
// for every resolver (glibc, musl, Go's, c-ares), since all of them send
// their queries through the sockets the supervisor relays.
func (s *Supervisor) routeQuery(r *udpRelay, q []byte) bool {
	var p dnsmessage.Parser
	if _, err := p.Start(q); err != nil {
		return false
	}
	question, err := p.Question()
	if err != nil {
		return false
	}
	remote, why := s.dnsf.Remote(question.Name.String())
	if s.debug {
		s.log.Debug("dns query", "name", question.Name.String(), "type", question.Type, "remote", remote, "why", why)
	}
	if remote {
		return false
	}
	q = append([]byte(nil), q...)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ans := s.resolveLocally(q)
		if ans == nil {
			return
		}
		r.touch()
		_, _ = r.pc.WriteToUDPAddrPort(ans, r.app)
	}()
	return true
}

// resolveLocally asks this machine's nameserver; on failure the program
// gets SERVFAIL at once rather than waiting out its resolver's timeout.
func (s *Supervisor) resolveLocally(q []byte) []byte {
	addr := s.localDNS()
	c, err := net.Dial("udp", addr)
	if err == nil {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(localDNSTimeout))
		if _, err = c.Write(q); err == nil {
			buf := make([]byte, 65536)
			var n int
			if n, err = c.Read(buf); err == nil {
				return buf[:n]
			}
		}
	}
	s.warnOnce("local-dns", "the local nameserver did not answer a query that feature.network.dns.filter keeps local", "nameserver", addr, "err", err)
	return servfail(q)
}

func servfail(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeServerFailure, RecursionDesired: h.RecursionDesired})
	_ = b.StartQuestions()
	for _, qq := range qs {
		_ = b.Question(qq)
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

var systemNameserver = sync.OnceValue(func() string {
	f, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return "127.0.0.1:53"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			return net.JoinHostPort(fields[1], "53")
		}
	}
	return "127.0.0.1:53"
})

// localDNS is the nameserver of this machine (the supervisor is not
// supervised, so it reads the local /etc/resolv.conf), or Config.LocalDNS.
func (s *Supervisor) localDNS() string {
	if s.cfg.LocalDNS != "" {
		return s.cfg.LocalDNS
	}
	return systemNameserver()
}

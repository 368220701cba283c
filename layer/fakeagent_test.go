package layer_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// fakeAgent is an in-process agent behind a real protocol session: the
// "pod" it stands for has a hostname, a resolv.conf, a few files, a DNS
// server and services that are really local test servers.
type fakeAgent struct {
	hostname string
	resolv   protocol.ResolvConf
	files    map[string]string
	// dns maps fully qualified names (with the final dot) to IPv4s.
	dns map[string]string
	// tcp maps the addresses the program dials to local servers.
	tcp map[string]string
	// fsUnsupported answers fs.* as an agent without file support does.
	fsUnsupported bool
	// unix maps the unix socket paths the program connects to (in the
	// "pod") to local sockets.
	unix map[string]string

	tcpDials atomic.Int32
	udpDials atomic.Int32
	opens    atomic.Int32

	mu      sync.Mutex
	handles map[uint64]string
	next    uint64
}

const testToken = "layer-test-token"

var quiet = slog.New(slog.DiscardHandler)

func newFakeAgent() *fakeAgent {
	return &fakeAgent{
		hostname: "fake-pod-7d9f",
		resolv: protocol.ResolvConf{
			// A loopback address: should interception ever fail, the query
			// stays on this machine.
			Nameservers: []string{"127.0.0.153"},
			Search:      []string{"mirrord-e2e.svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Ndots:       5,
		},
		files: map[string]string{
			"/app/test.txt": "hello from the pod\n",
			"/etc/hosts":    "127.0.0.1 localhost\n",
		},
		dns: map[string]string{
			"web.mirrord-e2e.svc.cluster.local.":    "127.0.0.77",
			"kubernetes.default.svc.cluster.local.": "127.0.0.78",
		},
		tcp:     map[string]string{},
		handles: map[uint64]string{},
	}
}

// start serves the fake over a loopback TCP connection and returns the
// client end, as the CLI would get it from a port-forward.
func (f *fakeAgent) start(t testing.TB) *protocol.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		_ = protocol.Serve(ctx, c, protocol.ServerOptions{TokenHash: protocol.TokenHash(testToken), Agent: "fake", Logger: quiet},
			func(*protocol.ServerSession) protocol.Handler { return f })
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, err := protocol.NewClient(context.Background(), conn, protocol.ClientOptions{Token: testToken, Name: "layer-test", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		cancel()
		<-served
	})
	return client
}

func errno(code protocol.Code, e syscall.Errno, msg string) *protocol.Error {
	return &protocol.Error{Code: code, Errno: int(e), Msg: msg}
}

func (f *fakeAgent) Call(ctx context.Context, kind protocol.Kind, body []byte) (any, error) {
	switch kind {
	case protocol.KindHostname:
		return protocol.HostnameResponse{Hostname: f.hostname}, nil
	case protocol.KindResolvConf:
		return f.resolv, nil
	case protocol.KindLookup:
		var r protocol.LookupRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		for _, s := range append([]string{""}, f.resolv.Search...) {
			name := r.Name + "."
			if s != "" {
				name = r.Name + "." + s + "."
			}
			if ip, ok := f.dns[name]; ok {
				return protocol.LookupResponse{Addrs: []string{ip}}, nil
			}
		}
		return nil, errno(protocol.CodeNotFound, 0, "no such host "+r.Name)
	}
	if strings.HasPrefix(string(kind), "fs.") && f.fsUnsupported {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "agent does not serve %s", kind)
	}
	switch kind {
	case protocol.KindOpen:
		var r protocol.OpenRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		f.opens.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		data, ok := f.files[r.Path]
		if !ok && r.Flags&syscall.O_CREAT != 0 {
			ok = true
			f.files[r.Path] = ""
		}
		if !ok {
			return nil, errno(protocol.CodeNotFound, syscall.ENOENT, r.Path+": no such file")
		}
		if r.Flags&syscall.O_TRUNC != 0 {
			data, f.files[r.Path] = "", ""
		}
		f.next++
		h := f.next
		f.handles[h] = r.Path
		return protocol.OpenResponse{Handle: h, Stat: protocol.FileStat{Mode: syscall.S_IFREG | 0o644, Size: int64(len(data))}}, nil
	case protocol.KindRead:
		var r protocol.ReadRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		f.mu.Lock()
		p, ok := f.handles[r.Handle]
		data := f.files[p]
		f.mu.Unlock()
		if !ok {
			return nil, errno(protocol.CodeInvalid, syscall.EBADF, "bad handle")
		}
		off := min(int(r.Offset), len(data))
		end := min(off+r.Size, len(data))
		return protocol.ReadResponse{Data: []byte(data[off:end]), EOF: end == len(data)}, nil
	case protocol.KindWrite:
		var r protocol.WriteRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		p, ok := f.handles[r.Handle]
		if !ok {
			return nil, errno(protocol.CodeInvalid, syscall.EBADF, "bad handle")
		}
		data := []byte(f.files[p])
		if end := int(r.Offset) + len(r.Data); end > len(data) {
			data = append(data, make([]byte, end-len(data))...)
		}
		copy(data[r.Offset:], r.Data)
		f.files[p] = string(data)
		return protocol.WriteResponse{N: len(r.Data)}, nil
	case protocol.KindClose:
		var r protocol.CloseRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		f.mu.Lock()
		delete(f.handles, r.Handle)
		f.mu.Unlock()
		return protocol.Empty{}, nil
	case protocol.KindStat:
		var r protocol.StatRequest
		if err := protocol.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		p := r.Path
		if p == "" {
			p = f.handles[r.Handle]
		}
		ino := uint64(len(p)) + 1000*uint64(strings.Count(p, "/"))
		for _, c := range p {
			ino = ino*31 + uint64(c)
		}
		if data, ok := f.files[p]; ok {
			return protocol.FileStat{Mode: syscall.S_IFREG | 0o644, Size: int64(len(data)), Nlink: 1, Blksize: 4096, Ino: ino}, nil
		}
		// The directories above the files exist too (the remote
		// file system looks each component up).
		for name := range f.files {
			if p == "/" || strings.HasPrefix(name, p+"/") {
				return protocol.FileStat{Mode: syscall.S_IFDIR | 0o755, Size: 4096, Nlink: 2, Blksize: 4096, Ino: ino}, nil
			}
		}
		return nil, errno(protocol.CodeNotFound, syscall.ENOENT, p+": no such file")
	}
	return nil, protocol.Errorf(protocol.CodeUnsupported, "fake agent does not serve %s", kind)
}

func (f *fakeAgent) Stream(ctx context.Context, h protocol.StreamHeader, s *protocol.ClientStream) {
	switch h.Kind {
	case protocol.StreamTCP:
		f.tcpDials.Add(1)
		to, ok := f.tcp[h.Addr]
		if !ok {
			s.Refuse(errno(protocol.CodeUnreachable, syscall.ECONNREFUSED, "connection refused: "+h.Addr))
			return
		}
		c, err := net.Dial("tcp", to)
		if err != nil {
			s.Refuse(err)
			return
		}
		_ = s.Accept(c.LocalAddr().String(), h.Addr)
		_ = protocol.Pipe(s.Conn, c)
	case protocol.StreamUnix:
		to, ok := f.unix[h.Addr]
		if !ok {
			s.Refuse(errno(protocol.CodeNotFound, syscall.ENOENT, "no unix socket "+h.Addr))
			return
		}
		c, err := net.Dial("unix", to)
		if err != nil {
			s.Refuse(err)
			return
		}
		_ = s.Accept(h.Addr, h.Addr)
		_ = protocol.Pipe(s.Conn, c)
	case protocol.StreamUDP:
		f.udpDials.Add(1)
		_ = s.Accept("10.0.0.1:40000", h.Addr)
		d := protocol.NewDatagramConn(s.Conn)
		defer d.Close()
		buf := make([]byte, 65536)
		for {
			n, err := d.Read(buf)
			if err != nil {
				return
			}
			reply := []byte(strings.ToUpper(string(buf[:n])))
			if strings.HasSuffix(h.Addr, ":53") {
				if reply = f.answerDNS(buf[:n]); reply == nil {
					continue
				}
			}
			if _, err := d.Write(reply); err != nil {
				return
			}
		}
	default:
		s.Refuse(protocol.Errorf(protocol.CodeUnsupported, "no %s", h.Kind))
	}
}

// answerDNS answers A queries from f.dns; AAAA gets an empty answer and
// unknown names NXDOMAIN, as a cluster DNS does.
func (f *fakeAgent) answerDNS(q []byte) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	question := qs[0]
	resp := dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RecursionDesired: hdr.RecursionDesired, RecursionAvailable: true}
	ip, known := f.dns[strings.ToLower(question.Name.String())]
	if !known {
		resp.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(question)
	_ = b.StartAnswers()
	if known && question.Type == dnsmessage.TypeA {
		a := net.ParseIP(ip).To4()
		_ = b.AResource(dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: [4]byte(a)})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

var _ io.Closer = (*protocol.Client)(nil)

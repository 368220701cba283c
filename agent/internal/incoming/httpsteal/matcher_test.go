package httpsteal

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

func TestMatcher(t *testing.T) {
	type req struct {
		method, target, host string
		headers              map[string]string
	}
	get := func(target string, headers map[string]string) req { return req{"GET", target, "", headers} }
	tests := []struct {
		name   string
		filter protocol.HTTPFilter
		req    req
		want   bool
	}{
		{"header exact", protocol.HTTPFilter{Header: "^x-user: alice$"}, get("/", map[string]string{"X-User": "alice"}), true},
		{"header name and value case-insensitive", protocol.HTTPFilter{Header: "^X-USER: ALICE$"}, get("/", map[string]string{"x-user": "alice"}), true},
		{"header unanchored", protocol.HTTPFilter{Header: "alic"}, get("/", map[string]string{"X-User": "alice"}), true},
		{"header other value", protocol.HTTPFilter{Header: "^x-user: alice$"}, get("/", map[string]string{"X-User": "bob"}), false},
		{"header absent", protocol.HTTPFilter{Header: "^x-user: alice$"}, get("/", nil), false},
		{"lookahead, probe excluded", protocol.HTTPFilter{Header: "^User-Agent: (?!kube-probe)"}, get("/", map[string]string{"User-Agent": "kube-probe/1.30"}), false},
		{"lookahead, other agent", protocol.HTTPFilter{Header: "^User-Agent: (?!kube-probe)"}, get("/", map[string]string{"User-Agent": "curl/8.5"}), true},
		{"host is a header", protocol.HTTPFilter{Header: `^host: api\.example\.com$`}, req{"GET", "/", "api.example.com", nil}, true},
		{"baggage convention", protocol.HTTPFilter{Header: "^baggage: .*mirrord-session=k3y.*$"}, get("/", map[string]string{"Baggage": "a=b,mirrord-session=k3y"}), true},
		{"path alone", protocol.HTTPFilter{Path: "^/api/v1/users$"}, get("/api/v1/users?id=1", nil), true},
		{"path unanchored", protocol.HTTPFilter{Path: "api/v1"}, get("/api/v1/x", nil), true},
		{"path case-insensitive", protocol.HTTPFilter{Path: "^/API/"}, get("/api/x", nil), true},
		{"path with query", protocol.HTTPFilter{Path: `^/x\?id=42$`}, get("/x?id=42", nil), true},
		{"path with other query", protocol.HTTPFilter{Path: `id=42`}, get("/x?id=1", nil), false},
		{"path no match", protocol.HTTPFilter{Path: "^/api"}, get("/health", nil), false},
		{"path stays escaped", protocol.HTTPFilter{Path: "^/a%20b$"}, get("/a%20b", nil), true},
		{"method", protocol.HTTPFilter{Method: "post"}, req{"POST", "/", "", nil}, true},
		{"method other", protocol.HTTPFilter{Method: "POST"}, get("/", nil), false},
		{"all_of all match", protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{{Header: "^x-user: alice$"}, {Method: "GET"}}},
			get("/", map[string]string{"X-User": "alice"}), true},
		{"all_of one fails", protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{{Header: "^x-user: alice$"}, {Method: "POST"}}},
			get("/", map[string]string{"X-User": "alice"}), false},
		{"any_of one matches", protocol.HTTPFilter{AnyOf: []protocol.HTTPFilter{{Path: "^/nope"}, {Method: "GET"}}}, get("/x", nil), true},
		{"any_of none", protocol.HTTPFilter{AnyOf: []protocol.HTTPFilter{{Path: "^/nope"}, {Method: "PUT"}}}, get("/x", nil), false},
		{"catastrophic regex times out as no match", protocol.HTTPFilter{Header: "^x-a: (a+)+$"},
			get("/", map[string]string{"X-A": strings.Repeat("a", 40) + "!"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compile(tt.filter)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			r := httptest.NewRequest(tt.req.method, tt.req.target, nil)
			if tt.req.host != "" {
				r.Host = tt.req.host
			}
			for k, v := range tt.req.headers {
				r.Header.Set(k, v)
			}
			start := time.Now()
			if got := m.Match(r); got != tt.want {
				t.Errorf("%s matches %s %s = %v, want %v", m, r.Method, tt.req.target, got, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("match took %v", d)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		filter  protocol.HTTPFilter
		wantErr string
	}{
		{"empty", protocol.HTTPFilter{}, "empty"},
		{"empty all_of", protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{}}, "empty"},
		{"two kinds", protocol.HTTPFilter{Header: "a", Path: "b"}, "header and path"},
		{"invalid header regex", protocol.HTTPFilter{Header: "(unclosed"}, `"(unclosed"`},
		{"invalid path regex", protocol.HTTPFilter{Path: "[z-a]"}, `"[z-a]"`},
		{"invalid inner regex", protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{{Method: "GET"}, {Header: "(x"}}}, `all_of[1]`},
		{"empty inner filter", protocol.HTTPFilter{AnyOf: []protocol.HTTPFilter{{}}}, "any_of[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.filter)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Compile(%+v) = %v, want an error containing %q", tt.filter, err, tt.wantErr)
			}
		})
	}
}

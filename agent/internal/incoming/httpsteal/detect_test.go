package httpsteal

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want proto
	}{
		{"", protoUnknown},
		{"G", protoUnknown},
		{"GET /", protoUnknown},
		{"GET /index.html HTTP/1.", protoUnknown},
		{"GET /index.html HTTP/1.1\r\n", protoHTTP1},
		{"POST http://example.com/x?y=1 HTTP/1.0\r\n", protoHTTP1},
		{"OPTIONS * HTTP/1.1", protoHTTP1},
		{"PRI * HTTP/2.0\r\n", protoUnknown},
		{h2Preface, protoH2},
		{h2Preface + "\x00\x00\x00\x04", protoH2},
		{"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", protoRaw},
		{"GET / HTTP/2.0\r\n", protoRaw},
		{"GET / SSH-2.0", protoRaw},
		{"GET  / HTTP/1.1", protoRaw},
		{" GET / HTTP/1.1", protoRaw},
		{"PING\r\n", protoRaw},
		{"SSH-2.0-OpenSSH_9.6\r\n", protoRaw},
		{"\x16\x03\x01\x02\x00\x01", protoRaw},
		{"*1\r\n$4\r\nPING\r\n", protoRaw},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", protoRaw},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

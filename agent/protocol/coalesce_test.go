package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"
)

type recordingConn struct {
	bytes.Buffer
	writes [][]byte
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return r.Buffer.Write(p)
}
func (r *recordingConn) Close() error { return nil }

func header(typ byte, length uint32) []byte {
	h := make([]byte, yamuxHeaderSize)
	h[1] = typ
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

func TestCoalesce(t *testing.T) {
	tests := []struct {
		name       string
		writes     [][]byte
		wantWrites int
	}{
		{"data header and body in one write", [][]byte{header(0, 5), []byte("hello")}, 1},
		{"window update alone", [][]byte{header(1, 4096)}, 1},
		{"empty data frame (FIN) alone", [][]byte{header(0, 0)}, 1},
		{"two frames", [][]byte{header(0, 2), []byte("hi"), header(2, 0), header(0, 1), []byte("x")}, 3},
		{"other sizes pass through", [][]byte{[]byte("hello, not a header")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordingConn{}
			c := coalesce(rc)
			var want []byte
			for _, w := range tt.writes {
				n, err := c.Write(w)
				if err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v; want %d", n, err, len(w))
				}
				want = append(want, w...)
			}
			if !bytes.Equal(rc.Bytes(), want) {
				t.Fatalf("bytes changed: %q, want %q", rc.Bytes(), want)
			}
			if len(rc.writes) != tt.wantWrites {
				t.Fatalf("%d writes, want %d: %q", len(rc.writes), tt.wantWrites, rc.writes)
			}
		})
	}
}

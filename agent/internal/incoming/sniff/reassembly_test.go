//go:build linux

package sniff

import (
	"bytes"
	"testing"
)

// op is one captured client packet, at an offset from the stream's start.
type op struct {
	off  int64 // relative to the first byte; may be negative (the SYN)
	data string
	fin  bool
	rst  bool
}

func TestReassembler(t *testing.T) {
	tests := []struct {
		name     string
		start    uint32 // sequence number of the first byte
		max      int
		refuseAt int // deliver refuses once this many bytes were delivered (0: never)
		ops      []op
		want     string
		res      result // after the last op
		dup      int
	}{
		{name: "in order", ops: []op{{0, "GET ", false, false}, {4, "/ HTTP/1.1\r\n", false, false}}, want: "GET / HTTP/1.1\r\n"},
		{name: "out of order", ops: []op{{3, "def", false, false}, {6, "ghi", false, false}, {0, "abc", false, false}}, want: "abcdefghi"},
		{name: "retransmission", ops: []op{{0, "abc", false, false}, {0, "abc", false, false}, {3, "def", false, false}}, want: "abcdef", dup: 3},
		{name: "overlap", ops: []op{{0, "abcd", false, false}, {2, "cdef", false, false}}, want: "abcdef", dup: 2},
		{name: "pending retransmission", ops: []op{{3, "def", false, false}, {3, "def", false, false}, {0, "abc", false, false}}, want: "abcdef", dup: 3},
		{name: "pending overlap", ops: []op{{4, "efgh", false, false}, {2, "cdef", false, false}, {0, "ab", false, false}}, want: "abcdefgh", dup: 2},
		{name: "pending longer replaces", ops: []op{{3, "d", false, false}, {3, "defg", false, false}, {0, "abc", false, false}}, want: "abcdefg"},
		{name: "fin", ops: []op{{0, "abc", false, false}, {3, "", true, false}}, want: "abc", res: done},
		{name: "fin with data", ops: []op{{0, "abc", true, false}}, want: "abc", res: done},
		{name: "fin before late data", ops: []op{{3, "def", true, false}, {0, "abc", false, false}}, want: "abcdef", res: done},
		{name: "fin waits for gap", ops: []op{{0, "abc", false, false}, {6, "ghi", true, false}}, want: "abc", res: open},
		{name: "rst at next", ops: []op{{0, "abc", false, false}, {3, "", false, true}}, want: "abc", res: done},
		{name: "rst before late data", ops: []op{{3, "", false, true}, {0, "abc", false, false}}, want: "abc", res: done},
		{name: "stale rst ignored", ops: []op{{0, "abc", false, false}, {1, "", false, true}, {3, "d", false, false}}, want: "abcd", res: open},
		{name: "syn and keepalive probe are old", ops: []op{{-1, "", false, false}, {0, "abc", false, false}, {2, "x", false, false}}, want: "abc", dup: 1},
		{name: "wraps at 2^32", start: 0xffff_fffe, ops: []op{{2, "cd", false, false}, {0, "ab", false, false}, {4, "ef", true, false}}, want: "abcdef", res: done},
		{name: "gap over max", max: 4, ops: []op{{0, "a", false, false}, {2, "cde", false, false}, {5, "fg", false, false}}, want: "a", res: overflow},
		{name: "refused", refuseAt: 3, ops: []op{{0, "abc", false, false}, {3, "def", false, false}}, want: "abc", res: refused},
		{name: "refused while draining", refuseAt: 3, ops: []op{{3, "def", false, false}, {0, "abc", false, false}}, want: "abc", res: refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.max == 0 {
				tt.max = 1 << 20
			}
			r := newReassembler(tt.start, tt.max)
			var got bytes.Buffer
			deliver := func(b []byte) bool {
				if tt.refuseAt > 0 && got.Len() >= tt.refuseAt {
					return false
				}
				got.Write(b)
				return true
			}
			var res result
			for _, o := range tt.ops {
				seq := tt.start + uint32(o.off)
				if o.rst {
					res = r.reset(seq)
				} else {
					res = r.add(seq, []byte(o.data), o.fin, deliver)
				}
			}
			if got.String() != tt.want {
				t.Errorf("stream %q, want %q", got.String(), tt.want)
			}
			if res != tt.res {
				t.Errorf("result %d, want %d", res, tt.res)
			}
			if r.dup != tt.dup {
				t.Errorf("dup %d, want %d", r.dup, tt.dup)
			}
		})
	}
}

func TestReassemblerLost(t *testing.T) {
	r := newReassembler(100, 1<<20)
	r.add(100, []byte("abc"), false, func([]byte) bool { return true })
	r.add(106, []byte("ghi"), false, func([]byte) bool { return true })
	tests := []struct {
		ack  uint32
		lost bool
	}{
		{100, false}, // old
		{103, false}, // everything delivered
		{104, true},  // the server has a byte the capture missed
		{109, true},
	}
	for _, tt := range tests {
		if got := r.lost(tt.ack); got != tt.lost {
			t.Errorf("lost(%d) = %v, want %v", tt.ack, got, tt.lost)
		}
	}
}

//go:build linux

package sniff

import "slices"

// reassembler turns the client's TCP segments, in the order the capture
// saw them, into the client's byte stream: in order, each byte once.
// Retransmitted and overlapping bytes are cut (the first copy seen wins),
// segments from ahead of the stream wait in pending until the gap fills.
//
// gopacket's reassembly package does the same, but it tracks both halves
// of every flow it is shown, forgets a connection only once both halves
// closed or on a time-based flush, and waits on a capture gap until that
// flush. Here only the client half matters, a finished copy must go at
// once, and a gap is known for lost the moment the server acknowledges
// bytes the capture never saw (see lost).
type reassembler struct {
	next    uint32    // sequence number of the next byte to deliver
	end     uint32    // sequence number where the stream ends (FIN or RST)
	ended   bool      // end is known
	pending []segment // out-of-order segments, sorted by seq
	// pendingBytes is the size of pending, capped at max: a gap that
	// stays open that long is a loss, not a reordering.
	pendingBytes, max int
	dup               int // bytes seen more than once, for the tests and logs
}

type segment struct {
	seq  uint32
	data []byte
}

// result is what a segment did to the stream.
type result int

const (
	open     result = iota
	done            // every byte up to FIN or RST was delivered
	overflow        // more than max bytes wait behind a gap
	refused         // deliver said no: the copy is full or broken
)

// seqDiff is a-b in sequence space (RFC 1982 serial arithmetic), so that
// comparisons survive the wrap at 2^32.
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// newReassembler starts a stream whose first byte is next (the client's
// ISN+1, which the server's SYN-ACK acknowledges).
func newReassembler(next uint32, max int) *reassembler {
	return &reassembler{next: next, max: max}
}

// add takes one client segment. deliver gets new in-order bytes; it must
// copy them, and it returns false to refuse them.
func (r *reassembler) add(seq uint32, data []byte, fin bool, deliver func([]byte) bool) result {
	if fin {
		r.setEnd(seq + uint32(len(data)))
	}
	if len(data) > 0 {
		if d := seqDiff(seq, r.next); d > 0 {
			if !r.store(seq, data) {
				return overflow
			}
		} else if !r.take(seq, data, deliver) || !r.drain(deliver) {
			return refused
		}
	}
	if r.ended && seqDiff(r.next, r.end) >= 0 {
		return done
	}
	return open
}

// reset takes a client RST. The server accepts one only at the exact next
// sequence number (RFC 5961), but the capture may have seen it before
// late data, so it ends the stream where it points rather than at once.
// A RST from behind the stream is stale and ignored.
func (r *reassembler) reset(seq uint32) result {
	if seqDiff(seq, r.next) < 0 {
		return open
	}
	r.setEnd(seq)
	if seqDiff(r.next, r.end) >= 0 {
		return done
	}
	return open
}

// lost reports whether the server acknowledged bytes this stream does not
// have. A packet reaches the tap before the server's TCP stack, and the
// ACK leaves after it, so the capture always sees data before its ACK:
// data acknowledged but not here was dropped for this socket (its queue
// was full, or the packet was cut or fragmented) and will never come.
func (r *reassembler) lost(ack uint32) bool { return seqDiff(ack, r.next) > 0 }

func (r *reassembler) setEnd(e uint32) {
	if !r.ended || seqDiff(e, r.end) < 0 {
		r.end, r.ended = e, true
	}
}

// take delivers the part of a segment that starts at or before next.
func (r *reassembler) take(seq uint32, data []byte, deliver func([]byte) bool) bool {
	skip := int(uint32(r.next - seq))
	if skip >= len(data) {
		r.dup += len(data)
		return true
	}
	r.dup += skip
	if !deliver(data[skip:]) {
		return false
	}
	r.next = seq + uint32(len(data))
	return true
}

// drain delivers the pending segments the stream has caught up with.
func (r *reassembler) drain(deliver func([]byte) bool) bool {
	n := 0
	ok := true
	for ; n < len(r.pending) && seqDiff(r.pending[n].seq, r.next) <= 0; n++ {
		p := r.pending[n]
		r.pendingBytes -= len(p.data)
		if !r.take(p.seq, p.data, deliver) {
			ok = false
			n++
			break
		}
	}
	r.pending = slices.Delete(r.pending, 0, n)
	if len(r.pending) == 0 {
		r.pending = nil // let a burst's backing array go
	}
	return ok
}

// store keeps a copy of a segment from ahead of the stream.
func (r *reassembler) store(seq uint32, data []byte) bool {
	i, found := slices.BinarySearchFunc(r.pending, seq, func(s segment, seq uint32) int {
		return int(seqDiff(s.seq, seq))
	})
	if found && len(r.pending[i].data) >= len(data) {
		r.dup += len(data) // a retransmission of a pending segment
		return true
	}
	if r.pendingBytes+len(data) > r.max {
		return false
	}
	s := segment{seq: seq, data: slices.Clone(data)}
	if found {
		r.pendingBytes -= len(r.pending[i].data)
		r.pending[i] = s
	} else {
		r.pending = slices.Insert(r.pending, i, s)
	}
	r.pendingBytes += len(data)
	return true
}

package httpsteal

import "strings"

// proto is what a connection speaks, as far as the steal cares.
type proto uint8

const (
	protoUnknown proto = iota // not decided: more bytes are needed
	protoRaw                  // anything else: spliced to the original app
	protoHTTP1                // an HTTP/1.x request line
	protoH2                   // the HTTP/2 prior-knowledge preface
)

func (p proto) String() string {
	switch p {
	case protoRaw:
		return "raw"
	case protoHTTP1:
		return "http/1"
	case protoH2:
		return "h2c"
	}
	return "unknown"
}

// h2Preface is the client connection preface of HTTP/2 (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// maxMethod bounds the method token. Real methods are short; a long run of
// token bytes is some other protocol, and deciding early keeps it from
// waiting out the detection timeout.
const maxMethod = 24

// classify looks at the first bytes of a connection. It returns
// protoUnknown while b is a proper prefix of something it would accept,
// so the caller reads more (or gives up on a timeout and treats it as raw).
//
// An HTTP/1.x request is recognised by its request line alone,
// METHOD SP request-target SP "HTTP/1." DIGIT, which is what every
// HTTP/1 client sends first; the rest is left to net/http. A request line
// longer than the caller's buffer stays unknown, and the caller then
// decides HTTP/1 (net/http answers 414 if it really is too long).
func classify(b []byte) proto {
	if len(b) == 0 {
		return protoUnknown
	}
	if n := min(len(b), len(h2Preface)); string(b[:n]) == h2Preface[:n] {
		if n == len(h2Preface) {
			return protoH2
		}
		return protoUnknown
	}

	// Method.
	i := 0
	for i < len(b) && isToken(b[i]) {
		i++
		if i > maxMethod {
			return protoRaw
		}
	}
	switch {
	case i == len(b):
		return protoUnknown
	case i == 0 || b[i] != ' ':
		return protoRaw
	}
	i++

	// Request target: visible ASCII (and obs-text), up to the next space.
	start := i
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	switch {
	case i == len(b):
		return protoUnknown
	case i == start || b[i] != ' ':
		return protoRaw
	}
	i++

	const version = "HTTP/1."
	rest := b[i:]
	if len(rest) <= len(version) {
		if string(rest) == version[:len(rest)] {
			return protoUnknown
		}
		return protoRaw
	}
	if string(rest[:len(version)]) == version && rest[len(version)] >= '0' && rest[len(version)] <= '9' {
		return protoHTTP1
	}
	return protoRaw
}

// isToken reports whether c may appear in an HTTP token (RFC 9110 §5.6.2).
func isToken(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c < 0x80 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

package httpsteal

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Conn is a frame-level HTTP/2 client. The tests need one because no Go
// client speaks the h2c upgrade, where stream 1 is the upgrading request.
type h2Conn struct {
	t      *testing.T
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
}

type h2Response struct {
	status  string
	headers map[string]string
	body    string
}

// newH2Conn sends the client preface and settings on w and reads from r.
func newH2Conn(t *testing.T, w io.Writer, r io.Reader) *h2Conn {
	t.Helper()
	if _, err := io.WriteString(w, h2Preface); err != nil {
		t.Fatal(err)
	}
	c := &h2Conn{t: t, fr: http2.NewFramer(w, r)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.encBuf)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// get sends a GET on stream id.
func (c *h2Conn) get(id uint32, path string, headers map[string]string) {
	c.t.Helper()
	c.encBuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "svc"}, {":path", path}} {
		c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for k, v := range headers {
		c.enc.WriteField(hpack.HeaderField{Name: k, Value: v})
	}
	err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: true, EndHeaders: true,
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// responses reads frames until n streams have ended.
func (c *h2Conn) responses(n int) map[uint32]*h2Response {
	c.t.Helper()
	out := map[uint32]*h2Response{}
	ended := 0
	resp := func(id uint32) *h2Response {
		if out[id] == nil {
			out[id] = &h2Response{headers: map[string]string{}}
		}
		return out[id]
	}
	var body = map[uint32]*bytes.Buffer{}
	for ended < n {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			r := resp(f.StreamID)
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					r.status = hf.Value
				} else {
					r.headers[hf.Name] = hf.Value
				}
			}
			if f.StreamEnded() {
				ended++
			}
		case *http2.DataFrame:
			r := resp(f.StreamID)
			if body[f.StreamID] == nil {
				body[f.StreamID] = &bytes.Buffer{}
			}
			body[f.StreamID].Write(f.Data())
			r.body = body[f.StreamID].String()
			if len(f.Data()) > 0 {
				c.fr.WriteWindowUpdate(0, uint32(len(f.Data())))
			}
			if f.StreamEnded() {
				ended++
			}
		case *http2.RSTStreamFrame:
			c.t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			c.t.Fatalf("goaway: %v %q", f.ErrCode, f.DebugData())
		}
	}
	return out
}

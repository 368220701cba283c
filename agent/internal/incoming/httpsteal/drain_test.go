package httpsteal

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestDrainFinishesTheRequestInFlight: closing Options.Drain while a
// request is being answered (its headers already sent) lets the answer
// finish, then closes the connection; nothing is cut after delivery.
func TestDrainFinishesTheRequestInFlight(t *testing.T) {
	original := newBackend(t, "original")
	drain := make(chan struct{})
	steal := newSteal(t, Options{Original: original.dest, Drain: drain})
	conn, err := net.Dial("tcp", steal.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	br := bufio.NewReader(conn)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))

	// A first request makes the connection a keep-alive one.
	if _, err := io.WriteString(conn, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// The second one is in flight (the backend holds /stream) when the
	// drain starts.
	if _, err := io.WriteString(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for original.requests() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(drain)
	time.Sleep(100 * time.Millisecond)
	original.finishStreams()
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight was cut by the drain: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %q %v", resp.StatusCode, body, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stayed open after the drain: %v", err)
	}
}

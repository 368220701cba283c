//go:build linux

package nsenter_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// serve answers every connection with reply and closes it.
func serve(t *testing.T, ln net.Listener, reply string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, reply)
			c.Close()
		}
	}()
}

func TestDialEntersTheNamespace(t *testing.T) {
	n := testns.New(t)
	ns := nsenter.FromPath(n.Path, nsenter.Net)

	// The same address on the host and in the namespace, each with its
	// own answer: what the dialer reaches proves where its socket lives.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, host, "host")
	addr := host.Addr().String()
	var inside net.Listener
	if err := ns.Do(func() error {
		var err error
		inside, err = net.Listen("tcp", addr) // free: the namespace is new
		return err
	}); err != nil {
		t.Fatal(err)
	}
	serve(t, inside, "inside")

	tests := []struct {
		name string
		ns   nsenter.Namespace
		want string
	}{
		{"target namespace", ns, "inside"},
		{"own namespace", nsenter.Of(0, nsenter.Net), "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := nsenter.Dialer{NS: tt.ns}.Dial(ctx, "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, _ := io.ReadAll(c)
			if string(got) != tt.want {
				t.Errorf("read %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDialRefusesHostNames(t *testing.T) {
	_, err := nsenter.Dialer{NS: nsenter.Of(0, nsenter.Net)}.Dial(context.Background(), "tcp", "localhost:80")
	if err == nil || !strings.Contains(err.Error(), "literal IP") {
		t.Fatalf("Dial(localhost:80) = %v; want a literal-IP error", err)
	}
}

func TestDialUDPAndInterfaces(t *testing.T) {
	n := testns.New(t, "10.123.45.6/32")
	ns := nsenter.FromPath(n.Path, nsenter.Net)
	addrs, err := nsenter.Interfaces(ns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.String())
	}
	if !slices.Contains(got, "10.123.45.6/32") {
		t.Errorf("interfaces of %s = %v; want 10.123.45.6/32", n.Name, got)
	}
	// A UDP socket bound in the namespace to an address only it has.
	var pc net.PacketConn
	if err := ns.Do(func() error {
		pc, err = net.ListenPacket("udp", "10.123.45.6:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	c, err := nsenter.Dialer{NS: ns}.Dial(context.Background(), "udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	k, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "ping" {
		t.Fatalf("ReadFrom = %q, %v", buf[:k], err)
	}
	if from.String() != c.LocalAddr().String() {
		t.Errorf("datagram from %s; want %s", from, c.LocalAddr())
	}
}

func TestHostnameOfAnotherUTSNamespace(t *testing.T) {
	n := testns.New(t)
	p := n.Start(t, "target-host-1", []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"})
	got, err := nsenter.Hostname(nsenter.Of(p.PID, nsenter.UTS))
	if err != nil || got != "target-host-1" {
		t.Fatalf("Hostname = %q, %v; want target-host-1", got, err)
	}
}

func TestEnterErrors(t *testing.T) {
	tests := []struct {
		ns   nsenter.Namespace
		want string
	}{
		{nsenter.FromPath("/nonexistent/ns", nsenter.Net), "opening net namespace /nonexistent/ns"},
		{nsenter.FromPath("/proc/self/ns/net", "mnt"), `unknown namespace kind "mnt"`},
		{nsenter.FromPath("/proc/self/ns/uts", nsenter.Net), "setns"}, // a UTS namespace given as net
	}
	for _, tt := range tests {
		err := tt.ns.Do(func() error { return fmt.Errorf("must not run") })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Do in %+v = %v; want an error containing %q", tt.ns, err, tt.want)
		}
	}
}

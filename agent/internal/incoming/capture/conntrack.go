//go:build linux

package capture

import (
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
)

// tcpConntrackEstablished is TCP_CONNTRACK_ESTABLISHED
// (linux/netfilter/nf_conntrack_tcp.h).
const tcpConntrackEstablished = 3

// flushEstablished deletes the ESTABLISHED TCP conntrack entries to port in
// ns, like upstream's `conntrack -D -p tcp --dport <port> --state
// ESTABLISHED`, and returns how many it deleted. NAT only binds new
// connections: without its entry the next packet of a long-lived
// connection is tracked anew, redirected to the listener, which knows no
// such connection and answers RST, so the client reconnects and gets
// captured. Entries already redirected to listen (a port redirected
// again) are kept: they are connections the agent holds.
func flushEstablished(ns nsenter.Namespace, port, listen uint16) (int, error) {
	var ct *conntrack.Conn
	if err := ns.Do(func() error {
		var err error
		ct, err = conntrack.Dial(&netlink.Config{})
		return err
	}); err != nil {
		return 0, fmt.Errorf("opening a conntrack netlink socket in the target's network namespace: %w", err)
	}
	defer ct.Close()
	flows, err := ct.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("listing conntrack entries: %w", err)
	}
	n := 0
	for _, f := range flows {
		if f.TupleOrig.Proto.Protocol != unix.IPPROTO_TCP || f.TupleOrig.Proto.DestinationPort != port ||
			f.ProtoInfo.TCP == nil || f.ProtoInfo.TCP.State != tcpConntrackEstablished ||
			f.TupleReply.Proto.SourcePort == listen {
			continue
		}
		// Both tuples: the library picks the family from them.
		err := ct.Delete(conntrack.Flow{Zone: f.Zone, TupleOrig: f.TupleOrig, TupleReply: f.TupleReply})
		if errors.Is(err, unix.ENOENT) {
			continue // closed meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("deleting the conntrack entry %s:%d -> %s:%d: %w",
				f.TupleOrig.IP.SourceAddress, f.TupleOrig.Proto.SourcePort, f.TupleOrig.IP.DestinationAddress, port, err)
		}
		n++
	}
	return n, nil
}

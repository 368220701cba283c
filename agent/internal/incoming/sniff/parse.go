//go:build linux

package sniff

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// tcpSegment is what the capture loop needs of one packet.
type tcpSegment struct {
	src, dst              netip.AddrPort
	seq, ack              uint32
	syn, hasAck, fin, rst bool
	payload               []byte // aliases the read buffer
}

// parser decodes IP and TCP headers without allocating, reusing its
// layers for every packet. It belongs to the capture goroutine.
type parser struct {
	v4, v6  *gopacket.DecodingLayerParser
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	decoded []gopacket.LayerType
}

func newParser() *parser {
	p := &parser{}
	p.v4 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &p.ip4, &p.tcp)
	p.v6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &p.ip6, &p.tcp)
	// The TCP payload is the last thing wanted: stop there quietly.
	p.v4.IgnoreUnsupported = true
	p.v6.IgnoreUnsupported = true
	return p
}

// parse decodes a packet from its network header on. It fails for
// anything but an unfragmented TCP segment.
func (p *parser) parse(data []byte) (tcpSegment, bool) {
	if len(data) == 0 {
		return tcpSegment{}, false
	}
	var src, dst netip.Addr
	switch data[0] >> 4 {
	case 4:
		if big, ok := p.bigIPv4(data); big {
			if !ok {
				return tcpSegment{}, false
			}
		} else if p.v4.DecodeLayers(data, &p.decoded) != nil || !p.decodedTCP() {
			// A fragment decodes as IPv4 then Fragment: no TCP here.
			return tcpSegment{}, false
		}
		src, _ = netip.AddrFromSlice(p.ip4.SrcIP)
		dst, _ = netip.AddrFromSlice(p.ip4.DstIP)
	case 6:
		if big, ok := p.bigIPv6(data); big {
			if !ok {
				return tcpSegment{}, false
			}
		} else if p.v6.DecodeLayers(data, &p.decoded) != nil || !p.decodedTCP() {
			return tcpSegment{}, false
		}
		src, _ = netip.AddrFromSlice(p.ip6.SrcIP)
		dst, _ = netip.AddrFromSlice(p.ip6.DstIP)
	default:
		return tcpSegment{}, false
	}
	t := &p.tcp
	return tcpSegment{
		src:     netip.AddrPortFrom(src, uint16(t.SrcPort)),
		dst:     netip.AddrPortFrom(dst, uint16(t.DstPort)),
		seq:     t.Seq,
		ack:     t.Ack,
		syn:     t.SYN,
		hasAck:  t.ACK,
		fin:     t.FIN,
		rst:     t.RST,
		payload: t.Payload,
	}, true
}

func (p *parser) decodedTCP() bool {
	for _, l := range p.decoded {
		if l == layers.LayerTypeTCP {
			return true
		}
	}
	return false
}

// bigIPv4 decodes a BIG TCP packet (a GSO packet over 64 KiB, whose total
// length field is 0), which gopacket would cut to a 16-bit length.
func (p *parser) bigIPv4(data []byte) (big, ok bool) {
	if len(data) <= 0xffff || len(data) < 20 || binary.BigEndian.Uint16(data[2:4]) != 0 {
		return false, false
	}
	ihl := int(data[0]&0x0f) * 4
	if ihl < 20 || data[9] != byte(layers.IPProtocolTCP) || binary.BigEndian.Uint16(data[6:8])&0x3fff != 0 {
		return true, false
	}
	p.ip4.SrcIP, p.ip4.DstIP = data[12:16], data[16:20]
	return true, p.tcp.DecodeFromBytes(data[ihl:], gopacket.NilDecodeFeedback) == nil
}

// bigIPv6 decodes a BIG TCP packet sent without the hop-by-hop jumbo
// option (newer kernels): payload length 0 and TCP right after the header.
// With the option gopacket handles the jumbogram itself.
func (p *parser) bigIPv6(data []byte) (big, ok bool) {
	if len(data) <= 0xffff+40 || binary.BigEndian.Uint16(data[4:6]) != 0 || data[6] == byte(layers.IPProtocolIPv6HopByHop) {
		return false, false
	}
	if data[6] != byte(layers.IPProtocolTCP) {
		return true, false
	}
	p.ip6.SrcIP, p.ip6.DstIP = data[8:24], data[24:40]
	return true, p.tcp.DecodeFromBytes(data[40:], gopacket.NilDecodeFeedback) == nil
}

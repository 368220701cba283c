//go:build linux

package capture

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Table attributes and flags that google/nftables v0.3.0 does not expose
// (its AddTable always sends flags 0) and x/sys/unix does not define; from
// include/uapi/linux/netfilter/nf_tables.h.
const (
	tableFlagOwner    = 0x2 // NFT_TABLE_F_OWNER, Linux 5.12
	nftaTableUserdata = 0x6 // NFTA_TABLE_USERDATA
	nftaTableOwner    = 0x7 // NFTA_TABLE_OWNER: the owner's netlink port id

	// udataTableComment is NFTNL_UDATA_TABLE_COMMENT: the userdata TLV
	// that `nft list` prints as the table's comment.
	udataTableComment = 0
	// commentMax is NFTNL_UDATA_COMMENT_MAXLEN, NUL included.
	commentMax = 128
)

// tableInfo is a table as the kernel lists it.
type tableInfo struct {
	family    nftables.TableFamily
	name      string
	flags     uint32
	ownerPort uint32
	comment   string
}

// live reports whether a socket owns the table. The kernel clears the flag
// of a persistent table whose owner went away, so this is exactly "some
// live process will remove it".
func (t tableInfo) live() bool { return t.flags&tableFlagOwner != 0 }

// owner is the agent identity stored in the comment, or the name without
// the prefix for tables that have none.
func (t tableInfo) owner() string {
	if t.comment != "" {
		return t.comment
	}
	return t.name[len(TablePrefix):]
}

func (t tableInfo) String() string { return familyName(t.family) + " " + t.name }

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family%d", f)
}

// nfgenmsg is the header every nftables message starts with.
func nfgenmsg(family uint8, resID uint16) []byte {
	return append([]byte{family, unix.NFNETLINK_V0}, binaryutil.BigEndian.PutUint16(resID)...)
}

const nftMsgType = unix.NFNL_SUBSYS_NFTABLES << 8

// createOwnedTable creates an inet table owned by nl's socket, with owner
// as its comment. It is its own transaction, sent on the lasting socket
// the library then uses for everything else in the table (only the owner
// socket may touch it). NLM_F_EXCL: a leftover of the same name must have
// been reported or deleted before.
func createOwnedTable(nl *netlink.Conn, name, owner string) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.String(unix.NFTA_TABLE_NAME, name)
	ae.Uint32(unix.NFTA_TABLE_FLAGS, tableFlagOwner)
	ae.Bytes(nftaTableUserdata, commentTLV(owner))
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("encoding the table: %w", err)
	}
	batch := []netlink.Message{
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
			Data: nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
		{Header: netlink.Header{Type: netlink.HeaderType(nftMsgType | unix.NFT_MSG_NEWTABLE),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
			Data: append(nfgenmsg(unix.NFPROTO_INET, 0), attrs...)},
		{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
			Data: nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES)},
	}
	if _, err := nl.SendMessages(batch); err != nil {
		return err
	}
	// One answer: the ack of NEWTABLE, or the error of whichever message
	// failed (the kernel stops at the first). Receive turns a non-zero
	// errno into an error.
	_, err = nl.Receive()
	return err
}

// commentTLV encodes s the way nft stores a table comment.
func commentTLV(s string) []byte {
	if len(s) > commentMax-1 {
		s = s[:commentMax-1]
	}
	return append([]byte{udataTableComment, byte(len(s) + 1)}, append([]byte(s), 0)...)
}

// parseComment returns the comment of table userdata, or "".
func parseComment(b []byte) string {
	for len(b) >= 2 {
		typ, n := b[0], int(b[1])
		if len(b) < 2+n {
			return ""
		}
		if typ == udataTableComment {
			v := b[2 : 2+n]
			if len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
			return string(v)
		}
		b = b[2+n:]
	}
	return ""
}

// listTables lists the tables of every family. The library's listing
// drops the owner port and the userdata, which name the other agent.
func listTables(nl *netlink.Conn) ([]tableInfo, error) {
	msgs, err := nl.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nftMsgType | unix.NFT_MSG_GETTABLE), Flags: netlink.Request | netlink.Dump},
		Data:   nfgenmsg(unix.NFPROTO_UNSPEC, 0),
	})
	if err != nil {
		return nil, err
	}
	var tables []tableInfo
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(nftMsgType|unix.NFT_MSG_NEWTABLE) || len(m.Data) < 4 {
			continue
		}
		t := tableInfo{family: nftables.TableFamily(m.Data[0])}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("decoding a table: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_TABLE_NAME:
				t.name = ad.String()
			case unix.NFTA_TABLE_FLAGS:
				t.flags = ad.Uint32()
			case nftaTableOwner:
				t.ownerPort = ad.Uint32()
			case nftaTableUserdata:
				t.comment = parseComment(ad.Bytes())
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("decoding table %s: %w", t.name, err)
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// redirectExprs is `meta l4proto tcp tcp dport @ports redirect to :listen`.
func redirectExprs(set *nftables.Set, listen uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(listen)},
		&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED},
	}
}

// loopbackUnmarked is `oifname "lo" meta mark & mark != mark`: the pod's
// own loopback traffic, except the agent's marked passthrough dials. Like
// upstream's `-m mark --mark M/M`, other bits set by a mesh do not matter.
func loopbackUnmarked(mark uint32) []expr.Any {
	lo := make([]byte, unix.IFNAMSIZ)
	copy(lo, "lo")
	m := binaryutil.NativeEndian.PutUint32(mark) // meta mark is host order
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: m},
	}
}

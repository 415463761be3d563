package nftables

import (
	"encoding/binary"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Map and set elements are what a sync sends most of (a full sync of
// 10,000 services sends about 200,000), so they are encoded here, straight
// into netlink messages, rather than through the library's per-element
// structures; batchConn sends them with the library's messages.

// maxElementsAttr bounds the encoded elements of one message: the list is
// one netlink attribute, whose length is 16 bits.
const maxElementsAttr = 60000

// elementMessages encodes els (all of one set) as NEWSETELEM messages, or
// DELSETELEM ones (keys only) when del is set.
func elementMessages(table, set string, els []element, del bool) []netlink.Message {
	typ := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)
	flags := netlink.Request | netlink.Create
	if del {
		typ = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELSETELEM)
		flags = netlink.Request
	}
	var msgs []netlink.Message
	var list []byte // encoded elements of the message being built
	emit := func() {
		if len(list) == 0 {
			return
		}
		var b []byte
		b = append(b, unix.NFPROTO_IPV4, unix.NFNETLINK_V0, 0, 0) // nfgenmsg
		b = attrString(b, unix.NFTA_SET_ELEM_LIST_TABLE, table)
		b = attrString(b, unix.NFTA_SET_ELEM_LIST_SET, set)
		b = attr(b, unix.NFTA_SET_ELEM_LIST_ELEMENTS|unix.NLA_F_NESTED, list)
		msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: typ, Flags: flags}, Data: b})
		list = nil
	}
	var e []byte
	for _, el := range els {
		e = e[:0]
		e = nested(e, unix.NFTA_SET_ELEM_KEY, func(b []byte) []byte { return attr(b, unix.NFTA_DATA_VALUE, el.key.bytes()) })
		if !del {
			switch {
			case el.chain != "":
				e = nested(e, unix.NFTA_SET_ELEM_DATA, func(b []byte) []byte {
					return nested(b, unix.NFTA_DATA_VERDICT, func(b []byte) []byte {
						b = attr(b, unix.NFTA_VERDICT_CODE, binary.BigEndian.AppendUint32(nil, verdictGoto))
						return attrString(b, unix.NFTA_VERDICT_CHAIN, el.chain)
					})
				})
			case el.val.n > 0:
				e = nested(e, unix.NFTA_SET_ELEM_DATA, func(b []byte) []byte { return attr(b, unix.NFTA_DATA_VALUE, el.val.bytes()) })
			}
			if el.comment != "" {
				// userdata: NFTNL_UDATA_SET_ELEM_COMMENT, length, text, NUL
				c := shortComment(el.comment)
				ud := append([]byte{0, byte(len(c) + 1)}, c...)
				e = attr(e, unix.NFTA_SET_ELEM_USERDATA, append(ud, 0))
			}
		}
		if len(list)+len(e)+4 > maxElementsAttr {
			emit()
		}
		list = attr(list, unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, e)
	}
	emit()
	return msgs
}

// attr appends a netlink attribute (native-endian header, padded to 4
// bytes).
func attr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	return pad(b, len(data))
}

// attrString appends a NUL-terminated string attribute.
func attrString(b []byte, typ uint16, s string) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(s)+1))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, s...)
	b = append(b, 0)
	return pad(b, len(s)+1)
}

// nested appends a nested attribute whose content fill appends.
func nested(b []byte, typ uint16, fill func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = fill(b)
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	binary.NativeEndian.PutUint16(b[start+2:], typ|unix.NLA_F_NESTED)
	return b
}

func pad(b []byte, n int) []byte {
	for ; n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// verdictGoto is NFT_GOTO (-4) as the kernel reads it.
var verdictGoto = func() uint32 { v := int32(unix.NFT_GOTO); return uint32(v) }()

// shortComment cuts a comment to what the kernel keeps (userdata records
// have a one-byte length; comments are at most 128 bytes in nft).
func shortComment(s string) string {
	if len(s) > maxComment {
		return s[:maxComment]
	}
	return s
}

const maxComment = 128

package nftables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batchConn is an nftables.Conn used only to build a batch: its Flush hands
// the batch to send instead of to the library's socket.
//
// The library asks the kernel to acknowledge every message of a batch and
// then reads the acknowledgements one system call (and, on
// github.com/mdlayher/socket, one goroutine) at a time: for a full sync of
// thousands of services that costs far more than the kernel's work. send
// writes the batch with one sendmsg without acknowledgement requests: the
// kernel processes a batch synchronously inside sendmsg and answers only
// the messages that failed, so when sendmsg returns every answer is
// already queued and a non-blocking read drains them. The library also
// asks for every rule to be echoed back; send does not.
type batchConn struct {
	*nftables.Conn
	// pre and post are messages encoded outside the library (see
	// elements.go), sent before and after the library's.
	pre, post []netlink.Message
	// err is the outcome of the last batch sent.
	err error
}

func newBatchConn() (*batchConn, error) {
	bc := &batchConn{}
	c, err := nftables.New(nftables.WithTestDial(bc.exchange))
	if err != nil {
		return nil, err
	}
	bc.Conn = c
	return bc, nil
}

// Flush sends the queued messages as one transaction. The library sends
// nothing when it has no messages queued, so pre and post need at least
// one message of the library's (an AddTable does no harm).
func (bc *batchConn) Flush() error {
	bc.err = nil
	defer func() { bc.pre, bc.post = nil, nil }()
	if err := bc.Conn.Flush(); err != nil {
		return err
	}
	return bc.err
}

// ack is what the library's Flush reads for each message it sent.
var ack = netlink.Message{Header: netlink.Header{Type: netlink.Error, Length: 36}, Data: make([]byte, 20)}

// exchange stands in for the kernel on the library's side: a batch is sent
// for real, and every read is answered with an acknowledgement (the real
// outcome is in bc.err).
func (bc *batchConn) exchange(req []netlink.Message) ([]netlink.Message, error) {
	if len(req) > 0 {
		// req is begin, the library's messages, end.
		all := make([]netlink.Message, 0, len(req)+len(bc.pre)+len(bc.post))
		all = append(all, req[0])
		all = append(all, bc.pre...)
		all = append(all, req[1:len(req)-1]...)
		all = append(all, bc.post...)
		all = append(all, req[len(req)-1])
		bc.err = send(all)
	}
	return []netlink.Message{ack}, nil
}

// send writes msgs (a batch, with its begin and end messages) to a new
// netlink socket in the calling thread's network namespace and returns the
// errors the kernel reports.
func send(msgs []netlink.Message) error {
	size := 0
	for _, m := range msgs {
		size += nlmsgAlign(16 + len(m.Data))
	}
	buf := make([]byte, size)
	off := 0
	for i, m := range msgs {
		// No acknowledgements, and no echo (the library asks for one
		// with every rule, which costs the kernel a notification per
		// rule).
		flags := m.Header.Flags &^ (netlink.Acknowledge | netlink.Echo)
		n := 16 + len(m.Data)
		h := buf[off:]
		binary.NativeEndian.PutUint32(h[0:], uint32(n))
		binary.NativeEndian.PutUint16(h[4:], uint16(m.Header.Type))
		binary.NativeEndian.PutUint16(h[6:], uint16(flags))
		binary.NativeEndian.PutUint32(h[8:], uint32(i+1)) // sequence: index + 1
		binary.NativeEndian.PutUint32(h[12:], 0)          // port ID: the kernel's
		copy(h[16:], m.Data)
		off += nlmsgAlign(n)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// The batch is one datagram: the send buffer must hold it. The
	// receive buffer holds the error answers, which quote their
	// requests.
	size = max(len(buf)+4096, 1<<20)
	if err := errors.Join(
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size),
	); err != nil {
		return fmt.Errorf("netlink socket buffers: %w", err)
	}
	// Extended acknowledgements carry the kernel's explanation; it is
	// fine for an old kernel not to have them.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink bind: %w", err)
	}
	if err := unix.Sendto(fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send of %d messages (%d bytes): %w", len(msgs), len(buf), err)
	}
	var errs []error
	rbuf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, rbuf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("netlink receive: %w", err))...)
		}
		answers, err := syscall.ParseNetlinkMessage(rbuf[:n])
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("netlink receive: %w", err))...)
		}
		for _, a := range answers {
			if a.Header.Type != unix.NLMSG_ERROR || len(a.Data) < 4 {
				continue
			}
			errno := -int32(binary.NativeEndian.Uint32(a.Data[:4]))
			if errno == 0 {
				continue
			}
			e := error(syscall.Errno(errno))
			if msg := extAckMessage(a); msg != "" {
				e = fmt.Errorf("%w (%s)", e, msg)
			}
			if seq := int(a.Header.Seq); seq >= 1 && seq <= len(msgs) {
				e = fmt.Errorf("%s: %w", describe(msgs[seq-1]), e)
			}
			errs = append(errs, e)
		}
	}
	if len(errs) > maxErrors {
		errs = append(errs[:maxErrors], fmt.Errorf("and %d more errors", len(errs)-maxErrors))
	}
	return errors.Join(errs...)
}

// maxErrors is how many of a failed batch's errors send reports: the first
// is the cause, the ones after it are often its consequences.
const maxErrors = 5

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

// extAckMessage is the NLMSGERR_ATTR_MSG text of an error answer, if any.
func extAckMessage(a syscall.NetlinkMessage) string {
	if a.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(a.Data) < 20 {
		return ""
	}
	// struct nlmsgerr: error, then the request's header and, unless
	// capped, its payload.
	off := 4 + 16
	if a.Header.Flags&unix.NLM_F_CAPPED == 0 {
		reqLen := int(binary.NativeEndian.Uint32(a.Data[4:8]))
		off = 4 + (reqLen+3)&^3
	}
	if off > len(a.Data) {
		return ""
	}
	attrs, err := netlink.UnmarshalAttributes(a.Data[off:])
	if err != nil {
		return ""
	}
	for _, at := range attrs {
		if at.Type == unix.NLMSGERR_ATTR_MSG {
			return string(trimNul(at.Data))
		}
	}
	return ""
}

func trimNul(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// describe names a batch message for an error: its kind and the name of
// the chain or set it is about.
func describe(m netlink.Message) string {
	kinds := map[int]struct {
		what    string
		nameAtt uint16
	}{
		unix.NFT_MSG_NEWTABLE:   {"add table", unix.NFTA_TABLE_NAME},
		unix.NFT_MSG_DELTABLE:   {"delete table", unix.NFTA_TABLE_NAME},
		unix.NFT_MSG_NEWCHAIN:   {"add chain", unix.NFTA_CHAIN_NAME},
		unix.NFT_MSG_DELCHAIN:   {"delete chain", unix.NFTA_CHAIN_NAME},
		unix.NFT_MSG_NEWRULE:    {"add rule to chain", unix.NFTA_RULE_CHAIN},
		unix.NFT_MSG_DELRULE:    {"delete rules of chain", unix.NFTA_RULE_CHAIN},
		unix.NFT_MSG_NEWSET:     {"add set", unix.NFTA_SET_NAME},
		unix.NFT_MSG_DELSET:     {"delete set", unix.NFTA_SET_NAME},
		unix.NFT_MSG_NEWSETELEM: {"add elements to", unix.NFTA_SET_ELEM_LIST_SET},
		unix.NFT_MSG_DELSETELEM: {"delete elements from", unix.NFTA_SET_ELEM_LIST_SET},
	}
	k, ok := kinds[int(m.Header.Type)&0xff]
	if !ok || len(m.Data) < 4 {
		return fmt.Sprintf("netlink message type %#x", m.Header.Type)
	}
	attrs, err := netlink.UnmarshalAttributes(m.Data[4:])
	if err != nil {
		return k.what
	}
	for _, a := range attrs {
		if a.Type == k.nameAtt {
			return k.what + " " + string(trimNul(a.Data))
		}
	}
	return k.what
}

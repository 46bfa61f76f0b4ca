package log

import (
	"encoding/binary"
	"strings"
)

// Operation headers (xlog_op_header) precede each region of a record's
// data: a transaction writes a start op, then one op per region of each
// item, then a commit op. A region too large for what is left of an
// iclog is split: its first piece has CONTINUE, the rest WAS_CONT, the
// last END.
const (
	OpHeaderSize = 12

	// Operation header flags (oh_flags).
	OpStart    = 0x01 // XLOG_START_TRANS
	OpCommit   = 0x02 // XLOG_COMMIT_TRANS
	OpContinue = 0x04 // XLOG_CONTINUE_TRANS: the region continues in the next op
	OpWasCont  = 0x08 // XLOG_WAS_CONT_TRANS: this op continues the last region
	OpEnd      = 0x10 // XLOG_END_TRANS: the last piece of a continued region
	OpUnmount  = 0x20 // XLOG_UNMOUNT_TRANS

	// Log clients (oh_clientid).
	ClientTransaction = 0x69 // XFS_TRANSACTION
	ClientLog         = 0xaa // XFS_LOG

	// UnmountType is the magic of the unmount record's one region
	// (XLOG_UNMOUNT_TYPE, "Un"), in the writer's byte order.
	UnmountType = 0x556e
)

// OpHeader is xlog_op_header.
type OpHeader struct {
	TID      uint32
	Len      uint32
	ClientID uint8
	Flags    uint8
	Res2     uint16
}

// DecodeOpHeader decodes an operation header.
func DecodeOpHeader(buf []byte) (OpHeader, error) {
	if len(buf) < OpHeaderSize {
		return OpHeader{}, errShort("log op", OpHeaderSize, len(buf))
	}
	be := binary.BigEndian
	return OpHeader{TID: be.Uint32(buf), Len: be.Uint32(buf[4:]), ClientID: buf[8], Flags: buf[9], Res2: be.Uint16(buf[10:])}, nil
}

// opFlagNames are the flags in xfs_logprint's order.
var opFlagNames = []bitName[uint8]{{OpStart, "START"}, {OpCommit, "COMMIT"}, {OpWasCont, "WAS_CONT"}, {OpUnmount, "UNMOUNT"}, {OpContinue, "CONTINUE"}, {OpEnd, "END"}}

// FlagNames names an op's flags as xfs_logprint does ("START COMMIT",
// "none"), unknown bits in hex.
func FlagNames(f uint8) string {
	if f == 0 {
		return "none"
	}
	return strings.Join(bitNames(f, opFlagNames), " ")
}

// ClientName names a log client as xfs_logprint does.
func ClientName(c uint8) string {
	switch c {
	case ClientTransaction:
		return "TRANS"
	case ClientLog:
		return "LOG"
	}
	return "ERROR"
}

// UnmountMagic is the magic of an unmount record's op (xfs_unmount_log_format:
// a 16-bit magic, XLOG_UNMOUNT_TYPE, in the writer's order, then
// padding), and whether the op is one: client LOG, flagged UNMOUNT.
func UnmountMagic(oh OpHeader, data []byte, bo binary.ByteOrder) (uint16, bool) {
	if oh.ClientID != ClientLog || oh.Flags&OpUnmount == 0 || len(data) < 2 {
		return 0, false
	}
	return bo.Uint16(data), true
}

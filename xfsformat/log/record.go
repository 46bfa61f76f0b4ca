package log

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// The physical log. It is a circular array of 512-byte basic blocks
// (BBs). A log record is one header block (xlog_rec_header), on v2 logs
// with iclogs larger than 32 KiB followed by extended header blocks
// (xlog_rec_ext_header), then h_len bytes of data rounded up to whole
// BBs. The first word of every BB of the record is overwritten with the
// record's cycle number (a header block starts with the magic, its cycle
// follows), so that the head of the log can be found by where the cycle
// drops; the overwritten words are kept in the headers' cycle_data
// arrays, one word per data BB.
const (
	BBSize = 512

	HeaderMagic     = 0xFEEDBABE // XLOG_HEADER_MAGIC_NUM
	Version1        = 1
	Version2        = 2
	HeaderCycleSize = 32 * 1024                       // XLOG_HEADER_CYCLE_SIZE: data BBs one header describes
	CycleDataSize   = HeaderCycleSize / BBSize        // words of cycle_data per header block
	MaxRecordSize   = 256 * 1024                      // XLOG_MAX_RECORD_BSIZE
	MaxHeaderBlocks = MaxRecordSize / HeaderCycleSize // header blocks of the largest record
	MaxRecordBlocks = MaxHeaderBlocks + MaxRecordSize/BBSize
	MaxIclogs       = 8 // XLOG_MAX_ICLOGS: records that may be in flight at once

	// h_fmt: the byte order of the CPU that wrote the log items.
	FmtUnknown = 0
	FmtLinuxLE = 1
	FmtLinuxBE = 2
	FmtIrixBE  = 3
)

// RecHeader is xlog_rec_header, field for field.
type RecHeader struct {
	Magic     uint32
	Cycle     uint32
	Version   uint32
	Len       uint32 // bytes of data after the header blocks
	LSN       uint64 // cycle << 32 | block of this record
	TailLSN   uint64 // oldest record whose changes may not be on disk yet
	CRC       uint32 // little-endian on disk
	PrevBlock uint32
	NumLogOps uint32
	CycleData [CycleDataSize]uint32
	Fmt       uint32
	FSUUID    xfsformat.UUID
	Size      uint32 // iclog buffer size (v2)
}

// LSNCycle is the cycle of a log sequence number.
func LSNCycle(lsn uint64) uint32 { return uint32(lsn >> 32) }

// LSNBlock is the log-relative basic block of an LSN.
func LSNBlock(lsn uint64) uint32 { return uint32(lsn) }

// MakeLSN is the LSN of a cycle and block (xlog_assign_lsn).
func MakeLSN(cycle, block uint32) uint64 { return uint64(cycle)<<32 | uint64(block) }

// LSNText prints an LSN as xfs_logprint does: "cycle,block".
func LSNText(lsn uint64) string { return fmt.Sprintf("%d,%d", LSNCycle(lsn), LSNBlock(lsn)) }

// BlockCycle is the cycle number a log BB is stamped with
// (xlog_get_cycle): its first word, or the second when it is a record
// header. A zero cycle means the block was never written.
func BlockCycle(bb []byte) uint32 {
	if len(bb) < 8 {
		return 0
	}
	if w := binary.BigEndian.Uint32(bb); w != HeaderMagic {
		return w
	}
	return binary.BigEndian.Uint32(bb[4:])
}

// IsRecHeader reports whether a BB starts with the record magic. Data
// blocks never do: their first word is the cycle.
func IsRecHeader(bb []byte) bool {
	return len(bb) >= 4 && binary.BigEndian.Uint32(bb) == HeaderMagic
}

// DecodeRecHeader decodes a record header block. It fails only when buf
// is short or lacks the magic; use Verify for the rest.
func DecodeRecHeader(buf []byte) (*RecHeader, error) {
	if len(buf) < BBSize {
		return nil, errShort("log record", BBSize, len(buf))
	}
	be := binary.BigEndian
	h := &RecHeader{
		Magic: be.Uint32(buf), Cycle: be.Uint32(buf[4:]), Version: be.Uint32(buf[8:]), Len: be.Uint32(buf[12:]),
		LSN: be.Uint64(buf[16:]), TailLSN: be.Uint64(buf[24:]), CRC: binary.LittleEndian.Uint32(buf[32:]),
		PrevBlock: be.Uint32(buf[36:]), NumLogOps: be.Uint32(buf[40:]),
		Fmt: be.Uint32(buf[300:]), Size: be.Uint32(buf[320:]),
	}
	for i := range h.CycleData {
		h.CycleData[i] = be.Uint32(buf[44+4*i:])
	}
	copy(h.FSUUID[:], buf[304:320])
	if h.Magic != HeaderMagic {
		return h, xfsformat.Errorf(xfsformat.ErrMagic, "log record", -1, -1, "magicno", fmt.Sprintf("%#x", h.Magic), "not a log record header")
	}
	return h, nil
}

// Verify checks what the kernel checks before trusting a record header
// (xlog_valid_rec_header), so that its lengths may size reads.
func (h *RecHeader) Verify(logv2 bool) error {
	bad := func(field string, v uint64, format string, args ...any) error {
		return xfsformat.Errorf(xfsformat.ErrRange, "log record", -1, -1, field, fmt.Sprint(v), format, args...)
	}
	if h.Magic != HeaderMagic {
		return xfsformat.Errorf(xfsformat.ErrMagic, "log record", -1, -1, "magicno", fmt.Sprintf("%#x", h.Magic), "not a log record header")
	}
	if h.Version == 0 || h.Version&^(Version1|Version2) != 0 {
		return bad("version", uint64(h.Version), "unknown log record version")
	}
	if h.Version&Version2 != 0 && (h.Size > MaxRecordSize || h.Size%BBSize != 0) {
		return bad("size", uint64(h.Size), "iclog size must be a multiple of %d up to %d", BBSize, MaxRecordSize)
	}
	if lim := h.maxLen(logv2); h.Len == 0 || h.Len > lim {
		return bad("len", uint64(h.Len), "record length must be in [1, %d]", lim)
	}
	return nil
}

// maxLen is the largest h_len a record of this header may have: the iclog
// size, at least the 32 KiB every log may use.
func (h *RecHeader) maxLen(logv2 bool) uint32 {
	if logv2 && h.Version&Version2 != 0 && h.Size > HeaderCycleSize {
		return h.Size
	}
	return HeaderCycleSize
}

// HeaderBlocks is the number of header BBs the record starts with
// (xlog_logrec_hblks): 1, or on v2 logs with iclogs over 32 KiB one per
// 32 KiB of iclog. Bounded by MaxHeaderBlocks.
func (h *RecHeader) HeaderBlocks(logv2 bool) int {
	if logv2 && h.Version&Version2 != 0 && h.Size > HeaderCycleSize {
		n := (min(h.Size, MaxRecordSize) + HeaderCycleSize - 1) / HeaderCycleSize
		return int(n)
	}
	return 1
}

// DataBlocks is the number of BBs of the record's data.
func (h *RecHeader) DataBlocks() int { return int((uint64(h.Len) + BBSize - 1) / BBSize) }

// Blocks is the whole record's length in BBs.
func (h *RecHeader) Blocks(logv2 bool) int { return h.HeaderBlocks(logv2) + h.DataBlocks() }

// Order is the byte order of the record's log items, from h_fmt: the
// writer's CPU. Only the Linux big-endian and IRIX formats are
// big-endian; an unknown format is read as little-endian (x86), which
// FmtName lets a reader see.
func (h *RecHeader) Order() binary.ByteOrder {
	if h.Fmt == FmtLinuxBE || h.Fmt == FmtIrixBE {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// FmtName names h_fmt as xfs_logprint does.
func FmtName(f uint32) string {
	switch f {
	case FmtUnknown:
		return "unknown"
	case FmtLinuxLE:
		return "little endian linux"
	case FmtLinuxBE:
		return "big endian linux"
	case FmtIrixBE:
		return "big endian irix"
	}
	return fmt.Sprintf("? (%d)", f)
}

// ExtCycle is xh_cycle, the cycle stamped in an extended header block.
func ExtCycle(bb []byte) uint32 {
	if len(bb) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(bb)
}

// errShort is the error of a decoder given fewer than the need bytes its
// structure takes.
func errShort(st string, need, have int) error {
	return xfsformat.Errorf(xfsformat.ErrShort, st, -1, -1, "", "", "need %d bytes, have %d", need, have)
}

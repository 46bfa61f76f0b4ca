package xfsformat

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The physical log, as fs/xfs/libxfs/xfs_log_format.h lays it out.
//
// The log is a circular array of 512-byte basic blocks (BBs). A log record
// is one header block (xlog_rec_header), on v2 logs with iclogs larger than
// 32 KiB followed by extended header blocks (xlog_rec_ext_header), then
// h_len bytes of data rounded up to whole BBs. The first word of every BB
// of the record is overwritten with the record's cycle number (a header
// block starts with the magic, its cycle follows), so that the head of the
// log can be found by where the cycle drops; the overwritten words are kept
// in the headers' cycle_data arrays, one word per data BB.
const (
	BBSize = 512

	LogHeaderMagic     = 0xFEEDBABE
	LogVersion1        = 1
	LogVersion2        = 2
	LogHeaderCycleSize = 32 * 1024                             // XLOG_HEADER_CYCLE_SIZE: data BBs one header describes
	LogCycleDataSize   = LogHeaderCycleSize / BBSize           // words of cycle_data per header block
	LogMaxRecordSize   = 256 * 1024                            // XLOG_MAX_RECORD_BSIZE
	LogMaxHeaderBlocks = LogMaxRecordSize / LogHeaderCycleSize // header blocks of the largest record
	LogMaxRecordBlocks = LogMaxHeaderBlocks + LogMaxRecordSize/BBSize

	// The CRC covers the header up to h_pad0 (XLOG_REC_SIZE; i386 kernels
	// used 324, up to h_size), each extended header's first 260 bytes
	// (XLOG_REC_EXT_SIZE) and the data as written, cycle-stamped.
	logRecCRCSize     = 328
	logRecCRCSizeI386 = 324
	logRecExtCRCSize  = 260
	logRecCRCOff      = 32

	LogOpHeaderSize = 12

	// Operation header flags (oh_flags).
	LogStartTrans    = 0x01
	LogCommitTrans   = 0x02
	LogContinueTrans = 0x04
	LogWasContTrans  = 0x08
	LogEndTrans      = 0x10
	LogUnmountTrans  = 0x20

	// Log clients (oh_clientid).
	LogClientTransaction = 0x69
	LogClientLog         = 0xaa
)

// LogRecHeader is xlog_rec_header, field for field.
type LogRecHeader struct {
	Magic     uint32
	Cycle     uint32
	Version   uint32
	Len       uint32 // bytes of data after the header blocks
	LSN       uint64 // cycle << 32 | block of this record
	TailLSN   uint64 // oldest record whose changes may not be on disk yet
	CRC       uint32 // little-endian on disk
	PrevBlock uint32
	NumLogOps uint32
	CycleData [LogCycleDataSize]uint32
	Fmt       uint32
	FSUUID    UUID
	Size      uint32 // iclog buffer size (v2)
}

// LSNCycle and LSNBlock split a log sequence number.
func LSNCycle(lsn uint64) uint32 { return uint32(lsn >> 32) }

// LSNBlock is the log-relative basic block of an LSN.
func LSNBlock(lsn uint64) uint32 { return uint32(lsn) }

// LogBlockCycle is the cycle number a log BB is stamped with
// (xlog_get_cycle): its first word, or the second when it is a record
// header. A zero cycle means the block was never written.
func LogBlockCycle(bb []byte) uint32 {
	if len(bb) < 8 {
		return 0
	}
	if w := binary.BigEndian.Uint32(bb); w != LogHeaderMagic {
		return w
	}
	return binary.BigEndian.Uint32(bb[4:])
}

// IsLogRecHeader reports whether a BB starts with the record magic.
func IsLogRecHeader(bb []byte) bool {
	return len(bb) >= 4 && binary.BigEndian.Uint32(bb) == LogHeaderMagic
}

// DecodeLogRecHeader decodes a record header block. It fails only when
// buf is short or lacks the magic; use Verify for the rest.
func DecodeLogRecHeader(buf []byte) (*LogRecHeader, error) {
	if len(buf) < BBSize {
		return nil, errShort("log record", BBSize, len(buf))
	}
	be := binary.BigEndian
	h := &LogRecHeader{
		Magic: be.Uint32(buf), Cycle: be.Uint32(buf[4:]), Version: be.Uint32(buf[8:]), Len: be.Uint32(buf[12:]),
		LSN: be.Uint64(buf[16:]), TailLSN: be.Uint64(buf[24:]), CRC: binary.LittleEndian.Uint32(buf[32:]),
		PrevBlock: be.Uint32(buf[36:]), NumLogOps: be.Uint32(buf[40:]),
		Fmt: be.Uint32(buf[300:]), Size: be.Uint32(buf[320:]),
	}
	for i := range h.CycleData {
		h.CycleData[i] = be.Uint32(buf[44+4*i:])
	}
	copy(h.FSUUID[:], buf[304:320])
	if h.Magic != LogHeaderMagic {
		return h, ferr(ErrMagic, "log record", -1, -1, "magicno", fmt.Sprintf("%#x", h.Magic), "not a log record header")
	}
	return h, nil
}

// Verify checks what the kernel checks before trusting a record header
// (xlog_valid_rec_header), so that its lengths may size reads.
func (h *LogRecHeader) Verify(logv2 bool) error {
	bad := func(field string, v uint64, format string, args ...any) error {
		return ferr(ErrRange, "log record", -1, -1, field, fmt.Sprint(v), format, args...)
	}
	if h.Magic != LogHeaderMagic {
		return ferr(ErrMagic, "log record", -1, -1, "magicno", fmt.Sprintf("%#x", h.Magic), "not a log record header")
	}
	if h.Version == 0 || h.Version&^(LogVersion1|LogVersion2) != 0 {
		return bad("version", uint64(h.Version), "unknown log record version")
	}
	if h.Version&LogVersion2 != 0 && (h.Size > LogMaxRecordSize || h.Size%BBSize != 0) {
		return bad("size", uint64(h.Size), "iclog size must be a multiple of %d up to %d", BBSize, LogMaxRecordSize)
	}
	if lim := h.maxLen(logv2); h.Len == 0 || h.Len > lim {
		return bad("len", uint64(h.Len), "record length must be in [1, %d]", lim)
	}
	return nil
}

// maxLen is the largest h_len a record of this header may have: the iclog
// size, at least the 32 KiB every log may use.
func (h *LogRecHeader) maxLen(logv2 bool) uint32 {
	if logv2 && h.Version&LogVersion2 != 0 && h.Size > LogHeaderCycleSize {
		return h.Size
	}
	return LogHeaderCycleSize
}

// HeaderBlocks is the number of header BBs the record starts with
// (xlog_logrec_hblks): 1, or on v2 logs with iclogs over 32 KiB one per
// 32 KiB of iclog. Bounded by LogMaxHeaderBlocks.
func (h *LogRecHeader) HeaderBlocks(logv2 bool) int {
	if logv2 && h.Version&LogVersion2 != 0 && h.Size > LogHeaderCycleSize {
		n := (min(h.Size, LogMaxRecordSize) + LogHeaderCycleSize - 1) / LogHeaderCycleSize
		return int(n)
	}
	return 1
}

// DataBlocks is the number of BBs of the record's data.
func (h *LogRecHeader) DataBlocks() int { return int((uint64(h.Len) + BBSize - 1) / BBSize) }

// LogRecordCRCOK checks a record's CRC. hdr holds its header blocks (as
// many as the data needs, at least one), data its h_len bytes as written
// (still cycle-stamped). Both struct sizes kernels have used are accepted.
// mkfs writes its records with a zero CRC, which the kernel's torn-write
// check lets pass; that is the caller's choice.
func LogRecordCRCOK(hdr, data []byte) bool {
	if len(hdr) < BBSize {
		return false
	}
	want := binary.LittleEndian.Uint32(hdr[logRecCRCOff:])
	return logRecordCRC(hdr, data, logRecCRCSize) == want || logRecordCRC(hdr, data, logRecCRCSizeI386) == want
}

// LogRecordCRC computes a record's CRC the way current kernels do.
func LogRecordCRC(hdr, data []byte) uint32 { return logRecordCRC(hdr, data, logRecCRCSize) }

func logRecordCRC(hdr, data []byte, hsize int) uint32 {
	if len(hdr) < BBSize {
		return 0
	}
	crc := crc32.Update(0, Castagnoli, hdr[:logRecCRCOff])
	crc = crc32.Update(crc, Castagnoli, []byte{0, 0, 0, 0})
	crc = crc32.Update(crc, Castagnoli, hdr[logRecCRCOff+4:hsize])
	// xlog_cksum covers one extended header per 32 KiB of data beyond
	// the first, whatever h_size says.
	xheads := (len(data) + LogHeaderCycleSize - 1) / LogHeaderCycleSize
	for i := 1; i < xheads && (i+1)*BBSize <= len(hdr); i++ {
		crc = crc32.Update(crc, Castagnoli, hdr[i*BBSize:i*BBSize+logRecExtCRCSize])
	}
	return crc32.Update(crc, Castagnoli, data)
}

// UnpackLogRecord restores in place the first word of every BB of data
// from the cycle_data of the header blocks in hdr (xlog_unpack_data).
// It fails, changing nothing, if hdr has too few blocks for data.
func UnpackLogRecord(hdr, data []byte) error {
	nbb := (len(data) + BBSize - 1) / BBSize
	need := max(1, (nbb+LogCycleDataSize-1)/LogCycleDataSize)
	if len(hdr) < need*BBSize {
		return ferr(ErrShort, "log record", -1, -1, "", "", "%d data blocks need %d header blocks, have %d bytes", nbb, need, len(hdr))
	}
	for i := 0; i < nbb; i++ {
		j, k := i/LogCycleDataSize, i%LogCycleDataSize
		// cycle_data starts at byte 44 of the first header block
		// (after h_num_logops) and at byte 4 of an extended one.
		src := j*BBSize + 4 + 4*k
		if j == 0 {
			src = 44 + 4*k
		}
		dst := i * BBSize
		if dst+4 > len(data) {
			break // a final partial word was never stamped whole
		}
		copy(data[dst:dst+4], hdr[src:src+4])
	}
	return nil
}

// LogOpHeader is xlog_op_header: it precedes each operation's data.
type LogOpHeader struct {
	TID      uint32
	Len      uint32
	ClientID uint8
	Flags    uint8
	Res2     uint16
}

// DecodeLogOpHeader decodes an operation header.
func DecodeLogOpHeader(buf []byte) (LogOpHeader, error) {
	if len(buf) < LogOpHeaderSize {
		return LogOpHeader{}, errShort("log op", LogOpHeaderSize, len(buf))
	}
	be := binary.BigEndian
	return LogOpHeader{TID: be.Uint32(buf), Len: be.Uint32(buf[4:]), ClientID: buf[8], Flags: buf[9], Res2: be.Uint16(buf[10:])}, nil
}

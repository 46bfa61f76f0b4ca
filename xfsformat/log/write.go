package log

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Writing records: what marking a log clean takes, as the kernel's
// unmount writes it (xlog_write_unmount_record, xlog_sync) and as its
// recovery clears the blocks in front of the head (xlog_clear_stale_blocks,
// xlog_add_record).

// UnmountSize is the bytes an unmount record's one op takes: its
// operation header and xfs_unmount_log_format (the magic and padding).
const UnmountSize = OpHeaderSize + 8

// Encode writes the header into the first BB of dst (zeroed first), the
// CRC field as it is in h; see BuildRecord for a whole record.
func (h *RecHeader) Encode(dst []byte) error {
	if len(dst) < BBSize {
		return errShort("log record", BBSize, len(dst))
	}
	clear(dst[:BBSize])
	be := binary.BigEndian
	be.PutUint32(dst, h.Magic)
	be.PutUint32(dst[4:], h.Cycle)
	be.PutUint32(dst[8:], h.Version)
	be.PutUint32(dst[12:], h.Len)
	be.PutUint64(dst[16:], h.LSN)
	be.PutUint64(dst[24:], h.TailLSN)
	binary.LittleEndian.PutUint32(dst[32:], h.CRC)
	be.PutUint32(dst[36:], h.PrevBlock)
	be.PutUint32(dst[40:], h.NumLogOps)
	for i, w := range h.CycleData {
		be.PutUint32(dst[44+4*i:], w)
	}
	be.PutUint32(dst[300:], h.Fmt)
	copy(dst[304:320], h.FSUUID[:])
	be.PutUint32(dst[320:], h.Size)
	return nil
}

// BuildRecord makes a one-header-block record (data of at most 32 KiB)
// as xlog_sync writes it: h's Len set to data's length rounded up to a
// BB, the first word of every data BB saved in the header's cycle_data
// and replaced by the cycle (xlog_pack_data), and the CRC over what is
// written. wrapAt is the data BB at which the log's end is crossed (the
// record's blocks from there go to the start of the log), or -1: those
// blocks are stamped with the next cycle, as xlog_split_iclog does. It
// returns the header block and the data blocks, ready to be written.
func BuildRecord(h RecHeader, data []byte, wrapAt int) ([]byte, error) {
	nbb := (len(data) + BBSize - 1) / BBSize
	if nbb == 0 || nbb > CycleDataSize {
		return nil, fmt.Errorf("log record of %d bytes: one header block holds 1 to %d data blocks", len(data), CycleDataSize)
	}
	out := make([]byte, (1+nbb)*BBSize)
	body := out[BBSize:]
	copy(body, data)
	h.Magic, h.Len, h.CRC = HeaderMagic, uint32(nbb*BBSize), 0
	be := binary.BigEndian
	for i := 0; i < nbb; i++ {
		h.CycleData[i] = be.Uint32(body[i*BBSize:])
		c := h.Cycle
		if wrapAt >= 0 && i >= wrapAt {
			c = nextCycle(c)
		}
		be.PutUint32(body[i*BBSize:], c)
	}
	if err := h.Encode(out); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(out[32:], RecordCRC(out[:BBSize], body))
	return out, nil
}

// nextCycle is the cycle after c, skipping the one that would read as
// the record magic (xlog_split_iclog).
func nextCycle(c uint32) uint32 {
	c++
	if c == HeaderMagic {
		c++
	}
	return c
}

// UnmountRecord is the data of an unmount record: one op of client LOG,
// flagged UNMOUNT, whose region is XLOG_UNMOUNT_TYPE in order bo and
// padding, with transaction id tid; the rest of its BB is zero.
func UnmountRecord(tid uint32, bo binary.ByteOrder) []byte {
	b := make([]byte, BBSize)
	be := binary.BigEndian
	be.PutUint32(b, tid)
	be.PutUint32(b[4:], UnmountSize-OpHeaderSize)
	b[8], b[9] = ClientLog, OpUnmount
	bo.PutUint16(b[OpHeaderSize:], UnmountType)
	return b
}

// StaleBlock is a BB as the kernel's recovery writes over the blocks in
// front of the head (xlog_add_record): an empty record header of cycle
// cycle at log block block, naming the tail, so that no block past the
// head carries the head's cycle.
func StaleBlock(cycle, block uint32, tailLSN uint64, version uint32, uuid xfsformat.UUID) []byte {
	b := make([]byte, BBSize)
	h := RecHeader{Magic: HeaderMagic, Cycle: cycle, Version: version, LSN: MakeLSN(cycle, block), TailLSN: tailLSN, Fmt: FmtLinuxLE, FSUUID: uuid}
	_ = h.Encode(b)
	return b
}

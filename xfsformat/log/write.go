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

// BuildRecord makes a record of hblks header blocks (one, or on v2 logs
// one per 32 KiB of h.Size) as xlog_sync writes it: h's Len set to
// data's length rounded up to a BB, the first word of every data BB
// saved in the cycle_data of the header blocks and replaced by the cycle
// (xlog_pack_data), the extended headers' cycles set. wrapAt is the
// record's block (0 is its header) at which the log's end is crossed,
// or -1: the first word of every block from there, which goes to the
// start of the log, gets the next cycle (xlog_split_iclog), and only
// then is the CRC computed, over what is written. It returns the header
// blocks and the data blocks, ready to be written.
func BuildRecord(h RecHeader, data []byte, hblks, wrapAt int) ([]byte, error) {
	nbb := (len(data) + BBSize - 1) / BBSize
	if hblks < 1 || hblks > MaxHeaderBlocks || nbb == 0 || nbb > hblks*CycleDataSize {
		return nil, fmt.Errorf("log record of %d bytes with %d header blocks: each holds the cycle data of %d data blocks", len(data), hblks, CycleDataSize)
	}
	hb := hblks * BBSize
	out := make([]byte, hb+nbb*BBSize)
	body := out[hb:]
	copy(body, data)
	h.Magic, h.Len, h.CRC = HeaderMagic, uint32(nbb*BBSize), 0
	be := binary.BigEndian
	var saved []uint32
	for i := range nbb {
		saved = append(saved, be.Uint32(body[i*BBSize:]))
		be.PutUint32(body[i*BBSize:], h.Cycle)
	}
	copy(h.CycleData[:], saved)
	if err := h.Encode(out); err != nil {
		return nil, err
	}
	for j := 1; j < hblks; j++ {
		x := out[j*BBSize:]
		be.PutUint32(x, h.Cycle)
		for k := 0; k < CycleDataSize && j*CycleDataSize+k < nbb; k++ {
			be.PutUint32(x[4+4*k:], saved[j*CycleDataSize+k])
		}
	}
	if wrapAt > 0 {
		for b := wrapAt; b < len(out)/BBSize; b++ {
			be.PutUint32(out[b*BBSize:], nextCycle(be.Uint32(out[b*BBSize:])))
		}
	}
	binary.LittleEndian.PutUint32(out[32:], RecordCRC(out[:hb], body))
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

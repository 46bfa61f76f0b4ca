package log

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// The record CRC covers the header up to h_pad0 (XLOG_REC_SIZE; i386
// kernels used 324, up to h_size), each extended header's first 260 bytes
// (XLOG_REC_EXT_SIZE) and the data as written, cycle-stamped.
const (
	recCRCSize     = 328
	recCRCSizeI386 = 324
	recExtCRCSize  = 260
	recCRCOff      = 32
)

// RecordCRCOK checks a record's CRC. hdr holds its header blocks (as many
// as the data needs, at least one), data its h_len bytes as written
// (still cycle-stamped). Both struct sizes kernels have used are
// accepted. mkfs writes its records with a zero CRC, which the kernel's
// torn-write check lets pass; that is the caller's choice.
func RecordCRCOK(hdr, data []byte) bool {
	if len(hdr) < BBSize {
		return false
	}
	want := binary.LittleEndian.Uint32(hdr[recCRCOff:])
	return recordCRC(hdr, data, recCRCSize) == want || recordCRC(hdr, data, recCRCSizeI386) == want
}

// RecordCRC computes a record's CRC the way current kernels do.
func RecordCRC(hdr, data []byte) uint32 { return recordCRC(hdr, data, recCRCSize) }

func recordCRC(hdr, data []byte, hsize int) uint32 {
	if len(hdr) < BBSize {
		return 0
	}
	crc := crc32.Update(0, xfsformat.Castagnoli, hdr[:recCRCOff])
	crc = crc32.Update(crc, xfsformat.Castagnoli, []byte{0, 0, 0, 0})
	crc = crc32.Update(crc, xfsformat.Castagnoli, hdr[recCRCOff+4:hsize])
	// xlog_cksum covers one extended header per 32 KiB of data beyond
	// the first, whatever h_size says.
	xheads := (len(data) + HeaderCycleSize - 1) / HeaderCycleSize
	for i := 1; i < xheads && (i+1)*BBSize <= len(hdr); i++ {
		crc = crc32.Update(crc, xfsformat.Castagnoli, hdr[i*BBSize:i*BBSize+recExtCRCSize])
	}
	return crc32.Update(crc, xfsformat.Castagnoli, data)
}

// Unpack restores in place the first word of every BB of data from the
// cycle_data of the header blocks in hdr (xlog_unpack_data). It fails,
// changing nothing, if hdr has too few blocks for data.
func Unpack(hdr, data []byte) error {
	nbb := (len(data) + BBSize - 1) / BBSize
	need := max(1, (nbb+CycleDataSize-1)/CycleDataSize)
	if len(hdr) < need*BBSize {
		return xfsformat.Errorf(xfsformat.ErrShort, "log record", -1, -1, "", "", "%d data blocks need %d header blocks, have %d bytes", nbb, need, len(hdr))
	}
	for i := 0; i < nbb; i++ {
		j, k := i/CycleDataSize, i%CycleDataSize
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

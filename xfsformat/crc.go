package xfsformat

import (
	"encoding/binary"
	"hash/crc32"
)

// Castagnoli is the CRC32c table, built once for the module: XFS
// metadata, and xfsbox's own journal and overlay records.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ComputeCRC returns the CRC32c of buf as XFS computes it: over the whole
// buffer with the 4-byte CRC field at crcOff taken as zero.
// zeroCRC stands for the CRC field while it is computed: a local array
// escaped to the heap, an allocation a block.
var zeroCRC [4]byte

func ComputeCRC(buf []byte, crcOff int) uint32 {
	if crcOff < 0 || crcOff+4 > len(buf) {
		return 0
	}
	c := crc32.Update(0, Castagnoli, buf[:crcOff])
	c = crc32.Update(c, Castagnoli, zeroCRC[:])
	return crc32.Update(c, Castagnoli, buf[crcOff+4:])
}

// StoredCRC reads the little-endian CRC at crcOff.
func StoredCRC(buf []byte, crcOff int) uint32 {
	if crcOff < 0 || crcOff+4 > len(buf) {
		return 0
	}
	return binary.LittleEndian.Uint32(buf[crcOff:])
}

// CRCOK reports whether the stored CRC matches the contents.
func CRCOK(buf []byte, crcOff int) bool {
	return crcOff >= 0 && crcOff+4 <= len(buf) && StoredCRC(buf, crcOff) == ComputeCRC(buf, crcOff)
}

// UpdateCRC recomputes and stores the CRC at crcOff.
func UpdateCRC(buf []byte, crcOff int) {
	if crcOff < 0 || crcOff+4 > len(buf) {
		return
	}
	binary.LittleEndian.PutUint32(buf[crcOff:], ComputeCRC(buf, crcOff))
}

// SealCRC stamps buf's CRC at crcOff on a v5 filesystem; a v4
// filesystem's structures carry none, and the bytes are left as they are.
func (g *Geometry) SealCRC(buf []byte, crcOff int) {
	if g.CRC {
		UpdateCRC(buf, crcOff)
	}
}

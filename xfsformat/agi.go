package xfsformat

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// AGI, DecodeAGI, Encode and Fields go field by field through xfs_agi,
// as agf.go and sb.go go through theirs: alike in shape only (Layouts in
// doc.go).

// AGIMagic is "XAGI".
const AGIMagic = 0x58414749

// AGIUnlinkedBuckets is the number of unlinked-inode hash buckets.
const AGIUnlinkedBuckets = 64

const (
	AGISize   = 344
	agiCRCOff = 312
)

// AGI is xfs_agi, the AG inode header (sector 2 of each AG).
type AGI struct {
	MagicNum, VersionNum, SeqNo, Length uint32
	Count, Root, Level, FreeCount       uint32
	NewIno, DirIno                      uint32
	Unlinked                            [AGIUnlinkedBuckets]uint32
	UUID                                UUID
	CRC                                 uint32
	LSN                                 uint64
	FreeRoot, FreeLevel                 uint32
	IBlocks, FBlocks                    uint32
}

// DecodeAGI decodes an AGI sector.
func DecodeAGI(buf []byte) (*AGI, error) {
	if len(buf) < AGISize {
		return nil, errShort("agi", AGISize, len(buf))
	}
	be := binary.BigEndian
	a := &AGI{
		MagicNum: be.Uint32(buf[0:]), VersionNum: be.Uint32(buf[4:]), SeqNo: be.Uint32(buf[8:]), Length: be.Uint32(buf[12:]),
		Count: be.Uint32(buf[16:]), Root: be.Uint32(buf[20:]), Level: be.Uint32(buf[24:]), FreeCount: be.Uint32(buf[28:]),
		NewIno: be.Uint32(buf[32:]), DirIno: be.Uint32(buf[36:]),
		CRC: binary.LittleEndian.Uint32(buf[312:]), LSN: be.Uint64(buf[320:]),
		FreeRoot: be.Uint32(buf[328:]), FreeLevel: be.Uint32(buf[332:]),
		IBlocks: be.Uint32(buf[336:]), FBlocks: be.Uint32(buf[340:]),
	}
	for i := range a.Unlinked {
		a.Unlinked[i] = be.Uint32(buf[40+4*i:])
	}
	copy(a.UUID[:], buf[296:312])
	return a, nil
}

// Encode writes the AGI into dst, leaving the rest of the sector alone.
func (a *AGI) Encode(dst []byte) error {
	if len(dst) < AGISize {
		return errShort("agi", AGISize, len(dst))
	}
	be := binary.BigEndian
	for i, v := range []uint32{a.MagicNum, a.VersionNum, a.SeqNo, a.Length, a.Count, a.Root, a.Level, a.FreeCount, a.NewIno, a.DirIno} {
		be.PutUint32(dst[4*i:], v)
	}
	for i, v := range a.Unlinked {
		be.PutUint32(dst[40+4*i:], v)
	}
	copy(dst[296:312], a.UUID[:])
	binary.LittleEndian.PutUint32(dst[312:], a.CRC)
	be.PutUint64(dst[320:], a.LSN)
	be.PutUint32(dst[328:], a.FreeRoot)
	be.PutUint32(dst[332:], a.FreeLevel)
	be.PutUint32(dst[336:], a.IBlocks)
	be.PutUint32(dst[340:], a.FBlocks)
	return nil
}

// AGICRCOffset is where the AGI's CRC lives in its sector.
func AGICRCOffset() int { return agiCRCOff }

// Fields lists the AGI as xfs_db's "agi" print does. The unlinked array
// is printed, as xfs_db does, as "idx:value" for non-null buckets only.
func (a *AGI) Fields(crcOK bool) []Field {
	var txt strings.Builder
	unl := make([]any, len(a.Unlinked))
	for i, v := range a.Unlinked {
		if v == NullAGIno {
			continue
		}
		unl[i] = v
		txt.WriteString(strconv.Itoa(i) + ":" + strconv.FormatUint(uint64(v), 10) + " ")
	}
	return []Field{
		fHex("magicnum", uint64(a.MagicNum)),
		fDec("versionnum", uint64(a.VersionNum)),
		fDec("seqno", uint64(a.SeqNo)),
		fDec("length", uint64(a.Length)),
		fDec("count", uint64(a.Count)),
		fDec("root", uint64(a.Root)),
		fDec("level", uint64(a.Level)),
		fDec("freecount", uint64(a.FreeCount)),
		fNull32("newino", a.NewIno),
		fNull32("dirino", a.DirIno),
		{"unlinked[0-63]", txt.String(), unl},
		fUUID("uuid", a.UUID),
		fCRC("crc", a.CRC, crcOK),
		fHex("lsn", a.LSN),
		fDec("free_root", uint64(a.FreeRoot)),
		fDec("free_level", uint64(a.FreeLevel)),
		fDec("ino_blocks", uint64(a.IBlocks)),
		fDec("fino_blocks", uint64(a.FBlocks)),
	}
}

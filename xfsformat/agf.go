package xfsformat

import "encoding/binary"

// AGF, DecodeAGF, Encode and Fields go field by field through xfs_agf,
// as agi.go and sb.go go through theirs: alike in shape only (Layouts in
// doc.go).

// AGFMagic is "XAGF".
const AGFMagic = 0x58414746

// AGFSize is the size of xfs_agf; agfCRCOff is agf_crc's offset.
const (
	AGFSize   = 224
	agfCRCOff = 216
)

// AGF is xfs_agf, the AG free-space header (sector 1 of each AG).
type AGF struct {
	MagicNum, VersionNum, SeqNo, Length uint32
	BnoRoot, CntRoot, RmapRoot          uint32
	BnoLevel, CntLevel, RmapLevel       uint32
	FLFirst, FLLast, FLCount            uint32
	FreeBlks, Longest, BtreeBlks        uint32
	UUID                                UUID
	RmapBlocks, RefcntBlocks            uint32
	RefcntRoot, RefcntLevel             uint32
	LSN                                 uint64
	CRC                                 uint32
}

// DecodeAGF decodes an AGF sector.
func DecodeAGF(buf []byte) (*AGF, error) {
	if len(buf) < AGFSize {
		return nil, errShort("agf", AGFSize, len(buf))
	}
	be := binary.BigEndian
	a := &AGF{
		MagicNum: be.Uint32(buf[0:]), VersionNum: be.Uint32(buf[4:]), SeqNo: be.Uint32(buf[8:]), Length: be.Uint32(buf[12:]),
		BnoRoot: be.Uint32(buf[16:]), CntRoot: be.Uint32(buf[20:]), RmapRoot: be.Uint32(buf[24:]),
		BnoLevel: be.Uint32(buf[28:]), CntLevel: be.Uint32(buf[32:]), RmapLevel: be.Uint32(buf[36:]),
		FLFirst: be.Uint32(buf[40:]), FLLast: be.Uint32(buf[44:]), FLCount: be.Uint32(buf[48:]),
		FreeBlks: be.Uint32(buf[52:]), Longest: be.Uint32(buf[56:]), BtreeBlks: be.Uint32(buf[60:]),
		RmapBlocks: be.Uint32(buf[80:]), RefcntBlocks: be.Uint32(buf[84:]),
		RefcntRoot: be.Uint32(buf[88:]), RefcntLevel: be.Uint32(buf[92:]),
		LSN: be.Uint64(buf[208:]), CRC: binary.LittleEndian.Uint32(buf[216:]),
	}
	copy(a.UUID[:], buf[64:80])
	return a, nil
}

// Encode writes the AGF into dst (at least AGFSize bytes), leaving the
// rest of the sector alone. The CRC is written as stored in a.CRC.
func (a *AGF) Encode(dst []byte) error {
	if len(dst) < AGFSize {
		return errShort("agf", AGFSize, len(dst))
	}
	be := binary.BigEndian
	for i, v := range []uint32{a.MagicNum, a.VersionNum, a.SeqNo, a.Length, a.BnoRoot, a.CntRoot, a.RmapRoot,
		a.BnoLevel, a.CntLevel, a.RmapLevel, a.FLFirst, a.FLLast, a.FLCount, a.FreeBlks, a.Longest, a.BtreeBlks} {
		be.PutUint32(dst[4*i:], v)
	}
	copy(dst[64:80], a.UUID[:])
	be.PutUint32(dst[80:], a.RmapBlocks)
	be.PutUint32(dst[84:], a.RefcntBlocks)
	be.PutUint32(dst[88:], a.RefcntRoot)
	be.PutUint32(dst[92:], a.RefcntLevel)
	be.PutUint64(dst[208:], a.LSN)
	binary.LittleEndian.PutUint32(dst[216:], a.CRC)
	return nil
}

// AGFCRCOffset is where the AGF's CRC lives in its sector.
func AGFCRCOffset() int { return agfCRCOff }

// Fields lists the AGF as xfs_db's "agf" print does.
func (a *AGF) Fields(crcOK bool) []Field {
	return []Field{
		fHex("magicnum", uint64(a.MagicNum)),
		fDec("versionnum", uint64(a.VersionNum)),
		fDec("seqno", uint64(a.SeqNo)),
		fDec("length", uint64(a.Length)),
		fDec("bnoroot", uint64(a.BnoRoot)),
		fDec("cntroot", uint64(a.CntRoot)),
		fNonZero("rmaproot", a.RmapRoot),
		fNonZero("refcntroot", a.RefcntRoot),
		fDec("bnolevel", uint64(a.BnoLevel)),
		fDec("cntlevel", uint64(a.CntLevel)),
		fDec("rmaplevel", uint64(a.RmapLevel)),
		fDec("refcntlevel", uint64(a.RefcntLevel)),
		fDec("rmapblocks", uint64(a.RmapBlocks)),
		fDec("refcntblocks", uint64(a.RefcntBlocks)),
		fDec("flfirst", uint64(a.FLFirst)),
		fDec("fllast", uint64(a.FLLast)),
		fDec("flcount", uint64(a.FLCount)),
		fDec("freeblks", uint64(a.FreeBlks)),
		fDec("longest", uint64(a.Longest)),
		fDec("btreeblks", uint64(a.BtreeBlks)),
		fUUID("uuid", a.UUID),
		fHex("lsn", a.LSN),
		fCRC("crc", a.CRC, crcOK),
	}
}

package xfsformat

import (
	"encoding/binary"
)

// Superblock, DecodeSuperblock, Encode and Fields go field by field
// through xfs_dsb, as agf.go, agi.go, btree.go, bmbt.go and inode.go go
// through their structures: alike in shape only (Layouts in doc.go).

// SBMagic is "XFSB".
const SBMagic = 0x58465342

// SBSize is the number of bytes of the v5 superblock that xfsbox knows;
// the rest of the sector must be zero on a v5 filesystem.
const SBSize = 264

// sbCRCOff is the offset of sb_crc.
const sbCRCOff = 224

// Superblock is xfs_dsb, field for field.
type Superblock struct {
	MagicNum            uint32
	BlockSize           uint32
	DBlocks             uint64
	RBlocks             uint64
	RExtents            uint64
	UUID                UUID
	LogStart            uint64
	RootIno             uint64
	RBMIno              uint64
	RSumIno             uint64
	RExtSize            uint32
	AGBlocks            uint32
	AGCount             uint32
	RBMBlocks           uint32
	LogBlocks           uint32
	VersionNum          uint16
	SectSize            uint16
	InodeSize           uint16
	InoPBlock           uint16
	FName               [12]byte
	BlockLog            uint8
	SectLog             uint8
	InodeLog            uint8
	InoPBLog            uint8
	AGBlkLog            uint8
	RExtSLog            uint8
	InProgress          uint8
	IMaxPct             uint8
	ICount              uint64
	IFree               uint64
	FDBlocks            uint64
	FRExtents           uint64
	UQuotIno            uint64
	GQuotIno            uint64
	QFlags              uint16
	Flags               uint8
	SharedVN            uint8
	InoAlignMt          uint32
	Unit                uint32
	Width               uint32
	DirBlkLog           uint8
	LogSectLog          uint8
	LogSectSize         uint16
	LogSUnit            uint32
	Features2           uint32
	BadFeatures2        uint32
	FeaturesCompat      uint32
	FeaturesROCompat    uint32
	FeaturesIncompat    uint32
	FeaturesLogIncompat uint32
	CRC                 uint32
	SpinoAlign          uint32
	PQuotIno            uint64
	LSN                 uint64
	MetaUUID            UUID
}

// DecodeSuperblock decodes the first SBSize bytes of buf. It fails only
// when buf is too short; use Verify for everything else.
func DecodeSuperblock(buf []byte) (*Superblock, error) {
	if len(buf) < SBSize {
		return nil, errShort("sb", SBSize, len(buf))
	}
	be := binary.BigEndian
	s := &Superblock{
		MagicNum:            be.Uint32(buf[0:]),
		BlockSize:           be.Uint32(buf[4:]),
		DBlocks:             be.Uint64(buf[8:]),
		RBlocks:             be.Uint64(buf[16:]),
		RExtents:            be.Uint64(buf[24:]),
		LogStart:            be.Uint64(buf[48:]),
		RootIno:             be.Uint64(buf[56:]),
		RBMIno:              be.Uint64(buf[64:]),
		RSumIno:             be.Uint64(buf[72:]),
		RExtSize:            be.Uint32(buf[80:]),
		AGBlocks:            be.Uint32(buf[84:]),
		AGCount:             be.Uint32(buf[88:]),
		RBMBlocks:           be.Uint32(buf[92:]),
		LogBlocks:           be.Uint32(buf[96:]),
		VersionNum:          be.Uint16(buf[100:]),
		SectSize:            be.Uint16(buf[102:]),
		InodeSize:           be.Uint16(buf[104:]),
		InoPBlock:           be.Uint16(buf[106:]),
		BlockLog:            buf[120],
		SectLog:             buf[121],
		InodeLog:            buf[122],
		InoPBLog:            buf[123],
		AGBlkLog:            buf[124],
		RExtSLog:            buf[125],
		InProgress:          buf[126],
		IMaxPct:             buf[127],
		ICount:              be.Uint64(buf[128:]),
		IFree:               be.Uint64(buf[136:]),
		FDBlocks:            be.Uint64(buf[144:]),
		FRExtents:           be.Uint64(buf[152:]),
		UQuotIno:            be.Uint64(buf[160:]),
		GQuotIno:            be.Uint64(buf[168:]),
		QFlags:              be.Uint16(buf[176:]),
		Flags:               buf[178],
		SharedVN:            buf[179],
		InoAlignMt:          be.Uint32(buf[180:]),
		Unit:                be.Uint32(buf[184:]),
		Width:               be.Uint32(buf[188:]),
		DirBlkLog:           buf[192],
		LogSectLog:          buf[193],
		LogSectSize:         be.Uint16(buf[194:]),
		LogSUnit:            be.Uint32(buf[196:]),
		Features2:           be.Uint32(buf[200:]),
		BadFeatures2:        be.Uint32(buf[204:]),
		FeaturesCompat:      be.Uint32(buf[208:]),
		FeaturesROCompat:    be.Uint32(buf[212:]),
		FeaturesIncompat:    be.Uint32(buf[216:]),
		FeaturesLogIncompat: be.Uint32(buf[220:]),
		CRC:                 binary.LittleEndian.Uint32(buf[224:]),
		SpinoAlign:          be.Uint32(buf[228:]),
		PQuotIno:            be.Uint64(buf[232:]),
		LSN:                 be.Uint64(buf[240:]),
	}
	copy(s.UUID[:], buf[32:48])
	copy(s.FName[:], buf[108:120])
	copy(s.MetaUUID[:], buf[248:264])
	return s, nil
}

// Encode writes the superblock into the first SBSize bytes of dst, leaving
// the rest of dst alone. It does not recompute the CRC (see UpdateCRC).
func (s *Superblock) Encode(dst []byte) error {
	if len(dst) < SBSize {
		return errShort("sb", SBSize, len(dst))
	}
	be := binary.BigEndian
	be.PutUint32(dst[0:], s.MagicNum)
	be.PutUint32(dst[4:], s.BlockSize)
	be.PutUint64(dst[8:], s.DBlocks)
	be.PutUint64(dst[16:], s.RBlocks)
	be.PutUint64(dst[24:], s.RExtents)
	copy(dst[32:48], s.UUID[:])
	be.PutUint64(dst[48:], s.LogStart)
	be.PutUint64(dst[56:], s.RootIno)
	be.PutUint64(dst[64:], s.RBMIno)
	be.PutUint64(dst[72:], s.RSumIno)
	be.PutUint32(dst[80:], s.RExtSize)
	be.PutUint32(dst[84:], s.AGBlocks)
	be.PutUint32(dst[88:], s.AGCount)
	be.PutUint32(dst[92:], s.RBMBlocks)
	be.PutUint32(dst[96:], s.LogBlocks)
	be.PutUint16(dst[100:], s.VersionNum)
	be.PutUint16(dst[102:], s.SectSize)
	be.PutUint16(dst[104:], s.InodeSize)
	be.PutUint16(dst[106:], s.InoPBlock)
	copy(dst[108:120], s.FName[:])
	dst[120], dst[121], dst[122], dst[123] = s.BlockLog, s.SectLog, s.InodeLog, s.InoPBLog
	dst[124], dst[125], dst[126], dst[127] = s.AGBlkLog, s.RExtSLog, s.InProgress, s.IMaxPct
	be.PutUint64(dst[128:], s.ICount)
	be.PutUint64(dst[136:], s.IFree)
	be.PutUint64(dst[144:], s.FDBlocks)
	be.PutUint64(dst[152:], s.FRExtents)
	be.PutUint64(dst[160:], s.UQuotIno)
	be.PutUint64(dst[168:], s.GQuotIno)
	be.PutUint16(dst[176:], s.QFlags)
	dst[178], dst[179] = s.Flags, s.SharedVN
	be.PutUint32(dst[180:], s.InoAlignMt)
	be.PutUint32(dst[184:], s.Unit)
	be.PutUint32(dst[188:], s.Width)
	dst[192], dst[193] = s.DirBlkLog, s.LogSectLog
	be.PutUint16(dst[194:], s.LogSectSize)
	be.PutUint32(dst[196:], s.LogSUnit)
	be.PutUint32(dst[200:], s.Features2)
	be.PutUint32(dst[204:], s.BadFeatures2)
	be.PutUint32(dst[208:], s.FeaturesCompat)
	be.PutUint32(dst[212:], s.FeaturesROCompat)
	be.PutUint32(dst[216:], s.FeaturesIncompat)
	be.PutUint32(dst[220:], s.FeaturesLogIncompat)
	binary.LittleEndian.PutUint32(dst[224:], s.CRC)
	be.PutUint32(dst[228:], s.SpinoAlign)
	be.PutUint64(dst[232:], s.PQuotIno)
	be.PutUint64(dst[240:], s.LSN)
	copy(dst[248:264], s.MetaUUID[:])
	return nil
}

// SBCRCOffset is where the superblock's CRC lives in its sector.
func SBCRCOffset() int { return sbCRCOff }

// Fields lists the superblock as xfs_db's "sb" print does. crcOK is the
// CRC verdict over the whole sector.
func (s *Superblock) Fields(crcOK bool) []Field {
	return []Field{
		fHex("magicnum", uint64(s.MagicNum)),
		fDec("blocksize", uint64(s.BlockSize)),
		fDec("dblocks", s.DBlocks),
		fDec("rblocks", s.RBlocks),
		fDec("rextents", s.RExtents),
		fUUID("uuid", s.UUID),
		fDec("logstart", s.LogStart),
		fIno64("rootino", s.RootIno),
		fIno64("rbmino", s.RBMIno),
		fIno64("rsumino", s.RSumIno),
		fDec("rextsize", uint64(s.RExtSize)),
		fDec("agblocks", uint64(s.AGBlocks)),
		fDec("agcount", uint64(s.AGCount)),
		fDec("rbmblocks", uint64(s.RBMBlocks)),
		fDec("logblocks", uint64(s.LogBlocks)),
		fHex("versionnum", uint64(s.VersionNum)),
		fDec("sectsize", uint64(s.SectSize)),
		fDec("inodesize", uint64(s.InodeSize)),
		fDec("inopblock", uint64(s.InoPBlock)),
		{"fname", cString(s.FName[:]), string(trimNUL(s.FName[:]))},
		fDec("blocklog", uint64(s.BlockLog)),
		fDec("sectlog", uint64(s.SectLog)),
		fDec("inodelog", uint64(s.InodeLog)),
		fDec("inopblog", uint64(s.InoPBLog)),
		fDec("agblklog", uint64(s.AGBlkLog)),
		fDec("rextslog", uint64(s.RExtSLog)),
		fDec("inprogress", uint64(s.InProgress)),
		fDec("imax_pct", uint64(s.IMaxPct)),
		fDec("icount", s.ICount),
		fDec("ifree", s.IFree),
		fDec("fdblocks", s.FDBlocks),
		fDec("frextents", s.FRExtents),
		fIno64("uquotino", s.UQuotIno),
		fIno64("gquotino", s.GQuotIno),
		fHex("qflags", uint64(s.QFlags)),
		fHex("flags", uint64(s.Flags)),
		fDec("shared_vn", uint64(s.SharedVN)),
		fDec("inoalignmt", uint64(s.InoAlignMt)),
		fDec("unit", uint64(s.Unit)),
		fDec("width", uint64(s.Width)),
		fDec("dirblklog", uint64(s.DirBlkLog)),
		fDec("logsectlog", uint64(s.LogSectLog)),
		fDec("logsectsize", uint64(s.LogSectSize)),
		fDec("logsunit", uint64(s.LogSUnit)),
		fHex("features2", uint64(s.Features2)),
		fHex("bad_features2", uint64(s.BadFeatures2)),
		fHex("features_compat", uint64(s.FeaturesCompat)),
		fHex("features_ro_compat", uint64(s.FeaturesROCompat)),
		fHex("features_incompat", uint64(s.FeaturesIncompat)),
		fHex("features_log_incompat", uint64(s.FeaturesLogIncompat)),
		fCRC("crc", s.CRC, crcOK),
		fDec("spino_align", uint64(s.SpinoAlign)),
		fIno64("pquotino", s.PQuotIno),
		fHex("lsn", s.LSN),
		fUUID("meta_uuid", s.MetaUUID),
	}
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

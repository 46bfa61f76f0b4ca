package dir

import (
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Magic numbers of directory blocks (xfs_da_format.h). Leaf and node
// blocks carry 16-bit magics in their da block header (da.DirLeaf1Magic,
// da.DirLeafNMagic, da.Dir3Leaf1Magic, da.Dir3LeafNMagic, da.NodeMagic,
// da.Node3Magic); data, block and free-index blocks start with these.
const (
	Block2Magic = 0x58443242 // XD2B: single-block directory, v4
	Data2Magic  = 0x58443244 // XD2D: data block, v4
	Free2Magic  = 0x58443246 // XD2F: free-index block, v4
	Block3Magic = 0x58444233 // XDB3: single-block directory, v5
	Data3Magic  = 0x58444433 // XDD3: data block, v5
	Free3Magic  = 0x58444633 // XDF3: free-index block, v5
)

// Layout constants.
const (
	// Align is XFS_DIR2_DATA_ALIGN: data entries and unused regions
	// start on 8-byte boundaries, and dataptrs count 8-byte units.
	Align = 8
	// FreeTag is XFS_DIR2_DATA_FREE_TAG, the first two bytes of an
	// unused region.
	FreeTag = 0xffff
	// BestFreeCount is XFS_DIR2_DATA_FD_COUNT, the bestfree slots of a
	// data block header.
	BestFreeCount = 3
	// NullDataOff is NULLDATAOFF: a data block without free space in a
	// bests array.
	NullDataOff = 0xffff
	// MaxBlockSize is the largest directory block (XFS_MAX_BLOCKSIZE).
	MaxBlockSize = 65536
	// SpaceLog is log2 of a directory address space's size: data, leaf
	// and free spaces each span 32 GiB of the directory's offsets
	// (XFS_DIR2_SPACE_SIZE), the leaf space starting at 32 GiB and the
	// free space at 64 GiB.
	SpaceLog = 35
	// CRCOffset is where data, block and free blocks keep their CRC
	// (XFS_DIR3_DATA_CRC_OFF, XFS_DIR3_FREE_CRC_OFF); leaf blocks keep
	// it at da.CRCOffset.
	CRCOffset = 4
	// blkHdr3Size is xfs_dir3_blk_hdr: magic, crc, blkno, lsn, uuid, owner.
	blkHdr3Size = 48
	// MaxInode is XFS_MAXINUMBER: 8-byte inode numbers of shortform
	// entries are masked to 56 bits.
	MaxInode = 1<<56 - 1
)

// File types of directory entries (XFS_DIR3_FT_*), kept in entries when
// the filesystem has the ftype feature.
const (
	FtUnknown = iota
	FtRegular
	FtDir
	FtChrdev
	FtBlkdev
	FtFIFO
	FtSocket
	FtSymlink
	FtWhiteout
	FtMax // XFS_DIR3_FT_MAX: every valid type is below it
)

var ftNames = [FtMax]string{"unknown", "regular", "directory", "chardev", "blkdev", "fifo", "socket", "symlink", "whiteout"}

// FileTypeName is the name xfs_db's ls gives a file type ("regular",
// "directory", ...; "unknown" for 0 and for values out of range).
func FileTypeName(ft uint8) string {
	if ft < FtMax {
		return ftNames[ft]
	}
	return ftNames[FtUnknown]
}

// Superblock bits that shape directories.
const (
	sbVersionNumBits = 0x000f
	sbVersionDirV2   = 0x2000 // XFS_SB_VERSION_DIRV2BIT
	sbVersionBorg    = 0x4000 // XFS_SB_VERSION_BORGBIT: ASCII case-insensitive names
	sbVersionAlign   = 0x0080 // XFS_SB_VERSION_ALIGNBIT
	sbVersion2Ftype  = 0x0200 // XFS_SB_VERSION2_FTYPE (v4)
)

// Geometry is what decoding a directory needs from the superblock
// (the kernel's xfs_da_geometry plus the features that change the
// entries): the directory block size, the header sizes of the v4 or v5
// formats, whether entries carry a file type, which hash orders them,
// and what makes an inode number valid.
type Geometry struct {
	FSBlockLog uint // log2 of the filesystem block size
	DirBlkLog  uint // log2 of filesystem blocks per directory block (sb_dirblklog)
	BlockSize  int  // directory block size in bytes
	V5         bool // dir3 formats: CRC headers, XDB3/XDD3/XDF3 and v3 da magics
	Ftype      bool // entries carry a file type byte
	ASCIICI    bool // names hash and compare ASCII case-insensitively
	MetaUUID   xfsformat.UUID

	agCount, agBlocks   uint32
	dBlocks             uint64
	agBlkLog, inoPBLog  uint
	firstBlock, inAlign uint32
	sbInodes            []uint64
}

// NewGeometry derives the directory geometry from a superblock, v4 or
// v5. It checks what it uses (block, sector and AG sizes, the
// directory block size) and refuses directory version 1 filesystems.
func NewGeometry(sb *xfsformat.Superblock) (*Geometry, error) {
	bad := func(field string, v uint64, format string, args ...any) error {
		return xfsformat.Errorf(xfsformat.ErrRange, "sb", 0, -1, field, xfsformat.FieldDec("", v).Text, format, args...)
	}
	ver := sb.VersionNum & sbVersionNumBits
	switch {
	case ver == 5:
	case ver == 4 && sb.VersionNum&sbVersionDirV2 != 0:
	default:
		return nil, xfsformat.Errorf(xfsformat.ErrUnsupported, "sb", 0, -1, "versionnum", xfsformat.HexText(uint64(sb.VersionNum)), "not a version 4 or 5 superblock with version 2 directories")
	}
	if sb.BlockLog < 9 || sb.BlockLog > 16 || sb.BlockSize != 1<<sb.BlockLog {
		return nil, bad("blocklog", uint64(sb.BlockLog), "block size %d and blocklog disagree or are out of range", sb.BlockSize)
	}
	if uint(sb.BlockLog)+uint(sb.DirBlkLog) > 16 {
		return nil, bad("dirblklog", uint64(sb.DirBlkLog), "directory blocks larger than %d bytes", MaxBlockSize)
	}
	if sb.SectLog < 9 || sb.SectLog > sb.BlockLog {
		return nil, bad("sectlog", uint64(sb.SectLog), "sector size out of range")
	}
	if sb.AGBlkLog == 0 || sb.AGBlkLog > 31 || sb.InoPBLog > sb.BlockLog || uint(sb.AGBlkLog)+uint(sb.InoPBLog) > 32 ||
		sb.AGCount == 0 || sb.AGBlocks == 0 || uint64(sb.AGBlocks) > 1<<sb.AGBlkLog {
		return nil, bad("agblklog", uint64(sb.AGBlkLog), "AG geometry out of range")
	}
	g := &Geometry{
		FSBlockLog: uint(sb.BlockLog),
		DirBlkLog:  uint(sb.DirBlkLog),
		BlockSize:  1 << (uint(sb.BlockLog) + uint(sb.DirBlkLog)),
		V5:         ver == 5,
		ASCIICI:    sb.VersionNum&sbVersionBorg != 0,
		MetaUUID:   sb.UUID,
		agCount:    sb.AGCount, agBlocks: sb.AGBlocks, dBlocks: sb.DBlocks,
		agBlkLog: uint(sb.AGBlkLog), inoPBLog: uint(sb.InoPBLog),
		inAlign: 1,
	}
	if g.V5 {
		g.Ftype = sb.FeaturesIncompat&xfsformat.IncompatFtype != 0
		if sb.FeaturesIncompat&xfsformat.IncompatMetaUUID != 0 {
			g.MetaUUID = sb.MetaUUID
		}
	} else {
		g.Ftype = sb.Features2&sbVersion2Ftype != 0
	}
	// xfs_agino_range: inodes start past the AGFL's block, both ends
	// on the inode cluster alignment.
	if sb.VersionNum&sbVersionAlign != 0 && sb.InoAlignMt > 0 && sb.InoAlignMt < sb.AGBlocks {
		g.inAlign = sb.InoAlignMt
	}
	agfl := uint32(3<<sb.SectLog) >> sb.BlockLog
	g.firstBlock = roundUp(agfl+1, g.inAlign)
	for _, ino := range []uint64{sb.RBMIno, sb.RSumIno, sb.UQuotIno, sb.GQuotIno, sb.PQuotIno} {
		if ino != 0 && ino != xfsformat.NullFSIno {
			g.sbInodes = append(g.sbInodes, ino)
		}
	}
	return g, nil
}

func roundUp(v, a uint32) uint32 { return (v + a - 1) / a * a }

// ValidIno reports whether ino may be named by a directory entry
// (xfs_verify_dir_ino): an inode of an existing AG, between the AG's
// first and last possible inode, and not one of the superblock's own
// (realtime bitmap and summary, quota inodes).
func (g *Geometry) ValidIno(ino uint64) bool {
	bits := g.agBlkLog + g.inoPBLog
	agno := ino >> bits
	if agno >= uint64(g.agCount) {
		return false
	}
	agbno := uint32(ino&(1<<bits-1)) >> g.inoPBLog
	eoag := g.agBlocks
	if agno == uint64(g.agCount)-1 {
		eoag = uint32(min(g.dBlocks-agno*uint64(g.agBlocks), uint64(g.agBlocks)))
	}
	last := eoag / g.inAlign * g.inAlign
	if agbno < g.firstBlock || agbno >= last {
		return false
	}
	for _, s := range g.sbInodes {
		if ino == s {
			return false
		}
	}
	return true
}

// DataHdrSize is the size of a data or block header, where the first
// entry starts (data_entry_offset): 64 bytes on v5, 16 on v4.
func (g *Geometry) DataHdrSize() int {
	if g.V5 {
		return blkHdr3Size + 4*BestFreeCount + 4
	}
	return 4 + 4*BestFreeCount
}

// LeafHdrSize is the size of a leaf block header: 64 bytes on v5, 16 on v4.
func (g *Geometry) LeafHdrSize() int {
	if g.V5 {
		return 64
	}
	return 16
}

// FreeHdrSize is the size of a free-index block header: 64 bytes on
// v5, 16 on v4.
func (g *Geometry) FreeHdrSize() int {
	if g.V5 {
		return blkHdr3Size + 16
	}
	return 16
}

// EntSize is the bytes a data entry with a name of namelen bytes takes
// (xfs_dir2_data_entsize): inumber, namelen, the name, the file type
// byte when the filesystem has ftype, the tag, rounded up to 8 bytes.
func (g *Geometry) EntSize(namelen int) int {
	n := 8 + 1 + namelen + 2
	if g.Ftype {
		n++
	}
	return (n + Align - 1) &^ (Align - 1)
}

// DotOffset and DotDotOffset are where "." and ".." sit in the first
// data block; a shortform directory reports them there too.
func (g *Geometry) DotOffset() int    { return g.DataHdrSize() }
func (g *Geometry) DotDotOffset() int { return g.DataHdrSize() + g.EntSize(1) }

// DataFirstOffset is where the first entry after "." and ".." sits
// (data_first_offset): the lowest offset a shortform entry may have.
func (g *Geometry) DataFirstOffset() int { return g.DotDotOffset() + g.EntSize(2) }

// LeafMaxEnts is how many leaf entries a leaf block has room for.
func (g *Geometry) LeafMaxEnts() int { return (g.BlockSize - g.LeafHdrSize()) / 8 }

// FreeMaxBests is how many bests a free-index block has room for.
func (g *Geometry) FreeMaxBests() int { return (g.BlockSize - g.FreeHdrSize()) / 2 }

// dirLog is log2 of the directory block size.
func (g *Geometry) dirLog() uint { return g.FSBlockLog + g.DirBlkLog }

// LeafDA and FreeDA are the fork offsets (dablk: in filesystem blocks)
// where the leaf space (the leaf block, or the da-btree's root) and the
// free-index space begin: 32 and 64 GiB into the directory.
func (g *Geometry) LeafDA() uint32 { return uint32(1 << (SpaceLog - g.FSBlockLog)) }
func (g *Geometry) FreeDA() uint32 { return uint32(2 << (SpaceLog - g.FSBlockLog)) }

// DBToDA converts a directory block number (db: in directory blocks)
// to the fork offset of its first filesystem block (dablk).
func (g *Geometry) DBToDA(db uint32) uint32 { return db << g.DirBlkLog }

// DAToDB converts a fork offset (dablk) to the directory block holding it.
func (g *Geometry) DAToDB(da uint32) uint32 { return da >> g.DirBlkLog }

// Dataptr is the address of the entry at byte off of data block db
// (xfs_dir2_db_off_to_dataptr): its byte offset in the directory in
// 8-byte units. Leaf entries hold it, and readdir's cookies are made of it.
func (g *Geometry) Dataptr(db uint32, off int) uint32 {
	return uint32((uint64(db)<<g.dirLog() + uint64(off)) >> 3)
}

// SplitDataptr converts a dataptr (a leaf entry's address) to the data
// block it points into and the byte offset in that block. Read the
// block at fork offset DBToDA(db).
func (g *Geometry) SplitDataptr(ptr uint32) (db uint32, off int) {
	b := uint64(ptr) << 3
	return uint32(b >> g.dirLog()), int(b & (1<<g.dirLog() - 1))
}

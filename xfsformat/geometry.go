package xfsformat

import "fmt"

// Geometry is what the rest of xfsbox needs from a verified superblock:
// sizes, logs and feature flags, plus the unit conversions between AG
// block numbers, filesystem block numbers, disk addresses and inode
// numbers. Values are bounded by NewGeometry, so callers may size buffers
// from them.
type Geometry struct {
	BlockSize  uint32
	BlockLog   uint
	SectSize   uint32
	SectLog    uint
	AGBlocks   uint32
	AGBlkLog   uint
	AGCount    uint32
	DBlocks    uint64
	InodeSize  uint32
	InoPBlock  uint32
	InoPBLog   uint
	LogStart   uint64 // fsbno of the internal log, 0 if external
	LogBlocks  uint32
	InoAlignMt uint32
	SpinoAlign uint32
	// InoAligned: inode chunks start on InoAlignMt-block boundaries (the
	// superblock's ALIGNBIT; mkfs sets it, with InoAlignMt the inode
	// cluster size, or a whole chunk with sparse inodes).
	InoAligned bool

	Finobt       bool
	Rmapbt       bool
	Reflink      bool
	SparseInodes bool
	InobtCount   bool

	// CRC is a v5 filesystem's: metadata blocks carry a CRC, their
	// owner, block number, LSN and the UUID below (false on v4, whose
	// blocks have none of these, and whose btree blocks have 16-byte
	// headers).
	CRC bool
	// Ftype: directory entries carry a file type (v5's incompat ftype,
	// or v4's features2 ftype).
	Ftype bool

	// UUID stamped into metadata blocks: sb_meta_uuid when the metauuid
	// feature is set, else sb_uuid.
	MetaUUID UUID
}

// Limits xfsbox accepts (the kernel's own).
const (
	MinBlockSize = 1024
	MaxBlockSize = 65536
	MinSectSize  = 512
	MaxSectSize  = 32768
	MinAGBlocks  = 64
	MaxAGCount   = 1 << 20
)

// NewGeometry verifies the superblock's geometry and features and derives
// the Geometry. A v4 filesystem (no CRCs) is accepted when the kernel
// would accept its features; an unknown feature, or a version before 4,
// is refused by name.
func NewGeometry(s *Superblock) (*Geometry, error) {
	bad := func(field, value, format string, args ...any) error {
		return ferr(ErrRange, "sb", 0, -1, field, value, format, args...)
	}
	if s.MagicNum != SBMagic {
		return nil, ferr(ErrNotXFS, "sb", 0, -1, "magicnum", hexText(uint64(s.MagicNum)), "not an XFS superblock (want %#x)", SBMagic)
	}
	switch v := s.VersionNum & 0xf; {
	case v == 5:
		if err := s.checkFeatures(); err != nil {
			return nil, err
		}
	case v == 4:
		if err := s.checkV4Features(); err != nil {
			return nil, err
		}
	case v >= 1 && v <= 3:
		return nil, ferr(ErrUnsupported, "sb", 0, -1, "versionnum", hexText(uint64(s.VersionNum)),
			"v%d filesystem (from IRIX days): xfsbox reads v4 and v5 filesystems", v)
	default:
		return nil, bad("versionnum", hexText(uint64(s.VersionNum)), "unknown superblock version %d", v)
	}
	// Devices besides the data device: not supported yet, and refused by
	// name rather than checked half-blind (a realtime device's bitmap and
	// extents, or an external log's state, would go unseen).
	if s.RBlocks != 0 || s.RExtents != 0 || s.RBMBlocks != 0 {
		return nil, ferr(ErrUnsupported, "sb", 0, -1, "rblocks", fDec("", s.RBlocks).Text,
			"filesystem has a realtime device (%d blocks, %d extents): xfsbox does not support realtime devices yet", s.RBlocks, s.RExtents)
	}
	if s.LogStart == 0 {
		return nil, ferr(ErrUnsupported, "sb", 0, -1, "logstart", "0",
			"filesystem has an external log device: xfsbox supports only internal logs for now")
	}
	if !isPow2(uint64(s.BlockSize)) || s.BlockSize < MinBlockSize || s.BlockSize > MaxBlockSize || 1<<s.BlockLog != s.BlockSize {
		return nil, bad("blocksize", fDec("", uint64(s.BlockSize)).Text, "block size must be a power of two in [%d, %d] matching blocklog %d", MinBlockSize, MaxBlockSize, s.BlockLog)
	}
	if !isPow2(uint64(s.SectSize)) || s.SectSize < MinSectSize || s.SectSize > MaxSectSize || 1<<s.SectLog != uint32(s.SectSize) || uint32(s.SectSize) > s.BlockSize {
		return nil, bad("sectsize", fDec("", uint64(s.SectSize)).Text, "sector size must be a power of two in [%d, min(%d, blocksize)] matching sectlog %d", MinSectSize, MaxSectSize, s.SectLog)
	}
	if s.AGBlocks < MinAGBlocks || s.AGBlkLog == 0 || s.AGBlkLog > 31 || uint64(s.AGBlocks) > 1<<s.AGBlkLog || uint64(s.AGBlocks) <= 1<<(s.AGBlkLog-1) {
		return nil, bad("agblocks", fDec("", uint64(s.AGBlocks)).Text, "AG size inconsistent with agblklog %d", s.AGBlkLog)
	}
	if s.AGCount == 0 || s.AGCount > MaxAGCount {
		return nil, bad("agcount", fDec("", uint64(s.AGCount)).Text, "AG count out of range [1, %d]", MaxAGCount)
	}
	lo := uint64(s.AGCount-1) * uint64(s.AGBlocks)
	hi := uint64(s.AGCount) * uint64(s.AGBlocks)
	if s.DBlocks <= lo || s.DBlocks > hi {
		return nil, bad("dblocks", fDec("", s.DBlocks).Text, "data size does not fit %d AGs of %d blocks", s.AGCount, s.AGBlocks)
	}
	if !isPow2(uint64(s.InodeSize)) || s.InodeSize < 256 || s.InodeSize > 2048 || 1<<s.InodeLog != uint32(s.InodeSize) ||
		uint32(s.InoPBlock) != s.BlockSize/uint32(s.InodeSize) || 1<<s.InoPBLog != uint32(s.InoPBlock) {
		return nil, bad("inodesize", fDec("", uint64(s.InodeSize)).Text, "inode size, inodelog, inopblock and inopblog disagree")
	}
	if uint(s.AGBlkLog)+uint(s.InoPBLog) > 32 {
		return nil, bad("agblklog", fDec("", uint64(s.AGBlkLog)).Text, "AG inode numbers would exceed 32 bits")
	}
	g := &Geometry{
		BlockSize: s.BlockSize, BlockLog: uint(s.BlockLog),
		SectSize: uint32(s.SectSize), SectLog: uint(s.SectLog),
		AGBlocks: s.AGBlocks, AGBlkLog: uint(s.AGBlkLog), AGCount: s.AGCount, DBlocks: s.DBlocks,
		InodeSize: uint32(s.InodeSize), InoPBlock: uint32(s.InoPBlock), InoPBLog: uint(s.InoPBLog),
		LogStart: s.LogStart, LogBlocks: s.LogBlocks, InoAlignMt: s.InoAlignMt, SpinoAlign: s.SpinoAlign,
		Finobt:       s.FeaturesROCompat&ROCompatFinobt != 0,
		Rmapbt:       s.FeaturesROCompat&ROCompatRmapbt != 0,
		Reflink:      s.FeaturesROCompat&ROCompatReflink != 0,
		InobtCount:   s.FeaturesROCompat&ROCompatInobtCount != 0,
		SparseInodes: s.FeaturesIncompat&IncompatSpinodes != 0,
		InoAligned:   s.VersionNum&VersionAlignBit != 0,
		MetaUUID:     s.UUID,
		CRC:          s.VersionNum&0xf == 5,
	}
	g.Ftype = (g.CRC && s.FeaturesIncompat&IncompatFtype != 0) ||
		(!g.CRC && s.VersionNum&VersionMoreBitsBit != 0 && s.Features2&Version2Ftype != 0)
	if !g.CRC {
		// v4 has none of these (its ro-compat and incompat words are
		// zero, or garbage nothing reads).
		g.Finobt, g.Rmapbt, g.Reflink, g.InobtCount, g.SparseInodes = false, false, false, false, false
	}
	if s.FeaturesIncompat&IncompatMetaUUID != 0 {
		g.MetaUUID = s.MetaUUID
	}
	return g, nil
}

func isPow2(v uint64) bool { return v != 0 && v&(v-1) == 0 }

// InodeClusterBlocks is the blocks of one inode cluster buffer, the unit
// inodes are read and written in (xfs_ialloc_setup_geometry): 8 KiB
// scaled by the inode size over 256 bytes (v5) when the inode alignment
// allows that many blocks, and never less than a block.
func (g *Geometry) InodeClusterBlocks() uint32 {
	size := uint32(8192)
	if scaled := size * (g.InodeSize / 256); g.CRC && g.InoAlignMt >= scaled>>g.BlockLog {
		size = scaled
	}
	if size <= g.BlockSize {
		return 1
	}
	return size >> g.BlockLog
}

// AGLength is the number of blocks in AG agno (the last may be short).
func (g *Geometry) AGLength(agno uint32) uint32 {
	if agno+1 < g.AGCount {
		return g.AGBlocks
	}
	return uint32(g.DBlocks - uint64(agno)*uint64(g.AGBlocks))
}

// FSB makes a filesystem block number from an AG and AG block.
func (g *Geometry) FSB(agno, agbno uint32) uint64 {
	return uint64(agno)<<g.AGBlkLog | uint64(agbno)
}

// SplitFSB splits a filesystem block number into AG and AG block.
func (g *Geometry) SplitFSB(fsb uint64) (agno, agbno uint32) {
	return uint32(fsb >> g.AGBlkLog), uint32(fsb & (1<<g.AGBlkLog - 1))
}

// Daddr is the disk address, in 512-byte units, of an AG block.
func (g *Geometry) Daddr(agno, agbno uint32) uint64 {
	return (uint64(agno)*uint64(g.AGBlocks) + uint64(agbno)) << (g.BlockLog - 9)
}

// FSBToDaddr converts a filesystem block number to a disk address.
func (g *Geometry) FSBToDaddr(fsb uint64) uint64 {
	agno, agbno := g.SplitFSB(fsb)
	return g.Daddr(agno, agbno)
}

// ByteOffset is the byte offset in the image of an AG block.
func (g *Geometry) ByteOffset(agno, agbno uint32) int64 {
	return int64(g.Daddr(agno, agbno)) << 9
}

// SectorOffset is the byte offset of sector n (0 sb, 1 agf, 2 agi, 3 agfl)
// of AG agno.
func (g *Geometry) SectorOffset(agno uint32, n int) int64 {
	return g.ByteOffset(agno, 0) + int64(n)*int64(g.SectSize)
}

// AGInoLog is the number of bits of an AG inode number.
func (g *Geometry) AGInoLog() uint { return g.AGBlkLog + g.InoPBLog }

// Ino makes an inode number from an AG and AG inode number.
func (g *Geometry) Ino(agno, agino uint32) uint64 {
	return uint64(agno)<<g.AGInoLog() | uint64(agino)
}

// SplitIno splits an inode number into AG and AG inode number.
func (g *Geometry) SplitIno(ino uint64) (agno, agino uint32) {
	return uint32(ino >> g.AGInoLog()), uint32(ino & (1<<g.AGInoLog() - 1))
}

// AGInoBlock is the AG block holding an AG inode, and the inode's index
// within that block.
func (g *Geometry) AGInoBlock(agino uint32) (agbno uint32, index uint32) {
	return agino >> g.InoPBLog, agino & (g.InoPBlock - 1)
}

// AGIno makes an AG inode number from a block and index.
func (g *Geometry) AGIno(agbno, index uint32) uint32 { return agbno<<g.InoPBLog | index }

// ValidAGIno reports whether agino can be an inode of AG agno: inside
// the AG and past its header blocks (the kernel's xfs_verify_agino,
// without the inode-cluster alignment refinement).
func (g *Geometry) ValidAGIno(agno, agino uint32) bool {
	agbno, _ := g.AGInoBlock(agino)
	return agbno >= g.HeaderBlocks() && agbno < g.AGLength(agno)
}

// ChunkBlocks is the number of blocks an inode chunk (64 inodes) spans:
// 1 when a block holds a whole chunk or more.
func (g *Geometry) ChunkBlocks() uint32 {
	if g.InoPBlock >= InodesPerChunk {
		return 1
	}
	return InodesPerChunk / g.InoPBlock
}

// ChunksPerBlock is the number of inode chunks a block holds: more than
// 1 only when a block holds more than 64 inodes (64 KiB blocks with
// 512-byte inodes hold two). The kernel allocates such a block whole
// (ialloc_inos = max(64, inopblock)), one inobt record per chunk.
func (g *Geometry) ChunksPerBlock() uint32 {
	if g.InoPBlock <= InodesPerChunk {
		return 1
	}
	return g.InoPBlock / InodesPerChunk
}

// ChunkAlign is the block alignment of inode chunk starts: InoAlignMt
// when the filesystem aligns inodes and it is set (0 on a filesystem
// whose blocks hold whole chunks), else 1. Without sparse inodes it is
// the inode cluster (4 blocks for 512-byte inodes and 4 KiB blocks, so
// chunks start every 32 inodes); with them, a whole chunk.
func (g *Geometry) ChunkAlign() uint32 {
	if g.InoAligned && g.InoAlignMt > 0 {
		return g.InoAlignMt
	}
	return 1
}

// ChunkStartProblem says why agino cannot start an inode chunk, or ""
// if it can (xfs_repair's rule for inobt records): a chunk starts on a
// block boundary, or on a 64-inode boundary inside a block holding
// several chunks, and at a block that is a multiple of ChunkAlign.
func (g *Geometry) ChunkStartProblem(agino uint32) string {
	agbno, index := g.AGInoBlock(agino)
	switch {
	case g.InoPBlock <= InodesPerChunk && index != 0:
		return fmt.Sprintf("chunk %d does not start at the first inode of block %d", agino, agbno)
	case g.InoPBlock > InodesPerChunk && index%InodesPerChunk != 0:
		return fmt.Sprintf("chunk %d does not start on a 64-inode boundary of block %d", agino, agbno)
	case agbno%g.ChunkAlign() != 0:
		return fmt.Sprintf("chunk %d starts at block %d, not a multiple of the inode alignment (%d blocks)", agino, agbno, g.ChunkAlign())
	}
	return ""
}

// SectorsPerBlock is blocksize / sectsize.
func (g *Geometry) SectorsPerBlock() uint32 { return g.BlockSize / g.SectSize }

// HeaderBlocks is the number of AG blocks the four header sectors occupy.
func (g *Geometry) HeaderBlocks() uint32 {
	return (4*g.SectSize + g.BlockSize - 1) / g.BlockSize
}

// InternalLogAG reports the AG that holds the internal log, if any.
func (g *Geometry) InternalLogAG() (agno uint32, agbno uint32, ok bool) {
	if g.LogStart == 0 {
		return 0, 0, false
	}
	agno, agbno = g.SplitFSB(g.LogStart)
	return agno, agbno, agno < g.AGCount
}

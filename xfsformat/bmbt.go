package xfsformat

import "encoding/binary"

// The bmap btree maps one inode fork's file offsets to filesystem blocks.
// Unlike the AG btrees its pointers are 64-bit filesystem block numbers
// (a file may span AGs), its blocks carry the long-form header whose owner
// is the inode, and its root is not a block but lives in the inode fork
// (xfs_bmdr_block: level and numrecs, then keys and pointers).

// Bmbt layout constants.
const (
	BmapCRCMagic   = 0x424d4133 // "BMA3"
	BmbtHeaderSize = 72         // long-form v5 header
	// BmapMagic and BmbtHeaderSizeV4 are v4's: "BMAP", and a header of
	// magic, level, numrecs and the two siblings alone.
	BmapMagic        = 0x424d4150
	BmbtHeaderSizeV4 = 24
	bmbtCRCOff       = 64
	BmdrHeaderSize   = 4 // in-inode root: level, numrecs
	BmbtRecLen       = 16
	bmbtKeyLen       = 8 // startoff
	bmbtPtrLen       = 8 // fsbno

	// NullFSBlock is NULLFSBLOCK, "no block" in 64-bit block fields.
	NullFSBlock = ^uint64(0)
	// MaxBmbtExtLen is the longest extent one record can map (21 bits).
	MaxBmbtExtLen = 1<<21 - 1
	// MaxFileOff bounds file offsets (54 bits), in blocks.
	MaxFileOff = 1<<54 - 1
)

// BmbtRec is one extent of a fork: StartOff file blocks from StartBlock
// (a filesystem block number). Unwritten extents read as zeroes.
type BmbtRec struct {
	StartOff   uint64
	StartBlock uint64
	BlockCount uint32
	Unwritten  bool
}

// DecodeBmbtRec unpacks the 128-bit record: bit 127 the unwritten flag,
// then 54 bits of startoff, 52 of startblock and 21 of blockcount.
func DecodeBmbtRec(b []byte) BmbtRec {
	l0, l1 := binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[8:])
	return BmbtRec{
		Unwritten:  l0>>63 != 0,
		StartOff:   (l0 >> 9) & MaxFileOff,
		StartBlock: (l0&0x1ff)<<43 | l1>>21,
		BlockCount: uint32(l1 & MaxBmbtExtLen),
	}
}

// Encode packs the record into b (values are truncated to their widths).
func (r BmbtRec) Encode(b []byte) {
	l0 := (r.StartOff&MaxFileOff)<<9 | (r.StartBlock>>43)&0x1ff
	if r.Unwritten {
		l0 |= 1 << 63
	}
	l1 := r.StartBlock<<21 | uint64(r.BlockCount)&MaxBmbtExtLen
	binary.BigEndian.PutUint64(b[0:], l0)
	binary.BigEndian.PutUint64(b[8:], l1)
}

// BmbtHeader's Encode and NewBmbtBlock go field by field through
// xfs_btree_block's long form; BlockHeader (btree.go) is the short form,
// and sb.go and inode.go are other structures: alike in shape only
// (Layouts in doc.go).

// BmbtHeader is the long-form btree block header (v5's, or with V4 set
// v4's first five fields alone).
type BmbtHeader struct {
	V4       bool
	Magic    uint32
	Level    uint16
	NumRecs  uint16
	LeftSib  uint64 // fsbno or NullFSBlock
	RightSib uint64
	Blkno    uint64 // daddr of this block
	LSN      uint64
	UUID     UUID
	Owner    uint64 // inode number
	CRC      uint32
}

// Encode writes the header into the first BmbtHeaderSize bytes of dst.
func (h *BmbtHeader) Encode(dst []byte) error {
	if len(dst) < BmbtHeaderSize {
		return errShort("bmbt block", BmbtHeaderSize, len(dst))
	}
	be := binary.BigEndian
	be.PutUint32(dst[0:], h.Magic)
	be.PutUint16(dst[4:], h.Level)
	be.PutUint16(dst[6:], h.NumRecs)
	be.PutUint64(dst[8:], h.LeftSib)
	be.PutUint64(dst[16:], h.RightSib)
	if h.V4 {
		return nil
	}
	be.PutUint64(dst[24:], h.Blkno)
	be.PutUint64(dst[32:], h.LSN)
	copy(dst[40:56], h.UUID[:])
	be.PutUint64(dst[56:], h.Owner)
	binary.LittleEndian.PutUint32(dst[bmbtCRCOff:], h.CRC)
	clear(dst[68:BmbtHeaderSize])
	return nil
}

// BmbtBlock is one bmbt node or leaf: a long-form block, or (Root) the
// root in an inode fork, which stores only Level and NumRecs. Both lay
// out records, or keys then pointers, the same way after their header; a
// node's pointers start after room for MaxRecs keys. Indexes are bounded
// by MaxRecs, so a damaged numrecs cannot read out of bounds.
type BmbtBlock struct {
	Hdr  BmbtHeader
	Root bool
	Buf  []byte
}

// NewBmbtBlock decodes the header of a long-form bmbt block (one whole
// filesystem block).
func NewBmbtBlock(buf []byte) (*BmbtBlock, error) {
	if len(buf) < BmbtHeaderSize {
		return nil, errShort("bmbt block", BmbtHeaderSize, len(buf))
	}
	be := binary.BigEndian
	b := &BmbtBlock{Buf: buf, Hdr: BmbtHeader{
		Magic: be.Uint32(buf[0:]), Level: be.Uint16(buf[4:]), NumRecs: be.Uint16(buf[6:]),
		LeftSib: be.Uint64(buf[8:]), RightSib: be.Uint64(buf[16:]), Blkno: be.Uint64(buf[24:]),
		LSN: be.Uint64(buf[32:]), Owner: be.Uint64(buf[56:]), CRC: binary.LittleEndian.Uint32(buf[bmbtCRCOff:]),
	}}
	copy(b.Hdr.UUID[:], buf[40:56])
	return b, nil
}

// NewBmbtBlockOf is NewBmbtBlock on the filesystem of g: on v4 the
// block has v4's 24-byte header, its records right after it.
func NewBmbtBlockOf(buf []byte, g *Geometry) (*BmbtBlock, error) {
	if g == nil || g.CRC {
		return NewBmbtBlock(buf)
	}
	if len(buf) < BmbtHeaderSizeV4 {
		return nil, errShort("bmbt block", BmbtHeaderSizeV4, len(buf))
	}
	be := binary.BigEndian
	return &BmbtBlock{Buf: buf, Hdr: BmbtHeader{V4: true,
		Magic: be.Uint32(buf[0:]), Level: be.Uint16(buf[4:]), NumRecs: be.Uint16(buf[6:]),
		LeftSib: be.Uint64(buf[8:]), RightSib: be.Uint64(buf[16:]),
	}}, nil
}

// BmbtMagic is the filesystem's bmbt block magic: BMA3, or BMAP on v4.
func (g *Geometry) BmbtMagic() uint32 {
	if g.CRC {
		return BmapCRCMagic
	}
	return BmapMagic
}

// bmbtHeaderSize is the filesystem's long-form block header.
func (g *Geometry) bmbtHeaderSize() int {
	if g.CRC {
		return BmbtHeaderSize
	}
	return BmbtHeaderSizeV4
}

// NewBmbtRoot decodes the bmbt root held in a btree-format inode fork.
func NewBmbtRoot(fork []byte) (*BmbtBlock, error) {
	if len(fork) < BmdrHeaderSize {
		return nil, errShort("bmbt root", BmdrHeaderSize, len(fork))
	}
	be := binary.BigEndian
	return &BmbtBlock{Root: true, Buf: fork, Hdr: BmbtHeader{Level: be.Uint16(fork[0:]), NumRecs: be.Uint16(fork[2:])}}, nil
}

func (b *BmbtBlock) hdrLen() int {
	if b.Root {
		return BmdrHeaderSize
	}
	if b.Hdr.V4 {
		return BmbtHeaderSizeV4
	}
	return BmbtHeaderSize
}

// IsLeaf reports whether the block holds extent records (level 0).
func (b *BmbtBlock) IsLeaf() bool { return b.Hdr.Level == 0 }

// MaxRecs is the block's capacity: a record and a key+pointer pair are
// both 16 bytes, so leaves and nodes hold the same number.
func (b *BmbtBlock) MaxRecs() int { return max(len(b.Buf)-b.hdrLen(), 0) / BmbtRecLen }

// NumRecs is numrecs clamped to the capacity.
func (b *BmbtBlock) NumRecs() int { return min(int(b.Hdr.NumRecs), b.MaxRecs()) }

// Rec returns leaf record i.
func (b *BmbtBlock) Rec(i int) BmbtRec {
	return DecodeBmbtRec(b.Buf[b.hdrLen()+i*BmbtRecLen:])
}

// Key returns the startoff key of node slot i.
func (b *BmbtBlock) Key(i int) uint64 {
	return binary.BigEndian.Uint64(b.Buf[b.hdrLen()+i*bmbtKeyLen:])
}

// Ptr returns the child fsbno of node slot i.
func (b *BmbtBlock) Ptr(i int) uint64 {
	return binary.BigEndian.Uint64(b.Buf[b.hdrLen()+b.MaxRecs()*bmbtKeyLen+i*bmbtPtrLen:])
}

// CRCOK reports whether a block's CRC is correct; a root has none.
func (b *BmbtBlock) CRCOK() bool { return b.Root || b.Hdr.V4 || CRCOK(b.Buf, bmbtCRCOff) }

// BmbtCRCOffset is where a long-form block's CRC lives.
func BmbtCRCOffset() int { return bmbtCRCOff }

// CheckFSBExtent reports whether count blocks from filesystem block fsb
// lie inside one AG, past its header sectors: where any file or bmbt
// block may be (xfs_verify_fsbext). It returns the AG and AG block.
func CheckFSBExtent(g *Geometry, fsb, count uint64) (agno, agbno uint32, ok bool) {
	if fsb>>g.AGBlkLog >= uint64(g.AGCount) || count == 0 {
		return 0, 0, false
	}
	agno, agbno = g.SplitFSB(fsb)
	end := uint64(agbno) + count
	return agno, agbno, agbno >= g.HeaderBlocks() && end <= uint64(g.AGLength(agno))
}

// BmbtMaxLevels is the tallest a fork's bmbt may be, root included
// (xfs_bmap_compute_maxlevels): the height that indexes the most extents
// a fork may have at minimum fill, with the root in the inode holding at
// least 3 (data) or 2 (attr) pointers.
func BmbtMaxLevels(g *Geometry, attr, large bool) int {
	minrecs := uint64(max(int(g.BlockSize)-g.bmbtHeaderSize(), 0) / BmbtRecLen / 2)
	if minrecs < 2 {
		return 1
	}
	maxroot := uint64(3)
	if attr {
		maxroot = 2
	}
	blocks := (MaxExtents(large, attr) + minrecs - 1) / minrecs
	level := 1
	for ; blocks > 1; level++ {
		if blocks <= maxroot {
			blocks = 1
		} else {
			blocks = (blocks + minrecs - 1) / minrecs
		}
	}
	return level
}

// VerifyBmbtBlock checks a long-form bmbt block's own header: magic, CRC,
// identity (blkno, uuid, owner inode), sibling pointers and numrecs
// within capacity. fsb is where the block was read from.
func VerifyBmbtBlock(b *BmbtBlock, g *Geometry, fsb, owner uint64) []error {
	var errs []error
	agno, agbno := g.SplitFSB(fsb)
	add := func(kind error, field, value, msg string) {
		e := ferr(kind, "bmbt", int64(agno), int64(agbno), field, value, "%s", msg)
		e.Msg = "inode " + u(owner) + ": " + e.Msg
		errs = append(errs, e)
	}
	if b.Hdr.Magic != g.BmbtMagic() {
		add(ErrMagic, "magic", hexText(uint64(b.Hdr.Magic)), "bad magic number (want "+hexText(uint64(g.BmbtMagic()))+")")
		return errs
	}
	if !b.Hdr.V4 { // v4 blocks carry no CRC and no identity
		if !b.CRCOK() {
			add(ErrCRC, "crc", hexText(uint64(b.Hdr.CRC)), "CRC does not match contents")
		}
		if want := g.FSBToDaddr(fsb); b.Hdr.Blkno != want {
			add(ErrIdentity, "bno", u(b.Hdr.Blkno), "block number stamp is not this block's daddr "+u(want))
		}
		if b.Hdr.UUID != g.MetaUUID {
			add(ErrIdentity, "uuid", b.Hdr.UUID.String(), "uuid is not the filesystem's")
		}
		if b.Hdr.Owner != owner {
			add(ErrIdentity, "owner", u(b.Hdr.Owner), "owner is not inode "+u(owner))
		}
	}
	for _, s := range []struct {
		name string
		v    uint64
	}{{"leftsib", b.Hdr.LeftSib}, {"rightsib", b.Hdr.RightSib}} {
		if s.v == NullFSBlock {
			continue
		}
		if _, _, ok := CheckFSBExtent(g, s.v, 1); !ok || s.v == fsb {
			add(ErrRange, s.name, u(s.v), "sibling pointer is not another block of the filesystem")
		}
	}
	if int(b.Hdr.NumRecs) > b.MaxRecs() {
		add(ErrRange, "numrecs", u(uint64(b.Hdr.NumRecs)), "more records than the block holds ("+u(uint64(b.MaxRecs()))+")")
	}
	return errs
}

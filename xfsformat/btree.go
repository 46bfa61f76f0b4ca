package xfsformat

import (
	"encoding/binary"
	"strconv"
)

// BtreeType names one of the six AG btrees.
type BtreeType int

// The six AG btrees, in the order xfsbox lists them.
const (
	Bnobt BtreeType = iota
	Cntbt
	Inobt
	Finobt
	Rmapbt
	Refcountbt
	NumBtreeTypes
)

// BtreeTypes lists every AG btree type.
var BtreeTypes = []BtreeType{Bnobt, Cntbt, Inobt, Finobt, Rmapbt, Refcountbt}

// Short-form btree block header layout: v5's 56 bytes (with blkno, lsn,
// uuid, owner and CRC), v4's 16 (magic, level, numrecs, siblings).
const (
	BtreeHeaderSize   = 56
	BtreeHeaderSizeV4 = 16
	btreeCRCOff       = 52
	ptrLen            = 4
)

// BtreeOps is the per-type operations table that drives the one generic
// walker, checker and bulk loader: sizes, magic, key extraction and key
// order. Records and keys are handled as raw on-disk bytes.
type BtreeOps struct {
	Type        BtreeType
	Name        string // xfsbox's name: bnobt, cntbt, inobt, finobt, rmapbt, refcountbt
	DBType      string // xfs_db's type name
	Magic       uint32
	HeaderSize  int // BtreeHeaderSize, or BtreeHeaderSizeV4 for v4's ops
	RecLen      int
	KeyLen      int  // one key; overlapping trees store a low and a high key per slot
	Overlapping bool // rmapbt: records may overlap; nodes carry low and high keys
	// RecKey writes the low key of rec into key (KeyLen bytes).
	RecKey func(key, rec []byte)
	// RecHighKey writes the high key of rec (overlapping trees only).
	RecHighKey func(key, rec []byte)
	// MaxRecHighKey, if set, writes the highest RecHighKey of a run of
	// records (some) into key: MaxHighKey of a leaf without a key
	// built and compared per record.
	MaxRecHighKey func(key, recs []byte)
	// CmpKeys orders two keys.
	CmpKeys func(a, b []byte) int
	// Columns and Values render records and node keys as xfs_db does.
	RecColumns func(g *Geometry) []string
	RecValues  func(g *Geometry, rec []byte) []Value
	KeyColumns []string
	KeyValues  func(key []byte) []Value
}

// Value is one column of a record or key: Text as xfs_db prints it, JSON
// for machine output.
type Value struct {
	Text string
	JSON any
}

func vDec(v uint64) Value   { return Value{strconv.FormatUint(v, 10), v} }
func vSigned(v int64) Value { return Value{strconv.FormatInt(v, 10), v} }
func vHex(v uint64) Value   { return Value{hexText(v), v} }
func vBool(b bool) Value {
	if b {
		return Value{"1", true}
	}
	return Value{"0", false}
}

// KeySlot is the bytes one node key slot takes (low+high when overlapping).
func (o *BtreeOps) KeySlot() int {
	if o.Overlapping {
		return 2 * o.KeyLen
	}
	return o.KeyLen
}

// MaxRecs is the number of records (leaf) or key/pointer pairs (node) a
// block of blockSize holds.
func (o *BtreeOps) MaxRecs(blockSize int, leaf bool) int {
	if blockSize <= o.HeaderSize {
		return 0
	}
	if leaf {
		return (blockSize - o.HeaderSize) / o.RecLen
	}
	return (blockSize - o.HeaderSize) / (o.KeySlot() + ptrLen)
}

// MinRecs is MaxRecs/2, the kernel's lower bound for non-root blocks.
func (o *BtreeOps) MinRecs(blockSize int, leaf bool) int { return o.MaxRecs(blockSize, leaf) / 2 }

// MaxLevels is the tallest this tree may be in an AG of agBlocks blocks
// (the kernel's m_*_maxlevels): the height needed to index the most
// records the AG could hold at minimum fill.
func (o *BtreeOps) MaxLevels(g *Geometry) int {
	bs := int(g.BlockSize)
	limits := [2]uint64{uint64(o.MinRecs(bs, true)), uint64(o.MinRecs(bs, false))}
	var records uint64
	switch o.Type {
	case Bnobt, Cntbt:
		records = (uint64(g.AGBlocks) + 1) / 2
	case Inobt, Finobt:
		records = (uint64(g.AGBlocks) << g.InoPBLog) / 64
	case Rmapbt:
		if g.Reflink {
			return spaceToHeight(limits, uint64(g.AGBlocks))
		}
		records = uint64(g.AGBlocks)
	case Refcountbt:
		records = uint64(g.AGBlocks)
	}
	return computeMaxLevels(limits, records)
}

// computeMaxLevels is xfs_btree_compute_maxlevels.
func computeMaxLevels(limits [2]uint64, records uint64) int {
	if limits[0] < 1 || limits[1] < 2 {
		return 1
	}
	maxblocks := (records + limits[0] - 1) / limits[0]
	level := 1
	for ; maxblocks > 1; level++ {
		maxblocks = (maxblocks + limits[1] - 1) / limits[1]
	}
	return level
}

// spaceToHeight is xfs_btree_space_to_height: the tallest tree that fits
// in leafBlocks blocks.
func spaceToHeight(limits [2]uint64, leafBlocks uint64) int {
	if leafBlocks < 1 || limits[1] < 2 {
		return 1
	}
	nodeBlocks := limits[1]
	left := leafBlocks - 1
	height := 1
	for left > nodeBlocks {
		left -= nodeBlocks
		nodeBlocks *= limits[1]
		height++
	}
	return height
}

// Ops returns the operations table of a btree type.
func (t BtreeType) Ops() *BtreeOps { return &btreeOps[t] }

// OpsFor is t's operations table on the filesystem of g: v5's (Ops), or
// on a v4 filesystem the same tree with its v4 magic (ABTB, ABTC, IABT,
// FIBT) and 16-byte block headers.
func (t BtreeType) OpsFor(g *Geometry) *BtreeOps {
	if g != nil && !g.CRC {
		return &btreeOpsV4[t]
	}
	return &btreeOps[t]
}

// btreeOpsV4 are the v4 trees' tables: v5's with the v4 magic numbers
// (xfs_format.h's XFS_ABTB_MAGIC and the rest) and headers. v4 has no
// rmapbt or refcountbt: their entries are never Present.
var btreeOpsV4 = func() (v4 [NumBtreeTypes]BtreeOps) {
	magics := [NumBtreeTypes]uint32{Bnobt: 0x41425442, Cntbt: 0x41425443, Inobt: 0x49414254, Finobt: 0x46494254}
	for t := range v4 {
		v4[t] = btreeOps[t]
		v4[t].Magic, v4[t].HeaderSize = magics[t], BtreeHeaderSizeV4
	}
	return v4
}()

func (t BtreeType) String() string {
	if t < 0 || t >= NumBtreeTypes {
		return "btree(" + strconv.Itoa(int(t)) + ")"
	}
	return btreeOps[t].Name
}

// ParseBtreeType maps a name (ours or xfs_db's) to a type.
func ParseBtreeType(name string) (BtreeType, bool) {
	for i := range btreeOps {
		if btreeOps[i].Name == name || btreeOps[i].DBType == name {
			return BtreeType(i), true
		}
	}
	return 0, false
}

// BlockHeader's decoder, Encode and HeaderFields go field by field
// through xfs_btree_block's short form; BmbtHeader (bmbt.go) is the long
// form, with 64-bit siblings and owner at other offsets, and sb.go,
// agf.go and agi.go are other structures: alike in shape only (Layouts
// in doc.go).

// BlockHeader is the short-form btree block header (v5's, or with V4
// set v4's first five fields alone).
type BlockHeader struct {
	V4       bool
	Magic    uint32
	Level    uint16
	NumRecs  uint16
	LeftSib  uint32
	RightSib uint32
	Blkno    uint64 // daddr of this block
	LSN      uint64
	UUID     UUID
	Owner    uint32 // AG number
	CRC      uint32
}

// DecodeBlockHeader decodes the first BtreeHeaderSize bytes of a block.
func DecodeBlockHeader(buf []byte) (*BlockHeader, error) {
	if len(buf) < BtreeHeaderSize {
		return nil, errShort("btree block", BtreeHeaderSize, len(buf))
	}
	be := binary.BigEndian
	h := &BlockHeader{Magic: be.Uint32(buf[0:]), Level: be.Uint16(buf[4:]), NumRecs: be.Uint16(buf[6:]),
		LeftSib: be.Uint32(buf[8:]), RightSib: be.Uint32(buf[12:]), Blkno: be.Uint64(buf[16:]),
		LSN: be.Uint64(buf[24:]), Owner: be.Uint32(buf[48:]), CRC: binary.LittleEndian.Uint32(buf[52:])}
	copy(h.UUID[:], buf[32:48])
	return h, nil
}

// DecodeBlockHeaderV4 decodes a v4 block's 16-byte header.
func DecodeBlockHeaderV4(buf []byte) (*BlockHeader, error) {
	if len(buf) < BtreeHeaderSizeV4 {
		return nil, errShort("btree block", BtreeHeaderSizeV4, len(buf))
	}
	be := binary.BigEndian
	return &BlockHeader{V4: true, Magic: be.Uint32(buf[0:]), Level: be.Uint16(buf[4:]), NumRecs: be.Uint16(buf[6:]),
		LeftSib: be.Uint32(buf[8:]), RightSib: be.Uint32(buf[12:])}, nil
}

// Encode writes the header into the first BtreeHeaderSize bytes of dst
// (BtreeHeaderSizeV4 for a v4 header).
func (h *BlockHeader) Encode(dst []byte) error {
	size := BtreeHeaderSize
	if h.V4 {
		size = BtreeHeaderSizeV4
	}
	if len(dst) < size {
		return errShort("btree block", size, len(dst))
	}
	be := binary.BigEndian
	be.PutUint32(dst[0:], h.Magic)
	be.PutUint16(dst[4:], h.Level)
	be.PutUint16(dst[6:], h.NumRecs)
	be.PutUint32(dst[8:], h.LeftSib)
	be.PutUint32(dst[12:], h.RightSib)
	if h.V4 {
		return nil
	}
	be.PutUint64(dst[16:], h.Blkno)
	be.PutUint64(dst[24:], h.LSN)
	copy(dst[32:48], h.UUID[:])
	be.PutUint32(dst[48:], h.Owner)
	binary.LittleEndian.PutUint32(dst[52:], h.CRC)
	return nil
}

// BtreeCRCOffset is where a short-form btree block's CRC lives.
func BtreeCRCOffset() int { return btreeCRCOff }

// HeaderFields lists the header as xfs_db prints a btree block.
func (h *BlockHeader) HeaderFields(crcOK bool) []Field {
	short := []Field{
		fHex("magic", uint64(h.Magic)),
		fDec("level", uint64(h.Level)),
		fDec("numrecs", uint64(h.NumRecs)),
		fNull32("leftsib", h.LeftSib),
		fNull32("rightsib", h.RightSib),
	}
	if h.V4 {
		return short
	}
	return append(short, []Field{
		fDec("bno", h.Blkno),
		fHex("lsn", h.LSN),
		fUUID("uuid", h.UUID),
		fDec("owner", uint64(h.Owner)),
		fCRC("crc", h.CRC, crcOK),
	}...)
}

// Block is one btree block with its type, for reading records, keys and
// pointers. Indexes are 0-based and bounded by MaxRecs, never by the
// on-disk numrecs alone, so a damaged numrecs cannot read out of bounds.
type Block struct {
	Ops *BtreeOps
	Hdr BlockHeader
	Buf []byte
}

// NewBlock decodes the header of buf as a block of type t. buf must be
// one whole filesystem block.
func NewBlock(t BtreeType, buf []byte) (*Block, error) {
	h, err := DecodeBlockHeader(buf)
	if err != nil {
		return nil, err
	}
	return &Block{Ops: t.Ops(), Hdr: *h, Buf: buf}, nil
}

// NewBlockOps decodes the header of buf as a block of the tree o
// describes: v5's header, or v4's when o is a v4 table (OpsFor).
func NewBlockOps(o *BtreeOps, buf []byte) (*Block, error) {
	decode := DecodeBlockHeader
	if o.HeaderSize == BtreeHeaderSizeV4 {
		decode = DecodeBlockHeaderV4
	}
	h, err := decode(buf)
	if err != nil {
		return nil, err
	}
	return &Block{Ops: o, Hdr: *h, Buf: buf}, nil
}

// IsLeaf reports whether the block is a leaf (level 0).
func (b *Block) IsLeaf() bool { return b.Hdr.Level == 0 }

// MaxRecs is the capacity of this block at its level.
func (b *Block) MaxRecs() int { return b.Ops.MaxRecs(len(b.Buf), b.IsLeaf()) }

// NumRecs is the on-disk numrecs clamped to the block's capacity.
func (b *Block) NumRecs() int { return min(int(b.Hdr.NumRecs), b.MaxRecs()) }

// Rec returns leaf record i.
func (b *Block) Rec(i int) []byte {
	off := b.Ops.HeaderSize + i*b.Ops.RecLen
	return b.Buf[off : off+b.Ops.RecLen]
}

// Recs returns leaf records i..j-1, which lie together in the block.
func (b *Block) Recs(i, j int) []byte {
	return b.Buf[b.Ops.HeaderSize+i*b.Ops.RecLen : b.Ops.HeaderSize+j*b.Ops.RecLen]
}

// Key returns the (low) key of node slot i.
func (b *Block) Key(i int) []byte {
	off := b.Ops.HeaderSize + i*b.Ops.KeySlot()
	return b.Buf[off : off+b.Ops.KeyLen]
}

// HighKey returns the high key of node slot i of an overlapping tree.
func (b *Block) HighKey(i int) []byte {
	off := b.Ops.HeaderSize + i*b.Ops.KeySlot() + b.Ops.KeyLen
	return b.Buf[off : off+b.Ops.KeyLen]
}

func (b *Block) ptrOff(i int) int {
	return b.Ops.HeaderSize + b.MaxRecs()*b.Ops.KeySlot() + i*ptrLen
}

// FirstKey writes the block's first (low) key into key: the key of its
// first record in a leaf, its first key in a node.
func (b *Block) FirstKey(key []byte) {
	if b.IsLeaf() {
		b.Ops.RecKey(key, b.Rec(0))
		return
	}
	copy(key, b.Key(0))
}

// MaxHighKey writes into key the highest high key of a block of an
// overlapping tree: of every record in a leaf, of every slot in a node.
func (b *Block) MaxHighKey(key []byte) {
	n := b.NumRecs()
	if b.IsLeaf() && b.Ops.MaxRecHighKey != nil {
		if n > 0 {
			b.Ops.MaxRecHighKey(key, b.Recs(0, n))
		}
		return
	}
	var tmpBuf [32]byte
	tmp := tmpBuf[:len(key)]
	for i := 0; i < n; i++ {
		if b.IsLeaf() {
			b.Ops.RecHighKey(tmp, b.Rec(i))
		} else {
			copy(tmp, b.HighKey(i))
		}
		if i == 0 || b.Ops.CmpKeys(tmp, key) > 0 {
			copy(key, tmp)
		}
	}
}

// Ptr returns the child AG block number of node slot i.
func (b *Block) Ptr(i int) uint32 { return binary.BigEndian.Uint32(b.Buf[b.ptrOff(i):]) }

// SetPtr stores the child pointer of node slot i.
func (b *Block) SetPtr(i int, agbno uint32) { binary.BigEndian.PutUint32(b.Buf[b.ptrOff(i):], agbno) }

// CRCOK reports whether the block's CRC is correct (a v4 block has none
// to be wrong).
func (b *Block) CRCOK() bool { return b.Hdr.V4 || CRCOK(b.Buf, btreeCRCOff) }

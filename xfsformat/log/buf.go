package log

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Buffer items (xfs_buf_log_format): a buffer's disk address and length,
// and a bitmap of which 128-byte chunks of it the transaction dirtied;
// the item's other regions are those chunks' bytes, in bitmap order.
const (
	BufChunk       = 128 // XFS_BLF_CHUNK
	BufDataMapSize = 17  // XFS_BLF_DATAMAP_SIZE words: a 64 KiB buffer, plus one
	bufFormatBase  = 20  // offsetof(xfs_buf_log_format, blf_data_map)

	// blf_flags.
	BufInodeBuf  = 1 << 0 // XFS_BLF_INODE_BUF
	BufCancel    = 1 << 1 // XFS_BLF_CANCEL: the buffer is freed, do not replay it
	BufUDquotBuf = 1 << 2
	BufPDquotBuf = 1 << 3
	BufGDquotBuf = 1 << 4
	bufTypeShift = 11 // the buffer's type is in the top 5 bits (XFS_BLFT_SHIFT)
)

// bufTypeNames are enum xfs_blft's names, without XFS_BLFT_ and _BUF.
var bufTypeNames = []string{"unknown", "udquot", "pdquot", "gdquot", "btree", "agf", "agfl", "agi", "dino", "symlink",
	"dir_block", "dir_data", "dir_free", "dir_leaf1", "dir_leafn", "da_node", "attr_leaf", "attr_rmt", "sb", "rtbitmap", "rtsummary"}

// BufFormat is xfs_buf_log_format.
type BufFormat struct {
	Type    uint16
	Size    uint16 // regions: this one and one per dirty run
	Flags   uint16
	Len     uint16 // the buffer's length in BBs
	Blkno   int64  // the buffer's disk address (daddr)
	MapSize uint32 // words of DataMap
	DataMap []uint32
}

// BufType is the buffer's type (enum xfs_blft) from its flags.
func (f *BufFormat) BufType() uint16 { return f.Flags >> bufTypeShift }

// BufTypeName names a buffer type ("agf", "btree", "dir_data").
func BufTypeName(t uint16) string {
	if int(t) < len(bufTypeNames) {
		return bufTypeNames[t]
	}
	return fmt.Sprintf("%d", t)
}

// Placement says where a region of a buffer item goes in the buffer.
type Placement struct {
	Region int // index in the item's regions (1 and up)
	Offset int // bytes into the buffer
	Len    int // bytes of the region to copy
}

// BufItem is a buffer item.
type BufItem struct {
	itemBase
	Format BufFormat
	// Placements map the data regions into the buffer, as the kernel's
	// xlog_recover_do_reg_buffer walks the bitmap.
	Placements []Placement
}

func decodeBuf(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := format(raw, bufFormatBase)
	if err != nil {
		return nil, err
	}
	f := BufFormat{Type: bo.Uint16(b), Size: bo.Uint16(b[2:]), Flags: bo.Uint16(b[4:]), Len: bo.Uint16(b[6:]),
		Blkno: int64(bo.Uint64(b[8:])), MapSize: bo.Uint32(b[16:])}
	if f.MapSize > BufDataMapSize || bufFormatBase+4*int(f.MapSize) > len(b) {
		return nil, fmt.Errorf("blf_map_size %d words in a format region of %d bytes (at most %d words)", f.MapSize, len(b), BufDataMapSize)
	}
	f.DataMap = make([]uint32, f.MapSize)
	for i := range f.DataMap {
		f.DataMap[i] = bo.Uint32(b[bufFormatBase+4*i:])
	}
	it := &BufItem{itemBase: itemBase{typ: ItemBuf, raw: raw}, Format: f}
	it.place()
	return it, nil
}

// mapBit reports whether chunk bit of the map is set: words in the
// writer's order, bit 0 the least significant (xfs_next_bit).
func (f *BufFormat) mapBit(bit int) bool {
	return bit < 32*len(f.DataMap) && f.DataMap[bit/32]&(1<<(bit%32)) != 0
}

// nextBit is the first set bit at or after bit, or -1.
func (f *BufFormat) nextBit(bit int) int {
	for w := bit / 32; w < len(f.DataMap); w++ {
		m := f.DataMap[w]
		if w == bit/32 {
			m &= ^uint32(0) << (bit % 32)
		}
		if m != 0 {
			return 32*w + bits.TrailingZeros32(m)
		}
	}
	return -1
}

// place maps the data regions as recovery does: each region fills the
// next run of dirty chunks, or as many of its chunks as it holds.
func (it *BufItem) place() {
	f := &it.Format
	bit := 0
	regions := it.raw.Regions
	for i := 1; i < len(regions); i++ {
		bit = f.nextBit(bit)
		if bit < 0 {
			it.problem("%d regions, but the bitmap has dirty chunks for %d", len(regions)-1, i-1)
			return
		}
		nbits := 0
		for f.mapBit(bit + nbits) {
			nbits++
		}
		if rl := regions[i].Len; rl < nbits*BufChunk {
			nbits = rl / BufChunk
		}
		if regions[i].Len%BufChunk != 0 {
			it.problem("region %d of %d bytes is not whole chunks", i, regions[i].Len)
		}
		if nbits == 0 {
			it.problem("region %d of %d bytes holds no whole chunk", i, regions[i].Len)
			return
		}
		it.Placements = append(it.Placements, Placement{Region: i, Offset: bit * BufChunk, Len: nbits * BufChunk})
		bit += nbits
	}
	if end := bit * BufChunk; int64(end) > int64(f.Len)*BBSize && f.Flags&BufCancel == 0 {
		it.problem("dirty chunks reach byte %d of a %d-block buffer", end, f.Len)
	}
	if len(regions) == it.raw.Total && f.Flags&BufCancel == 0 && f.nextBit(bit) >= 0 {
		it.problem("the bitmap has dirty chunks past the item's %d regions", len(regions)-1)
	}
}

// Cancelled reports whether the buffer was freed (XFS_BLF_CANCEL): the
// kernel's recovery does not replay it, nor earlier items of its blocks.
func (it *BufItem) Cancelled() bool { return it.Format.Flags&BufCancel != 0 }

// bufFlagNames name blf_flags' bits below the type.
var bufFlagNames = []bitName[uint16]{{BufInodeBuf, "INODE_BUF"}, {BufCancel, "CANCEL"}, {BufUDquotBuf, "UDQUOT_BUF"}, {BufPDquotBuf, "PDQUOT_BUF"}, {BufGDquotBuf, "GDQUOT_BUF"}}

// Fields: blkno (daddr), len (BBs), flags with their names, the type,
// the bitmap's size and the byte ranges the regions cover.
func (it *BufItem) Fields() []xfsformat.Field {
	f := &it.Format
	names := bitNames(f.Flags&(1<<bufTypeShift-1), bufFlagNames)
	ranges := []string{}
	for _, p := range it.Placements {
		ranges = append(ranges, fmt.Sprintf("%d-%d", p.Offset, p.Offset+p.Len-1))
	}
	return []xfsformat.Field{
		xfsformat.FieldHex("blkno", uint64(f.Blkno)),
		xfsformat.FieldDec("len", uint64(f.Len)),
		xfsformat.FieldHex("flags", uint64(f.Flags)),
		{Name: "flagnames", Text: strings.Join(names, "|"), JSON: names},
		{Name: "type", Text: BufTypeName(f.BufType()), JSON: BufTypeName(f.BufType())},
		xfsformat.FieldDec("map_size", uint64(f.MapSize)),
		{Name: "chunks", Text: strings.Join(ranges, ","), JSON: ranges},
		regionsField(it.raw),
	}
}

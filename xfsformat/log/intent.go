package log

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Intent and done items of deferred work. An intent (EFI, RUI, CUI, BUI)
// is a 16-byte header (type, size, count of extents, id) and its
// extents; the done item that retires it names the intent's id (EFD
// repeats the extents; RUD, CUD, BUD, XMD and ATTRD are the 16 bytes
// alone).
const intentHeaderSize = 16

// extentLayout is where an intent type's extent keeps each field: byte
// offsets, -1 where it has none.
type extentLayout struct {
	size                        int
	owner, start, off, len, flg int
	ops                         []string          // names of the operation in the flags' low byte
	named                       map[uint32]string // names of the flags above it
}

// The extents: xfs_extent (EFI, EFD; 16 bytes with the padding 64-bit
// kernels add, 12 on i386), xfs_map_extent (RUI, BUI), xfs_phys_extent
// (CUI).
var (
	freeExtent64 = extentLayout{size: 16, owner: -1, start: 0, off: -1, len: 8, flg: -1}
	freeExtent32 = extentLayout{size: 12, owner: -1, start: 0, off: -1, len: 8, flg: -1}
	rmapExtent   = extentLayout{size: 32, owner: 0, start: 8, off: 16, len: 24, flg: 28,
		ops:   []string{1: "map", "map_shared", "unmap", "unmap_shared", "convert", "convert_shared", "alloc", "free"},
		named: map[uint32]string{1 << 31: "attr_fork", 1 << 30: "bmbt_block", 1 << 29: "unwritten"}}
	bmapExtent = extentLayout{size: 32, owner: 0, start: 8, off: 16, len: 24, flg: 28,
		ops:   []string{1: "map", "unmap"},
		named: map[uint32]string{1 << 31: "attr_fork", 1 << 30: "unwritten", 1 << 29: "realtime"}}
	refcountExtent = extentLayout{size: 16, owner: -1, start: 0, off: -1, len: 8, flg: 12,
		ops: []string{1: "increase", "decrease", "alloc_cow", "free_cow"}}
)

// IntentExtent is one extent of an intent, with the fields its type has
// (the others 0).
type IntentExtent struct {
	Owner      uint64 // RUI, BUI: the inode or special owner
	StartBlock uint64 // fsblock (rtblock for the _RT types)
	StartOff   uint64 // RUI, BUI: file offset
	Len        uint32
	Flags      uint32 // RUI, BUI, CUI: the operation in the low byte, flags above
}

// IntentItem is an EFI, EFD, RUI, CUI or BUI (and their _RT forms).
type IntentItem struct {
	itemBase
	// ID is the intent's id; in an EFD, the id of the EFI it retires.
	ID      uint64
	Extents []IntentExtent
	// Is32 says an EFI's or EFD's extents are in i386's 12-byte layout.
	Is32   bool
	layout *extentLayout
}

func decodeEFI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	return decodeIntent(raw, bo, &freeExtent64, &freeExtent32)
}
func decodeEFD(raw *RawItem, bo binary.ByteOrder) (Item, error) { return decodeEFI(raw, bo) }
func decodeRUI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	return decodeIntent(raw, bo, &rmapExtent)
}
func decodeBUI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	return decodeIntent(raw, bo, &bmapExtent)
}
func decodeCUI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	return decodeIntent(raw, bo, &refcountExtent)
}

// decodeIntent decodes an intent whose format must hold exactly its
// count of extents in one of the layouts.
func decodeIntent(raw *RawItem, bo binary.ByteOrder, layouts ...*extentLayout) (Item, error) {
	b, err := format(raw, intentHeaderSize)
	if err != nil {
		return nil, err
	}
	n := bo.Uint32(b[4:])
	var lay *extentLayout
	for _, l := range layouts {
		if uint64(len(b)) == intentHeaderSize+uint64(n)*uint64(l.size) {
			lay = l
			break
		}
	}
	if lay == nil {
		return nil, fmt.Errorf("format of %d bytes does not hold %d extents", len(b), n)
	}
	it := &IntentItem{itemBase: itemBase{typ: ItemType(bo.Uint16(b)), raw: raw}, ID: bo.Uint64(b[8:]), Is32: lay == &freeExtent32, layout: lay}
	field := func(e []byte, off, size int) uint64 {
		switch {
		case off < 0:
			return 0
		case size == 4:
			return uint64(bo.Uint32(e[off:]))
		}
		return bo.Uint64(e[off:])
	}
	for i := 0; i < int(n); i++ {
		e := b[intentHeaderSize+i*lay.size:]
		it.Extents = append(it.Extents, IntentExtent{Owner: field(e, lay.owner, 8), StartBlock: field(e, lay.start, 8),
			StartOff: field(e, lay.off, 8), Len: uint32(field(e, lay.len, 4)), Flags: uint32(field(e, lay.flg, 4))})
	}
	return it, nil
}

// opText names an extent's flags: its operation, then its flag bits.
func (l *extentLayout) opText(flags uint32) string {
	op := flags & 0xff
	s := fmt.Sprintf("op%d", op)
	if int(op) < len(l.ops) && l.ops[op] != "" {
		s = l.ops[op]
	}
	for bit := uint32(1 << 31); bit > 0xff; bit >>= 1 {
		if flags&bit == 0 {
			continue
		}
		if n, ok := l.named[bit]; ok {
			s += "," + n
		} else {
			s += fmt.Sprintf(",%#x", bit)
		}
	}
	return s
}

// Fields: the id and the extents, each as [owner:]start+len[@offset][ op].
func (it *IntentItem) Fields() []xfsformat.Field {
	l := it.layout
	text := []string{}
	js := []map[string]any{}
	for _, e := range it.Extents {
		s := fmt.Sprintf("%d+%d", e.StartBlock, e.Len)
		j := map[string]any{"startblock": e.StartBlock, "len": e.Len}
		if l.owner >= 0 {
			s = fmt.Sprintf("%d:%s@%d", int64(e.Owner), s, e.StartOff)
			j["owner"], j["startoff"] = int64(e.Owner), e.StartOff
		}
		if l.flg >= 0 {
			op := l.opText(e.Flags)
			s += " " + op
			j["flags"], j["op"] = e.Flags, op
		}
		text = append(text, s)
		js = append(js, j)
	}
	return []xfsformat.Field{xfsformat.FieldHex("id", it.ID), xfsformat.FieldDec("nextents", uint64(len(it.Extents))),
		{Name: "extents", Text: strings.Join(text, " "), JSON: js}}
}

// DoneItem is an RUD, CUD, BUD, XMD or ATTRD (and the _RT forms): the
// intent of IntentID is done.
type DoneItem struct {
	itemBase
	IntentID uint64
}

func decodeDone(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := exactFormat(raw, intentHeaderSize)
	if err != nil {
		return nil, err
	}
	return &DoneItem{itemBase: itemBase{typ: ItemType(bo.Uint16(b)), raw: raw}, IntentID: bo.Uint64(b[8:])}, nil
}

// Fields: the intent's id.
func (it *DoneItem) Fields() []xfsformat.Field {
	return []xfsformat.Field{xfsformat.FieldHex("intent", it.IntentID)}
}

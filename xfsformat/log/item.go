package log

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// ItemType is a log item's type, the first 16-bit word of its format
// structure (XFS_LI_*).
type ItemType uint16

// The log item types of xfs_log_format.h.
const (
	ItemEFI      ItemType = 0x1236
	ItemEFD      ItemType = 0x1237
	ItemIUnlink  ItemType = 0x1238 // never written by Linux
	ItemInode    ItemType = 0x123b
	ItemBuf      ItemType = 0x123c
	ItemDquot    ItemType = 0x123d
	ItemQuotaOff ItemType = 0x123e
	ItemICreate  ItemType = 0x123f
	ItemRUI      ItemType = 0x1240
	ItemRUD      ItemType = 0x1241
	ItemCUI      ItemType = 0x1242
	ItemCUD      ItemType = 0x1243
	ItemBUI      ItemType = 0x1244
	ItemBUD      ItemType = 0x1245
	ItemATTRI    ItemType = 0x1246
	ItemATTRD    ItemType = 0x1247
	ItemXMI      ItemType = 0x1248
	ItemXMD      ItemType = 0x1249
	ItemEFIRT    ItemType = 0x124a
	ItemEFDRT    ItemType = 0x124b
	ItemRUIRT    ItemType = 0x124c
	ItemRUDRT    ItemType = 0x124d
	ItemCUIRT    ItemType = 0x124e
	ItemCUDRT    ItemType = 0x124f
)

// itemOp is what the package knows of one item type: its name (as
// XFS_LI_TYPE_DESC has it, without the prefix) and its decoder. Adding an
// item type is adding an entry and a file.
type itemOp struct {
	name   string
	decode func(raw *RawItem, bo binary.ByteOrder) (Item, error)
}

var itemOps = map[ItemType]itemOp{
	ItemEFI:      {"EFI", decodeEFI},
	ItemEFD:      {"EFD", decodeEFD},
	ItemIUnlink:  {"IUNLINK", nil},
	ItemInode:    {"INODE", decodeInode},
	ItemBuf:      {"BUF", decodeBuf},
	ItemDquot:    {"DQUOT", decodeDquot},
	ItemQuotaOff: {"QUOTAOFF", decodeQuotaOff},
	ItemICreate:  {"ICREATE", decodeICreate},
	ItemRUI:      {"RUI", decodeRUI},
	ItemRUD:      {"RUD", decodeDone},
	ItemCUI:      {"CUI", decodeCUI},
	ItemCUD:      {"CUD", decodeDone},
	ItemBUI:      {"BUI", decodeBUI},
	ItemBUD:      {"BUD", decodeDone},
	ItemATTRI:    {"ATTRI", decodeATTRI},
	ItemATTRD:    {"ATTRD", decodeDone},
	ItemXMI:      {"XMI", decodeXMI},
	ItemXMD:      {"XMD", decodeDone},
	ItemEFIRT:    {"EFI_RT", decodeEFI},
	ItemEFDRT:    {"EFD_RT", decodeEFD},
	ItemRUIRT:    {"RUI_RT", decodeRUI},
	ItemRUDRT:    {"RUD_RT", decodeDone},
	ItemCUIRT:    {"CUI_RT", decodeCUI},
	ItemCUDRT:    {"CUD_RT", decodeDone},
}

// String is the type's name ("BUF", "EFI_RT"), or its number in hex.
func (t ItemType) String() string {
	if op, ok := itemOps[t]; ok {
		return op.name
	}
	return fmt.Sprintf("%#x", uint16(t))
}

// Known reports whether the package decodes items of this type.
func (t ItemType) Known() bool { return itemOps[t].decode != nil }

// Item is a decoded log item.
type Item interface {
	// Type is the item's type.
	Type() ItemType
	// Raw is the item as assembled.
	Raw() *RawItem
	// Fields are the item's format fields, as name = value.
	Fields() []xfsformat.Field
	// Problems say what is wrong with the item (lengths, counts).
	Problems() []string
}

// itemBase is what every item holds.
type itemBase struct {
	typ      ItemType
	raw      *RawItem
	problems []string
}

func (b *itemBase) Type() ItemType     { return b.typ }
func (b *itemBase) Raw() *RawItem      { return b.raw }
func (b *itemBase) Problems() []string { return b.problems }

func (b *itemBase) problem(format string, args ...any) {
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// Unknown is an item of a type the package does not decode (or could not
// decode: Problems say why), shown by its type number and regions.
type Unknown struct {
	itemBase
	Magic uint16
}

// Fields are the type number and the region lengths.
func (u *Unknown) Fields() []xfsformat.Field {
	return []xfsformat.Field{xfsformat.FieldHex("magic", uint64(u.Magic)), regionsField(u.raw)}
}

// DecodeItem decodes an assembled item in the writer's byte order bo. It
// never fails: an item it cannot decode is an *Unknown whose Problems
// say why.
func DecodeItem(raw *RawItem, bo binary.ByteOrder) Item {
	u := &Unknown{itemBase: itemBase{raw: raw}}
	if len(raw.Regions) == 0 || len(raw.Regions[0].Data) < 4 {
		u.problem("no format region")
		return u
	}
	u.Magic = bo.Uint16(raw.Regions[0].Data)
	u.typ = ItemType(u.Magic)
	op, ok := itemOps[u.typ]
	if !ok || op.decode == nil {
		u.problem("unknown item type %#x", u.Magic)
		return u
	}
	it, err := op.decode(raw, bo)
	if err != nil {
		u.problem("%s: %v", u.typ, err)
		return u
	}
	if len(raw.Regions) != raw.Total {
		b := baseOf(it)
		b.problem("%d of its %d regions", len(raw.Regions), raw.Total)
	}
	return it
}

// baseOf is the itemBase of an item the package made.
func baseOf(it Item) *itemBase {
	type based interface{ base() *itemBase }
	return it.(based).base()
}

func (b *itemBase) base() *itemBase { return b }

// regionsField lists the regions' lengths.
func regionsField(raw *RawItem) xfsformat.Field {
	lens := make([]int, len(raw.Regions))
	text := ""
	for i, r := range raw.Regions {
		lens[i] = r.Len
		if i > 0 {
			text += ","
		}
		text += fmt.Sprint(r.Len)
	}
	return xfsformat.Field{Name: "regions", Text: text, JSON: lens}
}

// format is the item's format region, which must be whole and at least
// need bytes long.
func format(raw *RawItem, need int) ([]byte, error) {
	r := raw.Regions[0]
	if !r.Whole() {
		return nil, fmt.Errorf("format region of %d bytes not kept whole", r.Len)
	}
	if len(r.Data) < need {
		return nil, errShort("log item format", need, len(r.Data))
	}
	return r.Data, nil
}

// exactFormat is the item's format region, which must be whole and
// exactly n bytes long.
func exactFormat(raw *RawItem, n int) ([]byte, error) {
	b, err := format(raw, n)
	if err == nil && len(b) != n {
		err = fmt.Errorf("format of %d bytes (want %d)", len(b), n)
	}
	return b, err
}

// bitName names one bit of a flags field.
type bitName[T ~uint8 | ~uint16 | ~uint32] struct {
	bit  T
	name string
}

// bitNames names the bits of v in the table's order, bits it does not
// know in hex.
func bitNames[T ~uint8 | ~uint16 | ~uint32](v T, names []bitName[T]) []string {
	out := []string{}
	for _, n := range names {
		if v&n.bit != 0 {
			out = append(out, n.name)
			v &^= n.bit
		}
	}
	if v != 0 {
		out = append(out, fmt.Sprintf("%#x", v))
	}
	return out
}

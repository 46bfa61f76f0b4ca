package log

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Mapping exchange intents (xfs_xmi_log_format): exchange the mappings of
// a range of two files (XFS_LI_XMI); XMD, the done item, is a DoneItem.
const xmiFormatSize = 88

// ExchangeItem is an XMI.
type ExchangeItem struct {
	itemBase
	ID                   uint64
	Inode1, Inode2       uint64
	IGen1, IGen2         uint32
	StartOff1, StartOff2 uint64
	BlockCount           uint64
	Flags                uint64 // XFS_EXCHMAPS_*
	ISize1, ISize2       int64
}

func decodeXMI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := exactFormat(raw, xmiFormatSize)
	if err != nil {
		return nil, err
	}
	return &ExchangeItem{itemBase: itemBase{typ: ItemXMI, raw: raw}, ID: bo.Uint64(b[8:]),
		Inode1: bo.Uint64(b[16:]), Inode2: bo.Uint64(b[24:]), IGen1: bo.Uint32(b[32:]), IGen2: bo.Uint32(b[36:]),
		StartOff1: bo.Uint64(b[40:]), StartOff2: bo.Uint64(b[48:]), BlockCount: bo.Uint64(b[56:]), Flags: bo.Uint64(b[64:]),
		ISize1: int64(bo.Uint64(b[72:])), ISize2: int64(bo.Uint64(b[80:]))}, nil
}

// Fields: the id, both files and ranges, the flags and sizes.
func (it *ExchangeItem) Fields() []xfsformat.Field {
	return []xfsformat.Field{
		xfsformat.FieldHex("id", it.ID),
		xfsformat.FieldDec("inode1", it.Inode1), xfsformat.FieldDec("igen1", uint64(it.IGen1)), xfsformat.FieldDec("startoff1", it.StartOff1),
		xfsformat.FieldDec("inode2", it.Inode2), xfsformat.FieldDec("igen2", uint64(it.IGen2)), xfsformat.FieldDec("startoff2", it.StartOff2),
		xfsformat.FieldDec("blockcount", it.BlockCount), xfsformat.FieldHex("flags", it.Flags),
		{Name: "isize1", Text: fmt.Sprint(it.ISize1), JSON: it.ISize1}, {Name: "isize2", Text: fmt.Sprint(it.ISize2), JSON: it.ISize2},
	}
}

package log

import (
	"encoding/binary"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Inode creation items (xfs_icreate_log): a chunk of new inodes to
// initialise. Only the type and size are in the writer's byte order; the
// rest is big-endian.
const icreateFormatSize = 28

// ICreateItem is an icreate item.
type ICreateItem struct {
	itemBase
	AG, AGBno uint32 // the first block of the inode range
	Count     uint32 // inodes to initialise
	ISize     uint32 // their size
	Length    uint32 // blocks of the range
	Gen       uint32 // their generation number
}

func decodeICreate(raw *RawItem, _ binary.ByteOrder) (Item, error) {
	b, err := exactFormat(raw, icreateFormatSize)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	return &ICreateItem{itemBase: itemBase{typ: ItemICreate, raw: raw}, AG: be.Uint32(b[4:]), AGBno: be.Uint32(b[8:]),
		Count: be.Uint32(b[12:]), ISize: be.Uint32(b[16:]), Length: be.Uint32(b[20:]), Gen: be.Uint32(b[24:])}, nil
}

// Fields: the range and its inodes.
func (it *ICreateItem) Fields() []xfsformat.Field {
	return []xfsformat.Field{xfsformat.FieldDec("ag", uint64(it.AG)), xfsformat.FieldDec("agbno", uint64(it.AGBno)),
		xfsformat.FieldDec("length", uint64(it.Length)), xfsformat.FieldDec("count", uint64(it.Count)),
		xfsformat.FieldDec("isize", uint64(it.ISize)), xfsformat.FieldHex("gen", uint64(it.Gen))}
}

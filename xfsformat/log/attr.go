package log

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Attribute intents (xfs_attri_log_format): set, remove or replace an
// extended attribute or parent pointer of an inode. The regions after the
// format are the name, the new name (parent pointer replace), the value
// and the new value, each present when it has a length.
const (
	attriFormatSize = 40

	// alfi_op_flags' low byte.
	AttrOpSet         = 1
	AttrOpRemove      = 2
	AttrOpReplace     = 3
	AttrOpPPtrSet     = 4
	AttrOpPPtrRemove  = 5
	AttrOpPPtrReplace = 6
)

var attrOpNames = []string{AttrOpSet: "set", AttrOpRemove: "remove", AttrOpReplace: "replace",
	AttrOpPPtrSet: "pptr_set", AttrOpPPtrRemove: "pptr_remove", AttrOpPPtrReplace: "pptr_replace"}

// AttrItem is an ATTRI.
type AttrItem struct {
	itemBase
	IGen       uint32
	ID         uint64
	Ino        uint64
	OpFlags    uint32
	NameLen    uint32 // alfi_name_len; for pptr_replace the old name's
	NewNameLen uint32 // pptr_replace only
	ValueLen   uint32
	Filter     uint32 // XFS_ATTR_ROOT, SECURE, PARENT, INCOMPLETE
	// Name, NewName, Value and NewValue are the regions, or nil.
	Name, NewName, Value, NewValue *Region
}

// Op is the operation (AttrOp*).
func (it *AttrItem) Op() uint32 { return it.OpFlags & 0xff }

func decodeATTRI(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := exactFormat(raw, attriFormatSize)
	if err != nil {
		return nil, err
	}
	it := &AttrItem{itemBase: itemBase{typ: ItemATTRI, raw: raw}, IGen: bo.Uint32(b[4:]), ID: bo.Uint64(b[8:]), Ino: bo.Uint64(b[16:]),
		OpFlags: bo.Uint32(b[24:]), NameLen: bo.Uint32(b[28:]), ValueLen: bo.Uint32(b[32:]), Filter: bo.Uint32(b[36:])}
	if it.Op() == AttrOpPPtrReplace {
		it.NameLen, it.NewNameLen = uint32(bo.Uint16(b[28:])), uint32(bo.Uint16(b[30:]))
	}
	next := 1
	take := func(present bool, want uint32, what string) *Region {
		if !present {
			return nil
		}
		if next >= len(raw.Regions) {
			it.problem("no %s region", what)
			return nil
		}
		r := &raw.Regions[next]
		next++
		// Regions are padded to 32 bits.
		if uint64(r.Len) < uint64(want) || uint64(r.Len) > uint64(want)+3 {
			it.problem("%s region of %d bytes for a length of %d", what, r.Len, want)
		}
		return r
	}
	replace := it.Op() == AttrOpPPtrReplace
	it.Name = take(it.NameLen > 0, it.NameLen, "name")
	it.NewName = take(replace && it.NewNameLen > 0, it.NewNameLen, "new name")
	it.Value = take(it.ValueLen > 0, it.ValueLen, "value")
	it.NewValue = take(replace && it.ValueLen > 0, it.ValueLen, "new value")
	if next != len(raw.Regions) {
		it.problem("%d regions, the lengths account for %d", len(raw.Regions), next)
	}
	return it, nil
}

// Fields: the inode, operation, filter, lengths and the name.
func (it *AttrItem) Fields() []xfsformat.Field {
	op := fmt.Sprintf("op%d", it.Op())
	if int(it.Op()) < len(attrOpNames) && attrOpNames[it.Op()] != "" {
		op = attrOpNames[it.Op()]
	}
	out := []xfsformat.Field{
		xfsformat.FieldHex("id", it.ID), xfsformat.FieldDec("ino", it.Ino), xfsformat.FieldDec("igen", uint64(it.IGen)),
		{Name: "op", Text: op, JSON: op}, xfsformat.FieldHex("filter", uint64(it.Filter)),
		xfsformat.FieldDec("name_len", uint64(it.NameLen)), xfsformat.FieldDec("value_len", uint64(it.ValueLen)),
	}
	if it.Op() == AttrOpPPtrReplace {
		out = append(out, xfsformat.FieldDec("new_name_len", uint64(it.NewNameLen)))
	}
	if it.Name != nil {
		out = append(out, xfsformat.FieldChars("name", it.Name.Data[:min(len(it.Name.Data), int(it.NameLen))]))
	}
	return out
}

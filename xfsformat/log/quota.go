package log

import (
	"encoding/binary"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Quota items: a dquot's new state (xfs_dq_logformat, then the on-disk
// dquot, big-endian, as its second region) and the quotaoff record
// (xfs_qoff_logformat) older kernels wrote.
const (
	dquotFormatSize    = 24
	quotaOffFormatSize = 20
)

// DquotItem is a dquot item.
type DquotItem struct {
	itemBase
	ID      uint32 // the user, group or project id
	Blkno   int64  // daddr of the dquot's buffer
	Len     int32  // its length in BBs
	Boffset uint32 // the dquot's byte offset in it
	// Dquot is the logged xfs_dqblk (on-disk bytes), or nil.
	Dquot *Region
}

func decodeDquot(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := format(raw, dquotFormatSize)
	if err != nil {
		return nil, err
	}
	it := &DquotItem{itemBase: itemBase{typ: ItemDquot, raw: raw}, ID: bo.Uint32(b[4:]), Blkno: int64(bo.Uint64(b[8:])),
		Len: int32(bo.Uint32(b[16:])), Boffset: bo.Uint32(b[20:])}
	if len(raw.Regions) > 1 {
		it.Dquot = &raw.Regions[1]
	}
	if raw.Total != 2 {
		it.problem("qlf_size %d (want 2)", raw.Total)
	}
	return it, nil
}

// Fields: the id and where the dquot lives.
func (it *DquotItem) Fields() []xfsformat.Field {
	return []xfsformat.Field{xfsformat.FieldDec("id", uint64(it.ID)), xfsformat.FieldDec("blkno", uint64(it.Blkno)),
		xfsformat.FieldDec("len", uint64(uint32(it.Len))), xfsformat.FieldDec("boffset", uint64(it.Boffset)), regionsField(it.raw)}
}

// QuotaOffItem is a quotaoff item.
type QuotaOffItem struct {
	itemBase
	Flags uint32 // the quota types turned off (XFS_*QUOTA_ACCT)
}

func decodeQuotaOff(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := exactFormat(raw, quotaOffFormatSize)
	if err != nil {
		return nil, err
	}
	return &QuotaOffItem{itemBase: itemBase{typ: ItemQuotaOff, raw: raw}, Flags: bo.Uint32(b[4:])}, nil
}

// Fields: the flags.
func (it *QuotaOffItem) Fields() []xfsformat.Field {
	return []xfsformat.Field{xfsformat.FieldHex("flags", uint64(it.Flags))}
}

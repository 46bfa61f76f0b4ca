package log

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Inode items (xfs_inode_log_format): which parts of an inode the
// transaction logged (ilf_fields), where the inode lives, then the
// logged core (always) and the data and attribute fork regions the
// fields name. 32-bit kernels logged the format without the padding
// before ilf_ino (xfs_inode_log_format_32).
const (
	InodeFormatSize   = 56
	InodeFormatSize32 = 52

	// ilf_fields (XFS_ILOG_*).
	ILogCore   = 0x001
	ILogDData  = 0x002
	ILogDExt   = 0x004
	ILogDBroot = 0x008
	ILogDev    = 0x010
	ILogUUID   = 0x020
	ILogAData  = 0x040
	ILogAExt   = 0x080
	ILogABroot = 0x100
	ILogDOwner = 0x200
	ILogAOwner = 0x400
	ILogDFork  = ILogDData | ILogDExt | ILogDBroot
	ILogAFork  = ILogAData | ILogAExt | ILogABroot
)

var ilogNames = []bitName[uint32]{{ILogCore, "CORE"}, {ILogDData, "DDATA"}, {ILogDExt, "DEXT"}, {ILogDBroot, "DBROOT"}, {ILogDev, "DEV"}, {ILogUUID, "UUID"},
	{ILogAData, "ADATA"}, {ILogAExt, "AEXT"}, {ILogABroot, "ABROOT"}, {ILogDOwner, "DOWNER"}, {ILogAOwner, "AOWNER"}}

// ILogNames names ilf_fields' bits ("CORE", "DEXT"), unknown bits in hex.
func ILogNames(f uint32) []string { return bitNames(f, ilogNames) }

// InodeFormat is xfs_inode_log_format.
type InodeFormat struct {
	Type    uint16
	Size    uint16 // regions
	Fields  uint32 // XFS_ILOG_*
	ASize   uint16 // bytes of the attribute fork region
	DSize   uint16 // bytes of the data fork region
	Ino     uint64
	Rdev    uint32   // ilfu_rdev, with ILogDev
	U       [16]byte // the whole ilf_u union
	Blkno   int64    // daddr of the inode's cluster buffer
	Len     int32    // its length in BBs
	Boffset int32    // the inode's byte offset in it
	Is32    bool     // logged in the 32-bit layout
}

// InodeItem is an inode item.
type InodeItem struct {
	itemBase
	Format InodeFormat
	// Core is the logged inode core, nil when its region is missing or
	// short (Problems say which).
	Core *LogDinode
	// Data and Attr are the fork regions the fields name, or nil.
	Data, Attr *Region
}

func decodeInode(raw *RawItem, bo binary.ByteOrder) (Item, error) {
	b, err := format(raw, InodeFormatSize32)
	if err != nil {
		return nil, err
	}
	f := InodeFormat{Type: bo.Uint16(b), Size: bo.Uint16(b[2:]), Fields: bo.Uint32(b[4:]), ASize: bo.Uint16(b[8:]), DSize: bo.Uint16(b[10:])}
	rest := b[12:] // ilf_ino on, after the 64-bit layout's ilf_pad
	switch len(b) {
	case InodeFormatSize:
		rest = b[16:]
	case InodeFormatSize32:
		f.Is32 = true
	default:
		return nil, fmt.Errorf("inode format of %d bytes (want %d or %d)", len(b), InodeFormatSize, InodeFormatSize32)
	}
	f.Ino = bo.Uint64(rest)
	copy(f.U[:], rest[8:24])
	f.Rdev = bo.Uint32(rest[8:])
	f.Blkno = int64(bo.Uint64(rest[24:]))
	f.Len = int32(bo.Uint32(rest[32:]))
	f.Boffset = int32(bo.Uint32(rest[36:]))
	it := &InodeItem{itemBase: itemBase{typ: ItemInode, raw: raw}, Format: f}
	// The regions: format, core, then the data fork's and the attr
	// fork's if the fields name them (xlog_recover_inode_commit_pass2).
	want := 2
	if f.Fields&ILogDFork != 0 {
		want++
	}
	if f.Fields&ILogAFork != 0 {
		want++
	}
	if int(f.Size) != want {
		it.problem("ilf_size %d, but the fields %s make %d regions", f.Size, strings.Join(ILogNames(f.Fields), "|"), want)
	}
	regions := raw.Regions
	if len(regions) > 1 {
		core, err := DecodeLogDinode(regions[1].Data, bo)
		if err != nil {
			it.problem("core: %v", err)
		} else {
			it.Core = core
		}
	}
	next := 2
	if f.Fields&ILogDFork != 0 && next < len(regions) {
		it.Data = &regions[next]
		next++
	}
	if f.Fields&ILogAFork != 0 && next < len(regions) {
		it.Attr = &regions[next]
	}
	return it, nil
}

// Fields: the inode, what was logged and where it lives, and a summary
// of the logged core.
func (it *InodeItem) Fields() []xfsformat.Field {
	f := &it.Format
	names := ILogNames(f.Fields)
	out := []xfsformat.Field{
		xfsformat.FieldHex("ino", f.Ino),
		xfsformat.FieldHex("fields", uint64(f.Fields)),
		{Name: "fieldnames", Text: strings.Join(names, "|"), JSON: names},
		xfsformat.FieldDec("dsize", uint64(f.DSize)),
		xfsformat.FieldDec("asize", uint64(f.ASize)),
		xfsformat.FieldDec("blkno", uint64(f.Blkno)),
		xfsformat.FieldDec("len", uint64(uint32(f.Len))),
		xfsformat.FieldDec("boffset", uint64(uint32(f.Boffset))),
	}
	if f.Fields&ILogDev != 0 {
		out = append(out, xfsformat.FieldHex("rdev", uint64(f.Rdev)))
	}
	if c := it.Core; c != nil {
		out = append(out,
			xfsformat.Field{Name: "core.mode", Text: fmt.Sprintf("%#o", c.Mode), JSON: uint64(c.Mode)},
			xfsformat.FieldDec("core.version", uint64(c.Version)),
			xfsformat.FieldDec("core.format", uint64(c.Format)),
			xfsformat.FieldDec("core.nlink", uint64(c.Nlink)),
			xfsformat.FieldDec("core.size", c.Size),
			xfsformat.FieldDec("core.nblocks", c.Nblocks),
			xfsformat.FieldDec("core.nextents", c.DataExtents()),
			xfsformat.FieldDec("core.naextents", c.AttrExtents()),
			xfsformat.FieldDec("core.gen", uint64(c.Gen)))
	}
	return append(out, regionsField(it.raw))
}

package da

import (
	"encoding/binary"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Magic numbers of the blocks that start with a da block header
// (xfs_da_format.h). The v3 (CRC) magics are the v5 filesystem's.
const (
	NodeMagic      = 0xfebe // XFS_DA_NODE_MAGIC
	Node3Magic     = 0x3ebe // XFS_DA3_NODE_MAGIC
	DirLeaf1Magic  = 0xd2f1 // XFS_DIR2_LEAF1_MAGIC
	DirLeafNMagic  = 0xd2ff // XFS_DIR2_LEAFN_MAGIC
	Dir3Leaf1Magic = 0x3df1 // XFS_DIR3_LEAF1_MAGIC
	Dir3LeafNMagic = 0x3dff // XFS_DIR3_LEAFN_MAGIC
	AttrLeafMagic  = 0xfbee // XFS_ATTR_LEAF_MAGIC
	Attr3LeafMagic = 0x3bee // XFS_ATTR3_LEAF_MAGIC
)

// Sizes of the headers, and where the v3 header keeps its CRC.
const (
	BlkInfoSize  = 12 // xfs_da_blkinfo: forw, back, magic, pad
	BlkInfo3Size = 56 // xfs_da3_blkinfo: + crc, blkno, lsn, uuid, owner
	CRCOffset    = 12
)

// IsV3Magic reports whether magic is one of the v3 da magics, whose
// blocks carry the 56-byte xfs_da3_blkinfo.
func IsV3Magic(magic uint16) bool {
	switch magic {
	case Node3Magic, Dir3Leaf1Magic, Dir3LeafNMagic, Attr3LeafMagic:
		return true
	}
	return false
}

// BlkInfo is the header that starts every da block: the sibling links
// of its level, its magic and, on v3 blocks, its identity.
type BlkInfo struct {
	Forw, Back uint32 // sibling blocks (directory/attr block numbers), 0 = none
	Magic      uint16
	Pad        uint16
	V3         bool // the fields below are present
	CRC        uint32
	Blkno      uint64 // the block's own disk address (daddr of its first sector)
	LSN        uint64
	UUID       xfsformat.UUID
	Owner      uint64 // the inode whose fork holds the block
}

// DecodeBlkInfo reads a da block header. Whether it is the v3 header
// follows from the magic.
func DecodeBlkInfo(buf []byte) (BlkInfo, error) {
	var b BlkInfo
	if len(buf) < BlkInfoSize {
		return b, xfsformat.Errorf(xfsformat.ErrShort, "da block", -1, -1, "", "", "need %d bytes, have %d", BlkInfoSize, len(buf))
	}
	be := binary.BigEndian
	b.Forw, b.Back, b.Magic, b.Pad = be.Uint32(buf), be.Uint32(buf[4:]), be.Uint16(buf[8:]), be.Uint16(buf[10:])
	if !IsV3Magic(b.Magic) {
		return b, nil
	}
	if len(buf) < BlkInfo3Size {
		return b, xfsformat.Errorf(xfsformat.ErrShort, "da block", -1, -1, "", "", "need %d bytes, have %d", BlkInfo3Size, len(buf))
	}
	b.V3 = true
	b.CRC = binary.LittleEndian.Uint32(buf[CRCOffset:])
	b.Blkno, b.LSN = be.Uint64(buf[16:]), be.Uint64(buf[24:])
	copy(b.UUID[:], buf[32:48])
	b.Owner = be.Uint64(buf[48:])
	return b, nil
}

// Size is the header's length on disk.
func (b *BlkInfo) Size() int {
	if b.V3 {
		return BlkInfo3Size
	}
	return BlkInfoSize
}

// Encode writes the header into dst (the CRC as stored; callers update
// it after the whole block is written).
func (b *BlkInfo) Encode(dst []byte) error {
	if len(dst) < b.Size() {
		return xfsformat.Errorf(xfsformat.ErrShort, "da block", -1, -1, "", "", "need %d bytes, have %d", b.Size(), len(dst))
	}
	be := binary.BigEndian
	be.PutUint32(dst, b.Forw)
	be.PutUint32(dst[4:], b.Back)
	be.PutUint16(dst[8:], b.Magic)
	be.PutUint16(dst[10:], b.Pad)
	if b.V3 {
		binary.LittleEndian.PutUint32(dst[CRCOffset:], b.CRC)
		be.PutUint64(dst[16:], b.Blkno)
		be.PutUint64(dst[24:], b.LSN)
		copy(dst[32:48], b.UUID[:])
		be.PutUint64(dst[48:], b.Owner)
	}
	return nil
}

// Fields are the header as xfs_db prints it, under prefix (xfs_db's
// "nhdr.info" and "lhdr.info" for directory node and leaf blocks,
// "hdr.info" for attribute blocks): the v4 part is prefix.forw, back,
// magic on v4 blocks and prefix.hdr.* on v3 ones, the v3 additions
// prefix.crc, bno, lsn, uuid, owner (xfs_db's da3_blkinfo field table;
// bno is the disk address). xfs_db never prints the pad (FLD_SKIPALL).
func (b *BlkInfo) Fields(prefix string, crcOK bool) []xfsformat.Field {
	h := prefix
	if b.V3 {
		h += ".hdr"
	}
	fs := []xfsformat.Field{
		dec(h+".forw", uint64(b.Forw)), dec(h+".back", uint64(b.Back)),
		hex(h+".magic", uint64(b.Magic)),
	}
	if !b.V3 {
		return fs
	}
	return append(fs,
		xfsformat.FieldCRC(prefix+".crc", b.CRC, crcOK),
		dec(prefix+".bno", b.Blkno), hex(prefix+".lsn", b.LSN),
		xfsformat.FieldUUID(prefix+".uuid", b.UUID),
		xfsformat.FieldIno64(prefix+".owner", b.Owner))
}

// Verify checks the header's identity as the kernel's da verifiers do
// (xfs_da3_blkinfo_verify): for v3 blocks the filesystem uuid, the
// block's own address and, when owner is not 0, the owning inode.
// daddr is where the block was read from.
func (b *BlkInfo) Verify(st string, uuid xfsformat.UUID, daddr, owner uint64) []error {
	if !b.V3 {
		return nil
	}
	var errs []error
	if b.UUID != uuid {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, "hdr.info.uuid", b.UUID.String(), "uuid is not the filesystem's (%s)", uuid))
	}
	if b.Blkno != daddr {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, "hdr.info.bno", strconv.FormatUint(b.Blkno, 10), "block says it lives at daddr %d, read from %d", b.Blkno, daddr))
	}
	if owner != 0 && b.Owner != owner {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, "hdr.info.owner", strconv.FormatUint(b.Owner, 10), "block belongs to inode %d, read for inode %d", b.Owner, owner))
	}
	return errs
}

var (
	dec = xfsformat.FieldDec
	hex = xfsformat.FieldHex
)

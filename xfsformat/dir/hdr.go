package dir

import (
	"encoding/binary"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// BlkHdr starts data, block and free-index blocks: on v5 the
// xfs_dir3_blk_hdr (magic, CRC, own address, LSN, filesystem uuid,
// owning inode), on v4 the magic alone.
type BlkHdr struct {
	Magic uint32
	V3    bool // the fields below are present
	CRC   uint32
	Blkno uint64 // the block's disk address (daddr of its first sector)
	LSN   uint64
	UUID  xfsformat.UUID
	Owner uint64
}

func decodeBlkHdr(buf []byte, v3 bool) BlkHdr {
	be := binary.BigEndian
	h := BlkHdr{Magic: be.Uint32(buf), V3: v3}
	if v3 {
		h.CRC = binary.LittleEndian.Uint32(buf[CRCOffset:])
		h.Blkno, h.LSN = be.Uint64(buf[8:]), be.Uint64(buf[16:])
		copy(h.UUID[:], buf[24:40])
		h.Owner = be.Uint64(buf[40:])
	}
	return h
}

func (h *BlkHdr) size() int {
	if h.V3 {
		return blkHdr3Size
	}
	return 4
}

// encode writes the header. The v3 identity fields are those of
// xfsformat/da's BlkInfo, written the same way, but after a 4-byte magic
// instead of the da header's sibling links: two layouts, two encoders.
func (h *BlkHdr) encode(dst []byte) {
	be := binary.BigEndian
	be.PutUint32(dst, h.Magic)
	if h.V3 {
		binary.LittleEndian.PutUint32(dst[CRCOffset:], h.CRC)
		be.PutUint64(dst[8:], h.Blkno)
		be.PutUint64(dst[16:], h.LSN)
		copy(dst[24:40], h.UUID[:])
		be.PutUint64(dst[40:], h.Owner)
	}
}

// fields are the header as xfs_db prints it under prefix: v5 as
// prefix.hdr.{magic,crc,bno,lsn,uuid,owner} (dir3_blkhdr), v4 as
// prefix.magic.
func (h *BlkHdr) fields(prefix string, crcOK bool) []xfsformat.Field {
	if !h.V3 {
		return []xfsformat.Field{hex(prefix+".magic", uint64(h.Magic))}
	}
	p := prefix + ".hdr."
	return []xfsformat.Field{
		hex(p+"magic", uint64(h.Magic)),
		xfsformat.FieldCRC(p+"crc", h.CRC, crcOK),
		dec(p+"bno", h.Blkno),
		hex(p+"lsn", h.LSN),
		xfsformat.FieldUUID(p+"uuid", h.UUID),
		xfsformat.FieldIno64(p+"owner", h.Owner),
	}
}

// verify makes the identity checks of the kernel's dir3 verifiers: the
// CRC, the filesystem's uuid, the block's own address and (when owner
// is not 0) the owning inode (the *_header_check at read time). The
// LSN check against the log's head (xfs_log_check_lsn) needs the log
// and is left to the caller. prefix is xfs_db's ("dhdr", "bhdr", "fhdr").
func (h *BlkHdr) verify(st, prefix string, buf []byte, g *Geometry, daddr, owner uint64) []error {
	if !h.V3 {
		return nil
	}
	var errs []error
	if !xfsformat.CRCOK(buf, CRCOffset) {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrCRC, st, -1, -1, prefix+".hdr.crc", xfsformat.FieldCRC("", h.CRC, false).Text, "CRC does not match the block's contents"))
	}
	if h.UUID != g.MetaUUID {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, prefix+".hdr.uuid", h.UUID.String(), "uuid is not the filesystem's (%s)", g.MetaUUID))
	}
	if h.Blkno != daddr {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, prefix+".hdr.bno", strconv.FormatUint(h.Blkno, 10), "block says it lives at daddr %d, read from %d", h.Blkno, daddr))
	}
	if owner != 0 && h.Owner != owner {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, prefix+".hdr.owner", strconv.FormatUint(h.Owner, 10), "block belongs to inode %d, read for inode %d", h.Owner, owner))
	}
	return errs
}

var (
	dec = xfsformat.FieldDec
	hex = xfsformat.FieldHex
)

// magicErr reports a wrong magic number.
func magicErr(st, field string, got uint64, want ...uint64) error {
	ws := ""
	for i, w := range want {
		if i > 0 {
			ws += " or "
		}
		ws += xfsformat.HexText(w)
	}
	return xfsformat.Errorf(xfsformat.ErrMagic, st, -1, -1, field, xfsformat.HexText(got), "not a %s (want %s)", st, ws)
}

// ferr is a FormatError without AG or block (the caller knows where
// the directory block lives and may say so).
func ferr(kind error, st, field, value, format string, args ...any) error {
	return xfsformat.Errorf(kind, st, -1, -1, field, value, format, args...)
}

// short reports a buffer too short for what st needs.
func short(st string, need, have int) error {
	return ferr(xfsformat.ErrShort, st, "", "", "need %d bytes, have %d", need, have)
}

// sizeErr reports a buffer that is not one directory block.
func sizeErr(st string, have, want int) error {
	switch {
	case have < want:
		return ferr(xfsformat.ErrShort, st, "", "", "block is %d bytes, directory blocks are %d", have, want)
	case have > want:
		return ferr(xfsformat.ErrRange, st, "", "", "block is %d bytes, directory blocks are %d", have, want)
	}
	return nil
}

func itoa(v int) string { return strconv.Itoa(v) }

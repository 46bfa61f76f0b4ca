package dinode

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Remote symlink blocks (xfs_dsymlink_hdr, v5): each extent of a
// symlink's data fork is one buffer that starts with this header.
const (
	SymlinkMagic   = 0x58534c4d // "XSLM"
	SymlinkHdrSize = 56
	symlinkCRCOff  = 12
	// SymlinkMaxLen bounds a target (XFS_SYMLINK_MAXLEN): readlink
	// takes up to this many bytes, a remote block's range must end below.
	SymlinkMaxLen = 1024
)

// SymlinkHeader is xfs_dsymlink_hdr: which bytes of the target the
// buffer holds (Offset, Bytes), its CRC and identity.
type SymlinkHeader struct {
	Magic, Offset, Bytes, CRC uint32
	UUID                      xfsformat.UUID
	Owner, Blkno, LSN         uint64
}

// SymlinkBlock is one remote symlink buffer: a header, then the data.
type SymlinkBlock struct {
	Hdr SymlinkHeader
	Buf []byte
}

// DecodeSymlinkBlock decodes a remote symlink buffer (one extent's
// blocks, usually one block).
func DecodeSymlinkBlock(buf []byte) (*SymlinkBlock, error) {
	if len(buf) < SymlinkHdrSize {
		return nil, &xfsformat.FormatError{Struct: "symlink", AG: -1, Block: -1, Kind: xfsformat.ErrShort,
			Msg: fmt.Sprintf("need %d bytes, have %d", SymlinkHdrSize, len(buf))}
	}
	be := binary.BigEndian
	b := &SymlinkBlock{Buf: buf, Hdr: SymlinkHeader{
		Magic: be.Uint32(buf[0:]), Offset: be.Uint32(buf[4:]), Bytes: be.Uint32(buf[8:]),
		CRC:   binary.LittleEndian.Uint32(buf[symlinkCRCOff:]),
		Owner: be.Uint64(buf[32:]), Blkno: be.Uint64(buf[40:]), LSN: be.Uint64(buf[48:]),
	}}
	copy(b.Hdr.UUID[:], buf[16:32])
	return b, nil
}

// Encode writes the header into the first SymlinkHdrSize bytes of dst
// (the CRC as it is: see UpdateCRC).
func (h *SymlinkHeader) Encode(dst []byte) error {
	if len(dst) < SymlinkHdrSize {
		return &xfsformat.FormatError{Struct: "symlink", AG: -1, Block: -1, Kind: xfsformat.ErrShort,
			Msg: fmt.Sprintf("need %d bytes, have %d", SymlinkHdrSize, len(dst))}
	}
	be := binary.BigEndian
	be.PutUint32(dst[0:], h.Magic)
	be.PutUint32(dst[4:], h.Offset)
	be.PutUint32(dst[8:], h.Bytes)
	binary.LittleEndian.PutUint32(dst[symlinkCRCOff:], h.CRC)
	copy(dst[16:32], h.UUID[:])
	be.PutUint64(dst[32:], h.Owner)
	be.PutUint64(dst[40:], h.Blkno)
	be.PutUint64(dst[48:], h.LSN)
	return nil
}

// SymlinkCRCOffset is where a symlink buffer's CRC lives; the CRC
// covers the whole buffer.
func SymlinkCRCOffset() int { return symlinkCRCOff }

// CRCOK reports whether the buffer's CRC is right.
func (b *SymlinkBlock) CRCOK() bool { return xfsformat.CRCOK(b.Buf, symlinkCRCOff) }

// Data is the target bytes the buffer holds: Bytes of them, bounded by
// the buffer.
func (b *SymlinkBlock) Data() []byte {
	return b.Buf[SymlinkHdrSize:][:min(uint64(b.Hdr.Bytes), uint64(len(b.Buf)-SymlinkHdrSize))]
}

// Fields lists the buffer as xfs_db prints a symlink block ("dblock 0"
// of a remote symlink, or "type symlink"): no data when the magic is
// wrong, as xfs_db.
func (b *SymlinkBlock) Fields() []xfsformat.Field {
	p := &printer{}
	h := &b.Hdr
	p.hex("magic", uint64(h.Magic))
	p.dec("offset", uint64(h.Offset))
	p.dec("bytes", uint64(h.Bytes))
	p.crc("crc", h.CRC, b.CRCOK())
	p.uuid("uuid", h.UUID)
	p.decNull("owner", h.Owner, xfsformat.NullFSIno)
	p.decNull("bno", h.Blkno, xfsformat.NullFSBlock)
	p.hex("lsn", h.LSN)
	if h.Magic == SymlinkMagic {
		if d := b.Data(); len(d) > 0 {
			p.chars("data", d)
		}
	}
	return p.out
}

// VerifySymlinkBlock checks a remote symlink buffer as the kernel does
// when it reads one (xfs_symlink_verify): magic, CRC, uuid, the daddr
// stamp (daddr: where the buffer was read), a nonzero owner and a range
// within the longest target; and, as readlink does (xfs_symlink_hdr_ok),
// that it holds the bytes [offset, offset+n) of inode owner's target.
func VerifySymlinkBlock(fs *FS, b *SymlinkBlock, daddr, owner uint64, offset, n uint32) []error {
	var errs []error
	add := func(kind error, field, value, format string, args ...any) {
		errs = append(errs, &xfsformat.FormatError{Struct: "symlink", AG: -1, Block: -1, Field: field, Value: value,
			Msg: "inode " + strconv.FormatUint(owner, 10) + ": " + fmt.Sprintf(format, args...), Kind: kind})
	}
	h := &b.Hdr
	if h.Magic != SymlinkMagic {
		add(xfsformat.ErrMagic, "magic", hexText(uint64(h.Magic)), "not a symlink block")
		return errs
	}
	if !b.CRCOK() {
		add(xfsformat.ErrCRC, "crc", hexText(uint64(h.CRC)), "CRC does not match contents")
	}
	if h.UUID != fs.Geo.MetaUUID {
		add(xfsformat.ErrIdentity, "uuid", h.UUID.String(), "uuid is not the filesystem's")
	}
	if h.Blkno != daddr {
		add(xfsformat.ErrIdentity, "bno", strconv.FormatUint(h.Blkno, 10), "daddr stamp is not this block's (%d)", daddr)
	}
	if uint64(h.Offset)+uint64(h.Bytes) >= SymlinkMaxLen {
		add(xfsformat.ErrRange, "bytes", strconv.FormatUint(uint64(h.Bytes), 10), "offset %d + bytes reach the longest target (%d)", h.Offset, SymlinkMaxLen-1)
	}
	if h.Owner != owner {
		add(xfsformat.ErrIdentity, "owner", strconv.FormatUint(h.Owner, 10), "owner is not inode %d", owner)
	}
	if h.Offset != offset {
		add(xfsformat.ErrRange, "offset", strconv.FormatUint(uint64(h.Offset), 10), "the buffer should hold the target from byte %d", offset)
	}
	if h.Bytes != n {
		add(xfsformat.ErrRange, "bytes", strconv.FormatUint(uint64(h.Bytes), 10), "the buffer should hold %d bytes of the target", n)
	}
	return errs
}

// Target returns a symlink's target: for a local data fork its first
// di_size bytes; for a remote one the data of its blocks, read through
// read, each extent one buffer whose header is checked as the kernel's
// readlink does (VerifySymlinkBlock). Holes, a size outside 1 to
// SymlinkMaxLen and a NUL in an inline target are errors.
func Target(fs *FS, c *Core, read BlockReader) ([]byte, error) {
	if c.FileType() != xfsformat.ModeSymlink {
		return nil, c.err(xfsformat.ErrRange, "core.mode", octal(c.Mode), "not a symlink")
	}
	size := c.Size
	if size == 0 || size > SymlinkMaxLen {
		return nil, c.err(xfsformat.ErrRange, "core.size", strconv.FormatUint(size, 10), "a symlink target is 1 to %d bytes", SymlinkMaxLen)
	}
	switch c.Format {
	case xfsformat.FmtLocal:
		fork := c.Fork(false)
		if size > uint64(len(fork)) {
			return nil, c.err(xfsformat.ErrRange, "core.size", strconv.FormatUint(size, 10), "inline target longer than the fork (%d bytes)", len(fork))
		}
		t := fork[:size]
		if i := bytes.IndexByte(t[:size-1], 0); i >= 0 {
			return nil, c.err(xfsformat.ErrRange, "u3.symlink", CharsText(t), "NUL at byte %d of the target", i)
		}
		return append([]byte(nil), t...), nil
	case xfsformat.FmtExtents, xfsformat.FmtBtree:
		return remoteTarget(fs, c, read, int(size))
	}
	return nil, c.err(xfsformat.ErrRange, "core.format", strconv.Itoa(int(c.Format)), "a symlink's data fork is local or maps blocks")
}

func remoteTarget(fs *FS, c *Core, read BlockReader, size int) ([]byte, error) {
	g := fs.Geo
	hdr := SymlinkHdrSize
	if !fs.CRC {
		hdr = 0 // v4: the blocks hold the target alone
	}
	space := int(g.BlockSize) - hdr
	blocks := uint64((size + space - 1) / space)
	target := make([]byte, 0, size)
	err := NewMap(fs, c, false, read).Bmap(0, blocks, func(p Mapping) error {
		if p.Hole {
			return c.err(xfsformat.ErrRange, "u3.bmx", "", "hole at file block %d of the target", p.FileOff)
		}
		buf := make([]byte, 0, p.Count*uint64(g.BlockSize))
		for i := range p.Count {
			blk, err := read(p.StartBlock + i)
			if err != nil {
				return fmt.Errorf("inode %d: reading symlink block %d: %w", c.Ino, p.StartBlock+i, err)
			}
			if len(blk) != int(g.BlockSize) {
				return c.err(xfsformat.ErrShort, "", "", "symlink block %d: read %d bytes, a block is %d", p.StartBlock+i, len(blk), g.BlockSize)
			}
			buf = append(buf, blk...)
		}
		n := min(len(buf)-hdr, size-len(target))
		if fs.CRC {
			b, err := DecodeSymlinkBlock(buf)
			if err != nil {
				return err
			}
			if errs := VerifySymlinkBlock(fs, b, g.FSBToDaddr(p.StartBlock), c.Ino, uint32(len(target)), uint32(n)); len(errs) > 0 {
				return errs[0]
			}
		}
		target = append(target, buf[hdr:hdr+n]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(target) != size {
		return nil, c.err(xfsformat.ErrRange, "core.size", strconv.Itoa(size), "the blocks hold %d bytes of the target", len(target))
	}
	return target, nil
}

package xfsformat

import (
	"encoding/binary"
	"strconv"
)

// On-disk inode (xfs_dinode), v3 only: v5 filesystems write nothing else.
// The core is followed by the literal area, split at di_forkoff into the
// data fork and the attr fork.
const (
	DinodeMagic    = 0x494e // "IN"
	DinodeCoreSize = 176    // v3 core; the literal area starts here
	// DinodeCoreSizeV2 is a v1 or v2 inode's core (v4 filesystems): no
	// CRC, LSN, flags2, cowextsize, crtime, di_ino or uuid.
	DinodeCoreSizeV2 = 100
	dinodeCRCOff     = 100
)

// Fork formats (di_format, di_aformat).
const (
	FmtDev     = 0
	FmtLocal   = 1
	FmtExtents = 2
	FmtBtree   = 3
)

// Inode flags that change where a fork's blocks live or how counts are
// stored.
const (
	DiflagRealtime = 0x1    // di_flags: data fork maps the realtime device
	Diflag2Reflink = 1 << 1 // di_flags2: data blocks may be shared
	Diflag2Bigtime = 1 << 3 // di_flags2: 64-bit timestamps
	Diflag2Nrext64 = 1 << 4 // di_flags2: large extent counters
)

// File type bits of di_mode (S_IFMT and the S_IF* values).
const (
	ModeTypeMask = 0o170000
	ModeFIFO     = 0o010000
	ModeChar     = 0o020000
	ModeDir      = 0o040000
	ModeBlock    = 0o060000
	ModeRegular  = 0o100000
	ModeSymlink  = 0o120000
	ModeSocket   = 0o140000
)

// Inode is the v3 dinode core, field for field (timestamps omitted), with
// the extent counters already unfolded from whichever layout the inode
// uses (NREXT64 moves them). Buf is the whole inode, for the forks.
type Inode struct {
	Magic        uint16
	Mode         uint16
	Version      uint8
	Format       uint8
	UID, GID     uint32
	Nlink        uint32
	Size         uint64
	NBlocks      uint64
	ExtSize      uint32
	NExtents     uint64 // data fork extents (di_nextents or di_big_nextents)
	ANExtents    uint32 // attr fork extents (di_anextents or di_big_anextents)
	ForkOff      uint8  // attr fork offset in 8-byte units, 0 = no attr fork
	AFormat      uint8
	Flags        uint16
	Gen          uint32
	NextUnlinked uint32
	CRC          uint32
	ChangeCount  uint64
	LSN          uint64
	Flags2       uint64
	CowExtSize   uint32
	Ino          uint64
	UUID         UUID
	Buf          []byte
	// V4: the inode of a v4 filesystem (DecodeInodeOf): a v1 or v2 core.
	V4 bool
}

// DecodeInode goes field by field through xfs_dinode, as NewBmbtBlock
// (bmbt.go) and the header decoders go through theirs: alike in shape
// only (Layouts in doc.go).

// DecodeInode decodes an inode. buf should be one whole inode (sb
// inodesize bytes): the forks and the CRC are taken from it.
func DecodeInode(buf []byte) (*Inode, error) { return decodeInode(buf, false) }

// DecodeInodeOf is DecodeInode on the filesystem of g: on a v4
// filesystem the core is v1's or v2's (100 bytes, no v3 fields) and the
// forks start after it; on v5 it is v3's whatever di_version says (a
// damaged version must not move the forks).
func DecodeInodeOf(buf []byte, g *Geometry) (*Inode, error) {
	return decodeInode(buf, g != nil && !g.CRC)
}

func decodeInode(buf []byte, v4 bool) (*Inode, error) {
	in := &Inode{}
	if err := decodeInodeInto(in, buf, v4); err != nil {
		return nil, err
	}
	return in, nil
}

// DecodeInodeInto is DecodeInodeOf into dst, allocating nothing (the
// scan decodes every inode of the filesystem).
func DecodeInodeInto(dst *Inode, buf []byte, g *Geometry) error {
	return decodeInodeInto(dst, buf, g != nil && !g.CRC)
}

func decodeInodeInto(in *Inode, buf []byte, v4 bool) error {
	if len(buf) < DinodeCoreSize {
		return errShort("inode", DinodeCoreSize, len(buf))
	}
	be := binary.BigEndian
	*in = Inode{V4: v4,
		Magic: be.Uint16(buf[0:]), Mode: be.Uint16(buf[2:]), Version: buf[4], Format: buf[5],
		UID: be.Uint32(buf[8:]), GID: be.Uint32(buf[12:]), Nlink: be.Uint32(buf[16:]),
		Size: be.Uint64(buf[56:]), NBlocks: be.Uint64(buf[64:]), ExtSize: be.Uint32(buf[72:]),
		ForkOff: buf[82], AFormat: buf[83], Flags: be.Uint16(buf[90:]), Gen: be.Uint32(buf[92:]),
		NextUnlinked: be.Uint32(buf[96:]), CRC: binary.LittleEndian.Uint32(buf[dinodeCRCOff:]),
		ChangeCount: be.Uint64(buf[104:]), LSN: be.Uint64(buf[112:]), Flags2: be.Uint64(buf[120:]),
		CowExtSize: be.Uint32(buf[128:]), Ino: be.Uint64(buf[152:]), Buf: buf,
	}
	copy(in.UUID[:], buf[160:176])
	if in.V4 {
		// A v1 or v2 inode's literal area starts at byte 100: what a
		// v3 core would hold there is fork data.
		in.CRC, in.ChangeCount, in.LSN, in.Flags2, in.CowExtSize, in.Ino, in.UUID = 0, 0, 0, 0, 0, 0, UUID{}
		if in.Version == 1 {
			in.Nlink = uint32(be.Uint16(buf[6:])) // di_onlink
		}
	}
	if in.HasLargeExtentCounts() {
		in.NExtents = be.Uint64(buf[24:])
		in.ANExtents = be.Uint32(buf[76:])
	} else {
		in.NExtents = uint64(be.Uint32(buf[76:]))
		in.ANExtents = uint32(be.Uint16(buf[80:]))
	}
	return nil
}

// HasLargeExtentCounts reports the NREXT64 layout: di_big_nextents (64
// bits) where v2 inodes had padding, di_big_anextents (32 bits) where the
// data fork count used to be.
func (in *Inode) HasLargeExtentCounts() bool {
	return in.Version >= 3 && in.Flags2&Diflag2Nrext64 != 0
}

// InUse is what the inobt's free bit should say: a free inode has mode 0.
func (in *Inode) InUse() bool { return in.Mode != 0 }

// IsRealtime reports whether the data fork maps realtime device blocks.
func (in *Inode) IsRealtime() bool { return in.Flags&DiflagRealtime != 0 }

// CoreSize is where the inode's literal area starts: after the v3 core,
// or on a v4 filesystem after the v1 or v2 core.
func (in *Inode) CoreSize() int {
	if in.V4 {
		return DinodeCoreSizeV2
	}
	return DinodeCoreSize
}

// LiteralSize is the bytes after the core: both forks together.
func (in *Inode) LiteralSize() int { return max(len(in.Buf)-in.CoreSize(), 0) }

// Fork returns the bytes of the data fork (attr false) or the attr fork.
// A forkoff that points outside the literal area yields an empty attr fork
// and a data fork of the whole literal area, so a damaged inode can never
// make a caller read past the inode.
func (in *Inode) Fork(attr bool) []byte {
	lit := in.Buf[min(in.CoreSize(), len(in.Buf)):]
	boff := int(in.ForkOff) * 8
	if in.ForkOff == 0 || boff >= len(lit) {
		if attr {
			return nil
		}
		return lit
	}
	if attr {
		return lit[boff:]
	}
	return lit[:boff]
}

// ForkFormat is di_format or di_aformat.
func (in *Inode) ForkFormat(attr bool) uint8 {
	if attr {
		return in.AFormat
	}
	return in.Format
}

// ForkExtents is the fork's extent count as the core records it.
func (in *Inode) ForkExtents(attr bool) uint64 {
	if attr {
		return uint64(in.ANExtents)
	}
	return in.NExtents
}

// MaxExtents is the most extents a fork may have at all
// (xfs_iext_max_nextents): with large counters 2^48-1 (data) and 2^32-1
// (attr), else 2^31-1 and 2^15-1.
func MaxExtents(large, attr bool) uint64 {
	switch {
	case large && !attr:
		return 1<<48 - 1
	case large:
		return 1<<32 - 1
	case !attr:
		return 1<<31 - 1
	}
	return 1<<15 - 1
}

// CRCOK reports whether the inode's CRC covers its bytes (a v1 or v2
// inode has none to be wrong).
func (in *Inode) CRCOK() bool { return in.V4 || CRCOK(in.Buf, dinodeCRCOff) }

// InodeCRCOffset is where an inode's CRC lives.
func InodeCRCOffset() int { return dinodeCRCOff }

// VerifyInode checks an inode on its own, as the kernel's dinode verifier
// does for what an offline scan needs: magic, version, CRC, identity
// (di_ino, uuid), and forks whose formats, forkoff and extent counts are
// possible for the inode's type and size. ino is the inode number of the
// slot the inode was read from. Free inodes (mode 0) are checked only for
// magic, version, CRC and identity. nrext64 says whether the filesystem
// has large extent counters.
func VerifyInode(in *Inode, g *Geometry, ino uint64, nrext64 bool) []error {
	var errs []error
	ag, blk := int64(-1), int64(-1)
	if g != nil {
		a, agino := g.SplitIno(ino)
		b, _ := g.AGInoBlock(agino)
		ag, blk = int64(a), int64(b)
	}
	add := func(kind error, field, value, format string, args ...any) {
		e := ferr(kind, "inode", ag, blk, field, value, format, args...)
		e.Msg = "inode " + u(ino) + ": " + e.Msg
		errs = append(errs, e)
	}
	if in.Magic != DinodeMagic {
		add(ErrMagic, "core.magic", hexText(uint64(in.Magic)), "bad magic number")
		return errs // not an inode: the rest is noise
	}
	// xfs_dinode_good_version: 3 on v5, 1 or 2 on v4.
	switch v4 := g != nil && !g.CRC; {
	case v4 && in.Version != 1 && in.Version != 2:
		add(ErrRange, "core.version", u(uint64(in.Version)), "version must be 1 or 2 on a v4 filesystem")
		return errs // the core's layout is unknown
	case !v4 && in.Version != 3:
		add(ErrRange, "core.version", u(uint64(in.Version)), "version must be 3 on a v5 filesystem")
	}
	if g != nil && len(in.Buf) != int(g.InodeSize) {
		add(ErrShort, "", "", "%d bytes, inode size is %d", len(in.Buf), g.InodeSize)
	}
	if !in.V4 { // v1 and v2 inodes carry no CRC and no identity
		if !in.CRCOK() {
			add(ErrCRC, "v3.crc", hexText(uint64(in.CRC)), "CRC does not match contents")
		}
		if in.Ino != ino {
			add(ErrIdentity, "v3.inumber", u(in.Ino), "inode number stamp is not this slot's")
		}
		if g != nil && in.UUID != g.MetaUUID {
			add(ErrIdentity, "v3.uuid", in.UUID.String(), "uuid is not the filesystem's")
		}
	}
	if in.Mode == 0 {
		return errs
	}
	if in.Size>>63 != 0 {
		add(ErrRange, "core.size", u(in.Size), "size is negative")
	}
	// The kernel lets an unlinked one be: it is being inactivated.
	if (in.Mode&ModeTypeMask == ModeDir || in.Mode&ModeTypeMask == ModeSymlink) && in.Size == 0 && in.Nlink != 0 {
		add(ErrRange, "core.size", "0", "a linked directory or symlink cannot be empty")
	}
	if in.HasLargeExtentCounts() && !nrext64 {
		add(ErrRange, "v3.flags2", hexText(in.Flags2), "large extent counters without the nrext64 feature")
	}
	typ := in.Mode & ModeTypeMask
	lit := in.LiteralSize()
	if in.ForkOff != 0 {
		switch {
		case in.Format == FmtDev && in.ForkOff != 1:
			add(ErrRange, "core.forkoff", u(uint64(in.ForkOff)), "a device inode's attr fork starts at 8 bytes")
		case int(in.ForkOff)*8 >= lit:
			add(ErrRange, "core.forkoff", u(uint64(in.ForkOff)), "attr fork offset beyond the literal area (%d bytes)", lit)
		}
	}
	switch typ {
	case ModeFIFO, ModeChar, ModeBlock, ModeSocket:
		if in.Format != FmtDev {
			add(ErrRange, "core.format", u(uint64(in.Format)), "a device or fifo inode must have format dev")
		}
	case ModeRegular, ModeDir, ModeSymlink:
		in.verifyFork(false, typ, add)
	default:
		add(ErrRange, "core.mode", "0"+strconv.FormatUint(uint64(in.Mode), 8), "unknown file type")
	}
	if in.ForkOff != 0 {
		in.verifyFork(true, typ, add)
	} else {
		if in.AFormat != 0 && in.AFormat != FmtExtents {
			add(ErrRange, "core.aformat", u(uint64(in.AFormat)), "attr format without an attr fork")
		}
		if in.ANExtents != 0 {
			add(ErrRange, "core.naextents", u(uint64(in.ANExtents)), "attr extents without an attr fork")
		}
	}
	if n := in.NExtents + uint64(in.ANExtents); n > in.NBlocks {
		add(ErrRange, "core.nblocks", u(in.NBlocks), "fewer blocks than extents (%d)", n)
	}
	return errs
}

func (in *Inode) verifyFork(attr bool, typ uint16, add func(kind error, field, value, format string, args ...any)) {
	name, fmtField := "core.nextents", "core.format"
	if attr {
		name, fmtField = "core.naextents", "core.aformat"
	}
	format, n, size := in.ForkFormat(attr), in.ForkExtents(attr), len(in.Fork(attr))
	if !attr && format == FmtLocal && in.Size > uint64(size) {
		add(ErrRange, fmtField, "1", "local format, but size %d exceeds the fork (%d bytes)", in.Size, size)
	}
	switch format {
	case FmtLocal:
		if !attr && typ == ModeRegular {
			add(ErrRange, fmtField, "1", "a regular file cannot be local")
		}
		if n != 0 {
			add(ErrRange, name, u(n), "local fork with extents")
		}
	case FmtExtents:
		if maxn := uint64(size / BmbtRecLen); n > maxn {
			add(ErrRange, name, u(n), "more extents than the fork holds (%d)", maxn)
		}
	case FmtBtree:
		if maxn := MaxExtents(in.HasLargeExtentCounts(), attr); n > maxn {
			add(ErrRange, name, u(n), "more extents than a fork may have (%d)", maxn)
		}
		if size < BmdrHeaderSize+BmbtRecLen {
			add(ErrRange, fmtField, "3", "btree root does not fit the fork (%d bytes)", size)
		}
	default:
		add(ErrRange, fmtField, u(uint64(format)), "unknown fork format")
	}
}

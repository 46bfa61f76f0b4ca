package dinode

import (
	"encoding/binary"
	"time"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Offsets in xfs_dinode of the fields xfsformat.Inode does not decode.
const (
	offOnlink   = 6
	offNlink    = 16
	offProjLo   = 20
	offProjHi   = 22
	off24       = 24 // di_big_nextents, di_v3_pad, or di_v2_pad + di_flushiter
	offATime    = 32
	offMTime    = 40
	offCTime    = 48
	offNExt     = 76 // di_nextents or di_big_anextents
	offANExt    = 80 // di_anextents or di_nrext64_pad
	offDMEvMask = 84
	offDMState  = 88
	offPad2     = 132
	offCrTime   = 144

	// V2CoreSize is the core of v1 and v2 inodes: their literal area
	// starts where a v3 inode's CRC is.
	V2CoreSize = 100
	// DevSize is the data fork of a device inode: one 32-bit dev_t.
	DevSize = 4
)

// More di_flags and di_flags2 bits than xfsformat names.
const (
	DiflagPrealloc     = 1 << 1
	DiflagNewRTBM      = 1 << 2
	DiflagImmutable    = 1 << 3
	DiflagAppend       = 1 << 4
	DiflagSync         = 1 << 5
	DiflagNoAtime      = 1 << 6
	DiflagNoDump       = 1 << 7
	DiflagRTInherit    = 1 << 8
	DiflagProjInherit  = 1 << 9
	DiflagNoSymlinks   = 1 << 10
	DiflagExtSize      = 1 << 11
	DiflagExtSzInherit = 1 << 12
	DiflagNoDefrag     = 1 << 13
	DiflagFilestream   = 1 << 14

	Diflag2DAX        = 1 << 0
	Diflag2CowExtSize = 1 << 2
	Diflag2Metadata   = 1 << 5
)

// FmtUUID is the data fork format of the long-gone UUID inodes; xfs_db
// still prints it (u3.muuid).
const FmtUUID = 4

// Timestamp is an on-disk timestamp as stored: the 8 bytes read
// big-endian. Legacy timestamps are a signed 32-bit second count and a
// 32-bit nanosecond count; bigtime ones (Diflag2Bigtime) nanoseconds
// since 1901-12-13 20:45:52 UTC.
type Timestamp uint64

// bigtimeEpochOffset is how many seconds the bigtime epoch lies before
// the Unix epoch (-S32_MIN).
const bigtimeEpochOffset = 1 << 31

// Unix returns seconds and nanoseconds since the Unix epoch.
func (t Timestamp) Unix(bigtime bool) (sec int64, nsec uint32) {
	if bigtime {
		return int64(uint64(t)/1e9) - bigtimeEpochOffset, uint32(uint64(t) % 1e9)
	}
	return int64(int32(uint32(t >> 32))), uint32(t)
}

// MakeTimestamp encodes sec and nsec in the legacy or bigtime format
// (values are truncated to what the format holds).
func MakeTimestamp(sec int64, nsec uint32, bigtime bool) Timestamp {
	if bigtime {
		return Timestamp(uint64(sec+bigtimeEpochOffset)*1e9 + uint64(nsec%1e9))
	}
	return Timestamp(uint64(uint32(int32(sec)))<<32 | uint64(nsec))
}

// Core is a whole inode core: xfsformat.Inode, the light decode the
// inode scan uses, and every other field, so that Encode gives back the
// bytes it was decoded from. Which of the union fields means what
// depends on the version and the NREXT64 flag, as in xfs_dinode.
type Core struct {
	xfsformat.Inode
	// OnLink is di_onlink: the link count of a v1 inode; di_metatype of
	// a metadata inode; zero otherwise.
	OnLink             uint16
	ProjIDLo, ProjIDHi uint16
	// Pad24 is bytes 24-31 when they do not hold di_big_nextents:
	// di_v3_pad (zero) on a v3 inode, di_v2_pad and di_flushiter on v1
	// and v2 inodes.
	Pad24 uint64
	// NRext64Pad is di_nrext64_pad, after di_big_anextents (zero).
	NRext64Pad                  uint16
	ATime, MTime, CTime, CrTime Timestamp
	DMEvMask                    uint32
	DMState                     uint16
	Pad2                        [12]byte
}

// Decode decodes one whole inode (sb inodesize bytes). It fails only
// when buf is too short to hold a v3 core.
func Decode(buf []byte) (*Core, error) { return DecodeOf(buf, nil) }

// DecodeOf is Decode on the filesystem of g (xfsformat.DecodeInodeOf): a
// v4 filesystem's inodes have v1 or v2 cores, their forks after byte 100.
func DecodeOf(buf []byte, g *xfsformat.Geometry) (*Core, error) {
	c := &Core{}
	if err := DecodeInto(c, buf, g); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeInto is DecodeOf into c, allocating nothing (the check's scan
// decodes every inode of the filesystem into one Core per worker).
func DecodeInto(c *Core, buf []byte, g *xfsformat.Geometry) error {
	*c = Core{}
	if err := xfsformat.DecodeInodeInto(&c.Inode, buf, g); err != nil {
		return err
	}
	be := binary.BigEndian
	c.OnLink = be.Uint16(buf[offOnlink:])
	c.ProjIDLo, c.ProjIDHi = be.Uint16(buf[offProjLo:]), be.Uint16(buf[offProjHi:])
	c.ATime = Timestamp(be.Uint64(buf[offATime:]))
	c.MTime = Timestamp(be.Uint64(buf[offMTime:]))
	c.CTime = Timestamp(be.Uint64(buf[offCTime:]))
	c.DMEvMask, c.DMState = be.Uint32(buf[offDMEvMask:]), be.Uint16(buf[offDMState:])
	if c.HasLargeExtentCounts() {
		c.NRext64Pad = be.Uint16(buf[offANExt:])
	} else {
		c.Pad24 = be.Uint64(buf[off24:])
	}
	// Like xfsformat.Inode's v3 fields, read whatever the version: on a
	// v1 or v2 inode they are fork bytes, and Encode leaves them alone.
	c.CrTime = Timestamp(be.Uint64(buf[offCrTime:]))
	copy(c.Pad2[:], buf[offPad2:])
	return nil
}

// CoreSize is the size of the core Encode writes: the v3 core, or the
// v2 core of v1 and v2 inodes. (On a v5 filesystem the literal area
// starts after the v3 core whatever the version says: xfsformat.Inode's
// Fork, as the kernel; xfs_db would start a v1 or v2 inode's forks
// after the v2 core.)
func (c *Core) CoreSize() int {
	if c.Version == 3 {
		return xfsformat.DinodeCoreSize
	}
	return V2CoreSize
}

// HasBigtime reports whether the timestamps are in the bigtime format.
func (c *Core) HasBigtime() bool {
	return c.Version >= 3 && c.Flags2&xfsformat.Diflag2Bigtime != 0
}

// Time decodes one of the core's timestamps in this inode's format.
func (c *Core) Time(ts Timestamp) time.Time {
	sec, nsec := ts.Unix(c.HasBigtime())
	return time.Unix(sec, int64(nsec)).UTC()
}

// FlushIter is di_flushiter of a v1 or v2 inode.
func (c *Core) FlushIter() uint16 { return uint16(c.Pad24) }

// ProjID is the 32-bit project id.
func (c *Core) ProjID() uint32 { return uint32(c.ProjIDHi)<<16 | uint32(c.ProjIDLo) }

// LinkCount is the number of links: di_onlink on a v1 inode, di_nlink
// on later ones.
func (c *Core) LinkCount() uint32 {
	if c.Version == 1 {
		return uint32(c.OnLink)
	}
	return c.Nlink
}

// FileType is the S_IFMT bits of the mode.
func (c *Core) FileType() uint16 { return c.Mode & xfsformat.ModeTypeMask }

// Encode writes the core into dst, which must be the whole inode with
// its forks in place, and, for a v3 inode, recomputes the CRC over it.
// A v1 or v2 inode's literal area (where a v3 core goes on) is left as
// it is.
func (c *Core) Encode(dst []byte) error {
	if len(dst) < c.CoreSize() {
		return c.err(xfsformat.ErrShort, "", "", "need %d bytes, have %d", c.CoreSize(), len(dst))
	}
	be := binary.BigEndian
	be.PutUint16(dst[0:], c.Magic)
	be.PutUint16(dst[2:], c.Mode)
	dst[4], dst[5] = c.Version, c.Format
	be.PutUint16(dst[offOnlink:], c.OnLink)
	be.PutUint32(dst[8:], c.UID)
	be.PutUint32(dst[12:], c.GID)
	be.PutUint32(dst[offNlink:], c.Nlink)
	be.PutUint16(dst[offProjLo:], c.ProjIDLo)
	be.PutUint16(dst[offProjHi:], c.ProjIDHi)
	be.PutUint64(dst[offATime:], uint64(c.ATime))
	be.PutUint64(dst[offMTime:], uint64(c.MTime))
	be.PutUint64(dst[offCTime:], uint64(c.CTime))
	be.PutUint64(dst[56:], c.Size)
	be.PutUint64(dst[64:], c.NBlocks)
	be.PutUint32(dst[72:], c.ExtSize)
	if c.HasLargeExtentCounts() {
		be.PutUint64(dst[off24:], c.NExtents)
		be.PutUint32(dst[offNExt:], c.ANExtents)
		be.PutUint16(dst[offANExt:], c.NRext64Pad)
	} else {
		be.PutUint64(dst[off24:], c.Pad24)
		be.PutUint32(dst[offNExt:], uint32(c.NExtents))
		be.PutUint16(dst[offANExt:], uint16(c.ANExtents))
	}
	dst[82], dst[83] = c.ForkOff, c.AFormat
	be.PutUint32(dst[offDMEvMask:], c.DMEvMask)
	be.PutUint16(dst[offDMState:], c.DMState)
	be.PutUint16(dst[90:], c.Flags)
	be.PutUint32(dst[92:], c.Gen)
	be.PutUint32(dst[96:], c.NextUnlinked)
	if c.Version != 3 {
		return nil
	}
	be.PutUint64(dst[104:], c.ChangeCount)
	be.PutUint64(dst[112:], c.LSN)
	be.PutUint64(dst[120:], c.Flags2)
	be.PutUint32(dst[128:], c.CowExtSize)
	copy(dst[offPad2:offPad2+12], c.Pad2[:])
	be.PutUint64(dst[offCrTime:], uint64(c.CrTime))
	be.PutUint64(dst[152:], c.Ino)
	copy(dst[160:176], c.UUID[:])
	xfsformat.UpdateCRC(dst, xfsformat.InodeCRCOffset())
	c.CRC = xfsformat.StoredCRC(dst, xfsformat.InodeCRCOffset())
	return nil
}

// Bytes returns the inode as decoded (its Buf) with the core encoded
// over it and, for a v3 inode, the CRC recomputed.
func (c *Core) Bytes() []byte {
	b := append([]byte(nil), c.Buf...)
	if err := c.Encode(b); err != nil {
		return b // Buf is never shorter than a core: Decode checked
	}
	return b
}

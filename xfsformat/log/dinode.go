package log

import (
	"encoding/binary"
	"fmt"
)

// The logged inode core (xfs_log_dinode): struct xfs_dinode's layout
// field for field, but in the byte order of the CPU that wrote it, not
// big-endian. Version 3 inodes log all of it (176 bytes), older ones up
// to di_next_unlinked (96).
const (
	LogDinodeSize   = 176
	LogDinodeSizeV2 = 96

	dinodeFlags2BigTime = 1 << 3 // XFS_DIFLAG2_BIGTIME
	dinodeFlags2NRExt64 = 1 << 4 // XFS_DIFLAG2_NREXT64
)

// LogDinode is xfs_log_dinode.
type LogDinode struct {
	Magic      uint16
	Mode       uint16
	Version    uint8
	Format     uint8
	Metatype   uint16 // di_onlink on old inodes
	UID, GID   uint32
	Nlink      uint32
	ProjidLo   uint16
	ProjidHi   uint16
	BigNext    uint64 // di_big_nextents (nrext64), or v2's pad and flushiter
	Atime      uint64 // xfs_log_timestamp_t, as logged: see Timestamp
	Mtime      uint64
	Ctime      uint64
	Size       uint64
	Nblocks    uint64
	Extsize    uint32
	Nextents   uint32 // di_nextents, or di_big_anextents with nrext64
	Anextents  uint16 // di_anextents, or nrext64's pad
	Forkoff    uint8
	Aformat    uint8
	Dmevmask   uint32
	Dmstate    uint16
	Flags      uint16
	Gen        uint32
	NextUnlink uint32
	// Version 3 only.
	CRC         uint32
	Changecount uint64
	LSN         uint64
	Flags2      uint64
	Cowextsize  uint32
	Crtime      uint64
	Ino         uint64
	UUID        [16]byte

	order binary.ByteOrder
}

// How ToDisk treats a field of the core.
const (
	toDiskCopy = iota // as it is, big-endian
	toDiskTime        // a timestamp, converted (diskTimestamp)
	toDiskNot         // not copied: the extent counters' union, which ToDisk writes itself, and what the caller sets
)

// coreField is one field of the core: its byte offset, where the Go
// struct keeps it (a *uint8, *uint16, *uint32 or *uint64), whether only
// version 3 inodes log it, and how ToDisk treats it.
type coreField struct {
	off    int
	p      any
	v3     bool
	toDisk int
}

// layout is the core's fields in struct xfs_log_dinode's order.
func (d *LogDinode) layout() []coreField {
	return []coreField{
		{0, &d.Magic, false, toDiskCopy}, {2, &d.Mode, false, toDiskCopy}, {4, &d.Version, false, toDiskCopy},
		{5, &d.Format, false, toDiskCopy}, {6, &d.Metatype, false, toDiskCopy}, {8, &d.UID, false, toDiskCopy},
		{12, &d.GID, false, toDiskCopy}, {16, &d.Nlink, false, toDiskCopy}, {20, &d.ProjidLo, false, toDiskCopy},
		{22, &d.ProjidHi, false, toDiskCopy}, {24, &d.BigNext, false, toDiskNot}, {32, &d.Atime, false, toDiskTime},
		{40, &d.Mtime, false, toDiskTime}, {48, &d.Ctime, false, toDiskTime}, {56, &d.Size, false, toDiskCopy},
		{64, &d.Nblocks, false, toDiskCopy}, {72, &d.Extsize, false, toDiskCopy}, {76, &d.Nextents, false, toDiskNot},
		{80, &d.Anextents, false, toDiskNot}, {82, &d.Forkoff, false, toDiskCopy}, {83, &d.Aformat, false, toDiskCopy},
		{84, &d.Dmevmask, false, toDiskCopy}, {88, &d.Dmstate, false, toDiskCopy}, {90, &d.Flags, false, toDiskCopy},
		{92, &d.Gen, false, toDiskCopy},
		{96, &d.NextUnlink, true, toDiskNot}, {100, &d.CRC, true, toDiskNot}, {104, &d.Changecount, true, toDiskCopy},
		{112, &d.LSN, true, toDiskNot}, {120, &d.Flags2, true, toDiskCopy}, {128, &d.Cowextsize, true, toDiskCopy},
		{144, &d.Crtime, true, toDiskTime}, {152, &d.Ino, true, toDiskCopy},
	}
}

// get reads a field in order bo; put writes v there.
func (f *coreField) get(b []byte, bo binary.ByteOrder) {
	switch p := f.p.(type) {
	case *uint8:
		*p = b[f.off]
	case *uint16:
		*p = bo.Uint16(b[f.off:])
	case *uint32:
		*p = bo.Uint32(b[f.off:])
	case *uint64:
		*p = bo.Uint64(b[f.off:])
	}
}

func (f *coreField) put(b []byte, bo binary.ByteOrder, conv func(uint64) uint64) {
	switch p := f.p.(type) {
	case *uint8:
		b[f.off] = *p
	case *uint16:
		bo.PutUint16(b[f.off:], *p)
	case *uint32:
		bo.PutUint32(b[f.off:], *p)
	case *uint64:
		bo.PutUint64(b[f.off:], conv(*p))
	}
}

// DecodeLogDinode decodes a logged inode core in the writer's byte order.
func DecodeLogDinode(b []byte, bo binary.ByteOrder) (*LogDinode, error) {
	if len(b) < LogDinodeSizeV2 {
		return nil, errShort("log dinode", LogDinodeSizeV2, len(b))
	}
	d := &LogDinode{Version: b[4], order: bo}
	if d.Version >= 3 && len(b) < LogDinodeSize {
		return nil, errShort("log dinode (v3)", LogDinodeSize, len(b))
	}
	for _, f := range d.layout() {
		if !f.v3 || d.Version >= 3 {
			f.get(b, bo)
		}
	}
	if d.Version >= 3 {
		copy(d.UUID[:], b[160:176])
	}
	return d, nil
}

// BigTime reports whether the timestamps are nanosecond counts
// (XFS_DIFLAG2_BIGTIME).
func (d *LogDinode) BigTime() bool { return d.Version >= 3 && d.Flags2&dinodeFlags2BigTime != 0 }

// NRExt64 reports whether the extent counters are the large ones.
func (d *LogDinode) NRExt64() bool { return d.Version >= 3 && d.Flags2&dinodeFlags2NRExt64 != 0 }

// DataExtents and AttrExtents are the fork extent counts, wherever the
// inode's format keeps them.
func (d *LogDinode) DataExtents() uint64 {
	if d.NRExt64() {
		return d.BigNext
	}
	return uint64(d.Nextents)
}

// AttrExtents is the attribute fork's extent count.
func (d *LogDinode) AttrExtents() uint64 {
	if d.NRExt64() {
		return uint64(d.Nextents)
	}
	return uint64(d.Anextents)
}

// Flushiter is a v2 inode's flush counter (the last 16 bits of the
// union where v3 keeps di_big_nextents).
func (d *LogDinode) Flushiter() uint16 {
	var b [8]byte
	d.order.PutUint64(b[:], d.BigNext)
	return d.order.Uint16(b[6:])
}

// Timestamp splits a logged timestamp: with bigtime it is nanoseconds
// since 1901-12-13 (the legacy epoch's low end); otherwise a struct of
// int32 seconds and nanoseconds in the writer's order.
func (d *LogDinode) Timestamp(ts uint64) (sec int64, nsec uint32) {
	if d.BigTime() {
		const bias = 1 << 31 // XFS_BIGTIME_EPOCH_OFFSET
		return int64(ts/1e9) - bias, uint32(ts % 1e9)
	}
	var b [8]byte
	d.order.PutUint64(b[:], ts)
	return int64(int32(d.order.Uint32(b[:]))), d.order.Uint32(b[4:])
}

// diskTimestamp is a logged timestamp as xfs_dinode stores it.
func (d *LogDinode) diskTimestamp(ts uint64) uint64 {
	if d.BigTime() {
		return ts
	}
	var b [8]byte
	d.order.PutUint64(b[:], ts)
	return uint64(d.order.Uint32(b[:]))<<32 | uint64(d.order.Uint32(b[4:]))
}

// ToDisk writes the core into to, an on-disk inode (big-endian, at least
// 96 bytes, 176 for v3), as the kernel's recovery does
// (xlog_recover_inode_commit_pass2: di_flushiter reset to 0, then
// xfs_log_dinode_to_disk): the fields the log carries, the v3 lsn set to
// lsn (the replayed transaction's), the v3 padding zeroed. di_metatype is
// copied, as kernels with metadata directories do (older ones zeroed
// di_onlink). di_next_unlinked and di_crc are left as they are; the
// caller sets them, and the forks, as its replay requires.
func (d *LogDinode) ToDisk(to []byte, lsn uint64) error {
	need := LogDinodeSizeV2
	if d.Version >= 3 {
		need = LogDinodeSize
	}
	if len(to) < need {
		return errShort("dinode", need, len(to))
	}
	be := binary.BigEndian
	for _, f := range d.layout() {
		switch {
		case f.v3 && d.Version < 3, f.toDisk == toDiskNot:
		case f.toDisk == toDiskTime:
			f.put(to, be, d.diskTimestamp)
		default:
			f.put(to, be, func(v uint64) uint64 { return v })
		}
	}
	if d.Version >= 3 {
		be.PutUint64(to[112:], lsn)
		clear(to[132:144])
		copy(to[160:176], d.UUID[:])
	}
	// The extent counters, and what shares their union.
	switch {
	case d.NRExt64():
		// Recovery's reset of di_flushiter clears the union's last two
		// bytes, in the writer's order.
		var u [8]byte
		d.order.PutUint64(u[:], d.BigNext)
		clear(u[6:])
		be.PutUint64(to[24:], d.order.Uint64(u[:]))
		be.PutUint32(to[76:], d.Nextents)
		be.PutUint16(to[80:], 0)
	case d.Version >= 3:
		be.PutUint64(to[24:], 0)
		be.PutUint32(to[76:], d.Nextents)
		be.PutUint16(to[80:], d.Anextents)
	default:
		clear(to[24:32]) // di_v2_pad, and di_flushiter reset
		be.PutUint32(to[76:], d.Nextents)
		be.PutUint16(to[80:], d.Anextents)
	}
	return nil
}

// String is a one-line summary.
func (d *LogDinode) String() string {
	return fmt.Sprintf("mode %#o version %d format %d nlink %d size %d nblocks %d nextents %d", d.Mode, d.Version, d.Format, d.Nlink, d.Size, d.Nblocks, d.DataExtents())
}

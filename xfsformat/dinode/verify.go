package dinode

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// fmtMetaBtree is XFS_DINODE_FMT_META_BTREE: a metadata btree in the
// data fork of a metadir inode (realtime rmap and refcount).
const fmtMetaBtree = 5

// Verify checks an inode as the kernel does when it reads one: what
// xfsformat.VerifyInode checks (magic, version, CRC, identity, forks
// possible for the type and size), then the rest of xfs_dinode_verify
// (di_onlink, padding, the NREXT64, reflink, bigtime and metadata flags
// against the filesystem's features, extent size hints, the directory
// extent limit, forkoff for every data format, the rules of free
// inodes), the inode buffer's next_unlinked check, and the fork checks
// of xfs_iformat_* (each extent of an extents fork, the bmbt root of a
// btree fork, an inline symlink, the size of a local attr fork). ino is
// the number of the slot the inode was read from. Findings are
// *xfsformat.FormatError naming the xfs_db field.
//
// The metadata-directory rules (xfs_dinode_verify_metadir beyond the
// feature itself) and the realtime-device ranges are not checked:
// xfsbox opens neither kind of filesystem yet.
func Verify(fs *FS, c *Core, ino uint64) []error {
	errs := xfsformat.VerifyInode(&c.Inode, fs.Geo, ino, fs.Nrext64)
	if c.Magic != xfsformat.DinodeMagic {
		return errs
	}
	v := &verifier{fs: fs, c: c, ino: ino, ag: -1, blk: -1}
	if fs.Geo != nil {
		a, agino := fs.Geo.SplitIno(ino)
		b, _ := fs.Geo.AGInoBlock(agino)
		v.agno, v.ag, v.blk = a, int64(a), int64(b)
	}
	v.identity()
	v.flags()
	if c.Mode == 0 {
		v.free()
	} else {
		v.inUse()
	}
	return append(errs, v.errs...)
}

type verifier struct {
	fs      *FS
	c       *Core
	ino     uint64
	agno    uint32
	ag, blk int64
	errs    []error
}

func (v *verifier) add(kind error, field, value, format string, args ...any) {
	v.errs = append(v.errs, &xfsformat.FormatError{Struct: "inode", AG: v.ag, Block: v.blk, Field: field, Value: value,
		Msg: "inode " + strconv.FormatUint(v.ino, 10) + ": " + fmt.Sprintf(format, args...), Kind: kind})
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// identity: the fields every inode, free or not, must have right.
func (v *verifier) identity() {
	c, g := v.c, v.fs.Geo
	if c.NextUnlinked != xfsformat.NullAGIno && g != nil && !g.ValidAGIno(v.agno, c.NextUnlinked) {
		v.add(xfsformat.ErrRange, "next_unlinked", u(uint64(c.NextUnlinked)), "not an inode of AG %d", v.agno)
	}
	metadir := c.Version >= 3 && c.Flags2&Diflag2Metadata != 0
	if c.Version >= 2 && !metadir && c.OnLink != 0 {
		v.add(xfsformat.ErrRange, "core.onlink", u(uint64(c.OnLink)), "must be zero on a v2 or later inode")
	}
	switch {
	case c.HasLargeExtentCounts() && c.NRext64Pad != 0:
		v.add(xfsformat.ErrRange, "core.nrext64_pad", u(uint64(c.NRext64Pad)), "padding after the large attr extent count must be zero")
	case !c.HasLargeExtentCounts() && c.Version >= 3 && c.Pad24 != 0:
		v.add(xfsformat.ErrRange, "core.v3_pad", u(c.Pad24), "v3 padding must be zero")
	}
}

// flags: the extent size hints and, on v3 inodes, di_flags2 against the
// filesystem's features (every inode: free ones keep their hints).
func (v *verifier) flags() {
	c, fs := v.c, v.fs
	rt := c.Flags&xfsformat.DiflagRealtime != 0
	if c.Mode != 0 && rt && fs.RBlocks == 0 {
		v.add(xfsformat.ErrRange, "core.realtime", "1", "realtime file on a filesystem without a realtime device")
	}
	if c.Mode != 0 {
		v.flagsByType()
	}
	if c.Mode != 0 && c.Flags&DiflagNewRTBM != 0 && v.ino != fs.RBMIno {
		// xfs_repair's check: the flag belongs to the realtime bitmap.
		v.add(xfsformat.ErrRange, "core.newrtbm", "1", "the newrtbm flag on an inode that is not the realtime bitmap (%d)", fs.RBMIno)
	}
	v.extSize("core.extsize", c.ExtSize, c.Flags&DiflagExtSize != 0, c.Flags&DiflagExtSzInherit != 0, false)
	if c.Version < 3 {
		return
	}
	f2 := c.Flags2
	if f2&(xfsformat.Diflag2Reflink|Diflag2CowExtSize) != 0 && !fs.Reflink {
		v.add(xfsformat.ErrRange, "v3.flags2", hexText(f2), "reflink or CoW extent size flag without the reflink feature")
	}
	if f2&xfsformat.Diflag2Reflink != 0 && c.FileType() != xfsformat.ModeRegular {
		v.add(xfsformat.ErrRange, "v3.reflink", "1", "only regular files are reflinked")
	}
	if f2&xfsformat.Diflag2Reflink != 0 && rt {
		v.add(xfsformat.ErrRange, "v3.reflink", "1", "a realtime file cannot be reflinked")
	}
	v.extSize("v3.cowextsize", c.CowExtSize, f2&Diflag2CowExtSize != 0, false, true)
	if c.HasBigtime() && !fs.Bigtime {
		v.add(xfsformat.ErrRange, "v3.bigtime", "1", "bigtime timestamps without the bigtime feature")
	}
	if f2&Diflag2Metadata != 0 && !fs.Metadir {
		v.add(xfsformat.ErrRange, "v3.flags2", hexText(f2), "metadata inode without the metadir feature")
	}
	if c.Format != fmtMetaBtree && c.NExtents+uint64(c.ANExtents) == 0 && c.NBlocks != 0 {
		v.add(xfsformat.ErrRange, "core.nblocks", u(c.NBlocks), "blocks but no extents")
	}
}

// Flags xfs_repair knows (XFS_DIFLAG_ANY, XFS_DIFLAG2_ANY).
const (
	diflagAny  = 1<<15 - 1
	diflag2Any = Diflag2DAX | xfsformat.Diflag2Reflink | Diflag2CowExtSize | xfsformat.Diflag2Bigtime | xfsformat.Diflag2Nrext64 | Diflag2Metadata
)

// flagsByType is xfs_repair's check of an in-use inode's flags beyond
// the kernel's (process_check_inode_flags): no unknown flag, directory
// flags only on directories, file flags only on regular files, DAX and
// the CoW extent size only on regular files and directories.
func (v *verifier) flagsByType() {
	c := v.c
	typ := c.FileType()
	if c.Flags&^diflagAny != 0 {
		v.add(xfsformat.ErrRange, "core.flags", hexText(uint64(c.Flags)), "flags xfs_repair does not know")
	}
	if typ != xfsformat.ModeDir && c.Flags&(DiflagRTInherit|DiflagExtSzInherit|DiflagProjInherit|DiflagNoSymlinks) != 0 {
		v.add(xfsformat.ErrRange, "core.flags", hexText(uint64(c.Flags)), "directory flags (rtinherit, extszinherit, projinherit, nosymlinks) on an inode that is not a directory")
	}
	if typ != xfsformat.ModeRegular && c.Flags&(xfsformat.DiflagRealtime|DiflagExtSize) != 0 {
		v.add(xfsformat.ErrRange, "core.flags", hexText(uint64(c.Flags)), "file flags (realtime, extsize) on an inode that is not a regular file")
	}
	if c.Version < 3 {
		return
	}
	if c.Flags2&^diflag2Any != 0 {
		v.add(xfsformat.ErrRange, "v3.flags2", hexText(c.Flags2), "flags2 xfs_repair does not know")
	}
	if typ != xfsformat.ModeRegular && typ != xfsformat.ModeDir && c.Flags2&(Diflag2DAX|Diflag2CowExtSize) != 0 {
		v.add(xfsformat.ErrRange, "v3.flags2", hexText(c.Flags2), "DAX or CoW extent size on an inode that is neither a regular file nor a directory")
	}
}

// extSize checks an extent size hint (xfs_inode_validate_extsize, or
// _cowextsize when cow): which types may carry it, zero exactly when no
// flag asks for it (free inodes keep theirs), a multiple of the
// allocation unit, at most MAXEXTLEN and half an AG.
func (v *verifier) extSize(field string, size uint32, hint, inherit, cow bool) {
	c, fs := v.c, v.fs
	typ := c.FileType()
	dirOrReg := typ == xfsformat.ModeDir || typ == xfsformat.ModeRegular
	unit := uint64(fs.Geo.BlockSize)
	if c.Flags&xfsformat.DiflagRealtime != 0 {
		unit *= uint64(fs.RExtSize)
	}
	switch {
	case (hint || inherit) && !dirOrReg:
		v.add(xfsformat.ErrRange, field, u(uint64(size)), "extent size hint on an inode that is neither a directory nor a regular file")
	case !cow && hint && typ != xfsformat.ModeRegular:
		v.add(xfsformat.ErrRange, "core.extsz", "1", "extent size hint flag on a non-regular file")
	case inherit && typ != xfsformat.ModeDir:
		v.add(xfsformat.ErrRange, "core.extszinherit", "1", "inherited extent size hint on a non-directory")
	case (hint || inherit) && size == 0:
		v.add(xfsformat.ErrRange, field, "0", "hint flag set, hint zero")
	case c.Mode != 0 && !hint && !inherit && size != 0:
		v.add(xfsformat.ErrRange, field, u(uint64(size)), "hint set without its flag")
	case unit == 0 || (uint64(size)<<fs.Geo.BlockLog)%unit != 0:
		v.add(xfsformat.ErrRange, field, u(uint64(size)), "hint not a multiple of the allocation unit")
	case size > xfsformat.MaxBmbtExtLen:
		v.add(xfsformat.ErrRange, field, u(uint64(size)), "hint longer than an extent can be")
	case c.Flags&xfsformat.DiflagRealtime == 0 && size > fs.Geo.AGBlocks/2:
		v.add(xfsformat.ErrRange, field, u(uint64(size)), "hint larger than half an AG")
	}
}

// forkOff checks forkoff against the data fork's format
// (xfs_dinode_verify_forkoff): xfsformat.VerifyInode does for the
// formats it knows on inodes in use.
func (v *verifier) forkOff() {
	c := v.c
	if c.ForkOff == 0 {
		return
	}
	switch c.Format {
	case xfsformat.FmtDev:
		if c.ForkOff != 1 {
			v.add(xfsformat.ErrRange, "core.forkoff", u(uint64(c.ForkOff)), "a device inode's attr fork starts at 8 bytes")
		}
	case xfsformat.FmtLocal, xfsformat.FmtExtents, xfsformat.FmtBtree:
		if int(c.ForkOff)*8 >= c.LiteralSize() {
			v.add(xfsformat.ErrRange, "core.forkoff", u(uint64(c.ForkOff)), "attr fork offset beyond the literal area (%d bytes)", c.LiteralSize())
		}
	default:
		v.add(xfsformat.ErrRange, "core.forkoff", u(uint64(c.ForkOff)), "attr fork beside a data fork of unknown format %d", c.Format)
	}
}

// free checks a free inode (mode 0) as the kernel does: its data fork is
// not looked at, its attr fork fields are.
func (v *verifier) free() {
	c := v.c
	v.forkOff()
	if c.ForkOff != 0 {
		n, size := uint64(c.ANExtents), len(c.Fork(true))
		switch c.AFormat {
		case xfsformat.FmtLocal:
			if n != 0 {
				v.add(xfsformat.ErrRange, "core.naextents", u(n), "local fork with extents")
			}
		case xfsformat.FmtExtents:
			if n > uint64(size/xfsformat.BmbtRecLen) {
				v.add(xfsformat.ErrRange, "core.naextents", u(n), "more extents than the fork holds (%d)", size/xfsformat.BmbtRecLen)
			}
		case xfsformat.FmtBtree:
			if n > xfsformat.MaxExtents(c.HasLargeExtentCounts(), true) {
				v.add(xfsformat.ErrRange, "core.naextents", u(n), "more extents than a fork may have")
			}
		default:
			v.add(xfsformat.ErrRange, "core.aformat", u(uint64(c.AFormat)), "unknown fork format")
		}
		return
	}
	if c.AFormat != 0 && c.AFormat != xfsformat.FmtExtents {
		v.add(xfsformat.ErrRange, "core.aformat", u(uint64(c.AFormat)), "attr format without an attr fork")
	}
	if c.ANExtents != 0 {
		v.add(xfsformat.ErrRange, "core.naextents", u(uint64(c.ANExtents)), "attr extents without an attr fork")
	}
}

// inUse adds, for an inode in use, what xfsformat.VerifyInode leaves to
// the kernel's finer rules and to xfs_iformat_*.
func (v *verifier) inUse() {
	c, fs := v.c, v.fs
	typ := c.FileType()
	if c.ForkOff != 0 && c.Format > xfsformat.FmtBtree {
		v.forkOff()
	}
	if typ == xfsformat.ModeDir && c.NExtents > fs.dirMaxExtents() {
		v.add(xfsformat.ErrRange, "core.nextents", u(c.NExtents), "more extents than a directory may have (%d)", fs.dirMaxExtents())
	}
	dsize := uint64(len(c.Fork(false)))
	switch {
	case typ == xfsformat.ModeDir && c.Size != 0 && c.Size <= dsize && c.Format != xfsformat.FmtLocal:
		v.add(xfsformat.ErrRange, "core.format", u(uint64(c.Format)), "a directory of %d bytes fits the inode: it must be local", c.Size)
	case typ == xfsformat.ModeSymlink && c.Size <= dsize && c.Format != xfsformat.FmtLocal && c.Format != xfsformat.FmtExtents:
		v.add(xfsformat.ErrRange, "core.format", u(uint64(c.Format)), "a symlink of %d bytes fits the inode: local or extents", c.Size)
	}
	if typ == xfsformat.ModeRegular || typ == xfsformat.ModeDir || typ == xfsformat.ModeSymlink {
		v.fork(false)
	}
	if c.ForkOff != 0 {
		v.fork(true)
	} else if c.AFormat == 0 {
		// The kernel lets a free inode's be 0 (a fresh cluster); xfs_repair
		// resets an in-use one's ("bad attribute format").
		v.add(xfsformat.ErrRange, "core.aformat", "0", "no attr fork: its format must be extents")
	}
	if c.NextUnlinked != xfsformat.NullAGIno && c.LinkCount() != 0 {
		// xfs_repair clears any in-use inode's ("Would clear
		// next_unlinked"); one with no links is the unlinked lists' own
		// under a dirty log, and inode.unlinked's under a clean one.
		v.add(xfsformat.ErrRange, "next_unlinked", u(uint64(c.NextUnlinked)), "a linked inode is on no unlinked list")
	}
	v.timestamps()
}

// timestamps: xfs_repair's check, beyond the kernel's, that a legacy
// timestamp's nanoseconds are under a second (a bigtime one is one count
// of nanoseconds, and cannot be wrong that way).
func (v *verifier) timestamps() {
	c := v.c
	if c.HasBigtime() {
		return
	}
	ts := []struct {
		field string
		t     Timestamp
	}{{"core.atime", c.ATime}, {"core.mtime", c.MTime}, {"core.ctime", c.CTime}}
	if c.Version >= 3 {
		ts = append(ts, struct {
			field string
			t     Timestamp
		}{"v3.crtime", c.CrTime})
	}
	for _, t := range ts {
		if nsec := uint32(t.t); nsec >= 1e9 {
			v.add(xfsformat.ErrRange, t.field+".nsec", u(uint64(nsec)), "nanoseconds of a second past 999999999")
		}
	}
}

// fork is xfs_iformat_local/_extents/_btree's checks of one fork.
func (v *verifier) fork(attr bool) {
	c, fs := v.c, v.fs
	fork := c.Fork(attr)
	name := forkName(attr)
	switch c.ForkFormat(attr) {
	case xfsformat.FmtLocal:
		switch {
		case attr && len(fork) >= 2:
			if tot := binary.BigEndian.Uint16(fork); int(tot) > len(fork) {
				v.add(xfsformat.ErrRange, "a.sfattr.hdr.totsize", u(uint64(tot)), "local attr fork larger than the fork (%d bytes)", len(fork))
			}
		case attr:
			v.add(xfsformat.ErrShort, "core.forkoff", u(uint64(c.ForkOff)), "local attr fork too small for its header")
		case c.FileType() == xfsformat.ModeSymlink && c.Size != 0 && c.Size <= uint64(len(fork)):
			// (Empty, or longer than the fork: xfsformat.VerifyInode.)
			if _, err := Target(fs, c, nil); err != nil {
				v.errs = append(v.errs, err)
			}
		}
	case xfsformat.FmtExtents:
		n, _ := c.ExtentCount(attr) // the count: xfsformat.VerifyInode
		for i := range n {
			r := c.Extent(attr, i)
			if p := ExtentProblem(fs, c.IsRealtime(), attr, r); p != "" {
				v.add(xfsformat.ErrRange, name+".bmx["+strconv.Itoa(i)+"]", recText(r), "%s", p)
			}
		}
	case xfsformat.FmtBtree:
		root, err := DecodeRoot(fork)
		if err != nil {
			return // too small: xfsformat.VerifyInode says so
		}
		n := c.ForkExtents(attr)
		maxLevels := xfsformat.BmbtMaxLevels(fs.Geo, attr, fs.Nrext64)
		switch {
		case n <= uint64(len(fork)/xfsformat.BmbtRecLen):
			v.add(xfsformat.ErrRange, extentsField(attr), u(n), "%d extents fit the fork: it should be in extents format", n)
		case n > c.NBlocks:
			v.add(xfsformat.ErrRange, extentsField(attr), u(n), "more extents than blocks (%d)", c.NBlocks)
		}
		switch {
		case root.NumRecs == 0 || int(root.NumRecs) > root.MaxRecs:
			v.add(xfsformat.ErrRange, name+".bmbt.numrecs", u(uint64(root.NumRecs)), "bmbt root must hold 1 to %d records", root.MaxRecs)
		case root.Level == 0 || int(root.Level) > maxLevels:
			v.add(xfsformat.ErrRange, name+".bmbt.level", u(uint64(root.Level)), "bmbt root level must be 1 to %d", maxLevels)
		}
	}
}

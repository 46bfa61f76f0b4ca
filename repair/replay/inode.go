package replay

import (
	"encoding/binary"
	"errors"

	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Inode, inode creation and dquot items (xfs_inode_item_recover.c,
// xfs_icreate_item.c, xfs_dquot_item_recover.c).

// Inode core fields the replay reads or sets.
const (
	dinodeVersion = 4
	dinodeGen     = 92
	dinodeLSN     = 112
	dinodeIno     = 152
	dinodeUUID    = 160
	nullAGIno     = 0xffffffff

	// di_format values, and the file types that constrain them.
	fmtLocal   = 1
	fmtExtents = 2
	fmtBtree   = 3
	fmtRmap    = 5 // XFS_DINODE_FMT_META_BTREE (rmap, refcount roots of realtime groups)
	sIFMT      = 0o170000
	sIFREG     = 0o100000
	sIFDIR     = 0o040000

	bmbtBlockLen = 72 // the long btree block header of v5 (XFS_BMBT_CRC_BLOCK_LEN)
	bmdrHdrLen   = 4  // xfs_bmdr_block: level, numrecs
)

// inode replays an inode item (xlog_recover_inode_commit_pass2): the
// logged core over the inode with the transaction's LSN, the device
// number, the forks' regions (a logged bmbt root converted to its
// on-disk form), and the inode's CRC recomputed. An inode whose LSN on
// disk is newer than the transaction is left alone.
func (e *engine) inode(it *xlog.InodeItem) error {
	f := &it.Format
	k := bufKey{f.Blkno, int(f.Len)}
	if e.cancels[k] > 0 {
		e.res.Counts.InodesCancelled++
		return nil
	}
	ld := it.Core
	if ld == nil {
		return refusef("inode %d: no logged core", f.Ino)
	}
	buf, err := e.c.read(k)
	if err != nil {
		return err
	}
	isize := int(e.geo.InodeSize)
	off := int(f.Boffset)
	if off < 0 || off > len(buf)-isize {
		return refusef("inode %d at byte %d of a %d-byte buffer", f.Ino, off, len(buf))
	}
	dip := buf[off : off+isize]
	be := binary.BigEndian
	if be.Uint16(dip) != xfsformat.DinodeMagic {
		return refusef("inode %d: no inode magic where the log puts it (daddr %d, byte %d)", f.Ino, f.Blkno, off)
	}
	if ld.Magic != xfsformat.DinodeMagic {
		return refusef("inode %d: the logged core has no inode magic", f.Ino)
	}
	if dip[dinodeVersion] >= 3 {
		if lsn := be.Uint64(dip[dinodeLSN:]); lsn != 0 && lsn != noLSN && lsn > e.cur {
			e.res.Counts.InodesSkipped++
			xfsformat.UpdateCRC(dip, xfsformat.InodeCRCOffset())
			return e.c.write(k.daddr, buf)
		}
	}
	if err := e.checkCore(it); err != nil {
		return err
	}
	if err := ld.ToDisk(dip, e.cur); err != nil {
		return refusef("inode %d: %v", f.Ino, err)
	}
	if f.Fields&xlog.ILogDev != 0 {
		be.PutUint32(dip[xfsformat.DinodeCoreSize:], f.Rdev)
	}
	if err := e.forks(it, dip); err != nil {
		return err
	}
	if f.Fields&(xlog.ILogDOwner|xlog.ILogAOwner) != 0 && be.Uint16(dip[2:]) != 0 {
		return refusef("inode %d: the log changes the owner of its fork's btree blocks (a swap of extents); xfsbox cannot replay that yet", f.Ino)
	}
	xfsformat.UpdateCRC(dip, xfsformat.InodeCRCOffset())
	e.res.Counts.Inodes++
	e.c.undue(k) // read as an inode buffer now: its verifier stamps nothing
	return e.c.write(k.daddr, buf)
}

// checkCore is the kernel's sanity checks of a logged core before it
// replays it; a core that fails them stops recovery.
func (e *engine) checkCore(it *xlog.InodeItem) error {
	ld, ino := it.Core, it.Format.Ino
	switch ld.Mode & sIFMT {
	case sIFREG:
		if ld.Format != fmtExtents && ld.Format != fmtBtree && ld.Format != fmtRmap {
			return refusef("inode %d: a regular file in data fork format %d", ino, ld.Format)
		}
	case sIFDIR:
		if ld.Format != fmtExtents && ld.Format != fmtBtree && ld.Format != fmtLocal {
			return refusef("inode %d: a directory in data fork format %d", ino, ld.Format)
		}
	}
	if ld.NRExt64() && e.sb.FeaturesIncompat&xfsformat.IncompatNrext64 == 0 {
		return refusef("inode %d: large extent counters on a filesystem without them", ino)
	}
	if ld.DataExtents()+ld.AttrExtents() > ld.Nblocks {
		return refusef("inode %d: %d+%d extents in %d blocks", ino, ld.DataExtents(), ld.AttrExtents(), ld.Nblocks)
	}
	if uint32(ld.Forkoff) > e.geo.InodeSize {
		return refusef("inode %d: fork offset %d", ino, ld.Forkoff)
	}
	if n := it.Raw().Regions[1].Len; n > xlog.LogDinodeSize {
		return refusef("inode %d: a logged core of %d bytes", ino, n)
	}
	return nil
}

// forks copies the logged fork regions into the inode dip, its core
// already replayed.
func (e *engine) forks(it *xlog.InodeItem, dip []byte) error {
	f := &it.Format
	dptr := xfsformat.DinodeCoreSize
	forkoff := int(dip[82]) * 8
	dsize := len(dip) - dptr
	if forkoff > 0 {
		dsize = min(forkoff, dsize)
	}
	aptr := min(dptr+forkoff, len(dip))
	if it.Data != nil {
		err := fork(f.Ino, "data", f.Fields&xlog.ILogDFork, xlog.ILogDData|xlog.ILogDExt, xlog.ILogDBroot, it.Data, dip[dptr:], dip[dptr:dptr+dsize])
		if err != nil && err != errForkFields { // several data fork fields: the kernel copies nothing
			return err
		}
	}
	if it.Attr != nil {
		asize := 0 // XFS_DFORK_ASIZE: no attribute fork without a fork offset
		if forkoff > 0 {
			asize = len(dip) - aptr
		}
		err := fork(f.Ino, "attribute", f.Fields&xlog.ILogAFork, xlog.ILogAData|xlog.ILogAExt, xlog.ILogABroot, it.Attr, dip[aptr:], dip[aptr:aptr+asize])
		if err == errForkFields {
			return refusef("inode %d: attribute fork fields %#x", f.Ino, f.Fields&xlog.ILogAFork)
		}
		return err
	}
	return nil
}

// errForkFields is fork's answer to fields that name more than one of a
// fork's formats.
var errForkFields = errors.New("fork fields name several formats")

// fork replays a fork's region r as the fields sel say: its bytes as
// they are (a local fork, or extents) at the start of rest, or a bmbt
// root converted into root.
func fork(ino uint64, name string, sel, bytesAsIs, broot uint32, r *xlog.Region, rest, root []byte) error {
	switch {
	case sel != 0 && sel&^bytesAsIs == 0 && sel&(sel-1) == 0:
		if len(r.Data) > len(rest) {
			return refusef("inode %d: a %s fork region of %d bytes", ino, name, len(r.Data))
		}
		copy(rest, r.Data)
	case sel == broot:
		if err := bmbtToBmdr(r.Data, root); err != nil {
			return refusef("inode %d: %s fork root: %v", ino, name, err)
		}
	default:
		return errForkFields
	}
	return nil
}

// bmbtToBmdr converts a logged bmbt root (the in-memory root: a long
// btree block header, then keys, then pointers placed by the root's
// size) to the on-disk root in the fork, whose pointers are placed by
// the fork's size (xfs_bmbt_to_bmdr). Bytes past the records stay.
func bmbtToBmdr(r, d []byte) error {
	be := binary.BigEndian
	if len(r) < bmbtBlockLen || len(d) < bmdrHdrLen {
		return refusef("a root of %d bytes into a fork of %d", len(r), len(d))
	}
	if m := be.Uint32(r); m != magicBmap3 {
		return refusef("a logged root of magic %#x", m)
	}
	level, numrecs := be.Uint16(r[4:]), int(be.Uint16(r[6:]))
	rmax := (len(r) - bmbtBlockLen) / 16
	dmax := (len(d) - bmdrHdrLen) / 16
	if level == 0 || numrecs > rmax || numrecs > dmax {
		return refusef("a root of level %d with %d records (room for %d logged, %d in the fork)", level, numrecs, rmax, dmax)
	}
	be.PutUint16(d, level)
	be.PutUint16(d[2:], uint16(numrecs))
	copy(d[bmdrHdrLen:], r[bmbtBlockLen:bmbtBlockLen+8*numrecs])
	rp := bmbtBlockLen + 8*rmax
	copy(d[bmdrHdrLen+8*dmax:], r[rp:rp+8*numrecs])
	return nil
}

// icreate replays an inode creation item: the new chunk's cluster
// buffers zeroed and every inode in them initialised, unless one of
// them was cancelled (xlog_recover_icreate_commit_pass2 and
// xfs_ialloc_inode_init). There is no LSN to compare: the kernel always
// initialises them, and the inode items after it in the log fill them.
func (e *engine) icreate(it *xlog.ICreateItem) error {
	g := e.geo
	minBlks := g.ChunkBlocks()
	if g.SparseInodes && g.SpinoAlign != 0 {
		minBlks = g.SpinoAlign
	}
	switch {
	case it.AG >= g.AGCount:
		return refusef("inode creation in AG %d of %d", it.AG, g.AGCount)
	case it.AGBno == 0 || it.AGBno >= g.AGBlocks:
		return refusef("inode creation at AG block %d", it.AGBno)
	case it.ISize != g.InodeSize:
		return refusef("inode creation of %d-byte inodes on a filesystem of %d-byte ones", it.ISize, g.InodeSize)
	case it.Count == 0 || it.Length == 0 || it.Length >= g.AGBlocks || (it.Length != g.ChunkBlocks() && it.Length != minBlks):
		return refusef("inode creation of %d inodes in %d blocks", it.Count, it.Length)
	case it.Count>>g.InoPBLog != it.Length:
		return refusef("inode creation of %d inodes in %d blocks of %d", it.Count, it.Length, g.InoPBlock)
	case uint64(it.AGBno)+uint64(it.Length) > uint64(g.AGLength(it.AG)):
		return refusef("inode creation at AG %d blocks %d-%d, past the AG's end", it.AG, it.AGBno, it.AGBno+it.Length-1)
	}
	cb := g.InodeClusterBlocks()
	bbs := int(cb << (g.BlockLog - 9))
	nbufs := it.Length / cb
	for j := range nbufs {
		if e.cancels[bufKey{int64(g.Daddr(it.AG, it.AGBno+j*cb)), bbs}] > 0 {
			e.res.Counts.ICreatesCancelled++
			return nil
		}
	}
	be := binary.BigEndian
	isize := int(g.InodeSize)
	ino := g.Ino(it.AG, g.AGIno(it.AGBno, 0))
	for j := range nbufs {
		buf := make([]byte, bbs*xlog.BBSize)
		for i := 0; i+isize <= len(buf); i += isize {
			dip := buf[i : i+isize]
			be.PutUint16(dip, xfsformat.DinodeMagic)
			dip[dinodeVersion] = 3
			be.PutUint32(dip[dinodeGen:], it.Gen)
			be.PutUint32(dip[dinodeNextUnlinked:], nullAGIno)
			be.PutUint64(dip[dinodeIno:], ino)
			copy(dip[dinodeUUID:], g.MetaUUID[:])
			xfsformat.UpdateCRC(dip, xfsformat.InodeCRCOffset())
			ino++
		}
		k := bufKey{int64(g.Daddr(it.AG, it.AGBno+j*cb)), bbs}
		e.c.undue(k)
		if err := e.c.write(k.daddr, buf); err != nil {
			return err
		}
	}
	e.res.Counts.ICreates++
	return nil
}

// The dquot a dquot item logs (struct xfs_dqblk, on-disk bytes).
const (
	dqMagic    = 0x4451 // XFS_DQUOT_MAGIC, "DQ"
	diskDquot  = 104    // sizeof(struct xfs_disk_dquot)
	dqblkSize  = 136    // sizeof(struct xfs_dqblk)
	dqblkCRC   = 108
	dqblkLSN   = 112
	dqTypeMask = 0x7 // XFS_DQTYPE_REC_MASK
)

// dquotOK is the kernel's first checks of a logged dquot
// (xfs_dquot_verify): its magic, version, and a known type.
func dquotOK(b []byte) bool {
	const dqTypeAny = 0x1 | 0x2 | 0x4 | 0x80 // USER, PROJ, GROUP, BIGTIME
	if len(b) < diskDquot || binary.BigEndian.Uint16(b) != dqMagic || b[2] != 1 || b[3]&^dqTypeAny != 0 {
		return false
	}
	t := b[3] & dqTypeMask
	return t == 1 || t == 2 || t == 4
}

// dquot replays a dquot item (xlog_recover_dquot_commit_pass2): only
// with quotas on, not for a type turned off, and not over a dquot whose
// LSN is as new; its CRC recomputed.
func (e *engine) dquot(it *xlog.DquotItem) error {
	if !e.quotaOn {
		e.res.Counts.DquotsSkipped++
		return nil
	}
	r := it.Dquot
	if r == nil || len(r.Data) < diskDquot {
		return refusef("dquot %d: a logged dquot of fewer than %d bytes", it.ID, diskDquot)
	}
	be := binary.BigEndian
	if e.quotaOff&uint32(r.Data[3]&dqTypeMask) != 0 {
		e.res.Counts.DquotsSkipped++
		return nil
	}
	if !dquotOK(r.Data) || be.Uint32(r.Data[4:]) != it.ID {
		return refusef("dquot %d: the logged dquot does not verify", it.ID)
	}
	if it.Len != 1 {
		return refusef("dquot %d: a dquot buffer of %d blocks", it.ID, it.Len)
	}
	k := bufKey{it.Blkno, int(1 << (e.geo.BlockLog - 9))}
	buf, err := e.c.read(k)
	if err != nil {
		return err
	}
	off := int(it.Boffset)
	if off > len(buf)-max(dqblkSize, len(r.Data)) {
		return refusef("dquot %d at byte %d of a %d-byte buffer", it.ID, off, len(buf))
	}
	if lsn := be.Uint64(buf[off+dqblkLSN:]); lsn != 0 && lsn != noLSN && lsn >= e.cur {
		e.res.Counts.DquotsSkipped++
		return nil
	}
	copy(buf[off:], r.Data)
	xfsformat.UpdateCRC(buf[off:off+dqblkSize], dqblkCRC)
	e.res.Counts.Dquots++
	e.c.undue(k)
	return e.c.write(k.daddr, buf)
}

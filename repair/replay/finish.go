package replay

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// The after-work a replay with Options.Finish does itself, and what it
// leaves to its caller's rebuild (Result.Rebuild): the kernel's mount,
// after replaying, finishes the intents left without their done items
// (xlog_recover_process_intents), frees the inodes left on the AGI
// unlinked lists (xlog_recover_process_iunlinks, then their
// inactivation) and the leftover copy-on-write staging extents
// (xfs_reflink_recover_cow). Here the inodes' cores are cleared as the
// kernel's inactivation leaves them and the AGI buckets emptied; what
// that work does to the space structures (the blocks the inodes held,
// the inode btrees' free bits and the AGI's counters, the extents an
// unfinished EFI, RUI or CUI names, the staging extents) is left to a
// rebuild of the AGs concerned from an inode scan, which finishes them
// exactly: once every BUI is done, the files' block maps are the truth
// the free space, the rmapbt and the refcountbt follow from.

// Inode core fields the after-work clears (xfs_dinode).
const (
	dinodeMode     = 2
	dinodeFormat   = 5
	dinodeBigNext  = 24 // di_big_nextents, or di_v3_pad
	dinodeSize     = 56
	dinodeNBlocks  = 64
	dinodeNExtents = 76 // di_nextents and di_anextents, or di_big_anextents and its pad
	dinodeForkOff  = 82
	dinodeAFormat  = 83
	dinodeFlags    = 90
	dinodeFlags2   = 120
	diflag2Bigtime = 1 << 3
	diflag2Nrext64 = 1 << 4
	agiUnlinkedOff = 40 // agi_unlinked in the AGI sector
)

// finishable says, of an unfinished intent's type, whether the rebuild
// of the AGs its extents lie in finishes it.
func finishable(t string) bool { return t == "EFI" || t == "RUI" || t == "CUI" }

// planIntents puts the AGs of the unfinished intents the rebuild
// finishes in Result.Rebuild and returns the text refusing the others:
// a BUI (a file's block map to change: xfsbox does not change block
// maps), an ATTRI or XMI (attribute and exchange work on a file), the
// realtime intents.
func (e *engine) planIntents() string {
	var refused []Intent
	for _, it := range e.res.Unfinished {
		if !finishable(it.Type) {
			refused = append(refused, it)
			continue
		}
		if why := e.freesInodeChunk(it); why != "" {
			return why
		}
		for _, agno := range it.ags {
			e.rebuild(agno, "unfinished "+it.Type+" intents name blocks in it")
		}
	}
	if len(refused) == 0 {
		return ""
	}
	return unfinishedText(refused, "xfsbox cannot finish them (it finishes EFI, RUI and CUI, by rebuilding)")
}

// freesInodeChunk refuses an unfinished EFI that frees an inode chunk
// (the last inode of a chunk freed, xfs_difree_inode_chunk: the chunk
// already gone from the inode btrees, its blocks not yet free): a
// rebuild that searched the AG for inode chunks could take its inodes
// for live ones. An extent whose first block holds a valid inode of
// that very place is taken for one.
func (e *engine) freesInodeChunk(it Intent) string {
	if it.Type != "EFI" {
		return ""
	}
	g := e.geo
	buf := make([]byte, g.InodeSize)
	for _, x := range it.exts {
		agno, agbno := g.SplitFSB(x.StartBlock)
		if err := e.fs.Img.ReadAt(buf, g.ByteOffset(agno, agbno)); err != nil {
			continue
		}
		in, err := xfsformat.DecodeInode(buf)
		if err == nil && in.Magic == xfsformat.DinodeMagic && in.Version == 3 && in.CRCOK() &&
			in.Ino == g.Ino(agno, g.AGIno(agbno, 0)) && in.UUID == g.MetaUUID {
			return fmt.Sprintf("the log holds an unfinished EFI (%#x) freeing the inode chunk at block %d of AG %d: xfsbox cannot finish it", it.ID, agbno, agno)
		}
	}
	return ""
}

// intentAGs are the AGs of an intent's extents; an extent outside the
// filesystem is refused (the kernel's recovery would fail it).
func (e *engine) intentAGs(it *xlog.IntentItem) ([]uint32, error) {
	var out []uint32
	for _, x := range it.Extents {
		agno, agbno := e.geo.SplitFSB(x.StartBlock)
		if agno >= e.geo.AGCount || agbno >= e.geo.AGLength(agno) {
			return nil, refusef("%s %#x names block %d, outside the filesystem", it.Type(), it.ID, x.StartBlock)
		}
		if !slices.Contains(out, agno) {
			out = append(out, agno)
		}
	}
	return out, nil
}

// rebuild adds agno to the AGs the caller rebuilds, for why.
func (e *engine) rebuild(agno uint32, why string) {
	rs := e.res.Rebuild
	i, found := slices.BinarySearchFunc(rs, agno, func(r RebuildAG, a uint32) int { return cmp.Compare(r.AG, a) })
	if !found {
		rs = slices.Insert(rs, i, RebuildAG{AG: agno})
	}
	if !slices.Contains(rs[i].Why, why) {
		rs[i].Why = append(rs[i].Why, why)
	}
	e.res.Rebuild = rs
}

// freeUnlinked frees inode ino, taken off an unlinked list, as the
// kernel's inactivation does (xfs_inactive: the data fork truncated to
// nothing and the attr fork dropped; xfs_ifree: the inode freed and off
// its list): its core cleared as the kernel leaves it (mode, size,
// block and extent counts, fork offset and formats, flags zero,
// flags2 the new-inode ones, the generation bumped, the next-unlinked
// pointer null; the rest, timestamps included, as it was), and the
// AGs of the blocks it held, and its own, put in Result.Rebuild.
func (e *engine) freeUnlinked(ino uint64) error {
	g := e.geo
	if e.quotaOn {
		return refusef("inode %d is on an unlinked list and quotas are accounted: xfsbox does not update the dquots the kernel's freeing of it would", ino)
	}
	in, err := e.fs.ReadInode(ino)
	if err != nil {
		return refusef("inode %d on an unlinked list: %v", ino, err)
	}
	if !in.InUse() || in.Nlink != 0 {
		return refusef("inode %d is on an unlinked list with mode %#o and %d links: the kernel's recovery expects a used inode without links", ino, in.Mode, in.Nlink)
	}
	if in.IsRealtime() && in.NBlocks > 0 {
		return refusef("inode %d on an unlinked list holds realtime blocks: xfsbox does not free realtime extents", ino)
	}
	agno, agino := g.SplitIno(ino)
	e.rebuild(agno, "it holds freed inodes")
	for _, attr := range []bool{false, true} {
		switch in.ForkFormat(attr) {
		case fmtBtree:
			// The bmbt's blocks may lie in any AG.
			for a := range g.AGCount {
				e.rebuild(a, "a freed inode's block map is a btree, whose blocks may lie in any AG")
			}
		case fmtExtents:
			exts, err := e.fs.Map(in, attr).Extents()
			if err != nil {
				return refusef("inode %d on an unlinked list: its extents: %v", ino, err)
			}
			for _, x := range exts {
				a, _ := g.SplitFSB(x.StartBlock)
				if a >= g.AGCount {
					return refusef("inode %d on an unlinked list maps block %d, outside the filesystem", ino, x.StartBlock)
				}
				e.rebuild(a, "it holds blocks of freed inodes")
			}
		}
	}
	agbno, idx := g.AGInoBlock(agino)
	daddr := g.ByteOffset(agno, agbno)/xlog.BBSize + int64(idx)*int64(g.InodeSize)/xlog.BBSize
	k := bufKey{daddr, int(g.InodeSize / xlog.BBSize)}
	if g.InodeSize%xlog.BBSize != 0 {
		return refusef("inodes of %d bytes", g.InodeSize)
	}
	b, err := e.c.read(k)
	if err != nil {
		return err
	}
	be := binary.BigEndian
	be.PutUint16(b[dinodeMode:], 0)
	b[dinodeFormat] = fmtExtents
	be.PutUint64(b[dinodeBigNext:], 0)
	be.PutUint64(b[dinodeSize:], 0)
	be.PutUint64(b[dinodeNBlocks:], 0)
	clear(b[dinodeNExtents:dinodeForkOff])
	b[dinodeForkOff], b[dinodeAFormat] = 0, fmtExtents
	be.PutUint16(b[dinodeFlags:], 0)
	var flags2 uint64
	if e.sb.FeaturesIncompat&xfsformat.IncompatBigtime != 0 {
		flags2 |= diflag2Bigtime
	}
	if e.sb.FeaturesIncompat&xfsformat.IncompatNrext64 != 0 {
		flags2 |= diflag2Nrext64
	}
	be.PutUint64(b[dinodeFlags2:], flags2)
	be.PutUint32(b[dinodeGen:], be.Uint32(b[dinodeGen:])+1)
	be.PutUint32(b[dinodeNextUnlinked:], nullAGIno)
	xfsformat.UpdateCRC(b, xfsformat.InodeCRCOffset())
	if err := e.c.write(daddr, b); err != nil {
		return err
	}
	e.res.Freed = append(e.res.Freed, ino)
	return nil
}

// emptyBuckets empties AG agno's unlinked buckets once every inode on
// them is freed, as the kernel's xfs_iunlink_remove leaves them.
func (e *engine) emptyBuckets(agno uint32) error {
	k := e.sector(agno, fsys.SectorAGI)
	b, err := e.c.read(k)
	if err != nil {
		return err
	}
	for i := range xfsformat.AGIUnlinkedBuckets {
		binary.BigEndian.PutUint32(b[agiUnlinkedOff+4*i:], nullAGIno)
	}
	xfsformat.UpdateCRC(b, xfsformat.AGICRCOffset())
	return e.c.write(k.daddr, b)
}

// finishedText says what the after-work did and left to the rebuild.
func (e *engine) finishedText() {
	res := e.res
	if n := len(res.Freed); n > 0 {
		res.AfterWork = append(res.AfterWork, fmt.Sprintf("freed %d inode(s) left on the AGI unlinked lists, as the kernel's mount does after replaying (cores cleared as its inactivation leaves them, buckets emptied; their blocks and the inode btrees' free bits follow in the rebuild)", n))
	}
	if n := len(res.Unfinished); n > 0 {
		_, counts := intentKinds(res.Unfinished)
		res.AfterWork = append(res.AfterWork, fmt.Sprintf("%d unfinished intent(s) (%s) finished by rebuilding the space structures of the AGs they name from the files' block maps", n, strings.Join(counts, ", ")))
	}
	if res.CowStaging > 0 {
		res.AfterWork = append(res.AfterWork, fmt.Sprintf("%d copy-on-write staging extent(s) freed by the rebuild of their AGs' refcountbt and free space, as the kernel's mount frees them", res.CowStaging))
	}
}

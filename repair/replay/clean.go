package replay

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// After the replay: what the kernel does next at mount (finish intents,
// free unlinked inodes and leftover copy-on-write staging extents), the
// superblock counters a mount after a dirty log recounts, and the
// unmount record its unmount writes.

// maxUnlinkedWalk bounds the walk of one unlinked list (a damaged list
// may loop).
const maxUnlinkedWalk = 1 << 20

// afterwork finds what the kernel would do after the replay: it reads
// the replayed state through the throwaway. Without finish, all of it
// is left undone and said (Result.Incomplete); with it, the unlinked
// inodes are freed here and the rest left to the caller's rebuild of
// the AGs in Result.Rebuild (finish.go), and Incomplete says what
// neither can do.
func (e *engine) afterwork(ctx context.Context, finish bool) error {
	res := e.res
	if len(res.Unfinished) > 0 {
		if !finish {
			res.Incomplete = append(res.Incomplete, unfinishedText(res.Unfinished, "the kernel finishes them after replaying; this replay leaves them (repair --replay-log finishes EFI, RUI and CUI)"))
		} else if why := e.planIntents(); why != "" {
			res.Incomplete = append(res.Incomplete, why)
		}
	}
	g := e.geo
	be := binary.BigEndian
	var bucketAGs []uint32
	for agno := range g.AGCount {
		agi, _, err := e.fs.ReadAGI(agno)
		if err != nil {
			return err
		}
		for _, agino := range agi.Unlinked {
			if agino != nullAGIno && !slices.Contains(bucketAGs, agno) {
				bucketAGs = append(bucketAGs, agno)
			}
			for n := 0; agino != nullAGIno; n++ {
				if n >= maxUnlinkedWalk || !g.ValidAGIno(agno, agino) {
					return refusef("AG %d: an unlinked list reaches inode %d, not an inode of the AG, or loops", agno, agino)
				}
				res.Unlinked = append(res.Unlinked, g.Ino(agno, agino))
				agbno, idx := g.AGInoBlock(agino)
				dip := make([]byte, g.InodeSize)
				if err := e.fs.Img.ReadAt(dip, g.ByteOffset(agno, agbno)+int64(idx)*int64(g.InodeSize)); err != nil {
					return err
				}
				agino = be.Uint32(dip[dinodeNextUnlinked:])
			}
		}
	}
	if n := len(res.Unlinked); n > 0 && !finish {
		res.Incomplete = append(res.Incomplete, fmt.Sprintf("%d inode(s) are left on the AGI unlinked lists (removed while open, or not freed yet at the crash): the kernel frees them after replaying; this replay leaves them listed", n))
	}
	if finish {
		for _, ino := range res.Unlinked {
			if err := e.freeUnlinked(ino); err != nil {
				return err
			}
		}
		for _, agno := range bucketAGs {
			if err := e.emptyBuckets(agno); err != nil {
				return err
			}
		}
	}
	if g.Reflink {
		for agno := range g.AGCount {
			before := res.CowStaging
			w := &fsys.Walk{FS: e.fs, AG: agno, Type: xfsformat.Refcountbt}
			err := w.Run(ctx, func(v *fsys.Visit) error {
				if v.Block == nil || !v.Block.IsLeaf() {
					return nil
				}
				for i := range v.Block.NumRecs() {
					if xfsformat.DecodeRefcountRec(v.Block.Rec(i)).Cow {
						res.CowStaging++
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if finish && res.CowStaging > before {
				e.rebuild(agno, "it holds copy-on-write staging extents")
			}
		}
		if res.CowStaging > 0 && !finish {
			res.Incomplete = append(res.Incomplete, fmt.Sprintf("the refcount btrees hold %d copy-on-write staging extent(s): the kernel frees them at mount; this replay leaves them", res.CowStaging))
		}
	}
	if finish && len(res.Incomplete) == 0 {
		e.finishedText()
	}
	return nil
}

// sector is the buffer of header sector n of AG agno.
func (e *engine) sector(agno uint32, n int) bufKey {
	g := e.geo
	return bufKey{g.SectorOffset(agno, n) / xlog.BBSize, int(g.SectSize / xlog.BBSize)}
}

// recount sets the primary superblock's summary counters from the AG
// headers, as a mount after a dirty log does (xfs_initialize_perag_data),
// and, with clean, clears its log-incompatible features, as the kernel's
// unmount does once the log is clean (xfs_clear_incompat_log_features).
func (e *engine) recount(clean bool) error {
	var icount, ifree, fdblocks uint64
	for agno := range e.geo.AGCount {
		b, err := e.c.read(e.sector(agno, fsys.SectorAGF))
		if err != nil {
			return err
		}
		agf, err := xfsformat.DecodeAGF(b)
		if err != nil {
			return refusef("AG %d: the replayed AGF: %v", agno, err)
		}
		if b, err = e.c.read(e.sector(agno, fsys.SectorAGI)); err != nil {
			return err
		}
		agi, err := xfsformat.DecodeAGI(b)
		if err != nil {
			return refusef("AG %d: the replayed AGI: %v", agno, err)
		}
		fdblocks += uint64(agf.FreeBlks) + uint64(agf.FLCount) + uint64(agf.BtreeBlks)
		icount += uint64(agi.Count)
		ifree += uint64(agi.FreeCount)
	}
	if fdblocks > e.geo.DBlocks || ifree > icount {
		return refusef("the replayed AG headers count %d free blocks of %d and %d free inodes of %d", fdblocks, e.geo.DBlocks, ifree, icount)
	}
	k := e.sector(0, fsys.SectorSB)
	b, err := e.c.read(k)
	if err != nil {
		return err
	}
	sb, err := xfsformat.DecodeSuperblock(b)
	if err != nil {
		return refusef("the replayed superblock: %v", err)
	}
	e.res.Counters = [3][2]uint64{{sb.ICount, icount}, {sb.IFree, ifree}, {sb.FDBlocks, fdblocks}}
	sb.ICount, sb.IFree, sb.FDBlocks = icount, ifree, fdblocks
	if clean {
		sb.FeaturesLogIncompat = 0
	}
	if err := sb.Encode(b); err != nil {
		return err
	}
	xfsformat.UpdateCRC(b, xfsformat.SBCRCOffset())
	return e.c.write(k.daddr, b)
}

// unmountRecordSize is the header blocks and the bytes of data of an
// unmount record as the kernel writes it: padded to the log's write
// unit (xlog_calc_iclog_size: the log stripe unit on v2 logs that have
// one, else the log sector; records stay aligned to it), with as many
// header blocks as that data needs (one per 32 KiB).
func unmountRecordSize(logv2 bool, sb *xfsformat.Superblock) (hblks, data int) {
	roundoff := xlog.BBSize
	switch {
	case logv2 && sb.LogSUnit > 1:
		roundoff = int(sb.LogSUnit)
	case sb.LogSectSize > xlog.BBSize:
		roundoff = int(sb.LogSectSize)
	}
	roundoff = min((roundoff+xlog.BBSize-1)/xlog.BBSize*xlog.BBSize, xlog.MaxRecordSize)
	for hblks = 1; ; hblks++ {
		total := (hblks*xlog.BBSize + xlog.UnmountSize + roundoff - 1) / roundoff * roundoff
		if data = total - hblks*xlog.BBSize; data <= hblks*xlog.HeaderCycleSize || !logv2 || hblks == xlog.MaxHeaderBlocks {
			return hblks, data
		}
	}
}

// unmountTID is the transaction id of the unmount records xfsbox
// writes ("xfsb"); the kernel's are its tickets', any number.
const unmountTID = 0x78667362

// staleBlocks is how far in front of the head the kernel clears blocks
// that a crash may have left with the head's cycle (XLOG_TOTAL_REC_SHIFT:
// eight iclogs of the largest size).
const staleBlocks = xlog.MaxIclogs * xlog.MaxRecordSize / xlog.BBSize

// markClean writes an unmount record at the head of the log, as the
// kernel's unmount does once everything is on disk: one op, client LOG,
// flagged UNMOUNT, its tail the last record before it; then clears the
// blocks in front of it that carry its cycle (torn writes of the crash)
// as the kernel's recovery does, so that the head is found right after
// it.
func (e *engine) markClean(ls *fsys.LogState) error {
	g := e.geo
	agno, agbno, ok := g.InternalLogAG()
	if !ok {
		return refusef("the filesystem has no internal log")
	}
	base := g.ByteOffset(agno, agbno) / xlog.BBSize
	n, head := ls.LogBlocks, ls.HeadBlock
	if n < 8 {
		return refusef("a log of %d blocks", n)
	}
	cycle := ls.Cycle
	if head <= ls.RecordBlock { // the last record ended at (or crossed) the log's end
		cycle++
	}
	version := uint32(xlog.Version1)
	if ls.LogV2 {
		version = xlog.Version2
	}
	hblks, data := unmountRecordSize(ls.LogV2, e.sb)
	size := uint32(0)
	if ls.LogV2 {
		size = uint32(hblks) * xlog.HeaderCycleSize
	}
	h := xlog.RecHeader{Cycle: cycle, Version: version, LSN: xlog.MakeLSN(cycle, head), TailLSN: xlog.MakeLSN(ls.Cycle, ls.RecordBlock),
		PrevBlock: ls.RecordBlock, NumLogOps: 1, Fmt: xlog.FmtLinuxLE, FSUUID: e.sb.UUID, Size: size}
	blocks := uint32(hblks + data/xlog.BBSize)
	if blocks+8 > n {
		return refusef("a log of %d blocks has no room for an unmount record of %d", n, blocks)
	}
	wrapAt := -1
	if head+blocks > n {
		wrapAt = int(n - head)
	}
	body := make([]byte, data)
	copy(body, xlog.UnmountRecord(unmountTID, binary.LittleEndian))
	raw, err := xlog.BuildRecord(h, body, hblks, wrapAt)
	if err != nil {
		return err
	}
	for i := range blocks {
		if err := e.c.write(base+int64((head+i)%n), raw[i*xlog.BBSize:(i+1)*xlog.BBSize]); err != nil {
			return err
		}
	}
	// xlog_clear_stale_blocks from the block after the record, up to the
	// old tail and never over the record: blocks before the log's end
	// get the cycle before the new head's, blocks past it the head's.
	next := head + blocks
	ncycle := cycle
	if next >= n {
		next -= n
		ncycle++
	}
	dist := func(a, b uint32) uint32 { return (b + n - a) % n }
	count := min(uint32(staleBlocks), dist(next, xlog.LSNBlock(ls.TailLSN)), dist(next, head))
	for i := range count {
		b := (next + i) % n
		c := ncycle - 1
		if b < next {
			c = ncycle
		}
		if err := e.c.write(base+int64(b), xlog.StaleBlock(c, b, ls.TailLSN, version, e.sb.UUID)); err != nil {
			return err
		}
	}
	return nil
}

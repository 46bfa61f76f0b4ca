package repair

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// minFreelist is the kernel's xfs_alloc_min_freelist for trees of these
// heights: enough AGFL blocks for a split at every level of the
// free-space btrees (and the rmapbt).
func minFreelist(g *xfsformat.Geometry, bnoLevels, cntLevels, rmapLevels int) int64 {
	allocMax := xfsformat.Bnobt.Ops().MaxLevels(g)
	n := int64(min(bnoLevels+1, allocMax)*2 - 2)
	n += int64(min(cntLevels+1, allocMax)*2 - 2)
	if g.Rmapbt {
		n += int64(min(rmapLevels+1, xfsformat.Rmapbt.Ops().MaxLevels(g))*2 - 2)
	}
	return n
}

// freeSpacePlan is the settled layout of a free-space rebuild.
type freeSpacePlan struct {
	reserved           []check.Extent // every block taken, sorted
	bno, cnt, rmap     *LoadPlan
	freeRecs, rmapRecs int64
}

func (p *freeSpacePlan) treeBlocks() int64 {
	n := p.bno.Blocks() + p.cnt.Blocks()
	if p.rmap != nil {
		n += p.rmap.Blocks()
	}
	return n
}

// rebuildFreeSpace rebuilds the bnobt and cntbt of one AG from the
// complement of used space, refills its AGFL, rewrites the rmapbt's
// OWN_AG records (closure: the free-space trees' and the AGFL's blocks
// are OWN_AG) and sets the AGF and superblock counters.
//
// Used space comes from the rmapbt when it is sound (checkAG: it agrees
// with every structure of the AG and with the bnobt, so no inode is
// read), else from the check's full picture (headers, log, every other
// btree's blocks, inode chunks, CoW staging and every inode's forks),
// which trusts neither the old free-space trees nor the old rmapbt.
// New blocks come from space that is free both before and after: never
// a block the old trees or the old AGFL still hold.
//
// With refc, the refcountbt is rebuilt too, from the overlaps of the
// file data mappings: its old blocks (OWN_REFC) and CoW staging extents
// are dropped from the picture, and its new blocks are carved with the
// others.
//
// With rmapRequested, the rmapbt is rebuilt from every owner the inode
// scan finds rather than from its own records.
//
// With ino, the inobt and finobt are rebuilt too, from the inode chunks
// found without the old inobt (findInodeChunks) and their inodes' modes;
// the AGI and the superblock's inode counters follow.
func rebuildFreeSpace(ctx context.Context, fs *fsys.FS, opts RepairOptions, refc, ino, rmapRequested bool) (*RepairResult, error) {
	// The rmapbt may stand in for the inode scan unless it is itself to
	// be rebuilt from every owner (rmapbt requested) or the inode trees
	// are (their rebuild reads the inodes anyway).
	ws, c, res, err := checkAG(ctx, fs, opts, !ino && !rmapRequested)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	return rebuildFreeSpaceFrom(ctx, fs, opts, ws, c, res, refc, ino, nil)
}

// rebuildFreeSpaceFrom is rebuildFreeSpace after its check (c, whose
// findings are res.Before, with its records in ws). ir, when not nil,
// is the inode rebuild prepared by the caller (repairAll, from one scan
// for every AG); with ino and no ir, it is prepared here.
func rebuildFreeSpaceFrom(ctx context.Context, fs *fsys.FS, opts RepairOptions, ws *workspace.Workspace, c *check.AG, res *RepairResult, refc, ino bool, ir *inodeRebuild) (*RepairResult, error) {
	g, agno := fs.Geo, opts.ag
	var err error
	sources := []string{"inobt", "inode", "bmbt"}
	if ino {
		// The old inobt and the scan that went through it are replaced
		// by the chunks found and a scan of those.
		sources = nil
	}
	if !refc {
		sources = append(sources, "refcountbt")
	}
	if err := refuseCorruptSources(res.Before, sources...); err != nil {
		return res, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	wanted := freeSpaceCodes
	if refc {
		wanted = append(wanted, "refcountbt")
	}
	if ino {
		wanted = append(wanted, "inobt", "finobt", "agi")
	}
	if !opts.Force && !needsRebuild(res.Before, wanted) {
		res.NothingToDo = true
		opts.logf("ag %d: free space is consistent; nothing to do (use force to rebuild anyway)", agno)
		return res, nil
	}

	opts.progress("plan")
	agLen := uint64(g.AGLength(agno))
	var iterErr error
	// used is the AG's used space after the rebuild's sources; before
	// holds everything the old state uses too (new blocks avoid both).
	used, before := c.Used(), c.Used()
	if ino {
		if ir == nil {
			sound := soundChunkSources(fs, agno, res.Before)
			irs, err := prepareInodeRebuilds(ctx, fs, map[uint32]*check.AG{agno: c}, ws, func(uint32) chunkSources { return sound })
			if err != nil {
				return res, fmt.Errorf("%w: %w", ErrRefused, err)
			}
			ir = irs[agno]
		}
		used = ir.used
		if before, err = ws.NewArray(xfsformat.RmapRecLen); err != nil {
			return res, err
		}
		for _, a := range []*workspace.Array{c.Used(), ir.used} {
			if err := a.Iterate(ctx, func(_ int64, r []byte) error { return before.Append(r) }); err != nil {
				return res, err
			}
		}
		if err := before.Sort(ctx, check.CmpRmapRecs); err != nil {
			return res, err
		}
	}
	// What the rebuild replaces: OWN_AG (free-space trees, rmapbt,
	// AGFL) and, with refc, the refcountbt's blocks and CoW staging.
	replaced := func(o int64) bool {
		return o == xfsformat.OwnAG || (refc && (o == xfsformat.OwnRefc || o == xfsformat.OwnCow)) ||
			(ino && o == xfsformat.OwnInobt)
	}
	notOwnAG := func() iter.Seq[[]byte] { return filterOwners(ctx, used, &iterErr, replaced) }
	keepUnion := func() iter.Seq[check.Extent] { return check.UsedUnion(notOwnAG()) }
	// Free both before and after: outside everything in use, old
	// free-space trees and AGFL included.
	candidates := complement(check.UsedUnion(before.All(ctx, &iterErr)), nil, agLen)
	var oldOwnAG int64
	for rec := range c.Used().All(ctx, &iterErr) {
		if replaced(int64(binary.BigEndian.Uint64(rec[8:]))) {
			oldOwnAG += int64(binary.BigEndian.Uint32(rec[4:]))
		}
	}
	var candidateBlocks int64
	for e := range candidates {
		candidateBlocks += int64(e.End - e.Start)
	}
	if iterErr != nil {
		return res, iterErr
	}

	// The rmapbt's records besides OWN_AG, normalised, for the closure.
	var keepRmaps *workspace.Array
	if g.Rmapbt {
		keep, err := ws.NewArray(xfsformat.RmapRecLen)
		if err != nil {
			return res, err
		}
		for rec := range notOwnAG() {
			if err := keep.Append(rec); err != nil {
				return res, err
			}
		}
		if keepRmaps, err = check.NormalizeRmaps(ctx, ws, keep); err != nil {
			return res, err
		}
		keep.Release()
	}

	tight := uint64(candidateBlocks) < agLen/10
	var refcRecs *workspace.Array
	var refcPlan *LoadPlan
	if refc {
		if refcRecs, err = ws.NewArray(xfsformat.RefcountRecLen); err != nil {
			return res, err
		}
		if err := check.ComputeRefcounts(ctx, used, refcRecs); err != nil {
			return res, err
		}
		if refcPlan, err = PlanLoad(xfsformat.Refcountbt, g, refcRecs.Len(), tight); err != nil {
			return res, err
		}
	}
	// Trees whose size the carving cannot change are placed first: the
	// refcountbt (OWN_REFC), then the inobt and finobt (OWN_INOBT).
	var inoPlan, finoPlan *LoadPlan
	groups := []int64{0, 0}
	if refcPlan != nil {
		groups[0] = refcPlan.Blocks()
	}
	if ir != nil {
		if inoPlan, err = PlanLoad(xfsformat.Inobt, g, ir.inoRecs.Len(), tight); err != nil {
			return res, err
		}
		groups[1] = inoPlan.Blocks()
		if g.Finobt {
			if finoPlan, err = PlanLoad(xfsformat.Finobt, g, ir.finoRecs.Len(), tight); err != nil {
				return res, err
			}
			groups[1] += finoPlan.Blocks()
		}
	}
	plan, err := settleFreeSpace(ctx, fs, ws, keepUnion, candidates, keepRmaps, tight, agLen, groups)
	if err != nil {
		return res, err
	}
	if iterErr != nil {
		return res, iterErr
	}

	// Stage the records of the new trees.
	opts.progress("stage")
	bnoRecs, err := ws.NewArray(xfsformat.AllocRecLen)
	if err != nil {
		return res, err
	}
	var freeblks, longest uint64
	var b8 [8]byte
	for e := range complement(keepUnion(), plan.reserved, agLen) {
		n := e.End - e.Start
		freeblks += n
		longest = max(longest, n)
		xfsformat.AllocRec{StartBlock: uint32(e.Start), BlockCount: uint32(n)}.Encode(b8[:])
		if err := bnoRecs.Append(b8[:]); err != nil {
			return res, err
		}
	}
	if iterErr != nil {
		return res, iterErr
	}
	cntRecs, err := ws.NewArray(xfsformat.AllocRecLen)
	if err != nil {
		return res, err
	}
	if err := bnoRecs.Iterate(ctx, func(_ int64, r []byte) error { return cntRecs.Append(r) }); err != nil {
		return res, err
	}
	if err := cntRecs.Sort(ctx, func(a, b []byte) int { return xfsformat.Cntbt.Ops().CmpKeys(a, b) }); err != nil {
		return res, err
	}
	blocks := blocksOf(plan.reserved)
	take := func(n int64) []uint32 {
		out := blocks[:n]
		blocks = blocks[n:]
		return out
	}
	var refcBlocks, inoBlocks, finoBlocks []uint32
	if refcPlan != nil {
		refcBlocks = take(refcPlan.Blocks())
	}
	if inoPlan != nil {
		inoBlocks = take(inoPlan.Blocks())
	}
	if finoPlan != nil {
		finoBlocks = take(finoPlan.Blocks())
	}
	bnoBlocks, cntBlocks := take(plan.bno.Blocks()), take(plan.cnt.Blocks())
	var rmapBlocks []uint32
	var rmapRecs *workspace.Array
	if plan.rmap != nil {
		rmapBlocks = take(plan.rmap.Blocks())
		if rmapRecs, err = ws.NewArray(xfsformat.RmapRecLen); err != nil {
			return res, err
		}
		if err := keepRmaps.Iterate(ctx, func(_ int64, r []byte) error { return rmapRecs.Append(r) }); err != nil {
			return res, err
		}
		var b24 [xfsformat.RmapRecLen]byte
		split := splitGroups(plan.reserved, groups)
		for _, o := range []struct {
			runs  []check.Extent
			owner int64
		}{{split[2], xfsformat.OwnAG}, {split[0], xfsformat.OwnRefc}, {split[1], xfsformat.OwnInobt}} {
			for _, run := range o.runs {
				xfsformat.RmapRec{StartBlock: uint32(run.Start), BlockCount: uint32(run.End - run.Start), Owner: ownerBits(o.owner)}.Encode(b24[:])
				if err := rmapRecs.Append(b24[:]); err != nil {
					return res, err
				}
			}
		}
		if err := rmapRecs.Sort(ctx, check.CmpRmapRecs); err != nil {
			return res, err
		}
	}
	agflBlocks := blocks
	res.Records = bnoRecs.Len()

	// Past this point nothing is cancellable: write the new trees into
	// blocks nobody uses, then commit the headers through the journal.
	opts.progress("write")
	ctx = context.WithoutCancel(ctx)
	w := opts.writer(fs)
	write := func(agbno uint32, buf []byte) error { return w.WriteAt(buf, g.ByteOffset(agno, agbno)) }
	bnoRoot, err := BulkLoad(ctx, fs, ws, agno, plan.bno, bnoRecs, bnoBlocks, write)
	if err != nil {
		return res, err
	}
	cntRoot, err := BulkLoad(ctx, fs, ws, agno, plan.cnt, cntRecs, cntBlocks, write)
	if err != nil {
		return res, err
	}
	var rmapRoot uint32
	if plan.rmap != nil {
		if rmapRoot, err = BulkLoad(ctx, fs, ws, agno, plan.rmap, rmapRecs, rmapBlocks, write); err != nil {
			return res, err
		}
	}
	var refcRoot, inoRoot, finoRoot uint32
	if refcPlan != nil {
		if refcRoot, err = BulkLoad(ctx, fs, ws, agno, refcPlan, refcRecs, refcBlocks, write); err != nil {
			return res, err
		}
	}
	if inoPlan != nil {
		if inoRoot, err = BulkLoad(ctx, fs, ws, agno, inoPlan, ir.inoRecs, inoBlocks, write); err != nil {
			return res, err
		}
	}
	if finoPlan != nil {
		if finoRoot, err = BulkLoad(ctx, fs, ws, agno, finoPlan, ir.finoRecs, finoBlocks, write); err != nil {
			return res, err
		}
	}
	if err := w.Sync(); err != nil {
		return res, err
	}

	// Headers.
	old := *c.AGF()
	agf := old
	agf.MagicNum, agf.VersionNum, agf.SeqNo, agf.Length, agf.UUID = xfsformat.AGFMagic, 1, agno, uint32(agLen), g.MetaUUID
	xfsformat.Bnobt.Ops().SetRoot(&agf, nil, bnoRoot, uint32(plan.bno.Height()))
	xfsformat.Cntbt.Ops().SetRoot(&agf, nil, cntRoot, uint32(plan.cnt.Height()))
	agf.BtreeBlks = uint32(plan.bno.Blocks() - 1 + plan.cnt.Blocks() - 1)
	if plan.rmap != nil {
		xfsformat.Rmapbt.Ops().SetRoot(&agf, nil, rmapRoot, uint32(plan.rmap.Height()))
		agf.RmapBlocks = uint32(plan.rmap.Blocks())
		agf.BtreeBlks += uint32(plan.rmap.Blocks() - 1)
	}
	if refcPlan != nil {
		xfsformat.Refcountbt.Ops().SetRoot(&agf, nil, refcRoot, uint32(refcPlan.Height()))
		agf.RefcntBlocks = uint32(refcPlan.Blocks())
	}
	agf.FreeBlks, agf.Longest = uint32(freeblks), uint32(longest)
	agf.LSN = 0 // as for the new blocks: never ahead of the log
	agf.FLFirst, agf.FLLast, agf.FLCount = 0, uint32(max(len(agflBlocks)-1, 0)), uint32(len(agflBlocks))
	sector, err := fs.ReadSector(agno, fsys.SectorAGF)
	if err != nil {
		return res, err
	}
	agfBuf := append([]byte(nil), sector...)
	if err := agf.Encode(agfBuf); err != nil {
		return res, err
	}
	xfsformat.UpdateCRC(agfBuf, xfsformat.AGFCRCOffset())

	agflBuf := make([]byte, g.SectSize)
	agfl := &xfsformat.AGFL{MagicNum: xfsformat.AGFLMagic, SeqNo: agno, UUID: g.MetaUUID,
		Bno: make([]uint32, xfsformat.AGFLSlots(int(g.SectSize)))}
	for i := range agfl.Bno {
		agfl.Bno[i] = xfsformat.NullAGBlock
	}
	copy(agfl.Bno, agflBlocks)
	if err := agfl.Encode(agflBuf); err != nil {
		return res, err
	}
	xfsformat.UpdateCRC(agflBuf, xfsformat.AGFLCRCOffset())

	// Commits are one at a time (repairAll rebuilds AGs in parallel): the
	// superblock's counters are recounted over the AGs as they stand at
	// this AG's commit, so the last commit leaves them right.
	var fdOld, fdNew uint64
	err = func() error {
		defer fs.LockCommits()()
		var sbBuf []byte
		if sbBuf, fdOld, fdNew, err = sbWithFdblocks(fs, agno, &agf); err != nil {
			return err
		}
		writes := []store.Write{
			{Off: g.SectorOffset(agno, fsys.SectorAGF), Data: agfBuf},
			{Off: g.SectorOffset(agno, fsys.SectorAGFL), Data: agflBuf},
		}
		if ir != nil {
			agiBuf, err := newAGI(fs, agno, c.AGI(), inoPlan, finoPlan, inoRoot, finoRoot, ir, sbBuf)
			if err != nil {
				return err
			}
			writes = append(writes, store.Write{Off: g.SectorOffset(agno, fsys.SectorAGI), Data: agiBuf})
		}
		writes = append(writes, store.Write{Off: 0, Data: sbBuf})
		opts.progress("commit")
		return fs.Commit(opts.writer(fs), writes, opts.Fault)
	}()
	if err != nil {
		return res, err
	}
	if ir != nil {
		res.ChunkSource = ir.chunkSource
		opts.logf("ag %d: inode chunks from the %s", agno, ir.chunkSource)
		res.Rewritten = append(res.Rewritten, Rewrite{"inobt", "requested: rebuilt from the inode chunks found (" + ir.chunkSource + ") and their inodes"},
			Rewrite{"finobt", "the inobt's chunks with free inodes"}, Rewrite{"agi", "roots, levels and counters of the new inode btrees"})
		res.Counters = append(res.Counters, Counter{"count", uint64(c.AGI().Count), ir.count}, Counter{"freecount", uint64(c.AGI().FreeCount), ir.free})
	}

	why := "requested"
	res.Rewritten = append(res.Rewritten,
		Rewrite{"bnobt", why}, Rewrite{"cntbt", "rebuilt with the bnobt: both index the same free extents"},
		Rewrite{"agfl", "refilled from the new free space to the minimum the new trees need"},
		Rewrite{"agf", "roots, levels and free-space counters of the new trees"})
	if plan.rmap != nil {
		res.Rewritten = append(res.Rewritten, Rewrite{"rmapbt", "closure: the new trees' and AGFL's blocks are OWN_AG records"})
	}
	res.Rewritten = append(res.Rewritten, Rewrite{"sb", "the primary superblock's fdblocks recounted over the AGs"})
	if refcPlan != nil {
		res.Rewritten = append(res.Rewritten, Rewrite{"refcountbt", "requested: rebuilt from the overlaps of every inode's file data"})
	}
	res.BlocksAllocated = int64(len(refcBlocks) + len(inoBlocks) + len(finoBlocks) + len(bnoBlocks) + len(cntBlocks) + len(rmapBlocks) + len(agflBlocks))
	res.BlocksFreed = oldOwnAG
	res.Counters = []Counter{
		{"freeblks", uint64(old.FreeBlks), uint64(agf.FreeBlks)}, {"longest", uint64(old.Longest), uint64(agf.Longest)},
		{"btreeblks", uint64(old.BtreeBlks), uint64(agf.BtreeBlks)}, {"flcount", uint64(old.FLCount), uint64(agf.FLCount)},
		{"rmapblocks", uint64(old.RmapBlocks), uint64(agf.RmapBlocks)}, {"refcntblocks", uint64(old.RefcntBlocks), uint64(agf.RefcntBlocks)},
		{"fdblocks", fdOld, fdNew},
	}
	res.WorkspaceUsed, res.WorkspaceRes = ws.Usage()
	for _, rw := range res.Rewritten {
		opts.logf("ag %d: rewrote %s (%s)", agno, rw.Structure, rw.Why)
	}
	for _, ct := range res.Counters {
		if ct.Before != ct.After {
			opts.logf("ag %d: %s %d -> %d", agno, ct.Name, ct.Before, ct.After)
		}
	}

	opts.progress("verify")
	types := []xfsformat.BtreeType{xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt}
	if refc {
		types = append(types, xfsformat.Refcountbt)
	}
	if ino {
		types = append(types, xfsformat.Inobt, xfsformat.Finobt)
	}
	after, err := check.Rebuilt(context.Background(), fs, agno, opts.Workspace, types...)
	if err != nil {
		return res, err
	}
	res.After = after
	return res, nil
}

// settleFreeSpace finds the fixed point of the rebuild's layout: taking
// blocks for the new trees can consume whole free extents (fewer
// records, smaller trees) and adds OWN_AG records (a bigger rmapbt), so
// iterate until the block count settles. Blocks left over when the need
// shrinks go to the AGFL.
func settleFreeSpace(ctx context.Context, fs *fsys.FS, ws *workspace.Workspace, keepUnion func() iter.Seq[check.Extent],
	candidates iter.Seq[check.Extent], keepRmaps *workspace.Array, tight bool, agLen uint64, groups []int64) (*freeSpacePlan, error) {
	// Blocks taken first, for trees whose size the carving cannot change
	// (one group per rmap owner).
	var fixedBlocks int64
	for _, n := range groups {
		fixedBlocks += n
	}
	g := fs.Geo
	slots := int64(xfsformat.AGFLSlots(int(g.SectSize)))
	need := int64(0)
	for iter := 0; iter < 32; iter++ {
		reserved, err := carve(ctx, ws, candidates, need)
		if err != nil {
			return nil, err
		}
		p := &freeSpacePlan{reserved: reserved}
		for range complement(keepUnion(), reserved, agLen) {
			p.freeRecs++
		}
		if p.bno, err = PlanLoad(xfsformat.Bnobt, g, p.freeRecs, tight); err != nil {
			return nil, err
		}
		if p.cnt, err = PlanLoad(xfsformat.Cntbt, g, p.freeRecs, tight); err != nil {
			return nil, err
		}
		rmapLevels := 0
		if keepRmaps != nil {
			p.rmapRecs = keepRmaps.Len()
			for _, runs := range splitGroups(reserved, groups) {
				p.rmapRecs += int64(len(runs))
			}
			if need == 0 {
				p.rmapRecs++ // at least one OWN_AG run will exist
			}
			if p.rmap, err = PlanLoad(xfsformat.Rmapbt, g, p.rmapRecs, tight); err != nil {
				return nil, err
			}
			rmapLevels = p.rmap.Height()
		}
		agflMin := min(minFreelist(g, p.bno.Height(), p.cnt.Height(), rmapLevels), slots)
		trees := p.treeBlocks() + fixedBlocks
		total := trees + agflMin
		switch {
		case total == need, total < need && need-trees <= slots:
			// The blocks past the trees' go to the AGFL.
			return p, nil
		}
		need = total
	}
	return nil, fmt.Errorf("free-space rebuild: block count did not settle")
}

// sbWithFdblocks returns the primary superblock sector with fdblocks
// recounted over every AG's AGF, this AG's taken from newAGF.
func sbWithFdblocks(fs *fsys.FS, agno uint32, newAGF *xfsformat.AGF) (buf []byte, before, after uint64, err error) {
	sector, err := fs.ReadSector(0, fsys.SectorSB)
	if err != nil {
		return nil, 0, 0, err
	}
	buf = append([]byte(nil), sector...)
	sb, err := xfsformat.DecodeSuperblock(buf)
	if err != nil {
		return nil, 0, 0, err
	}
	var fd uint64
	for i := uint32(0); i < fs.Geo.AGCount; i++ {
		a := newAGF
		if i != agno {
			if a, _, err = fs.ReadAGF(i); err != nil {
				return nil, 0, 0, err
			}
		}
		fd += uint64(a.FreeBlks) + uint64(a.FLCount) + uint64(a.BtreeBlks)
	}
	before = sb.FDBlocks
	sb.FDBlocks = fd
	if err := sb.Encode(buf); err != nil {
		return nil, 0, 0, err
	}
	xfsformat.UpdateCRC(buf, xfsformat.SBCRCOffset())
	return buf, before, fd, nil
}

// ownerBits is a (possibly special, negative) rmap owner as stored.
func ownerBits(o int64) uint64 { return uint64(o) }

// splitGroups splits the blocks of runs, in order, into groups of the
// given sizes and the rest (the last group), each as merged runs.
func splitGroups(runs []check.Extent, sizes []int64) [][]check.Extent {
	out := make([][]check.Extent, len(sizes)+1)
	g, left := 0, int64(0)
	if len(sizes) > 0 {
		left = sizes[0]
	}
	for _, r := range runs {
		for r.Start < r.End {
			for g < len(sizes) && left == 0 {
				g++
				if g < len(sizes) {
					left = sizes[g]
				}
			}
			take := int64(r.End - r.Start)
			if g < len(sizes) {
				take = min(take, left)
				left -= take
			}
			out[g] = append(out[g], check.Extent{Start: r.Start, End: r.Start + uint64(take)})
			r.Start += uint64(take)
		}
	}
	for i := range out {
		out[i] = mergeRuns(out[i])
	}
	return out
}

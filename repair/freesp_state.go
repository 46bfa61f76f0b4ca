package repair

import (
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// freeSpaceRebuild is one AG's free-space rebuild (rebuildFreeSpace says
// what it rebuilds and from what) after its check: the state its steps
// share, as the kernel's online repair keeps it in struct xrep_abt
// (fs/xfs/scrub/alloc_repair.c), so that each step is a small method.
// run takes the steps in order, each reported through opts.progress:
//
//   - judge (still the "check" phase): the check's findings refuse the
//     rebuild, or find nothing to do;
//   - plan: the used space the rebuild keeps, the blocks free before
//     and after, the trees of fixed size, the settled layout;
//   - stage: the new trees' records, and their blocks dealt out;
//   - write: the new trees into blocks nobody uses (not cancellable
//     from here on);
//   - commit: the AGF, AGFL, AGI and superblock through the journal;
//   - verify: the rebuilt trees checked again.
//
// Its callers (rebuildFreeSpace for one AG, repairAllShared for every
// AG after one shared check) fill in the fields up to ir and call run.
type freeSpaceRebuild struct {
	fs   *fsys.FS
	opts RepairOptions // opts.ag is the AG
	ws   *workspace.Workspace
	c    *check.AG     // the AG's check, with its records in ws
	res  *RepairResult // res.Before holds c's findings; run fills the rest
	// refc rebuilds the refcountbt too, from the overlaps of the file
	// data mappings; ino the inobt and finobt (and the AGI), from the
	// inode chunks found without the old inobt.
	refc, ino bool
	// ir is the inode rebuild, with ino: the caller's (repairAll
	// prepares every AG's from one scan) or, when nil, plan's.
	ir *inodeRebuild
	// planned: the plan ran already, beside the check (rebuildFreeSpace),
	// and planErr is its error.
	planned bool
	planErr error

	// Set by plan.
	agLen  uint64
	used   *workspace.Array // the AG's used space after the rebuild's sources
	before *workspace.Array // what the old state uses too: new blocks avoid both
	// candidates are the blocks free both before and after: outside
	// everything in use, old free-space trees and AGFL included; as
	// candidateRecs, longest first (carve's order), sorted once for
	// every settle iteration: the longest of cands, as many as
	// carve can want (chooseCandidates), or all of them.
	candidates    *workspace.Array
	cands         *candidateSet
	allCandidates bool // candidates holds every one of cands
	// keptExt is the kept space's union (keptUnion) as extentRecs:
	// staged once, read by every settle iteration
	// and the staging of the free extents.
	keptExt  *workspace.Array
	keptGaps int64 // the gaps of the kept space in the AG
	oldOwnAG int64 // blocks of the owners replaced (BlocksFreed)
	// keptRmaps counts the records the new rmapbt keeps (with an
	// rmapbt), normalised; keepRmaps stages them only when normalising
	// put them out of order (newRmaps reads them from used otherwise).
	keptRmaps int64
	keepRmaps *workspace.Array
	// keptNormal: normalising the kept records merged none, so the
	// new rmapbt reads them as they are.
	keptNormal bool
	tight      bool           // candidates under a tenth of the AG: full blocks
	groups     []int64        // blocks of the fixed trees: OWN_REFC, OWN_INOBT
	reserved   []check.Extent // every block taken, sorted
	// iterErr is the first error of the iterations over workspace
	// arrays (kept, candidates), checked after them.
	iterErr error

	// The new trees (nil plans are not rebuilt), set by plan and stage,
	// their roots by write; the blocks left for the AGFL; the free
	// space's counters.
	bnobt, cntbt, rmapbt, refcbt, inobt, finobt newTree
	agfl                                        []uint32
	freeblks, longest                           uint64

	// Set by commit.
	old, agf     xfsformat.AGF
	fdOld, fdNew uint64
}

// newTree is one tree the rebuild writes, its records staged (recs) or
// made as the bulk load reads them (from).
type newTree struct {
	plan   *LoadPlan
	recs   *workspace.Array
	from   Records
	blocks []uint32
	root   uint32
}

// records is what the tree's bulk load reads.
func (t *newTree) records() Records {
	if t.from != nil {
		return t.from
	}
	return t.recs
}

// run rebuilds, returning res (filled as far as the rebuild went) and
// the first error.
func (s *freeSpaceRebuild) run(ctx context.Context) (*RepairResult, error) {
	if done, err := s.judge(); done || err != nil {
		return s.res, err
	}
	s.opts.progress("plan")
	if !s.planned {
		s.planErr = s.plan(ctx)
	}
	if s.planErr != nil {
		return s.res, s.planErr
	}
	// Staging is cancellable; the writes, once started, are not: they
	// go to blocks nobody uses until the commit, which follows them.
	s.opts.progress("stage")
	if err := s.stageAndWrite(ctx); err != nil {
		return s.res, err
	}
	if err := s.commit(); err != nil { // reports "commit"
		return s.res, err
	}
	s.report()
	s.opts.progress("verify")
	return s.res, s.verify()
}

// judge refuses the rebuild when the check found its sources corrupt,
// and is done when the check found nothing the rebuild repairs and it
// is not forced.
func (s *freeSpaceRebuild) judge() (done bool, err error) {
	sources := []string{"inobt", "inode", "bmbt"}
	if s.ino {
		// The old inobt and the scan that went through it are replaced
		// by the chunks found and a scan of those.
		sources = nil
	}
	if !s.refc {
		sources = append(sources, "refcountbt")
	}
	if err := refuseCorruptSources(s.res.Before, sources...); err != nil {
		return false, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	wanted := freeSpaceCodes
	if s.refc {
		wanted = append(wanted, "refcountbt")
	}
	if s.ino {
		wanted = append(wanted, "inobt", "finobt", "agi")
	}
	if !s.opts.Force && !needsRebuild(s.res.Before, wanted) {
		s.res.NothingToDo = true
		s.opts.logf("ag %d: free space is consistent; nothing to do (use force to rebuild anyway)", s.opts.ag)
		return true, nil
	}
	return false, nil
}

// plan settles what the rebuild keeps and where its new trees go.
func (s *freeSpaceRebuild) plan(ctx context.Context) error {
	if err := s.usedSpace(ctx); err != nil {
		return err
	}
	return s.planFrom(ctx)
}

// planFrom is plan once used and before are set.
func (s *freeSpaceRebuild) planFrom(ctx context.Context) error {
	s.agLen = uint64(s.fs.Geo.AGLength(s.opts.ag))
	if err := s.scanUsed(ctx); err != nil {
		return err
	}
	if err := s.planFixedTrees(ctx); err != nil {
		return err
	}
	p, err := s.settle(ctx)
	if err != nil {
		return err
	}
	if s.iterErr != nil {
		return s.iterErr
	}
	s.reserved = p.reserved
	s.bnobt.plan, s.cntbt.plan, s.rmapbt.plan = p.bno, p.cnt, p.rmap
	return nil
}

// usedSpace sets used and before: both the check's used space, or with
// ino, used the inode rebuild's and before the two together.
func (s *freeSpaceRebuild) usedSpace(ctx context.Context) error {
	s.used, s.before = s.c.Used(), s.c.Used()
	if !s.ino {
		return nil
	}
	if s.ir == nil {
		if err := s.prepareInodes(ctx); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	s.used = s.ir.used
	var err error
	if s.before, err = s.ws.NewArray(xfsformat.RmapRecLen); err != nil {
		return err
	}
	for _, a := range []*workspace.Array{s.c.Used(), s.ir.used} {
		if err := a.Iterate(ctx, func(_ int64, r []byte) error { return s.before.Append(r) }); err != nil {
			return err
		}
	}
	return s.before.SortBy(ctx, check.RmapSortKey...)
}

// replaced says whether the rebuild replaces the blocks of rmap owner o:
// OWN_AG (free-space trees, rmapbt, AGFL), with refc the refcountbt's
// blocks and CoW staging, with ino the inode btrees' blocks.
func (s *freeSpaceRebuild) replaced(o int64) bool {
	return o == xfsformat.OwnAG || (s.refc && (o == xfsformat.OwnRefc || o == xfsformat.OwnCow)) ||
		(s.ino && o == xfsformat.OwnInobt)
}

// kept is the used space the rebuild keeps: the records of the owners
// it does not replace.
func (s *freeSpaceRebuild) kept(ctx context.Context, errp *error) iter.Seq[[]byte] {
	return filterOwners(ctx, s.used, errp, s.replaced)
}

// keptUnion is kept as merged extents, read from keptExt.
func (s *freeSpaceRebuild) keptUnion(ctx context.Context, errp *error) iter.Seq[check.Extent] {
	return func(yield func(check.Extent) bool) {
		for rec := range s.keptExt.All(ctx, errp) {
			if !yield(extentOf(rec)) {
				return
			}
		}
	}
}

// planFixedTrees plans the trees whose size the carving cannot change,
// which are placed first: the refcountbt (OWN_REFC, its records staged
// here), then the inobt and finobt (OWN_INOBT).
func (s *freeSpaceRebuild) planFixedTrees(ctx context.Context) error {
	g := s.fs.Geo
	var err error
	if s.refc {
		if s.refcbt.recs, err = s.ws.NewArray(xfsformat.RefcountRecLen); err != nil {
			return err
		}
		if err := check.ComputeRefcounts(ctx, s.used, s.refcbt.recs); err != nil {
			return err
		}
		if s.refcbt.plan, err = PlanLoad(xfsformat.Refcountbt, g, s.refcbt.recs.Len(), s.tight); err != nil {
			return err
		}
	}
	s.groups = []int64{0, 0}
	if s.refcbt.plan != nil {
		s.groups[0] = s.refcbt.plan.Blocks()
	}
	if s.ir != nil {
		s.inobt.recs, s.finobt.recs = s.ir.inoRecs, s.ir.finoRecs
		if s.inobt.plan, err = PlanLoad(xfsformat.Inobt, g, s.ir.inoRecs.Len(), s.tight); err != nil {
			return err
		}
		s.groups[1] = s.inobt.plan.Blocks()
		if g.Finobt {
			if s.finobt.plan, err = PlanLoad(xfsformat.Finobt, g, s.ir.finoRecs.Len(), s.tight); err != nil {
				return err
			}
			s.groups[1] += s.finobt.plan.Blocks()
		}
	}
	return nil
}

// stageAndWrite stages the records of the new trees, deals out their
// blocks and bulk-loads the trees into them, side by side: the trees
// whose records need no staging (the rmapbt's and the bnobt's, made as
// they are read; the fixed trees', staged by the plan) are written
// while the cntbt's records are staged and sorted, then the cntbt. It
// syncs what it wrote.
func (s *freeSpaceRebuild) stageAndWrite(ctx context.Context) error {
	s.takeBlocks()
	s.stageRmaps()
	w := &lockedWriter{w: s.opts.writer(s.fs)}
	var ready []*newTree
	for _, t := range []*newTree{&s.rmapbt, &s.refcbt, &s.inobt, &s.finobt} {
		if t.plan != nil {
			ready = append(ready, t)
		}
	}
	// The bnobt reads its records as it loads; the cntbt's are staged
	// and sorted first.
	s.bnobt.from = freeExtents{s}
	s.res.Records = s.bnobt.plan.Records
	cntbt := func(ctx context.Context) error {
		if err := s.stageFreeExtents(ctx); err != nil {
			return err
		}
		s.opts.progress("write")
		return s.write(ctx, w, &s.cntbt)
	}
	others := func(ctx context.Context) error { return s.write(ctx, w, append(ready, &s.bnobt)...) }
	err := fsys.ForEach(ctx, []func(context.Context) error{cntbt, others},
		func(ctx context.Context, step func(context.Context) error) error { return step(ctx) })
	if err != nil {
		return err
	}
	return w.Sync()
}

// stageFreeExtents stages the cntbt's records, the space neither kept
// nor reserved (freeExtents), sorted by length, and counts it.
func (s *freeSpaceRebuild) stageFreeExtents(ctx context.Context) error {
	var err error
	if s.cntbt.recs, err = s.ws.NewArray(xfsformat.AllocRecLen); err != nil {
		return err
	}
	err = freeExtents{s}.IterateRuns(ctx, func(_ int64, run []byte) error {
		for o := 0; o < len(run); o += xfsformat.AllocRecLen {
			n := uint64(binary.BigEndian.Uint32(run[o+4:]))
			s.freeblks += n
			s.longest = max(s.longest, n)
		}
		return s.cntbt.recs.AppendRun(run)
	})
	if err != nil {
		return err
	}
	// The cntbt's key order: length, then start.
	return s.cntbt.recs.SortBy(ctx, workspace.Span{Off: 4, Len: 4}, workspace.Span{Off: 0, Len: 4})
}

// freeExtents is the bnobt's records as its bulk load reads them (and
// stageFreeExtents, for the cntbt): the space neither kept nor
// reserved, in order.
type freeExtents struct{ s *freeSpaceRebuild }

// Iterate hands fn the records in order.
func (f freeExtents) Iterate(ctx context.Context, fn func(i int64, rec []byte) error) error {
	return f.IterateRuns(ctx, eachRecord(xfsformat.AllocRecLen, fn))
}

// freeRunRecs is how many records IterateRuns encodes a run.
const freeRunRecs = 512

// IterateRuns hands fn the records in runs (RunRecords), encoded into a
// buffer of its own.
func (f freeExtents) IterateRuns(ctx context.Context, fn func(i int64, run []byte) error) error {
	var iterErr error
	var i int64
	var buf [freeRunRecs * xfsformat.AllocRecLen]byte
	n := 0
	for e := range complement(f.s.keptUnion(ctx, &iterErr), f.s.reserved, f.s.agLen) {
		xfsformat.AllocRec{StartBlock: uint32(e.Start), BlockCount: uint32(e.End - e.Start)}.Encode(buf[n*xfsformat.AllocRecLen:])
		if n++; n == freeRunRecs {
			if err := fn(i, buf[:]); err != nil {
				return err
			}
			i, n = i+int64(n), 0
		}
	}
	if iterErr != nil {
		return iterErr
	}
	if n > 0 {
		return fn(i, buf[:n*xfsformat.AllocRecLen])
	}
	return nil
}

// takeBlocks deals the reserved blocks out in the order settle counted
// them: the fixed trees' groups, then the bnobt, cntbt and rmapbt; the
// rest go to the AGFL.
func (s *freeSpaceRebuild) takeBlocks() {
	blocks := blocksOf(s.reserved)
	for _, t := range []*newTree{&s.refcbt, &s.inobt, &s.finobt, &s.bnobt, &s.cntbt, &s.rmapbt} {
		if t.plan != nil {
			n := t.plan.Blocks()
			t.blocks, blocks = blocks[:n], blocks[n:]
		}
	}
	s.agfl = blocks
}

// stageRmaps sets the new rmapbt's records (newRmaps): those kept, and
// the closure's, the reserved blocks by owner (OWN_AG, OWN_REFC,
// OWN_INOBT), sorted here.
func (s *freeSpaceRebuild) stageRmaps() {
	if s.rmapbt.plan == nil {
		return
	}
	src := &newRmaps{s: s}
	split := splitGroups(s.reserved, s.groups)
	for _, o := range []struct {
		runs  []check.Extent
		owner int64
	}{{split[2], xfsformat.OwnAG}, {split[0], xfsformat.OwnRefc}, {split[1], xfsformat.OwnInobt}} {
		for _, run := range o.runs {
			var b24 [xfsformat.RmapRecLen]byte
			xfsformat.RmapRec{StartBlock: uint32(run.Start), BlockCount: uint32(run.End - run.Start), Owner: ownerBits(o.owner)}.Encode(b24[:])
			src.closure = append(src.closure, b24)
		}
	}
	slices.SortFunc(src.closure, func(a, b [xfsformat.RmapRecLen]byte) int { return check.CmpRmapRecs(a[:], b[:]) })
	s.rmapbt.from = src
}

// write bulk-loads trees into their blocks through w, side by side,
// each into its own blocks (all of them unused until the commit), and
// to the end once started: cancelling them would save nothing.
func (s *freeSpaceRebuild) write(ctx context.Context, w *lockedWriter, trees ...*newTree) error {
	g, agno := s.fs.Geo, s.opts.ag
	return fsys.ForEach(context.WithoutCancel(ctx), trees, func(ctx context.Context, t *newTree) error {
		batch := &batchWriter{w: w}
		write := func(agbno uint32, buf []byte) error { return batch.WriteAt(buf, g.ByteOffset(agno, agbno)) }
		root, err := BulkLoad(ctx, s.fs, s.ws, agno, t.plan, t.records(), t.blocks, write)
		if err != nil {
			return err
		}
		t.root = root
		return batch.flush()
	})
}

// commit writes the new headers through the journal: the AGF and AGFL,
// with ino the AGI, and the primary superblock with its counters
// recounted.
func (s *freeSpaceRebuild) commit() error {
	agfBuf, err := s.newAGF()
	if err != nil {
		return err
	}
	agflBuf, err := s.newAGFL()
	if err != nil {
		return err
	}
	// Commits are one at a time (repairAll rebuilds AGs in parallel): the
	// superblock's counters are recounted over the AGs as they stand at
	// this AG's commit, so the last commit leaves them right.
	defer s.fs.LockCommits()()
	g, agno := s.fs.Geo, s.opts.ag
	sbBuf, fdOld, fdNew, err := sbWithFdblocks(s.fs, agno, &s.agf)
	if err != nil {
		return err
	}
	s.fdOld, s.fdNew = fdOld, fdNew
	writes := []store.Write{
		{Off: g.SectorOffset(agno, fsys.SectorAGF), Data: agfBuf},
		{Off: g.SectorOffset(agno, fsys.SectorAGFL), Data: agflBuf},
	}
	if s.ir != nil {
		agiBuf, err := s.newAGI(sbBuf)
		if err != nil {
			return err
		}
		writes = append(writes, store.Write{Off: g.SectorOffset(agno, fsys.SectorAGI), Data: agiBuf})
	}
	writes = append(writes, store.Write{Off: 0, Data: sbBuf})
	s.opts.progress("commit")
	return s.fs.Commit(s.opts.writer(s.fs), writes, s.opts.Fault)
}

// newAGF sets agf, the old AGF (old) with the new trees' roots, levels
// and counters and the AGFL's blocks, and returns its sector.
func (s *freeSpaceRebuild) newAGF() ([]byte, error) {
	g, agno := s.fs.Geo, s.opts.ag
	s.old = *s.c.AGF()
	s.agf = s.old
	agf := &s.agf
	agf.MagicNum, agf.VersionNum, agf.SeqNo, agf.Length, agf.UUID = xfsformat.AGFMagic, 1, agno, uint32(s.agLen), g.MetaUUID
	bno, cnt, rmap, refc := s.bnobt.plan, s.cntbt.plan, s.rmapbt.plan, s.refcbt.plan
	xfsformat.Bnobt.Ops().SetRoot(agf, nil, s.bnobt.root, uint32(bno.Height()))
	xfsformat.Cntbt.Ops().SetRoot(agf, nil, s.cntbt.root, uint32(cnt.Height()))
	agf.BtreeBlks = uint32(bno.Blocks() - 1 + cnt.Blocks() - 1)
	if rmap != nil {
		xfsformat.Rmapbt.Ops().SetRoot(agf, nil, s.rmapbt.root, uint32(rmap.Height()))
		agf.RmapBlocks = uint32(rmap.Blocks())
		agf.BtreeBlks += uint32(rmap.Blocks() - 1)
	}
	if refc != nil {
		xfsformat.Refcountbt.Ops().SetRoot(agf, nil, s.refcbt.root, uint32(refc.Height()))
		agf.RefcntBlocks = uint32(refc.Blocks())
	}
	agf.FreeBlks, agf.Longest = uint32(s.freeblks), uint32(s.longest)
	agf.LSN = 0 // as for the new blocks: never ahead of the log
	agf.FLFirst, agf.FLLast, agf.FLCount = 0, uint32(max(len(s.agfl)-1, 0)), uint32(len(s.agfl))
	return encodeSector(s.fs, agno, fsys.SectorAGF, agf.Encode, xfsformat.AGFCRCOffset())
}

// newAGFL returns the AGFL sector listing the AGFL's blocks.
func (s *freeSpaceRebuild) newAGFL() ([]byte, error) {
	g := s.fs.Geo
	buf := make([]byte, g.SectSize)
	agfl := &xfsformat.AGFL{MagicNum: xfsformat.AGFLMagic, SeqNo: s.opts.ag, UUID: g.MetaUUID,
		Bno: make([]uint32, g.AGFLSlots()), V4: !g.CRC}
	for i := range agfl.Bno {
		agfl.Bno[i] = xfsformat.NullAGBlock
	}
	copy(agfl.Bno, s.agfl)
	if err := agfl.Encode(buf); err != nil {
		return nil, err
	}
	g.SealCRC(buf, xfsformat.AGFLCRCOffset())
	return buf, nil
}

// report fills res with what the commit rewrote and logs it.
func (s *freeSpaceRebuild) report() {
	res, agno, c, ir := s.res, s.opts.ag, s.c, s.ir
	if ir != nil {
		res.ChunkSource, res.ChunksFreed = ir.chunkSource, ir.freedChunks
		s.opts.logf("ag %d: inode chunks from the %s", agno, ir.chunkSource)
		res.Rewritten = append(res.Rewritten, Rewrite{"inobt", "requested: rebuilt from the inode chunks found (" + ir.chunkSource + ") and their inodes"})
		if s.fs.Geo.Finobt { // the report named it on filesystems without one
			res.Rewritten = append(res.Rewritten, Rewrite{"finobt", "the inobt's chunks with free inodes"})
		}
		res.Rewritten = append(res.Rewritten, Rewrite{"agi", "roots, levels and counters of the new inode btrees"})
		res.Counters = append(res.Counters, Counter{"count", uint64(c.AGI().Count), ir.count}, Counter{"freecount", uint64(c.AGI().FreeCount), ir.free})
	}

	why := "requested"
	res.Rewritten = append(res.Rewritten,
		Rewrite{"bnobt", why}, Rewrite{"cntbt", "rebuilt with the bnobt: both index the same free extents"},
		Rewrite{"agfl", "refilled from the new free space to the minimum the new trees need"},
		Rewrite{"agf", "roots, levels and free-space counters of the new trees"})
	if s.rmapbt.plan != nil {
		res.Rewritten = append(res.Rewritten, Rewrite{"rmapbt", "closure: the new trees' and AGFL's blocks are OWN_AG records"})
	}
	res.Rewritten = append(res.Rewritten, Rewrite{"sb", "the primary superblock's fdblocks recounted over the AGs"})
	if s.refcbt.plan != nil {
		res.Rewritten = append(res.Rewritten, Rewrite{"refcountbt", "requested: rebuilt from the overlaps of every inode's file data"})
	}
	res.BlocksAllocated = int64(len(s.agfl))
	for _, t := range []*newTree{&s.refcbt, &s.inobt, &s.finobt, &s.bnobt, &s.cntbt, &s.rmapbt} {
		res.BlocksAllocated += int64(len(t.blocks))
	}
	res.BlocksFreed = s.oldOwnAG
	old, agf := &s.old, &s.agf
	res.Counters = append(res.Counters, []Counter{
		{"freeblks", uint64(old.FreeBlks), uint64(agf.FreeBlks)}, {"longest", uint64(old.Longest), uint64(agf.Longest)},
		{"btreeblks", uint64(old.BtreeBlks), uint64(agf.BtreeBlks)}, {"flcount", uint64(old.FLCount), uint64(agf.FLCount)},
		{"rmapblocks", uint64(old.RmapBlocks), uint64(agf.RmapBlocks)}, {"refcntblocks", uint64(old.RefcntBlocks), uint64(agf.RefcntBlocks)},
		{"fdblocks", s.fdOld, s.fdNew},
	}...) // after the AGI's count and freecount, when the inode btrees were rebuilt
	res.WorkspaceUsed, res.WorkspaceRes = s.ws.Usage()
	for _, rw := range res.Rewritten {
		s.opts.logf("ag %d: rewrote %s (%s)", agno, rw.Structure, rw.Why)
	}
	for _, ct := range res.Counters {
		if ct.Before != ct.After {
			s.opts.logf("ag %d: %s %d -> %d", agno, ct.Name, ct.Before, ct.After)
		}
	}
}

// verify checks the rebuilt trees again: res.After.
func (s *freeSpaceRebuild) verify() error {
	types := []xfsformat.BtreeType{xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt}
	if s.refc {
		types = append(types, xfsformat.Refcountbt)
	}
	if s.ino {
		types = append(types, xfsformat.Inobt, xfsformat.Finobt)
	}
	after, err := check.Rebuilt(context.Background(), s.fs, s.opts.ag, s.ws, types...)
	if err != nil {
		return err
	}
	s.res.After = after
	return nil
}

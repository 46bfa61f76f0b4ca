package check

import (
	"cmp"
	"context"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// treeResult is what checking one AG btree leaves for the
// cross-reference phase.
type treeResult struct {
	present bool
	walked  bool
	blocks  int64 // blocks reached
	records int64
	height  int
	// recs is every leaf record in walk order, nil when the walk was
	// told not to keep them (AG.unstaged); records (AG.records) stages
	// them on demand.
	recs *workspace.Array
	// hash is the multiset hash of the records (free-space trees), so
	// that bnobt and cntbt compare without staging or reading either;
	// freeSum and longest sum the bnobt's extents for the AGF's
	// counters.
	hash             multiset
	freeSum, longest uint64
}

// multiset is an order-independent hash of records: equal multisets of
// records hash equal, and a difference shows with overwhelming odds.
type multiset [2]uint64

// add adds a record, eight bytes at a time.
func (m *multiset) add(rec []byte) {
	x := uint64(0x9e3779b97f4a7c15)
	for len(rec) >= 8 {
		x = mix64(x ^ binary.BigEndian.Uint64(rec))
		rec = rec[8:]
	}
	for _, b := range rec {
		x = mix64(x ^ uint64(b))
	}
	m[0] += x
	m[1] ^= x * 0x94d049bb133111eb
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	x *= 0x94d049bb133111eb
	return x ^ x>>32
}

// longestFirst orders types for checkTrees' workers, the longest walk
// first: started last, the rmapbt's walk (the longest on an AG of many
// extents) ran alone after the free-space trees' side by side, half the
// walking on one core (the bench image's rebuild: walks 0.14 s, then
// 0.10 s of the rmapbt alone). A walk's length is guessed from the
// blocks its AG header claims (a corrupt count only misorders), times
// the cost of a block's records measured on the bench image: the
// free-space trees' blocks take about twice the rmapbt's (three times
// the records, each checked in half the time).
func (c *AG) longestFirst(types []xfsformat.BtreeType) []xfsformat.BtreeType {
	var work [xfsformat.NumBtreeTypes]int64
	if agf := c.agf; agf != nil {
		rmap := int64(agf.RmapBlocks)
		work[xfsformat.Rmapbt] = rmap
		work[xfsformat.Refcountbt] = int64(agf.RefcntBlocks)
		// agf_btreeblks: every free-space and rmapbt block but the
		// roots. Each free-space tree has about half of the rest:
		// weighted twice, the whole of it.
		alloc := max(int64(agf.BtreeBlks)-max(rmap-1, 0), 0)
		work[xfsformat.Bnobt], work[xfsformat.Cntbt] = alloc, alloc
	}
	if agi := c.agi; agi != nil {
		work[xfsformat.Inobt], work[xfsformat.Finobt] = int64(agi.IBlocks), int64(agi.FBlocks)
	}
	sorted := slices.Clone(types)
	slices.SortStableFunc(sorted, func(a, b xfsformat.BtreeType) int { return cmp.Compare(work[b], work[a]) })
	return sorted
}

// levelCursor tracks the last block seen at one level, for sibling checks.
type levelCursor struct {
	seen     bool
	agbno    uint32
	rightsib uint32
}

// checkTree walks one AG btree with the generic walker and checks every
// block and record as the kernel's scrub does: header identity, sibling
// links, key order, node keys against their children, records inside the
// AG and in order. Records go to a workspace array and blocks to the
// checkTrees walks and checks the AG's trees of the given types, several
// at a time (each walk is independent; what they share is safe for
// concurrent use), and keeps their results in c.trees.
func (c *AG) checkTrees(ctx context.Context, types ...xfsformat.BtreeType) error {
	var results [xfsformat.NumBtreeTypes]*treeResult
	err := fsys.ForEach(ctx, c.longestFirst(types), func(ctx context.Context, t xfsformat.BtreeType) error {
		res, err := c.checkTree(ctx, t)
		results[t] = res
		return err
	})
	if err != nil {
		return err
	}
	for _, t := range types {
		c.trees[t] = results[t]
	}
	return nil
}

// AG's used-space array, for the cross-reference phase.
func (c *AG) checkTree(ctx context.Context, t xfsformat.BtreeType) (*treeResult, error) {
	res := &treeResult{present: c.fs.HasBtree(t)}
	if !res.present {
		return res, nil
	}
	ops := t.OpsFor(c.fs.Geo)
	g := c.fs.Geo
	root, levels, ok := c.rootOf(t)
	if !ok {
		return res, nil
	}
	var recs *workspace.Array
	if !c.unstaged[t] {
		var err error
		if recs, err = c.ws.NewArray(ops.RecLen); err != nil {
			return nil, err
		}
	}
	res.recs = recs
	res.walked = true
	// The staged records' sort order, checked as they come: when the
	// walk finds them in it, the cross-reference's sort reads nothing.
	var sortKey []workspace.Span
	switch t {
	case xfsformat.Rmapbt:
		sortKey = RmapSortKey
	case xfsformat.Bnobt:
		sortKey = []workspace.Span{{Off: 0, Len: xfsformat.AllocRecLen}}
	}
	res.height = int(levels)
	owner := treeOwner(t)
	name := t.String()
	agLen := g.AGLength(c.agno)
	leaves := &leafCheck{c: c, t: t, name: name, agLen: agLen, res: res, staged: recs != nil && sortKey != nil, sorted: true}

	cursors := make([]levelCursor, fsys.MaxBtreeHeight)
	path := make([]*xfsformat.Block, fsys.MaxBtreeHeight) // current node at each level
	keyBuf := make([]byte, ops.KeyLen)
	hiBuf := make([]byte, ops.KeyLen)

	walk := &fsys.Walk{FS: c.fs, AG: c.agno, Type: t, Root: root, Levels: levels, OnProblem: c.problem, Private: true}
	err := walk.Run(ctx, func(v *fsys.Visit) error {
		blk := v.Block
		res.blocks++
		c.checkLSN(name, v.AGBno, blk.Hdr.LSN)
		if err := c.addUsed(v.AGBno, 1, owner, 0); err != nil {
			return err
		}
		if blk.Hdr.Magic != ops.Magic || v.Level >= fsys.MaxBtreeHeight {
			return nil // the walker reported it; nothing below is trustworthy
		}
		lvl := v.Level
		n := blk.NumRecs()

		// Sibling pointers: left to right per level, each pointing back.
		cur := &cursors[lvl]
		if !cur.seen {
			if blk.Hdr.LeftSib != xfsformat.NullAGBlock {
				c.add(name+".leftsib", Corrupt, v.AGBno, "leftmost block of level %d has leftsib %d, want null", lvl, blk.Hdr.LeftSib)
			}
		} else {
			if cur.rightsib != v.AGBno {
				c.add(name+".rightsib", Corrupt, cur.agbno, "rightsib %s, but the next block of level %d is %d", agbnoText(cur.rightsib), lvl, v.AGBno)
			}
			if blk.Hdr.LeftSib != cur.agbno {
				c.add(name+".leftsib", Corrupt, v.AGBno, "leftsib %s, but the previous block of level %d is %d", agbnoText(blk.Hdr.LeftSib), lvl, cur.agbno)
			}
		}
		*cur = levelCursor{true, v.AGBno, blk.Hdr.RightSib}

		// Occupancy: only the root may hold fewer than minrecs.
		if v.Parent != xfsformat.NullAGBlock && n < blk.Ops.MinRecs(len(blk.Buf), blk.IsLeaf()) {
			c.add(name+".numrecs", Warning, v.AGBno, "%d entries, under the minimum %d for a non-root block", n, blk.Ops.MinRecs(len(blk.Buf), blk.IsLeaf()))
		}
		if v.Parent == xfsformat.NullAGBlock && n == 0 && lvl > 0 {
			c.add(name+".numrecs", Corrupt, v.AGBno, "empty interior root")
		}

		// The parent's key for this child must be the child's first key;
		// for overlapping trees its high key must be the child's highest.
		if parent := parentOf(path, lvl); parent != nil && v.Index < parent.NumRecs() && n > 0 {
			blk.FirstKey(keyBuf)
			if ops.CmpKeys(parent.Key(v.Index), keyBuf) != 0 {
				c.add(name+".keys", Corrupt, v.Parent, "key %d does not match the first key of child block %d", v.Index+1, v.AGBno)
			}
			if ops.Overlapping {
				blk.MaxHighKey(hiBuf)
				if ops.CmpKeys(parent.HighKey(v.Index), hiBuf) != 0 {
					c.add(name+".keys", Corrupt, v.Parent, "high key %d does not match the highest key below child block %d", v.Index+1, v.AGBno)
				}
			}
		}

		if !blk.IsLeaf() {
			path[lvl] = blk
			for i := 1; i < n; i++ {
				if cmp := ops.CmpKeys(blk.Key(i-1), blk.Key(i)); cmp > 0 || (cmp == 0 && !ops.Overlapping) {
					c.add(name+".keys", Corrupt, v.AGBno, "keys %d and %d out of order", i, i+1)
					break
				}
			}
			return nil
		}

		leaves.block(v.AGBno, blk.Recs(0, n), ops.RecLen)
		if recs == nil {
			return nil
		}
		return recs.AppendRun(blk.Recs(0, n))
	})
	if err != nil {
		return nil, err
	}
	if leaves.staged && leaves.sorted {
		recs.MarkSorted(sortKey...)
	}
	if recs != nil {
		// The walk's appends are done: its I/O buffer goes back to the
		// pool now, not when the cross-reference first reads the array
		// (on 16 AGs, a buffer an AG held through the whole inode scan).
		if err := recs.Settle(); err != nil {
			return nil, err
		}
	}
	for lvl := range cursors {
		if cursors[lvl].seen && cursors[lvl].rightsib != xfsformat.NullAGBlock {
			c.add(name+".rightsib", Corrupt, cursors[lvl].agbno, "rightmost block of level %d has rightsib %d, want null", lvl, cursors[lvl].rightsib)
		}
	}
	return res, nil
}

// records returns the leaf records of tree t in walk order, staging
// them with a second walk when the check's walk did not keep them
// (AG.unstaged): for the rare cross-reference that must name what
// differs. The second walk reports no problems: the first did.
func (c *AG) records(ctx context.Context, t xfsformat.BtreeType) (*workspace.Array, error) {
	tr := c.trees[t]
	if tr == nil || !tr.walked {
		return nil, nil
	}
	if tr.recs != nil {
		return tr.recs, nil
	}
	root, levels, _ := c.rootOf(t)
	recs, err := c.ws.NewArray(t.OpsFor(c.fs.Geo).RecLen)
	if err != nil {
		return nil, err
	}
	walk := &fsys.Walk{FS: c.fs, AG: c.agno, Type: t, Root: root, Levels: levels, OnProblem: func(error) {}, Private: true}
	if err := walk.Records(ctx, func(_ uint32, _ int, rec []byte) error { return recs.Append(rec) }); err != nil {
		recs.Release()
		return nil, err
	}
	tr.recs = recs
	return recs, nil
}

func agbnoText(b uint32) string {
	if b == xfsformat.NullAGBlock {
		return "null"
	}
	return u32s(b)
}

func parentOf(path []*xfsformat.Block, lvl int) *xfsformat.Block {
	if lvl+1 >= len(path) {
		return nil
	}
	return path[lvl+1]
}

// treeOwner is the rmap owner of a btree's blocks.
func treeOwner(t xfsformat.BtreeType) int64 {
	switch t {
	case xfsformat.Inobt, xfsformat.Finobt:
		return xfsformat.OwnInobt
	case xfsformat.Refcountbt:
		return xfsformat.OwnRefc
	}
	return xfsformat.OwnAG
}

// checkRecord checks one leaf record of an inode btree or the
// refcountbt on its own and against the previous record of the tree
// (leafCheck has the free-space trees' and the rmapbt's loops).
func (c *AG) checkRecord(t xfsformat.BtreeType, agbno uint32, i int, rec, prev []byte, agLen uint32) {
	name := t.String()
	g := c.fs.Geo
	inAG := func(start, count uint32) bool {
		return count > 0 && uint64(start)+uint64(count) <= uint64(agLen)
	}
	switch t {
	case xfsformat.Inobt, xfsformat.Finobt:
		r := xfsformat.DecodeInobtRec(rec, g.SparseInodes)
		c.checkInobtRec(name, agbno, r, agLen)
		if t == xfsformat.Finobt && r.FreeCount == 0 {
			c.add(name+".freecount", Corrupt, agbno, "chunk %d has no free inode but is in the finobt", r.StartIno)
		}
		if prev != nil {
			p := xfsformat.DecodeInobtRec(prev, g.SparseInodes)
			if uint64(p.StartIno)+xfsformat.InodesPerChunk > uint64(r.StartIno) {
				c.add(name+".order", Corrupt, agbno, "chunk %d overlaps or precedes the previous chunk %d", r.StartIno, p.StartIno)
			}
		}
	case xfsformat.Refcountbt:
		r := xfsformat.DecodeRefcountRec(rec)
		if !inAG(r.StartBlock, r.BlockCount) {
			c.add(name+".record", Corrupt, agbno, "record %d [%d,%d] is empty or outside the AG", i+1, r.StartBlock, r.BlockCount)
		}
		if r.Cow && r.RefCount != 1 {
			c.add(name+".refcount", Corrupt, agbno, "CoW staging record [%d,%d] has refcount %d, want 1", r.StartBlock, r.BlockCount, r.RefCount)
		}
		if !r.Cow && r.RefCount < 2 {
			c.add(name+".refcount", Corrupt, agbno, "shared record [%d,%d] has refcount %d, want at least 2", r.StartBlock, r.BlockCount, r.RefCount)
		}
		if prev != nil {
			p := xfsformat.DecodeRefcountRec(prev)
			if p.Cow && !r.Cow {
				c.add(name+".order", Corrupt, agbno, "shared record [%d,%d] after the CoW domain", r.StartBlock, r.BlockCount)
			} else if p.Cow == r.Cow && uint64(p.StartBlock)+uint64(p.BlockCount) > uint64(r.StartBlock) {
				c.add(name+".order", Corrupt, agbno, "record [%d,%d] overlaps or precedes the previous [%d,%d]", r.StartBlock, r.BlockCount, p.StartBlock, p.BlockCount)
			}
		}
	}
}

// checkInobtRec checks one inode chunk record on its own.
func (c *AG) checkInobtRec(name string, agbno uint32, r xfsformat.InobtRec, agLen uint32) {
	g := c.fs.Geo
	maxIno := uint64(agLen) << g.InoPBLog
	if why := g.ChunkStartProblem(r.StartIno); why != "" {
		c.add(name+".startino", Corrupt, agbno, "%s", why)
	}
	if uint64(r.StartIno)+xfsformat.InodesPerChunk > maxIno {
		c.add(name+".startino", Corrupt, agbno, "chunk %d extends past the AG's last inode", r.StartIno)
	}
	holes := r.Holes()
	if want := uint8(xfsformat.InodesPerChunk - bits.OnesCount64(holes)); r.Count != want {
		c.add(name+".count", Corrupt, agbno, "chunk %d count %d, but its holemask leaves %d inodes", r.StartIno, r.Count, want)
	}
	if want := uint8(bits.OnesCount64(r.Free &^ holes)); r.FreeCount != want {
		c.add(name+".freecount", Corrupt, agbno, "chunk %d freecount %d, but %d free bits are set", r.StartIno, r.FreeCount, want)
	}
	if r.Free&holes != holes {
		c.add(name+".free", Corrupt, agbno, "chunk %d has holes not marked free", r.StartIno)
	}
}

package check

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// What the rebuilds (package repair) read of a check, and the checks
// they run on what they made. A rebuild starts from Collect's per-AG
// states: their findings say whether and from what it may rebuild, and
// their records (used space, the trees' records) are its sources. It
// reads them only through the methods below; what the check keeps
// besides is its own.

// AGNo is the number of the AG checked.
func (c *AG) AGNo() uint32 { return c.agno }

// AGF and AGI are the AG's headers as read (zero values when a header
// could not be read; its findings say so).
func (c *AG) AGF() *xfsformat.AGF { return c.agf }

// AGI: see AGF.
func (c *AG) AGI() *xfsformat.AGI { return c.agi }

// Used is the AG's used space, as rmap records sorted by CmpRmapRecs,
// kept in the workspace given to Collect: every owner the check saw (AG
// headers, log, every btree's blocks, AGFL, inode chunks, CoW staging
// and, unless the mode is CollectRmap, every inode's forks), or the
// rmapbt's records when RmapSound.
func (c *AG) Used() *workspace.Array { return c.used }

// RmapSound reports whether, in CollectRmap mode, the rmapbt agreed
// with everything it was compared with, so that Used is its records.
func (c *AG) RmapSound() bool { return c.rmapSound }

// SortedRmaps is the rmapbt's records as the walk staged them, when it
// found them in CmpRmapRecs order (a sound rmapbt's always are), before
// the cross-reference judges them: the cross-reference then only reads
// them, so they may be read beside it (CollectBeside), and when it finds
// the rmapbt sound they are what Used returns. Nil when the walk found
// them out of order or did not stage them.
func (c *AG) SortedRmaps() *workspace.Array {
	if tr := c.trees[xfsformat.Rmapbt]; tr != nil && tr.recs.SortedBy(RmapSortKey...) {
		return tr.recs
	}
	return nil
}

// TreeRecords is the leaf records of btree t as the check walked them,
// nil when the filesystem has no such tree or its AG header was not
// read. They are in walk order, except the bnobt's (sorted by start
// block) and the rmapbt's (by CmpRmapRecs), which the cross-reference
// sorts.
func (c *AG) TreeRecords(t xfsformat.BtreeType) *workspace.Array {
	if tr := c.trees[t]; tr != nil {
		return tr.recs
	}
	return nil
}

// TreeBlocks is how many blocks the walk of btree t reached (0 when it
// was not walked).
func (c *AG) TreeBlocks(t xfsformat.BtreeType) int64 {
	if tr := c.trees[t]; tr != nil {
		return tr.blocks
	}
	return 0
}

// Inodes is what the inobt's records add up to: inodes with disk space
// and free inodes (0 when the AGI could not be read).
func (c *AG) Inodes() (count, free uint64) { return c.inodeCount, c.inodeFree }

// Rebuilt re-checks what a rebuild wrote: the AG headers, every block
// and record of the rebuilt trees (those of types the filesystem has),
// the bnobt against the cntbt, and the AGF counters against them. (The
// full cross-reference against every inode is Check's job; the tests
// run it after every repair.) What it stages (the small trees' records)
// goes to ws, the rebuild's own workspace, and is released before it
// returns: the re-check comes after the commit, where a workspace of
// its own, refused for memory, made a committed repair look refused.
func Rebuilt(ctx context.Context, fs *fsys.FS, agno uint32, ws *workspace.Workspace, types ...xfsformat.BtreeType) (_ []Finding, err error) {
	findings := &Findings{}
	// No used space is gathered (used nil): nothing below compares it.
	c := &AG{fs: fs, agno: agno, ws: ws, findings: findings}
	defer func() {
		for _, tr := range c.trees {
			if tr != nil {
				tr.recs.Release()
			}
		}
	}()
	// The free-space trees' hashes and sums and the trees' block counts
	// are what is compared below: their records are not kept.
	for _, t := range []xfsformat.BtreeType{xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt} {
		c.unstaged[t] = true
	}
	g := fs.Geo
	var buf []byte
	if c.agf, buf, err = fs.ReadAGF(agno); err != nil {
		return nil, err
	}
	c.problems(xfsformat.VerifyAGF(c.agf, buf, g, agno))
	if c.agfl, buf, err = fs.ReadAGFL(agno); err != nil {
		return nil, err
	}
	c.problems(xfsformat.VerifyAGFL(c.agfl, buf, g, agno))
	c.agi = &xfsformat.AGI{}
	c.agfOK, c.agflOK = true, true
	if err := c.checkAGFL(); err != nil {
		return nil, err
	}
	var present []xfsformat.BtreeType
	for _, t := range types {
		if fs.HasBtree(t) {
			present = append(present, t)
		}
	}
	if err := c.checkTrees(ctx, present...); err != nil {
		return nil, err
	}
	if err := c.xrefAllocTrees(ctx); err != nil {
		return nil, err
	}
	c.xrefCounters()
	return findings.List(), nil
}

// VerifyChunkRecords checks a rebuilt inode btree's records against the
// format and against the inodes they name, before anything is staged:
// every chunk starts where a chunk can start, none overlaps the next,
// every block holding several chunks has all of them, and every inode
// slot a record names was read by the scan (uses, by chunk start) and
// holds that very inode (magic, version, inode number and uuid). A wrong
// chunk layout is refused rather than written (it would point the inobt
// at the wrong inodes, or lose the inodes of the chunks it leaves out).
func VerifyChunkRecords(g *xfsformat.Geometry, chunks []xfsformat.InobtRec, uses map[uint32]ChunkUse) error {
	var problem error
	shared := blockChunks{g: g, report: func(b, have, want uint32) {
		if problem == nil {
			problem = fmt.Errorf("rebuilt inobt names %d of the %d inode chunks of block %d", have, want, b)
		}
	}}
	for i, rec := range chunks {
		if why := g.ChunkStartProblem(rec.StartIno); why != "" {
			return fmt.Errorf("rebuilt inobt record: %s", why)
		}
		if i > 0 && uint64(chunks[i-1].StartIno)+xfsformat.InodesPerChunk > uint64(rec.StartIno) {
			return fmt.Errorf("rebuilt inobt records overlap: chunk %d and chunk %d", chunks[i-1].StartIno, rec.StartIno)
		}
		if g.InoPBlock > xfsformat.InodesPerChunk {
			shared.add(rec.StartIno)
		}
		cu, ok := uses[rec.StartIno]
		if !ok {
			return fmt.Errorf("rebuilt inobt record for chunk %d: its inodes were not read", rec.StartIno)
		}
		if bad := cu.Foreign &^ rec.Holes(); bad != 0 {
			k := bits.TrailingZeros64(bad)
			return fmt.Errorf("rebuilt inobt record for chunk %d names agino %d, which does not hold that inode (magic, inode number or uuid is not its slot's)", rec.StartIno, rec.StartIno+uint32(k))
		}
	}
	shared.flush()
	return problem
}

package check

import (
	"context"
	"math/bits"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// checkStructures checks the AG's superblock copy, headers, AGFL and
// btrees, and records the blocks they use.
func (c *AG) checkStructures(ctx context.Context) error {
	fs, g, agno := c.fs, c.fs.Geo, c.agno

	// Superblock copy (the primary is checked against itself).
	if s, buf, err := fs.ReadSB(agno); err != nil {
		c.problem(err)
	} else {
		c.problems(xfsformat.VerifySuperblockCopy(s, buf, g, agno))
		if agno > 0 {
			c.compareSecondary(s)
		}
		c.checkLSN("sb", 0, s.LSN)
	}

	// The AGF, AGI and AGFL are read alike, but what stands in for an
	// unreadable one differs (an empty AGF or AGI, so that later steps
	// read zero roots and counts; no AGFL) and so do their flags and
	// sectors: three branches, not one helper over three types.
	var err error
	var buf []byte
	if c.agf, buf, err = fs.ReadAGF(agno); err != nil {
		c.problem(err)
		c.agf = &xfsformat.AGF{}
	} else {
		c.problems(xfsformat.VerifyAGF(c.agf, buf, g, agno))
		// Walk from its roots even when its magic is bad: the walker
		// checks every block, and skipping a tree would hide the blocks
		// it holds from the used-space picture.
		c.agfOK = true
		c.checkLSN("agf", 1, c.agf.LSN)
	}
	if c.agi, buf, err = fs.ReadAGI(agno); err != nil {
		c.problem(err)
		c.agi = &xfsformat.AGI{}
	} else {
		c.problems(xfsformat.VerifyAGI(c.agi, buf, g, agno))
		c.agiOK = true
		c.checkLSN("agi", 2, c.agi.LSN)
	}
	if c.agfl, buf, err = fs.ReadAGFL(agno); err != nil {
		c.problem(err)
	} else {
		c.problems(xfsformat.VerifyAGFL(c.agfl, buf, g, agno))
		c.agflOK = true
		c.checkLSN("agfl", 3, c.agfl.LSN)
	}

	// AG headers and the internal log.
	if err := c.addUsed(0, g.HeaderBlocks(), xfsformat.OwnFS, 0); err != nil {
		return err
	}
	if logAG, logStart, ok := g.InternalLogAG(); ok && logAG == agno {
		if err := c.addUsed(logStart, g.LogBlocks, xfsformat.OwnLog, 0); err != nil {
			return err
		}
	}
	if err := c.checkAGFL(); err != nil {
		return err
	}

	if err := c.checkTrees(ctx, xfsformat.BtreeTypes...); err != nil {
		return err
	}
	if err := c.addInodeChunks(ctx); err != nil {
		return err
	}
	return c.addCowStaging(ctx)
}

// compareSecondary compares a secondary superblock's geometry and
// features with the primary's, as xfs_repair does.
func (c *AG) compareSecondary(s *xfsformat.Superblock) {
	p := c.fs.SB
	type field struct {
		name string
		ok   bool
	}
	for _, f := range []field{
		{"magicnum", s.MagicNum == p.MagicNum}, {"blocksize", s.BlockSize == p.BlockSize},
		{"dblocks", s.DBlocks == p.DBlocks}, {"uuid", s.UUID == p.UUID},
		{"logstart", s.LogStart == p.LogStart}, {"rextsize", s.RExtSize == p.RExtSize},
		{"agblocks", s.AGBlocks == p.AGBlocks}, {"agcount", s.AGCount == p.AGCount},
		{"logblocks", s.LogBlocks == p.LogBlocks}, {"versionnum", s.VersionNum&0xf == p.VersionNum&0xf}, // the kernel sets feature bits in the primary only
		{"sectsize", s.SectSize == p.SectSize}, {"inodesize", s.InodeSize == p.InodeSize},
		{"inopblock", s.InoPBlock == p.InoPBlock}, {"blocklog", s.BlockLog == p.BlockLog},
		{"sectlog", s.SectLog == p.SectLog}, {"inodelog", s.InodeLog == p.InodeLog},
		{"inopblog", s.InoPBLog == p.InoPBLog}, {"agblklog", s.AGBlkLog == p.AGBlkLog},
		{"imax_pct", s.IMaxPct == p.IMaxPct}, {"inoalignmt", s.InoAlignMt == p.InoAlignMt},
		{"unit", s.Unit == p.Unit}, {"width", s.Width == p.Width}, {"dirblklog", s.DirBlkLog == p.DirBlkLog},
		{"logsectlog", s.LogSectLog == p.LogSectLog}, {"logsectsize", s.LogSectSize == p.LogSectSize},
		{"logsunit", s.LogSUnit == p.LogSUnit}, {"features2", s.Features2 == p.Features2},
		{"features_compat", s.FeaturesCompat == p.FeaturesCompat},
		{"features_ro_compat", s.FeaturesROCompat == p.FeaturesROCompat},
		{"features_incompat", s.FeaturesIncompat == p.FeaturesIncompat},
		{"spino_align", s.SpinoAlign == p.SpinoAlign}, {"meta_uuid", s.MetaUUID == p.MetaUUID},
	} {
		if !f.ok {
			c.add("sb."+f.name, Corrupt, 0, "secondary superblock's %s differs from the primary's", f.name)
		}
	}
}

// checkAGFL checks the free list the AGF describes and records its
// blocks as OWN_AG.
func (c *AG) checkAGFL() error {
	if !c.agfOK || c.agfl == nil {
		return nil
	}
	blocks, ok := c.agfl.Active(c.agf.FLFirst, c.agf.FLLast, c.agf.FLCount)
	if !ok {
		c.addNoBlock("agf.flcount", Corrupt, "flfirst %d, fllast %d and flcount %d disagree about the %d-slot AGFL",
			c.agf.FLFirst, c.agf.FLLast, c.agf.FLCount, len(c.agfl.Bno))
	}
	if !c.agflOK {
		return nil
	}
	g := c.fs.Geo
	agLen := g.AGLength(c.agno)
	for i, b := range blocks {
		if b == xfsformat.NullAGBlock || b < g.HeaderBlocks() || b >= agLen {
			c.add("agfl.bno", Corrupt, 3, "free list entry %d is %s, not a block of the AG", i, agbnoText(b))
			continue
		}
		if err := c.addUsed(b, 1, xfsformat.OwnAG, 0); err != nil {
			return err
		}
	}
	return nil
}

// addInodeChunks records the blocks of every inode chunk the inobt
// lists as OWN_INODES (only allocated clusters of sparse chunks).
func (c *AG) addInodeChunks(ctx context.Context) error {
	tr := c.trees[xfsformat.Inobt]
	if tr == nil || tr.recs == nil {
		return nil
	}
	g := c.fs.Geo
	agLen := g.AGLength(c.agno)
	inopb := g.InoPBlock
	shared := blockChunks{g: g, report: func(b uint32, have, want uint32) {
		c.addNoBlock("inobt.partial_block", Corrupt, "block %d holds %d inode chunks, which the kernel allocates together, but the inobt lists %d of them (agino %d-%d)",
			b, want, have, g.AGIno(b, 0), g.AGIno(b, inopb-1))
	}}
	defer shared.flush()
	return tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
		r := xfsformat.DecodeInobtRec(rec, g.SparseInodes)
		holes := r.Holes()
		if inopb > xfsformat.InodesPerChunk {
			shared.add(r.StartIno)
			// Several chunks share a block: the first one owns it.
			if r.StartIno%inopb != 0 && r.StartIno%xfsformat.InodesPerChunk == 0 {
				return nil
			}
			b, _ := g.AGInoBlock(r.StartIno)
			if b < agLen {
				return c.addUsed(b, 1, xfsformat.OwnInodes, 0)
			}
			return nil
		}
		per := inopb
		for k := uint32(0); k < xfsformat.InodesPerChunk/per; k++ {
			mask := (uint64(1)<<per - 1) << (k * per)
			if per == 64 {
				mask = ^uint64(0)
			}
			if holes&mask == mask {
				continue
			}
			b, _ := g.AGInoBlock(r.StartIno + k*per)
			if b >= agLen {
				return nil // reported by the record checks
			}
			if err := c.addUsed(b, 1, xfsformat.OwnInodes, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// addCowStaging records CoW staging extents (refcountbt CoW domain) as
// OWN_COW, and reports each as left over: staging extents belong to the
// CoW forks of files open for writing, which an unmounted filesystem has
// none of. xfs_repair reports them ("leftover CoW extent") and frees
// them, the kernel frees them at mount (xfs_reflink_recover_cow); a
// refcountbt repair frees them too. They are what a crash in the middle
// of a copy-on-write leaves, or an image copied from a frozen
// filesystem.
func (c *AG) addCowStaging(ctx context.Context) error {
	tr := c.trees[xfsformat.Refcountbt]
	if tr == nil || tr.recs == nil {
		return nil
	}
	agLen := c.fs.Geo.AGLength(c.agno)
	return tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
		r := xfsformat.DecodeRefcountRec(rec)
		if !r.Cow || r.BlockCount == 0 || uint64(r.StartBlock)+uint64(r.BlockCount) > uint64(agLen) {
			return nil
		}
		c.addNoBlock("refcountbt.cow", XrefMismatch, "leftover CoW staging extent [%d,%d]: no file of an unmounted filesystem is being copied on write (the kernel frees it at mount; repair refcountbt frees it)", r.StartBlock, r.BlockCount)
		return c.addUsed(r.StartBlock, r.BlockCount, xfsformat.OwnCow, 0)
	})
}

// blockChunks follows inobt records in order on a filesystem whose
// blocks hold several chunks and reports each block whose chunks are
// not all listed: the kernel allocates such a block whole, one record per
// chunk, so a block with a chunk missing has lost inodes.
type blockChunks struct {
	g      *xfsformat.Geometry
	report func(agbno, have, want uint32)
	cur    uint32
	have   uint32 // bit k: chunk k of block cur is listed
	seen   bool
}

func (bc *blockChunks) add(agino uint32) {
	b, idx := bc.g.AGInoBlock(agino)
	if bc.seen && b != bc.cur {
		bc.flush()
	}
	bc.cur, bc.seen = b, true
	bc.have |= 1 << (idx / xfsformat.InodesPerChunk)
}

func (bc *blockChunks) flush() {
	if !bc.seen {
		return
	}
	want := bc.g.ChunksPerBlock()
	if have := uint32(bits.OnesCount32(bc.have)); have != want {
		bc.report(bc.cur, have, want)
	}
	bc.have, bc.seen = 0, false
}

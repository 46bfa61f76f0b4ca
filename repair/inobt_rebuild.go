package repair

import (
	"cmp"
	"context"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// inodeRebuild is what the inobt/finobt rebuild found: the AG's inode
// chunks (found without trusting the old inobt), their inodes' use, and
// the AG's used space recomputed from them.
type inodeRebuild struct {
	used              *workspace.Array // sorted rmap records, old inode-derived ones replaced
	inoRecs, finoRecs *workspace.Array
	count, free       uint64
	uses              map[uint32]check.ChunkUse // by chunk start: what the scan saw
	chunkSource       string                    // where the chunks came from (ChunksFrom...)
	freedChunks       int                       // chunks dropped as the kernel frees them (freeChunks)
}

// Where a rebuild of the inode btrees found the inode chunks
// (RepairResult.ChunkSource).
const (
	ChunksFromRmapbt = "rmapbt OWN_INODES"
	ChunksFromInobt  = "old inobt"
	ChunksFromSearch = "search of the AG"
)

// chunkSources says which sources of inode chunks an AG's check found
// sound (see findInodeChunks).
type chunkSources struct{ rmap, inobt bool }

// soundChunkSources judges AG agno's rmapbt and inobt from its check's
// findings. Being well-formed is not enough: a source must also be
// complete, since a chunk it lacks is rebuilt as free space and its
// inodes are lost. The rmapbt is sound without corruption findings and
// without disagreeing with the AG's owners (rmapbt.missing, .extra: an
// emptied leaf loses OWN_INODES records and looks well-formed). The
// inobt is sound without corruption findings, without corrupt inodes in
// the AG (a record pointing where there are no inodes looks well-formed;
// the inodes read there give it away), and without signs of chunks it
// lacks: an AGI count it does not add up to, finobt chunks it does not
// have, used space no structure claims, superblock inodes it lacks.
// When both look sound they must also agree (findInodeChunks). Otherwise
// the AG is searched for inode clusters.
func soundChunkSources(fs *fsys.FS, agno uint32, findings []check.Finding) chunkSources {
	var ours []check.Finding
	for _, f := range findings {
		if f.AG == int64(agno) {
			ours = append(ours, f)
		}
	}
	return chunkSources{
		rmap: fs.Geo.Rmapbt && refuseCorruptSources(ours, "rmapbt") == nil &&
			!hasCode(ours, "rmapbt.missing", "rmapbt.extra"),
		inobt: refuseCorruptSources(ours, "inobt", "inode") == nil &&
			!hasCode(ours, "agi.count", "finobt.extra", "space.unaccounted", "inobt.sb_inode"),
	}
}

// hasCode reports whether any finding has one of codes.
func hasCode(findings []check.Finding, codes ...string) bool {
	return slices.ContainsFunc(findings, func(f check.Finding) bool { return slices.Contains(codes, f.Code) })
}

// findInodeChunks lists the AG's inode chunks: from the rmapbt's
// OWN_INODES records when the rmapbt is sound; else from the old inobt's
// records when it is sound (their geometry only: which inodes are free
// is recomputed from the inodes); else by reading the AG for inode
// clusters (v5 inode magic, CRC and di_ino matching the place). Chunks
// come back sorted, with their sparse holemasks, and the source used.
func findInodeChunks(ctx context.Context, fs *fsys.FS, c *check.AG, sound chunkSources) ([]xfsformat.InobtRec, string, error) {
	g, agno := fs.Geo, c.AGNo()
	var blocks []uint32
	source := ChunksFromSearch
	rmap, inobt := c.TreeRecords(xfsformat.Rmapbt), c.TreeRecords(xfsformat.Inobt)
	var fromRmap []uint32
	if sound.rmap && rmap != nil {
		var err error
		if fromRmap, err = ownInodesBlocks(ctx, rmap); err != nil {
			return nil, "", err
		}
	}
	if sound.rmap && sound.inobt && fromRmap != nil {
		// Both look whole; a leaf one of them lost looks whole too, and
		// a forced repair's light check does not compare the rmapbt with
		// the owners. They must agree block for block (the check put the
		// inobt's chunk blocks in its used space), else neither is trusted
		// alone.
		fromInobt, err := ownInodesBlocks(ctx, c.Used())
		if err != nil {
			return nil, "", err
		}
		if !slices.Equal(fromRmap, fromInobt) {
			sound = chunkSources{}
		}
	}
	switch {
	case sound.rmap && fromRmap != nil:
		source = ChunksFromRmapbt
		blocks = fromRmap
	case sound.inobt && inobt != nil:
		var out []xfsformat.InobtRec
		err := inobt.Iterate(ctx, func(_ int64, rec []byte) error {
			r := xfsformat.DecodeInobtRec(rec, g.SparseInodes)
			out = append(out, xfsformat.InobtRec{StartIno: r.StartIno, HoleMask: r.HoleMask,
				Count: uint8(xfsformat.InodesPerChunk - 4*bits.OnesCount16(r.HoleMask))})
			return nil
		})
		if err != nil {
			return nil, "", err
		}
		slices.SortFunc(out, func(a, b xfsformat.InobtRec) int { return cmp.Compare(a.StartIno, b.StartIno) })
		return out, ChunksFromInobt, nil
	default:
		var err error
		if blocks, err = searchInodeBlocks(ctx, fs, agno); err != nil {
			return nil, "", err
		}
	}
	slices.Sort(blocks)
	out, err := chunksFromBlocks(g, slices.Compact(blocks))
	if err != nil {
		return nil, "", fmt.Errorf("%w (chunks from the %s)", err, source)
	}
	return out, source, nil
}

// chunksFromBlocks turns the sorted blocks that hold inodes into inode
// chunk records (geometry only: Free is left for the scan), by the
// format's rules for where chunks lie:
//   - a block holding 64 inodes or more holds whole chunks, one record
//     each (the kernel allocates such a block whole);
//   - with sparse inodes, chunks start on whole-chunk boundaries (the
//     superblock verifier holds inoalignmt to a chunk) and a block
//     missing from a chunk is a sparse hole;
//   - without them, a chunk is whole and starts on any inoalignmt
//     boundary (a cluster: 32 inodes with 512-byte inodes and 4 KiB
//     blocks), so a run of contiguous inode blocks is whole chunks laid
//     end to end from its first block.
func chunksFromBlocks(g *xfsformat.Geometry, blocks []uint32) ([]xfsformat.InobtRec, error) {
	var out []xfsformat.InobtRec
	// startAt checks that a chunk may start at block b's first inode.
	startAt := func(b uint32) (uint32, error) {
		start := g.AGIno(b, 0)
		if why := g.ChunkStartProblem(start); why != "" {
			return 0, fmt.Errorf("inode blocks cannot be split into chunks: %s", why)
		}
		return start, nil
	}
	cb := g.ChunkBlocks()
	switch {
	case g.InoPBlock >= xfsformat.InodesPerChunk:
		for _, b := range blocks {
			for k := range g.ChunksPerBlock() {
				out = append(out, xfsformat.InobtRec{StartIno: g.AGIno(b, k*xfsformat.InodesPerChunk), Count: xfsformat.InodesPerChunk})
			}
		}
	case g.SparseInodes:
		for _, b := range blocks {
			start := g.AGIno(b-b%cb, 0)
			if n := len(out); n == 0 || out[n-1].StartIno != start {
				if _, err := startAt(b - b%cb); err != nil {
					return nil, err
				}
				out = append(out, xfsformat.InobtRec{StartIno: start, HoleMask: 0xffff})
			}
			r := &out[len(out)-1]
			// Clear the hole bits (4 inodes each) this block's inodes cover.
			for i := g.AGIno(b, 0) - start; i < min(g.AGIno(b, 0)-start+g.InoPBlock, xfsformat.InodesPerChunk); i += 4 {
				r.HoleMask &^= 1 << (i / 4)
			}
		}
		for i := range out {
			out[i].Count = uint8(xfsformat.InodesPerChunk - 4*bits.OnesCount16(out[i].HoleMask))
		}
	default:
		for i := 0; i < len(blocks); {
			j := i + 1
			for j < len(blocks) && blocks[j] == blocks[j-1]+1 {
				j++
			}
			if n := uint32(j - i); n%cb != 0 {
				return nil, fmt.Errorf("inode blocks %d-%d are not whole chunks of %d blocks, as a filesystem without sparse inodes needs (inode chunk %d is incomplete)",
					blocks[i], blocks[j-1], cb, g.AGIno(blocks[j-1]-(n%cb)+1, 0))
			}
			for b := blocks[i]; b <= blocks[j-1]; b += cb {
				start, err := startAt(b)
				if err != nil {
					return nil, err
				}
				out = append(out, xfsformat.InobtRec{StartIno: start, Count: xfsformat.InodesPerChunk})
			}
			i = j
		}
	}
	return out, nil
}

// ownInodesBlocks lists, sorted and once each, the blocks of the
// OWN_INODES records in recs (rmap records).
func ownInodesBlocks(ctx context.Context, recs *workspace.Array) ([]uint32, error) {
	blocks := []uint32{}
	err := recs.Iterate(ctx, func(_ int64, rec []byte) error {
		if r := xfsformat.DecodeRmapRec(rec); int64(r.Owner) == xfsformat.OwnInodes {
			for b := r.StartBlock; b < r.StartBlock+r.BlockCount; b++ {
				blocks = append(blocks, b)
			}
		}
		return nil
	})
	slices.Sort(blocks)
	return slices.Compact(blocks), err
}

// v4InodeBlock reports whether blk, block agbno of AG agno of a v4
// filesystem, holds inodes: every slot an inode (magic, version 1 or 2)
// that the kernel's verifier passes. v4 inodes carry no number, uuid or
// CRC, so every slot of the block must look the part, not the first
// alone: file data would have to hold a whole block of well-formed
// inodes to pass (a disk image stored in the filesystem could).
func v4InodeBlock(g *xfsformat.Geometry, agno, agbno uint32, blk []byte) bool {
	for s := uint32(0); s < g.InoPBlock; s++ {
		ib := blk[s*g.InodeSize:][:g.InodeSize]
		if ib[0] != 'I' || ib[1] != 'N' || (ib[4] != 1 && ib[4] != 2) {
			return false
		}
		in, err := xfsformat.DecodeInodeOf(ib, g)
		if err != nil || len(xfsformat.VerifyInode(in, g, g.Ino(agno, g.AGIno(agbno, s)), false)) > 0 {
			return false
		}
	}
	return true
}

// searchInodeBlocks reads the whole AG and returns the blocks that hold
// inodes of that very place: on v5 those whose first inode is a valid
// v5 inode stamped with its own number; on v4 (no stamps) those every
// slot of which is a sound inode (v4InodeBlock).
func searchInodeBlocks(ctx context.Context, fs *fsys.FS, agno uint32) ([]uint32, error) {
	g := fs.Geo
	const chunk = 1 << 20
	per := uint32(max(chunk/int(g.BlockSize), 1))
	buf := make([]byte, int(per)*int(g.BlockSize))
	var out []uint32
	agLen := g.AGLength(agno)
	for b := g.HeaderBlocks(); b < agLen; b += per {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(per, agLen-b)
		if err := fs.Img.ReadAt(buf[:int(n)*int(g.BlockSize)], g.ByteOffset(agno, b)); err != nil {
			return nil, err
		}
		for i := uint32(0); i < n; i++ {
			if !g.CRC {
				if v4InodeBlock(g, agno, b+i, buf[int(i)*int(g.BlockSize):][:g.BlockSize]) {
					out = append(out, b+i)
				}
				continue
			}
			ib := buf[int(i)*int(g.BlockSize):][:g.InodeSize]
			if ib[0] != 'I' || ib[1] != 'N' || ib[4] != 3 {
				continue
			}
			in, err := xfsformat.DecodeInode(ib)
			if err != nil || !in.CRCOK() || in.Ino != g.Ino(agno, g.AGIno(b+i, 0)) || in.UUID != g.MetaUUID {
				continue
			}
			out = append(out, b+i)
		}
	}
	return out, nil
}

// prepareInodeRebuilds finds the chunks of the AGs of checks, scans
// their inodes in one pass (and every other AG's through its inobt: any
// inode may map blocks in these AGs) and recomputes each AG's used space
// and its inobt and finobt records. rmapSound says for which AGs the
// rmapbt's OWN_INODES records may be trusted to find the chunks.
//
// A chunk that lost an inode of freed (inodes the rebuild's caller
// freed: ReplayLog) and has no inode left in use is dropped, their blocks freed, as the
// kernel's xfs_difree frees a chunk whose last inode it frees (without
// the ikeep mount option, and only when a block holds no more inodes
// than a chunk).
func prepareInodeRebuilds(ctx context.Context, fs *fsys.FS, checks map[uint32]*check.AG, ws *workspace.Workspace, sound func(agno uint32) chunkSources, freed map[uint64]bool) (map[uint32]*inodeRebuild, error) {
	var mu sync.Mutex
	chunks := map[uint32][]xfsformat.InobtRec{}
	irs := map[uint32]*inodeRebuild{}
	var ags []uint32
	for agno := range checks {
		ags = append(ags, agno)
	}
	err := fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
		c := checks[agno]
		found, source, err := findInodeChunks(ctx, fs, c, sound(agno))
		if err != nil {
			return fmt.Errorf("ag %d: %w", agno, err)
		}
		ir := &inodeRebuild{uses: map[uint32]check.ChunkUse{}, chunkSource: source}
		if ir.used, err = ws.NewArray(xfsformat.RmapRecLen); err != nil {
			return err
		}
		// Keep what does not come from the old inobt: drop inode-owned
		// mappings, inode chunks and the inode btrees' blocks.
		err = c.Used().Iterate(ctx, func(_ int64, rec []byte) error {
			r := xfsformat.DecodeRmapRec(rec)
			if r.IsInodeOwner() || int64(r.Owner) == xfsformat.OwnInodes || int64(r.Owner) == xfsformat.OwnInobt {
				return nil
			}
			return ir.used.Append(rec)
		})
		if err != nil {
			return err
		}
		mu.Lock()
		chunks[agno], irs[agno] = found, ir
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	findings := &check.Findings{}
	var rb [xfsformat.RmapRecLen]byte
	err = check.ScanInodesWith(ctx, fs, chunks,
		func(a uint32, r xfsformat.RmapRec) error {
			ir := irs[a]
			if ir == nil {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			r.Encode(rb[:])
			return ir.used.Append(rb[:])
		},
		func(cu check.ChunkUse) error {
			if ir := irs[cu.AG]; ir != nil {
				mu.Lock()
				ir.uses[cu.Rec.StartIno] = cu
				mu.Unlock()
			}
			return nil
		}, findings)
	if err != nil {
		return nil, err
	}
	if err := refuseCorruptSources(findings.List(), "inode", "bmbt"); err != nil {
		return nil, err
	}
	err = fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
		if err := irs[agno].finish(ctx, fs, agno, chunks[agno], ws, freed); err != nil {
			return fmt.Errorf("ag %d: %w", agno, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return irs, nil
}

// finish computes the AG's inobt and finobt records from its chunks
// and what the scan saw of their inodes, and adds the chunks to the
// used space (OWN_INODES).
func (ir *inodeRebuild) finish(ctx context.Context, fs *fsys.FS, agno uint32, chunks []xfsformat.InobtRec, ws *workspace.Workspace, freed map[uint64]bool) error {
	g := fs.Geo
	var rb [xfsformat.RmapRecLen]byte
	addUsed := func(r xfsformat.RmapRec) error {
		r.Encode(rb[:])
		return ir.used.Append(rb[:])
	}
	uses := ir.uses
	if err := check.VerifyChunkRecords(g, chunks, uses); err != nil {
		return err
	}
	var err error
	if ir.inoRecs, err = ws.NewArray(xfsformat.InobtRecLen); err != nil {
		return err
	}
	if ir.finoRecs, err = ws.NewArray(xfsformat.InobtRecLen); err != nil {
		return err
	}
	var ib [xfsformat.InobtRecLen]byte
	for _, rec := range chunks {
		cu := uses[rec.StartIno]
		holes := rec.Holes()
		rec.Free = ^cu.InUse | holes
		rec.FreeCount = uint8(bits.OnesCount64(rec.Free &^ holes))
		if rec.Free == ^uint64(0) && lostFreed(g, agno, rec.StartIno, freed) && g.InoPBlock <= xfsformat.InodesPerChunk {
			ir.freedChunks++
			continue
		}
		ir.count += uint64(rec.Count)
		ir.free += uint64(rec.FreeCount)
		// The chunk's clusters are OWN_INODES (a block holding several
		// chunks belongs to the first).
		shared := g.InoPBlock > xfsformat.InodesPerChunk && rec.StartIno%g.InoPBlock != 0
		for k := uint32(0); !shared && k < xfsformat.InodesPerChunk; k += g.InoPBlock {
			if g.InoPBlock < xfsformat.InodesPerChunk && holes&(1<<k) != 0 {
				continue
			}
			b, _ := g.AGInoBlock(rec.StartIno + k)
			if err := addUsed(xfsformat.RmapRec{StartBlock: b, BlockCount: 1, Owner: ownerBits(xfsformat.OwnInodes)}); err != nil {
				return err
			}
			if g.InoPBlock >= xfsformat.InodesPerChunk {
				break
			}
		}
		rec.Encode(ib[:], g.SparseInodes)
		if err := ir.inoRecs.Append(ib[:]); err != nil {
			return err
		}
		if rec.FreeCount > 0 && g.Finobt {
			if err := ir.finoRecs.Append(ib[:]); err != nil {
				return err
			}
		}
	}
	if err := ir.used.SortBy(ctx, check.RmapSortKey...); err != nil {
		return err
	}
	return nil
}

// lostFreed reports whether the chunk at start holds an inode of freed.
func lostFreed(g *xfsformat.Geometry, agno, start uint32, freed map[uint64]bool) bool {
	for i := range uint32(xfsformat.InodesPerChunk) {
		if freed[g.Ino(agno, start+i)] {
			return true
		}
	}
	return false
}

// prepareInodes prepares the inode rebuild of the AG alone (repairAll
// prepares every AG's from one scan), from the sources of inode chunks
// its check found sound.
func (s *freeSpaceRebuild) prepareInodes(ctx context.Context) error {
	agno := s.opts.ag
	sound := soundChunkSources(s.fs, agno, s.res.Before)
	irs, err := prepareInodeRebuilds(ctx, s.fs, map[uint32]*check.AG{agno: s.c}, s.ws, func(uint32) chunkSources { return sound }, s.opts.freed)
	if err != nil {
		return err
	}
	s.ir = irs[agno]
	return nil
}

// newAGI returns the AG's AGI sector for the rebuilt inode btrees, and
// sets the superblock (sbBuf, re-CRCed) icount and ifree over the AGs.
func (s *freeSpaceRebuild) newAGI(sbBuf []byte) ([]byte, error) {
	agi := *s.c.AGI()
	ino, fino := s.inobt.plan, s.finobt.plan
	xfsformat.Inobt.Ops().SetRoot(nil, &agi, s.inobt.root, uint32(ino.Height()))
	agi.Count, agi.FreeCount = uint32(s.ir.count), uint32(s.ir.free)
	if fino != nil {
		xfsformat.Finobt.Ops().SetRoot(nil, &agi, s.finobt.root, uint32(fino.Height()))
	}
	if s.fs.Geo.InobtCount {
		agi.IBlocks = uint32(ino.Blocks())
		if fino != nil {
			agi.FBlocks = uint32(fino.Blocks())
		}
	}
	return finishAGI(s.fs, s.opts.ag, &agi, sbBuf)
}

// finishAGI stamps a rebuilt AGI's identity (magic, version, seqno,
// length, uuid, lsn 0), drops unlinked buckets and newino/dirino hints
// that point nowhere, and returns its sector; the superblock in sbBuf
// gets icount and ifree recounted over every AG (this one from agi) and
// a new CRC.
func finishAGI(fs *fsys.FS, agno uint32, agi *xfsformat.AGI, sbBuf []byte) ([]byte, error) {
	g := fs.Geo
	agi.MagicNum, agi.VersionNum, agi.SeqNo, agi.Length, agi.UUID = xfsformat.AGIMagic, 1, agno, g.AGLength(agno), g.MetaUUID
	agi.LSN = 0
	for i, v := range agi.Unlinked {
		if v != xfsformat.NullAGIno && (!g.ValidAGIno(agno, v) || v%xfsformat.AGIUnlinkedBuckets != uint32(i)) {
			agi.Unlinked[i] = xfsformat.NullAGIno
		}
	}
	for _, p := range []*uint32{&agi.NewIno, &agi.DirIno} {
		if *p != xfsformat.NullAGIno && !g.ValidAGIno(agno, *p) {
			*p = xfsformat.NullAGIno
		}
	}
	buf, err := encodeSector(fs, agno, fsys.SectorAGI, agi.Encode, xfsformat.AGICRCOffset())
	if err != nil {
		return nil, err
	}

	sb, err := xfsformat.DecodeSuperblock(sbBuf)
	if err != nil {
		return nil, err
	}
	var icount, ifree uint64
	for i := uint32(0); i < g.AGCount; i++ {
		a := agi
		if i != agno {
			if a, _, err = fs.ReadAGI(i); err != nil {
				return nil, err
			}
		}
		icount += uint64(a.Count)
		ifree += uint64(a.FreeCount)
	}
	sb.ICount, sb.IFree = icount, ifree
	if err := sb.Encode(sbBuf); err != nil {
		return nil, err
	}
	fs.Geo.SealCRC(sbBuf, xfsformat.SBCRCOffset())
	return buf, nil
}

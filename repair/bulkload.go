package repair

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// LoadPlan is the shape of a btree the bulk loader will build: how many
// blocks each level has and how full they are, computed as the kernel's
// xfs_btree_bload_compute_geometry does.
type LoadPlan struct {
	Type    xfsformat.BtreeType
	Records int64
	// Levels[0] is the leaf level; the last level is the root (1 block).
	Levels []LevelPlan
}

// LevelPlan is one level of a LoadPlan: Entries spread over Blocks, each
// getting Entries/Blocks, the first Entries%Blocks one more.
type LevelPlan struct {
	Entries int64
	Blocks  int64
}

// Height is the number of levels.
func (p *LoadPlan) Height() int { return len(p.Levels) }

// Blocks is the total number of blocks.
func (p *LoadPlan) Blocks() int64 {
	var n int64
	for _, l := range p.Levels {
		n += l.Blocks
	}
	return n
}

// ErrTooTall is returned when a tree would exceed its maximum height.
var ErrTooTall = fmt.Errorf("btree would exceed its maximum height")

// Slack policy: by default fill blocks to halfway between minrecs and
// maxrecs (about 75%); when the AG is short of space pack them, leaving
// room for two more entries.
const tightSlack = 2

// PlanLoad computes the shape of a tree of nrecs records. tight selects
// the low-space slack policy.
func PlanLoad(t xfsformat.BtreeType, g *xfsformat.Geometry, nrecs int64, tight bool) (*LoadPlan, error) {
	ops := t.OpsFor(g)
	bs := int(g.BlockSize)
	p := &LoadPlan{Type: t, Records: nrecs}
	n := nrecs
	for level := 0; ; level++ {
		if level >= fsys.MaxBtreeHeight || level >= ops.MaxLevels(g) {
			return nil, fmt.Errorf("%s of %d records: %w (%d)", t, nrecs, ErrTooTall, ops.MaxLevels(g))
		}
		leaf := level == 0
		maxr, minr := int64(ops.MaxRecs(bs, leaf)), int64(ops.MinRecs(bs, leaf))
		slack := maxr - (maxr+minr)/2
		if tight {
			slack = tightSlack
		}
		desired := max(minr, maxr-slack)
		blocks := int64(1)
		if n > desired {
			blocks = max(1, n/desired)
			for (n+blocks-1)/blocks > maxr {
				blocks++
			}
		}
		p.Levels = append(p.Levels, LevelPlan{Entries: n, Blocks: blocks})
		if blocks == 1 {
			return p, nil
		}
		n = blocks
	}
}

// perBlock is how many entries block i of a level gets.
func (l LevelPlan) perBlock(i int64) int {
	base := l.Entries / l.Blocks
	if i < l.Entries%l.Blocks {
		base++
	}
	return int(base)
}

// BlockWriter receives every block the loader builds.
type BlockWriter func(agbno uint32, buf []byte) error

// Records is what BulkLoad reads a tree's records from, in the tree's
// key order: a staged array, or records made as they are read (the
// free-space rebuild's new rmapbt, merged from the used space).
type Records interface {
	Iterate(ctx context.Context, fn func(i int64, rec []byte) error) error
}

// RunRecords is Records that also hands its records over in runs,
// whole records side by side in key order, i the first's index:
// BulkLoad then fills its leaves a run at a time, a copy a block rather
// than a call and a copy a record (a workspace array is one).
type RunRecords interface {
	Records
	IterateRuns(ctx context.Context, fn func(i int64, run []byte) error) error
}

// eachRecord is fn, a record at a time, for the runs (of records of
// recLen bytes) an IterateRuns hands over: a RunRecords' Iterate.
func eachRecord(recLen int, fn func(i int64, rec []byte) error) func(i int64, run []byte) error {
	return func(i int64, run []byte) error {
		for o := 0; o+recLen <= len(run); o += recLen {
			if err := fn(i, run[o:o+recLen:o+recLen]); err != nil {
				return err
			}
			i++
		}
		return nil
	}
}

// BulkLoad writes a btree of the records of recs (sorted in the tree's
// key order, exactly plan.Records of them) into the blocks given,
// leaves first, left to right, then each level above from the keys of
// the one below; the root is the last block. It returns the root.
// blocks must hold exactly plan.Blocks() block numbers. Keys of each
// level are staged in the workspace, so memory does not grow with the
// tree.
func BulkLoad(ctx context.Context, fs *fsys.FS, ws *workspace.Workspace, agno uint32, plan *LoadPlan, recs Records, blocks []uint32, write BlockWriter) (root uint32, err error) {
	if int64(len(blocks)) != plan.Blocks() {
		return 0, fmt.Errorf("bulk load %s: %d blocks given for a plan of %d", plan.Type, len(blocks), plan.Blocks())
	}
	ops := plan.Type.OpsFor(fs.Geo)
	g := fs.Geo
	bs := int(g.BlockSize)
	// A key entry for the next level: low key, high key (overlapping
	// trees), child pointer.
	entLen := 2*ops.KeyLen + 4
	next := 0 // index into blocks

	var below *workspace.Array // key entries of the level below
	for level, lp := range plan.Levels {
		keys, err := ws.NewArray(entLen)
		if err != nil {
			return 0, err
		}
		first := blocks[next : next+int(lp.Blocks)]
		next += int(lp.Blocks)

		buf := make([]byte, bs)
		ent := make([]byte, entLen)
		hi := make([]byte, ops.KeyLen)
		var bi int64 // block index within the level
		var inBlock, perBlock int
		var entries int64 // entries of the level placed
		var blk *xfsformat.Block
		start := func() {
			clear(buf)
			blk = &xfsformat.Block{Ops: ops, Buf: buf, Hdr: xfsformat.BlockHeader{
				V4: ops.HeaderSize == xfsformat.BtreeHeaderSizeV4, Magic: ops.Magic, Level: uint16(level), LeftSib: xfsformat.NullAGBlock, RightSib: xfsformat.NullAGBlock,
				Blkno: g.Daddr(agno, first[bi]), UUID: g.MetaUUID, Owner: agno,
			}}
			if bi > 0 {
				blk.Hdr.LeftSib = first[bi-1]
			}
			if bi+1 < lp.Blocks {
				blk.Hdr.RightSib = first[bi+1]
			}
			inBlock, perBlock = 0, lp.perBlock(bi)
		}
		finish := func() error {
			blk.Hdr.NumRecs = uint16(inBlock)
			if err := blk.Hdr.Encode(buf); err != nil {
				return err
			}
			// The entry for the parent: low key, high key, pointer.
			clear(ent)
			if inBlock > 0 {
				blk.FirstKey(ent[:ops.KeyLen])
				if ops.Overlapping {
					blk.MaxHighKey(hi)
					copy(ent[ops.KeyLen:], hi)
				}
			}
			binary.BigEndian.PutUint32(ent[2*ops.KeyLen:], first[bi])
			if err := keys.Append(ent); err != nil {
				return err
			}
			g.SealCRC(buf, xfsformat.BtreeCRCOffset())
			if err := write(first[bi], buf); err != nil {
				return err
			}
			bi++
			return nil
		}
		start()
		emit := func(entry []byte) error {
			if entries++; entries > lp.Entries {
				return fmt.Errorf("bulk load %s level %d: more than the %d entries planned", plan.Type, level, lp.Entries)
			}
			if inBlock == perBlock {
				if err := finish(); err != nil {
					return err
				}
				start()
			}
			if level == 0 {
				copy(buf[ops.HeaderSize+inBlock*ops.RecLen:], entry[:ops.RecLen])
			} else {
				copy(blk.Key(inBlock), entry[:ops.KeyLen])
				if ops.Overlapping {
					copy(blk.HighKey(inBlock), entry[ops.KeyLen:2*ops.KeyLen])
				}
				blk.SetPtr(inBlock, binary.BigEndian.Uint32(entry[2*ops.KeyLen:]))
			}
			inBlock++
			return nil
		}
		// A run of leaf records: as many as the block has room for at
		// a time.
		emitRun := func(_ int64, run []byte) error {
			recLen := ops.RecLen
			for len(run) >= recLen {
				// The blocks' shares add up to the level's entries: a
				// record past them would start a block not planned.
				if entries == lp.Entries {
					return fmt.Errorf("bulk load %s level %d: more than the %d entries planned", plan.Type, level, lp.Entries)
				}
				if inBlock == perBlock {
					if err := finish(); err != nil {
						return err
					}
					start()
				}
				k := min(perBlock-inBlock, len(run)/recLen)
				entries += int64(k)
				copy(buf[ops.HeaderSize+inBlock*recLen:], run[:k*recLen])
				inBlock += k
				run = run[k*recLen:]
			}
			if len(run) > 0 {
				return fmt.Errorf("bulk load %s: a run ends in part of a record (%d bytes)", plan.Type, len(run))
			}
			return nil
		}
		switch rr, runs := recs.(RunRecords); {
		case level > 0:
			if below != nil {
				err = below.Iterate(ctx, func(_ int64, e []byte) error { return emit(e) })
			}
		case recs == nil: // a tree of no records
		case runs:
			err = rr.IterateRuns(ctx, emitRun)
		default:
			err = recs.Iterate(ctx, func(_ int64, e []byte) error { return emit(e) })
		}
		if err != nil {
			return 0, err
		}
		if entries != lp.Entries {
			return 0, fmt.Errorf("bulk load %s level %d: %d entries, planned %d", plan.Type, level, entries, lp.Entries)
		}
		if err := finish(); err != nil {
			return 0, err
		}
		if bi != lp.Blocks {
			return 0, fmt.Errorf("bulk load %s level %d: built %d blocks, planned %d", plan.Type, level, bi, lp.Blocks)
		}
		if below != nil {
			below.Release()
		}
		below = keys
	}
	if below != nil {
		below.Release()
	}
	return blocks[len(blocks)-1], nil
}

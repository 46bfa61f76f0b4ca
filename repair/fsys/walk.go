package fsys

import (
	"context"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// MaxBtreeHeight caps any walk's depth, whatever the headers claim, so a
// corrupt level field cannot send a walk deeper than any real tree.
const MaxBtreeHeight = 12

// Visit is one block reached by a btree walk.
type Visit struct {
	AGBno    uint32
	Level    int // the level the parent (or the AG header) says it has
	Block    *xfsformat.Block
	Parent   uint32 // NullAGBlock for the root
	Index    int    // slot in the parent
	Problems []error
}

// Walk describes a walk of one AG btree.
type Walk struct {
	FS   *FS
	AG   uint32
	Type xfsformat.BtreeType
	// Root and Levels override the AG header's values when Levels != 0.
	Root, Levels uint32
	// OnProblem receives every structural problem the walk meets
	// (unreadable block, bad pointer, cycle, wrong level, bad header).
	// Problems never stop a walk.
	OnProblem func(error)
	// Private says fn keeps no Visit's Block (nor its bytes) past the
	// visit of that block's subtree: the walk then reads into buffers of
	// its own, one per level and one for a run of leaves, reused block
	// after block, instead of through the block cache, which allocated
	// a fresh buffer for every block (fresh memory is what costs most
	// on a walk of a large tree) and whose blocks a one-pass walk
	// would only push out. The check's walks are private.
	Private bool

	levelBufs [][]byte // Private: the buffer of the block being visited at each level
	runBuf    []byte   // Private: a run of leaves
	runStart  uint32   // the first block in runBuf
	runLen    int      // blocks in runBuf
}

func (w *Walk) problem(agbno uint32, field, value, format string, args ...any) error {
	return &xfsformat.FormatError{Struct: w.Type.String(), AG: int64(w.AG), Block: int64(agbno), Field: field,
		Value: value, Msg: fmt.Sprintf(format, args...), Kind: xfsformat.ErrRange}
}

func (w *Walk) report(err error) {
	if w.OnProblem != nil {
		w.OnProblem(err)
	}
}

// Run walks the tree depth-first, left to right, calling fn for every
// block it reaches (so leaves arrive in key order). It survives cycles,
// impossible heights, unreadable blocks and pointers outside the AG:
// each becomes a problem and the walk goes on with the rest. It stops
// only when fn returns an error or ctx is done.
func (w *Walk) Run(ctx context.Context, fn func(*Visit) error) error {
	root, levels := w.Root, w.Levels
	if levels == 0 {
		r, l, present, err := w.FS.BtreeRoot(w.AG, w.Type)
		if err != nil {
			return err
		}
		if !present {
			return fmt.Errorf("AG %d: the filesystem has no %s", w.AG, w.Type)
		}
		root, levels = r, l
	}
	maxLevels := w.Type.OpsFor(w.FS.Geo).MaxLevels(w.FS.Geo)
	if levels < 1 || int(levels) > maxLevels {
		w.report(w.problem(root, "height", strconv.FormatUint(uint64(levels), 10),
			"tree height %d outside [1, %d]", levels, maxLevels))
		if levels < 1 {
			levels = 1
		}
		if levels > MaxBtreeHeight {
			levels = MaxBtreeHeight
		}
	}
	seen := make(map[uint32]struct{})
	w.runLen = 0 // nothing of an earlier Run is served again
	return w.visit(ctx, root, int(levels)-1, xfsformat.NullAGBlock, 0, 1, seen, fn)
}

// visit reaches block agbno; run > 1 says that the run blocks from it on
// are its siblings next in the walk (leaves whose parent points at
// adjacent blocks, as in a bulk-loaded tree), read with it in one read
// and kept (in the block cache, or a private walk's run buffer) for
// their own visits.
func (w *Walk) visit(ctx context.Context, agbno uint32, level int, parent uint32, index, run int,
	seen map[uint32]struct{}, fn func(*Visit) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g := w.FS.Geo
	if agbno < g.HeaderBlocks() || agbno >= g.AGLength(w.AG) {
		w.report(w.problem(parent, "ptrs", strconv.FormatUint(uint64(agbno), 10),
			"pointer %d to block %d outside the AG's usable blocks [%d, %d)", index+1, agbno, g.HeaderBlocks(), g.AGLength(w.AG)))
		return nil
	}
	if _, dup := seen[agbno]; dup {
		w.report(w.problem(agbno, "cycle", "", "block reached twice (cycle or crosslinked pointer, from block %d)", parent))
		return nil
	}
	seen[agbno] = struct{}{}
	buf, err := w.read(agbno, level, run)
	if err != nil {
		w.report(w.problem(agbno, "read", "", "unreadable: %v", err))
		return nil
	}
	blk, err := xfsformat.NewBlockOps(w.Type.OpsFor(w.FS.Geo), buf)
	if err != nil {
		w.report(w.problem(agbno, "read", "", "%v", err))
		return nil
	}
	v := &Visit{AGBno: agbno, Level: level, Block: blk, Parent: parent, Index: index}
	v.Problems = xfsformat.VerifyBlock(blk, g, w.AG, agbno)
	if int(blk.Hdr.Level) != level {
		v.Problems = append(v.Problems, w.problem(agbno, "level", strconv.Itoa(int(blk.Hdr.Level)),
			"block level %d, but its parent expects %d", blk.Hdr.Level, level))
	}
	for _, p := range v.Problems {
		w.report(p)
	}
	if err := fn(v); err != nil {
		return err
	}
	if level == 0 || int(blk.Hdr.Level) != level || blk.Hdr.Magic != w.Type.OpsFor(w.FS.Geo).Magic {
		return nil
	}
	n, runEnd := blk.NumRecs(), 0
	for i := 0; i < n; i++ {
		run := 1
		if level == 1 && i >= runEnd {
			// Leaves next: read each run of adjacent ones at once. (Not
			// above: a subtree's reads would push its siblings out of
			// the cache before their turn.)
			for runEnd = i + 1; runEnd < n && runEnd-i < readAheadBlocks && blk.Ptr(runEnd) == blk.Ptr(runEnd-1)+1; runEnd++ {
			}
			run = runEnd - i
		}
		if err := w.visit(ctx, blk.Ptr(i), level-1, agbno, i, run, seen, fn); err != nil {
			return err
		}
	}
	return nil
}

// read reads block agbno at the level given, through the block cache or,
// for a private walk, into the walk's own buffers; run > 1 reads the
// run of leaves from it on at once.
func (w *Walk) read(agbno uint32, level, run int) ([]byte, error) {
	if !w.Private {
		return w.FS.readRun(w.AG, agbno, uint64(run))
	}
	g := w.FS.Geo
	bs := int(g.BlockSize)
	if w.runLen > 0 && agbno >= w.runStart && agbno < w.runStart+uint32(w.runLen) {
		i := int(agbno-w.runStart) * bs
		return w.runBuf[i : i+bs : i+bs], nil
	}
	if run = min(run, readAheadBlocks, int(g.AGLength(w.AG)-agbno)); run > 1 { // visit has checked agbno against the AG
		if len(w.runBuf) < run*bs {
			w.runBuf = make([]byte, readAheadBlocks*bs)
		}
		w.runLen = 0
		if err := w.FS.Img.ReadAt(w.runBuf[:run*bs], g.ByteOffset(w.AG, agbno)); err == nil {
			w.runStart, w.runLen = agbno, run
			return w.runBuf[:bs:bs], nil
		} // past the image's end: the block alone says
	}
	for len(w.levelBufs) <= level {
		w.levelBufs = append(w.levelBufs, make([]byte, bs))
	}
	buf := w.levelBufs[level]
	if err := w.FS.ReadBlockInto(w.AG, agbno, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Records calls fn for every leaf record in key order.
func (w *Walk) Records(ctx context.Context, fn func(agbno uint32, idx int, rec []byte) error) error {
	return w.Run(ctx, func(v *Visit) error {
		if v.Level != 0 || !v.Block.IsLeaf() || v.Block.Hdr.Magic != v.Block.Ops.Magic {
			return nil
		}
		for i := 0; i < v.Block.NumRecs(); i++ {
			if err := fn(v.AGBno, i, v.Block.Rec(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

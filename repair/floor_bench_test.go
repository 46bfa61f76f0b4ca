//go:build bench

package repair

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// freeExt is a free extent of the floor's in-memory pass.
type freeExt struct{ bno, len uint32 }

// floorRebuild is the least work a free-space rebuild of agno from its
// rmapbt can do: decode every rmap record once, take the complement of
// the used space, sort it by size, and encode a bnobt and a cntbt of it
// into memory (headers, records, node keys, CRCs), nothing staged,
// checked or written. It returns the records decoded and the free
// extents found.
func floorRebuild(ctx context.Context, fs *fsys.FS, agno uint32) (rmaps, free int, err error) {
	agLen := fs.Geo.AGLength(agno)
	var exts []freeExt
	var next uint32 // first block not known used
	w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Rmapbt, OnProblem: func(e error) { err = e }}
	if werr := w.Records(ctx, func(_ uint32, _ int, rec []byte) error {
		rmaps++
		r := xfsformat.DecodeRmapRec(rec)
		start, n := r.StartBlock, r.BlockCount
		if start > next {
			exts = append(exts, freeExt{next, start - next})
		}
		next = max(next, start+n)
		return nil
	}); werr != nil {
		return 0, 0, werr
	}
	if err != nil {
		return 0, 0, err
	}
	if next < agLen {
		exts = append(exts, freeExt{next, agLen - next})
	}
	byCnt := slices.Clone(exts)
	slices.SortFunc(byCnt, func(a, b freeExt) int { return cmp.Or(cmp.Compare(a.len, b.len), cmp.Compare(a.bno, b.bno)) })
	for _, t := range []struct {
		typ  xfsformat.BtreeType
		recs []freeExt
	}{{xfsformat.Bnobt, exts}, {xfsformat.Cntbt, byCnt}} {
		if err := floorEncode(fs, agno, t.typ, t.recs); err != nil {
			return 0, 0, err
		}
	}
	return rmaps, len(exts), nil
}

// floorEncode encodes the tree of recs level by level into one reused
// block buffer, keeping each level's keys in memory.
func floorEncode(fs *fsys.FS, agno uint32, typ xfsformat.BtreeType, recs []freeExt) error {
	g := fs.Geo
	plan, err := PlanLoad(typ, g, int64(len(recs)), false)
	if err != nil {
		return err
	}
	ops := typ.OpsFor(g)
	buf := make([]byte, g.BlockSize)
	keys := make([]byte, 0, len(recs)/100*(ops.KeyLen+4))
	agbno := uint32(1 << 20) // where the blocks would go; any will do
	for level, lp := range plan.Levels {
		var below []byte
		below, keys = keys, nil
		src := 0
		for bi := int64(0); bi < lp.Blocks; bi++ {
			clear(buf)
			blk := &xfsformat.Block{Ops: ops, Buf: buf, Hdr: xfsformat.BlockHeader{
				Magic: ops.Magic, Level: uint16(level), LeftSib: agbno - 1, RightSib: agbno + 1,
				Blkno: g.Daddr(agno, agbno), UUID: g.MetaUUID, Owner: agno,
			}}
			n := lp.perBlock(bi)
			for i := 0; i < n; i++ {
				if level == 0 {
					xfsformat.AllocRec{StartBlock: recs[src].bno, BlockCount: recs[src].len}.Encode(blk.Rec(i))
				} else {
					e := below[src*(ops.KeyLen+4):]
					copy(blk.Key(i), e[:ops.KeyLen])
					blk.SetPtr(i, binary.BigEndian.Uint32(e[ops.KeyLen:]))
				}
				src++
			}
			blk.Hdr.NumRecs = uint16(n)
			if err := blk.Hdr.Encode(buf); err != nil {
				return err
			}
			key := make([]byte, ops.KeyLen+4)
			blk.FirstKey(key[:ops.KeyLen])
			binary.BigEndian.PutUint32(key[ops.KeyLen:], agbno)
			keys = append(keys, key...)
			g.SealCRC(buf, xfsformat.BtreeCRCOffset())
			agbno++
		}
	}
	return nil
}

// TestPrintFloor prints the floor of the one-AG free-space rebuild on
// the image XFSBOX_BENCH_FLOOR names (make bench: the bench images),
// the median and spread of XFSBOX_BENCH_FLOOR_RUNS (5) runs, AG 0's
// blocks in the page cache (one run first, not counted).
func TestPrintFloor(t *testing.T) {
	img := os.Getenv("XFSBOX_BENCH_FLOOR")
	if img == "" {
		t.Skip("set XFSBOX_BENCH_FLOOR=IMAGE")
	}
	runs := 5
	fmt.Sscan(os.Getenv("XFSBOX_BENCH_FLOOR_RUNS"), &runs)
	var times []time.Duration
	var rmaps, free int
	for i := 0; i <= runs; i++ {
		// Opened afresh each run, as a rebuild's process does.
		start := time.Now()
		fs, err := fsys.Open(img, fsys.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rmaps, free, err = floorRebuild(context.Background(), fs, 0)
		fs.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			times = append(times, time.Since(start))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("floor %.3f %.3f %.3f %d %d\n", times[len(times)/2].Seconds(), times[0].Seconds(), times[len(times)-1].Seconds(), rmaps, free)
}

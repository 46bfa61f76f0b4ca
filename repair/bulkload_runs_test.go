package repair

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// oneByOne hides a source's runs: BulkLoad reads it a record a time.
type oneByOne struct{ Records }

// splitRuns hands recs over in runs of random lengths, some empty.
type splitRuns struct {
	recs   []byte
	recLen int
	r      *rand.Rand
}

func (s splitRuns) Iterate(ctx context.Context, fn func(int64, []byte) error) error {
	for i := 0; i*s.recLen < len(s.recs); i++ {
		if err := fn(int64(i), s.recs[i*s.recLen:(i+1)*s.recLen]); err != nil {
			return err
		}
	}
	return nil
}

func (s splitRuns) IterateRuns(ctx context.Context, fn func(int64, []byte) error) error {
	for o := 0; o < len(s.recs); {
		n := min(s.r.IntN(700), (len(s.recs)-o)/s.recLen)
		if err := fn(int64(o/s.recLen), s.recs[o:o+n*s.recLen]); err != nil {
			return err
		}
		o += n * s.recLen
	}
	return nil
}

// randomRmaps is n rmap records in key order, file data of a few
// owners and special owners, none overlapping.
func randomRmaps(r *rand.Rand, n int) []byte {
	out := make([]byte, 0, n*xfsformat.RmapRecLen)
	var b [xfsformat.RmapRecLen]byte
	start := uint32(10)
	for range n {
		l := uint32(1 + r.IntN(8))
		rec := xfsformat.RmapRec{StartBlock: start, BlockCount: l, Owner: uint64(128 + r.IntN(5)), Offset: uint64(r.IntN(1 << 20))}
		if r.IntN(10) == 0 {
			rec.Owner, rec.Offset = ownerBits(xfsformat.OwnAG), 0
		}
		rec.Encode(b[:])
		out = append(out, b[:]...)
		start += l + uint32(r.IntN(3))
	}
	return out
}

// TestBulkLoadRuns: a tree loaded from runs of records (RunRecords, as
// the workspace hands them, split anywhere) is block for block the tree
// loaded a record at a time: the rmapbt (overlapping keys) and the
// bnobt, at sizes up to a few levels. A run source with a record too
// many or too few is refused as the other is.
func TestBulkLoadRuns(t *testing.T) {
	g := &xfsformat.Geometry{CRC: true, BlockSize: 4096, AGBlocks: 1 << 24, InoPBLog: 3, Rmapbt: true}
	fs := &fsys.FS{Geo: g}
	ws := testWorkspace(t)
	r := rand.New(rand.NewPCG(1, 2))
	load := func(typ xfsformat.BtreeType, plan *LoadPlan, src Records) (map[uint32][]byte, uint32, error) {
		blocks := make([]uint32, plan.Blocks())
		for i := range blocks {
			blocks[i] = uint32(1000 + 3*i) // not adjacent: any will do
		}
		out := map[uint32][]byte{}
		root, err := BulkLoad(context.Background(), fs, ws, 0, plan, src, blocks, func(b uint32, buf []byte) error {
			out[b] = bytes.Clone(buf)
			return nil
		})
		return out, root, err
	}
	for _, typ := range []xfsformat.BtreeType{xfsformat.Rmapbt, xfsformat.Bnobt} {
		for _, n := range []int{0, 1, 100, 5000, 200000} {
			var recs []byte
			recLen := typ.OpsFor(g).RecLen
			if typ == xfsformat.Rmapbt {
				recs = randomRmaps(r, n)
			} else {
				var b [8]byte
				for i := range n {
					xfsformat.AllocRec{StartBlock: uint32(3 * i), BlockCount: uint32(1 + i%2)}.Encode(b[:])
					recs = append(recs, b[:]...)
				}
			}
			plan, err := PlanLoad(typ, g, int64(n), false)
			if err != nil {
				t.Fatal(err)
			}
			runs := splitRuns{recs: recs, recLen: recLen, r: r}
			want, wantRoot, err := load(typ, plan, oneByOne{runs})
			if err != nil {
				t.Fatal(err)
			}
			got, root, err := load(typ, plan, runs)
			if err != nil {
				t.Fatalf("%s of %d records from runs: %v", typ, n, err)
			}
			if root != wantRoot || len(got) != len(want) {
				t.Fatalf("%s of %d records: root %d, %d blocks from runs; %d, %d a record at a time", typ, n, root, len(got), wantRoot, len(want))
			}
			for b, buf := range want {
				if !bytes.Equal(got[b], buf) {
					t.Fatalf("%s of %d records: block %d differs when loaded from runs", typ, n, b)
				}
			}
			if n < 100 {
				continue
			}
			for _, m := range []int{n - 1, n + 1} {
				more := append(slices.Clone(recs), recs[:recLen]...) // a copy of the first: the count is what is judged
				_, _, err := load(typ, plan, splitRuns{recs: more[:m*recLen], recLen: recLen, r: r})
				if err == nil || !strings.Contains(err.Error(), typ.String()) {
					t.Errorf("%s: %d records from runs for a plan of %d: %v", typ, m, n, err)
				}
			}
		}
	}
}

// TestNewRmapRuns: the new rmapbt's records, one at a time and in
// runs (split where an owner replaced is dropped and where the
// closure's records go in), are the used space's records less the
// replaced owners' with the closure's merged in, in CmpRmapRecs order
// (worked out here by a stable sort), over reads of the used space's
// array of many buffers, with closure records before the first kept
// record, between any two and after the last.
func TestNewRmapRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ws := testWorkspace(t)
	used, err := ws.NewArray(xfsformat.RmapRecLen)
	if err != nil {
		t.Fatal(err)
	}
	recs := randomRmaps(r, 30000)
	if err := used.AppendRun(recs); err != nil {
		t.Fatal(err)
	}
	s := &freeSpaceRebuild{used: used, keptNormal: true}
	src := &newRmaps{s: s}
	var b [xfsformat.RmapRecLen]byte
	for _, start := range []uint32{0, 5, 77, 1000, 50000, 1 << 22} {
		xfsformat.RmapRec{StartBlock: start, BlockCount: 1, Owner: ownerBits(xfsformat.OwnAG)}.Encode(b[:])
		src.closure = append(src.closure, b)
	}
	for range 50 { // the closure's go right after a kept record's start
		i := r.IntN(30000) * xfsformat.RmapRecLen
		xfsformat.RmapRec{StartBlock: xfsformat.DecodeRmapRec(recs[i:]).StartBlock, BlockCount: 1, Owner: ownerBits(xfsformat.OwnInobt)}.Encode(b[:])
		src.closure = append(src.closure, b)
	}
	slices.SortFunc(src.closure, func(a, b [xfsformat.RmapRecLen]byte) int { return check.CmpRmapRecs(a[:], b[:]) })

	var want [][xfsformat.RmapRecLen]byte // kept first: a stable sort keeps them before an equal closure record
	for o := 0; o < len(recs); o += xfsformat.RmapRecLen {
		if xfsformat.DecodeRmapRec(recs[o:]).Owner != ownerBits(xfsformat.OwnAG) {
			want = append(want, [xfsformat.RmapRecLen]byte(recs[o:o+xfsformat.RmapRecLen]))
		}
	}
	kept := len(want)
	want = append(want, src.closure...)
	slices.SortStableFunc(want, func(a, b [xfsformat.RmapRecLen]byte) int { return check.CmpRmapRecs(a[:], b[:]) })
	var wantBytes []byte
	for i := range want {
		wantBytes = append(wantBytes, want[i][:]...)
	}

	var one, runs []byte
	var next int64
	if err := src.Iterate(context.Background(), func(i int64, rec []byte) error {
		if i != int64(len(one)/xfsformat.RmapRecLen) {
			t.Fatalf("record %d handed over as %d", len(one)/xfsformat.RmapRecLen, i)
		}
		one = append(one, rec...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := src.IterateRuns(context.Background(), func(i int64, run []byte) error {
		if i != next || len(run)%xfsformat.RmapRecLen != 0 {
			t.Fatalf("a run at index %d of %d bytes, want index %d", i, len(run), next)
		}
		next += int64(len(run) / xfsformat.RmapRecLen)
		runs = append(runs, run...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if kept >= 30000 || kept < 25000 {
		t.Fatalf("%d of 30000 records kept: the test drops too few or too many", kept)
	}
	if !bytes.Equal(one, wantBytes) || !bytes.Equal(runs, wantBytes) {
		t.Fatalf("%d and %d bytes one at a time and in runs, want %d (the kept records and the closure's merged)", len(one), len(runs), len(wantBytes))
	}
}

// The workspace's arrays hand BulkLoad their records in runs.
var _ RunRecords = (*workspace.Array)(nil)

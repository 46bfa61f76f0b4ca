package repair

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

func testWorkspace(t *testing.T) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.New(context.Background(), workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// randomKept returns disjoint, non-touching kept extents of [0, agLen)
// and the gaps between them (the complement), both by start.
func randomKept(r *rand.Rand, agLen uint64) (kept, gaps []check.Extent) {
	var pos uint64
	for pos < agLen {
		free := uint64(r.IntN(40))
		if pos == 0 && r.IntN(2) == 0 {
			free = 0 // the AG may start with kept space
		} else if free == 0 {
			free = 1
		}
		if pos+free >= agLen {
			gaps = append(gaps, check.Extent{Start: pos, End: agLen})
			break
		}
		if free > 0 {
			gaps = append(gaps, check.Extent{Start: pos, End: pos + free})
		}
		pos += free
		used := min(uint64(1+r.IntN(30)), agLen-pos)
		kept = append(kept, check.Extent{Start: pos, End: pos + used})
		pos += used
	}
	return kept, gaps
}

// TestFreeRecsAfter: settle's count of the free extents left once the
// reserved runs are taken, found by binary search of the kept space's
// gaps, equals counting complement(kept, reserved) through, for runs
// anywhere in the gaps: at either end, inside, whole, several in one gap.
func TestFreeRecsAfter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ws := testWorkspace(t)
	for round := 0; round < 300; round++ {
		agLen := uint64(50 + r.IntN(2000))
		kept, gaps := randomKept(r, agLen)
		s := &freeSpaceRebuild{agLen: agLen, keptGaps: int64(len(gaps))}
		var err error
		if s.keptExt, err = ws.NewArray(8); err != nil {
			t.Fatal(err)
		}
		for _, e := range kept {
			if err := s.keptExt.Append(extentRec(e)); err != nil {
				t.Fatal(err)
			}
		}
		// Reserve random runs inside random gaps, as carve does (from a
		// candidate's start, which may be anywhere in a gap).
		var reserved []check.Extent
		for _, g := range gaps {
			for pos := g.Start; pos < g.End; {
				if r.IntN(3) == 0 {
					n := min(uint64(1+r.IntN(8)), g.End-pos)
					reserved = append(reserved, check.Extent{Start: pos, End: pos + n})
					pos += n
				}
				pos += uint64(1 + r.IntN(5))
			}
		}
		var want int64
		for range complement(slices.Values(kept), reserved, agLen) {
			want++
		}
		got, err := s.freeRecsAfter(reserved)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got != want {
			t.Fatalf("round %d: %d free extents after %v in gaps %v, counted %d", round, got, reserved, gaps, want)
		}
		s.keptExt.Release()
	}
	// A run crossing kept space is an error, not a wrong count.
	s := &freeSpaceRebuild{agLen: 100, keptGaps: 2}
	var err error
	if s.keptExt, err = ws.NewArray(8); err != nil {
		t.Fatal(err)
	}
	if err := s.keptExt.Append(extentRec(check.Extent{Start: 10, End: 20})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.freeRecsAfter([]check.Extent{{Start: 5, End: 15}}); err == nil {
		t.Error("a reserved run over kept space was counted")
	}
	if _, err := s.freeRecsAfter([]check.Extent{{Start: 12, End: 14}}); err == nil {
		t.Error("a reserved run inside kept space was counted")
	}
}

// TestChosenCandidates: carving from the longest candidates only
// (chooseCandidates) takes exactly what carving from all of them
// sorted takes, for every need, including needs past what the chosen
// hold (carveFrom then sorts them all) and past the whole (ErrNoSpace).
func TestChosenCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	ws := testWorkspace(t)
	for round := 0; round < 10; round++ {
		all, err := ws.NewArray(8)
		if err != nil {
			t.Fatal(err)
		}
		cs := &candidateSet{ws: ws}
		var pos uint64
		for i := 0; i < 2000; i++ {
			pos += uint64(1 + r.IntN(10))
			n := uint64(1 + r.IntN(8))
			if r.IntN(50) == 0 {
				n = uint64(100 + r.IntN(3000)) // a few long ones
			}
			e := check.Extent{Start: pos, End: pos + n}
			pos += n
			if err := cs.add(e); err != nil {
				t.Fatal(err)
			}
			if err := all.Append(candidateRec(e)); err != nil {
				t.Fatal(err)
			}
		}
		if err := all.SortKey(ctx, 8); err != nil {
			t.Fatal(err)
		}
		total := cs.total
		s := &freeSpaceRebuild{ws: ws, oldOwnAG: int64(r.IntN(3000))}
		if err := s.chooseCandidates(ctx, cs); err != nil {
			t.Fatal(err)
		}
		needs := []int64{1, 17, s.oldOwnAG, candidateFloor, 4 * candidateFloor, total - 1, total, total + 1}
		for i := int64(1); i < 100; i++ { // every stretch of the sorted order
			needs = append(needs, total*i/100)
		}
		slices.Sort(needs) // the chosen first, then past them
		for _, need := range needs {
			want, werr := carve(ctx, all, need)
			got, gerr := s.carveFrom(ctx, need)
			if !errors.Is(gerr, werr) && (gerr != nil || werr != nil) {
				t.Fatalf("round %d need %d: error %v, carving from all: %v", round, need, gerr, werr)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("round %d need %d: %v, carving from all: %v", round, need, got, want)
			}
		}
		all.Release()
	}
}

// countedRecs hands BulkLoad n records of an alloc tree.
type countedRecs int

func (n countedRecs) Iterate(ctx context.Context, fn func(int64, []byte) error) error {
	var b [8]byte
	for i := int64(0); i < int64(n); i++ {
		xfsformat.AllocRec{StartBlock: uint32(2 * i), BlockCount: 1}.Encode(b[:])
		if err := fn(i, b[:]); err != nil {
			return err
		}
	}
	return nil
}

// TestBulkLoadCountsRecords: a source that yields more or fewer records
// than the plan says is an error naming the tree, never a panic or a
// tree with holes.
func TestBulkLoadCountsRecords(t *testing.T) {
	g := &xfsformat.Geometry{CRC: true, BlockSize: 4096, AGBlocks: 65536, InoPBLog: 3, Rmapbt: true}
	fs := &fsys.FS{Geo: g}
	ws := testWorkspace(t)
	plan, err := PlanLoad(xfsformat.Bnobt, g, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	blocks := make([]uint32, plan.Blocks())
	for i := range blocks {
		blocks[i] = uint32(100 + i)
	}
	discard := func(uint32, []byte) error { return nil }
	for _, n := range []int{999, 1001, 5000} {
		_, err := BulkLoad(context.Background(), fs, ws, 0, plan, countedRecs(n), blocks, discard)
		if err == nil || !strings.Contains(err.Error(), "bnobt") {
			t.Errorf("%d records for a plan of 1000: %v", n, err)
		}
	}
	if _, err := BulkLoad(context.Background(), fs, ws, 0, plan, countedRecs(1000), blocks, discard); err != nil {
		t.Errorf("1000 records for a plan of 1000: %v", err)
	}
}

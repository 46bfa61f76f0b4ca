package check

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestFirstDifference: the bnobt/cntbt and inobt/finobt cross-references
// name the first pair of records where two streams part, nil for a
// stream that ran out, and copies that outlive the streams' buffers.
func TestFirstDifference(t *testing.T) {
	// seq yields each record from one reused buffer, as Array.All does,
	// and scribbles on it when it ends.
	seq := func(recs ...string) iter.Seq[[]byte] {
		return func(yield func([]byte) bool) {
			buf := make([]byte, 2)
			defer copy(buf, "??")
			for _, r := range recs {
				copy(buf, r)
				if !yield(buf) {
					return
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		a, b   []string
		x, y   string // "" for nil
		differ bool
	}{
		{"both empty", nil, nil, "", "", false},
		{"same", []string{"aa", "bb"}, []string{"aa", "bb"}, "", "", false},
		{"differ in the middle", []string{"aa", "bb", "cc"}, []string{"aa", "bc", "cc"}, "bb", "bc", true},
		{"a ran out", []string{"aa"}, []string{"aa", "bb"}, "", "bb", true},
		{"b ran out", []string{"aa", "bb"}, []string{"aa"}, "bb", "", true},
		{"first", []string{"zz"}, []string{"aa"}, "zz", "aa", true},
	} {
		x, y, differ := firstDifference(seq(tc.a...), seq(tc.b...))
		if differ != tc.differ || (x == nil) != (tc.x == "") || (y == nil) != (tc.y == "") ||
			string(x) != tc.x || string(y) != tc.y {
			t.Errorf("%s: got %q, %q, %v; want %q, %q, %v", tc.name, x, y, differ, tc.x, tc.y, tc.differ)
		}
	}
}

// TestUnionCursor: the union of sorted rmap records, pulled through a
// cursor and pushed by UsedUnion, is the used space worked out block by
// block, extent for extent: overlapping, touching, nested and separate
// records, none, one.
func TestUnionCursor(t *testing.T) {
	ws, err := workspace.New(context.Background(), workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 10, 1000, 100000} {
		a, err := ws.NewArray(xfsformat.RmapRecLen)
		if err != nil {
			t.Fatal(err)
		}
		start := uint32(0)
		var covered []bool // block -> used, the union worked out apart
		for i := 0; i < n; i++ {
			start += uint32(rng.IntN(5)) // 0: same start, 1-4 ahead
			rec := xfsformat.RmapRec{StartBlock: start, BlockCount: uint32(1 + rng.IntN(6)), Owner: uint64(100 + i)}
			for b := rec.StartBlock; b < rec.StartBlock+rec.BlockCount; b++ {
				for int(b) >= len(covered) {
					covered = append(covered, false)
				}
				covered[b] = true
			}
			buf := make([]byte, xfsformat.RmapRecLen)
			rec.Encode(buf)
			if err := a.Append(buf); err != nil {
				t.Fatal(err)
			}
		}
		var want []Extent
		for b := 0; b < len(covered); b++ {
			if covered[b] && (b == 0 || !covered[b-1]) {
				want = append(want, Extent{Start: uint64(b)})
			}
			if covered[b] && (b+1 == len(covered) || !covered[b+1]) {
				want[len(want)-1].End = uint64(b + 1)
			}
		}
		var pushed []Extent
		for e := range UsedUnion(a.All(context.Background(), &err)) {
			pushed = append(pushed, e)
		}
		var got []Extent
		c := workspace.NewCursor(context.Background(), a)
		next := unionCursor(c)
		for e, ok := next(); ok; e, ok = next() {
			got = append(got, e)
		}
		if err != nil || c.Err() != nil || !slices.Equal(got, want) || !slices.Equal(pushed, want) {
			t.Fatalf("%d records: cursor %d extents, UsedUnion %d, want %d (%v %v)", n, len(got), len(pushed), len(want), err, c.Err())
		}
		if n >= 10 && len(want) < 2 {
			t.Fatalf("%d records made %d extents: the test makes no gaps", n, len(want))
		}
		a.Release()
	}
}

// TestAllocTreesDiffer: the walk keeps no cntbt records (its multiset
// hash stands for them), so a cntbt that differs from the bnobt is named
// by staging both again: one cntbt record moved down a block (xfs_db,
// CRC kept right) gives exactly the finding that names it, from the
// check and from the check of rebuilt trees alike, which keeps none of
// the free-space trees' records.
func TestAllocTreesDiffer(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "defaults")
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	agf, _, err := fs.ReadAGF(0)
	if err != nil {
		t.Fatal(err)
	}
	root, levels := xfsformat.Cntbt.Ops().Root(agf, nil)
	var leaf uint32
	var last xfsformat.AllocRec
	var n int
	w := &fsys.Walk{FS: fs, AG: 0, Type: xfsformat.Cntbt, Root: root, Levels: levels}
	if err := w.Records(context.Background(), func(agbno uint32, i int, rec []byte) error {
		leaf, n, last = agbno, i+1, xfsformat.DecodeAllocRec(rec)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	fs.Close()
	moved := last.StartBlock - 1 // still inside the AG (the largest extent may end it)
	xfsdbWrite(t, img, []string{fmt.Sprintf("fsblock %d", leaf), "type cntbt",
		fmt.Sprintf("write recs[%d].startblock %d", n, moved)})
	want := fmt.Sprintf("free extent [%d,%d] is in the cntbt but not the bnobt", moved, last.BlockCount)

	got := checkImage(t, img)
	if len(got) != 1 || got[0].Code != "bnobt.xref" || got[0].Message != want {
		t.Errorf("check: %v, want one bnobt.xref: %s", got, want)
	}
	fs, err = fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ws, err := workspace.New(context.Background(), workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	after, err := Rebuilt(context.Background(), fs, 0, ws, xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Code != "bnobt.xref" || after[0].Message != want {
		t.Errorf("Rebuilt: %v, want one bnobt.xref: %s", after, want)
	}
}

// TestCompareRmaps: the rmapbt comparison normalises both sides as it
// reads them and, when a merge leaves the normalised records out of
// order (extents shared by several owners, as reflink makes them),
// starts again from staged, sorted copies without reporting anything
// twice. Either way each difference is one finding.
func TestCompareRmaps(t *testing.T) {
	ws, err := workspace.New(context.Background(), workspace.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	rec := func(start, n uint32, owner uint64, off uint64) xfsformat.RmapRec {
		return xfsformat.RmapRec{StartBlock: start, BlockCount: n, Owner: owner, Offset: off}
	}
	array := func(recs ...xfsformat.RmapRec) *workspace.Array {
		a, err := ws.NewArray(xfsformat.RmapRecLen)
		if err != nil {
			t.Fatal(err)
		}
		var b [xfsformat.RmapRecLen]byte
		for _, r := range recs {
			r.Encode(b[:])
			if err := a.Append(b[:]); err != nil {
				t.Fatal(err)
			}
		}
		return a
	}
	agOwner := int64(xfsformat.OwnAG)
	ownAG := uint64(agOwner)
	for _, tc := range []struct {
		name       string
		want, have []xfsformat.RmapRec
		codes      []string
	}{
		{"in order", // two mappings of inode 100 merge into the rmapbt's one record
			[]xfsformat.RmapRec{rec(10, 2, 100, 0), rec(12, 3, 100, 2), rec(20, 1, ownAG, 0)},
			[]xfsformat.RmapRec{rec(10, 5, 100, 0), rec(30, 1, 101, 0)},
			[]string{"rmapbt.extra", "rmapbt.missing"}},
		{"reordered by sharing", // the short owner-5 mapping ends first, and is emitted before owner 3's
			[]xfsformat.RmapRec{rec(10, 100, 3, 0), rec(10, 2, 5, 0), rec(13, 1, 7, 0)},
			[]xfsformat.RmapRec{rec(10, 100, 3, 0), rec(10, 2, 5, 0)},
			[]string{"rmapbt.missing"}},
		{"equal, shared", []xfsformat.RmapRec{rec(10, 100, 3, 0), rec(10, 2, 5, 0)}, []xfsformat.RmapRec{rec(10, 100, 3, 0), rec(10, 2, 5, 0)}, nil},
	} {
		findings := &Findings{}
		c := &AG{agno: 0, ws: ws, findings: findings}
		n, err := c.compareRmaps(context.Background(), array(tc.want...), array(tc.have...))
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, f := range findings.List() {
			codes = append(codes, f.Code)
		}
		slices.Sort(codes)
		if !slices.Equal(codes, tc.codes) || n != len(tc.codes) {
			t.Errorf("%s: %d differences, findings %v; want %v", tc.name, n, findings.List(), tc.codes)
		}
	}
	// The sharing case does reorder the normalised records.
	var order [][]byte
	norm := NewRmapNormalizer(func(r []byte) error { order = append(order, slices.Clone(r)); return nil })
	for _, r := range []xfsformat.RmapRec{rec(10, 100, 3, 0), rec(10, 2, 5, 0), rec(13, 1, 7, 0)} {
		var b [xfsformat.RmapRecLen]byte
		r.Encode(b[:])
		if err := norm.Add(b[:]); err != nil {
			t.Fatal(err)
		}
	}
	if err := norm.Finish(); err != nil || norm.Sorted() {
		t.Errorf("a short shared mapping emitted first should leave the output unsorted (sorted %v, err %v, %x)", norm.Sorted(), err, order)
	}
}

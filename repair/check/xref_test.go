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
	after, err := Rebuilt(context.Background(), fs, 0, workspace.Options{}, xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Rmapbt)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Code != "bnobt.xref" || after[0].Message != want {
		t.Errorf("Rebuilt: %v, want one bnobt.xref: %s", after, want)
	}
}

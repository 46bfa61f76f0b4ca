package check

import (
	"iter"
	"testing"
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

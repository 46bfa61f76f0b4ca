//go:build linux

package workspace

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRecSorterStepsAsSlices: pdq.go is a port of slices.SortFunc's
// pdqsort and claims the same comparisons and swaps. With a comparator
// that looks at one byte of 16-byte records, many records tie, so the
// order ties end in and the number of comparisons show any step that
// differs.
func TestRecSorterStepsAsSlices(t *testing.T) {
	const r = 16
	rng := rand.New(rand.NewPCG(3, 5))
	for _, n := range []int{0, 1, 5, 12, 13, 49, 50, 51, 300, 5000, 40000} {
		for _, kind := range []string{"random", "fewdistinct", "sorted", "reversed", "sawtooth"} {
			buf := make([]byte, n*r)
			for i := range n {
				rec := buf[i*r : (i+1)*r]
				switch kind {
				case "random":
					rec[0] = byte(rng.Uint32())
				case "fewdistinct":
					rec[0] = byte(rng.IntN(3))
				case "sorted":
					rec[0] = byte(i * 256 / max(n, 1))
				case "reversed":
					rec[0] = byte(255 - i*256/max(n, 1))
				case "sawtooth":
					rec[0] = byte(i % 7)
				}
				binary.BigEndian.PutUint64(rec[8:], uint64(i)) // which record it was
			}
			recs := make([][]byte, n)
			for i := range recs {
				recs[i] = slices.Clone(buf[i*r : (i+1)*r])
			}
			var nSlices, nPdq int
			slices.SortFunc(recs, func(a, b []byte) int { nSlices++; return int(a[0]) - int(b[0]) })
			s := newRecSorter(context.Background(), r, func(a, b []byte) int { nPdq++; return int(a[0]) - int(b[0]) })
			if err := s.sort(buf); err != nil {
				t.Fatal(err)
			}
			for i, want := range recs {
				if got := buf[i*r : (i+1)*r]; !slices.Equal(got, want) {
					t.Fatalf("n=%d %s: record %d is %x, slices.SortFunc put %x there", n, kind, i, got, want)
				}
			}
			if nPdq != nSlices {
				t.Errorf("n=%d %s: %d comparisons, slices.SortFunc made %d", n, kind, nPdq, nSlices)
			}
		}
	}
}

package workspace

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// rmapLikeRecs makes n records of r bytes as the check stages rmap
// records (start block, length, owner, offset): start blocks spread over
// an AG, a few thousand owners, small offsets; records longer than 24
// bytes get random tails, shorter ones are cut.
func rmapLikeRecs(n, r int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, n*r)
	rec := make([]byte, max(r, 24))
	for i := range n {
		binary.BigEndian.PutUint32(rec, rng.Uint32N(1<<24))
		binary.BigEndian.PutUint32(rec[4:], 1+rng.Uint32N(16))
		binary.BigEndian.PutUint64(rec[8:], 128+uint64(rng.IntN(4000)))
		binary.BigEndian.PutUint64(rec[16:], uint64(rng.IntN(1<<12)))
		for j := 24; j < r; j++ {
			rec[j] = byte(rng.Uint32())
		}
		copy(buf[i*r:], rec[:r])
	}
	return buf
}

// TestRadixSort: radixSort orders records of every size it has a fast
// path for and some it has not, by keys of one span and of several out
// of order, exactly as a stable sort by the same key bytes does (an LSD
// radix sort is stable), on random, equal and few-distinct data.
func TestRadixSort(t *testing.T) {
	for _, r := range []int{1, 5, 8, 13, 16, 20, 24, 25, 32, 40} {
		keys := [][]int{{0}}
		if r >= 4 {
			keys = append(keys, []int{3, 2, 1, 0})
		}
		if r >= 24 {
			keys = append(keys, []int{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 4, 5, 6, 7})
		}
		all := make([]int, r)
		for i := range all {
			all[i] = i
		}
		keys = append(keys, all)
		for _, kind := range []string{"rmap", "random", "allequal", "fewdistinct"} {
			for ki, key := range keys {
				t.Run(fmt.Sprintf("r%d/%s/key%d", r, kind, ki), func(t *testing.T) {
					n := 3000
					var data []byte
					if kind == "rmap" {
						data = rmapLikeRecs(n, r, 7)
					} else {
						data = genRecs(kind, n, r, 9)
					}
					recs := make([][]byte, n)
					for i := range recs {
						recs[i] = slices.Clone(data[i*r : i*r+r])
					}
					slices.SortStableFunc(recs, func(a, b []byte) int {
						for _, p := range key {
							if a[p] != b[p] {
								return int(a[p]) - int(b[p])
							}
						}
						return 0
					})
					want := bytes.Join(recs, nil)
					if err := radixSort(context.Background(), data, make([]byte, len(data)), r, key); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(data, want) {
						t.Fatal("radixSort differs from a stable sort by the same key bytes")
					}
				})
			}
		}
	}
}

// BenchmarkRadixSort: one in-memory chunk of a check's sort of rmap
// records (4 MiB, by RmapSortKey's bytes).
func BenchmarkRadixSort(b *testing.B) {
	const r = 24
	key := []int{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 4, 5, 6, 7}
	data := rmapLikeRecs(4<<20/r, r, 3)
	buf, tmp := make([]byte, len(data)), make([]byte, len(data))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		copy(buf, data)
		if err := radixSort(context.Background(), buf, tmp, r, key); err != nil {
			b.Fatal(err)
		}
	}
}

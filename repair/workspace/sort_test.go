package workspace

import (
	"context"
	"encoding/binary"
	"testing"
)

// TestKeepSortBuffers: with KeepSortBuffers a sort's buffers are kept
// for the next sort (no new allocation for a sort of the same size) and
// dropped at Close; without it none are kept.
func TestKeepSortBuffers(t *testing.T) {
	for _, keep := range []bool{false, true} {
		ws, err := New(context.Background(), Options{SortMemory: 1 << 20, KeepSortBuffers: keep})
		if err != nil {
			t.Fatal(err)
		}
		sortOne := func() {
			a, err := ws.NewArray(8)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 100000; i++ {
				var r [8]byte
				binary.BigEndian.PutUint64(r[:], uint64(i*7919%100003))
				if err := a.Append(r[:]); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.SortKey(context.Background(), 8); err != nil {
				t.Fatal(err)
			}
			prev, i := uint64(0), 0
			for r := range a.All(context.Background(), &err) {
				if v := binary.BigEndian.Uint64(r); i > 0 && v < prev {
					t.Fatalf("record %d out of order", i)
				} else {
					prev = v
				}
				i++
			}
			if err != nil || i != 100000 {
				t.Fatalf("%d records back (%v)", i, err)
			}
			a.Release()
		}
		sortOne()
		if got := len(ws.spare); keep && got == 0 || !keep && got != 0 {
			t.Fatalf("keep %v: %d buffers kept after a sort", keep, got)
		}
		if keep {
			allocs := testing.AllocsPerRun(1, sortOne)
			if allocs > 50 {
				t.Errorf("a second sort allocated %v times", allocs)
			}
		}
		ws.Close()
		if len(ws.spare) != 0 {
			t.Fatalf("keep %v: buffers kept after Close", keep)
		}
	}
}

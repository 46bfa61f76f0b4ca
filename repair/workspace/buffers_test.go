package workspace

import (
	"bytes"
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
			// Sorts of every size leave at most 2 x SortMemory kept.
			for _, n := range []int{10, 1000, 300000, 50} {
				a, err := ws.NewArray(8)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i++ {
					var r [8]byte
					binary.BigEndian.PutUint64(r[:], uint64(n-i))
					if err := a.Append(r[:]); err != nil {
						t.Fatal(err)
					}
				}
				if err := a.Sort(context.Background(), func(x, y []byte) int { return bytes.Compare(x, y) }); err != nil {
					t.Fatal(err)
				}
				a.Release()
				kept := 0
				for _, b := range ws.spare {
					kept += cap(b)
				}
				if kept > 2<<20 {
					t.Fatalf("after a sort of %d records, %d bytes of sort buffers kept, more than 2 x SortMemory", n, kept)
				}
			}
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

// TestSmallArrayBuffers: an array of a few records holds an append
// buffer of its size, not the 512 KiB of a large one, and none once it
// has been read whole (a check of 16 AGs keeps dozens of arrays); and
// records stay right as the append buffer grows: loads of records still
// in it, and iteration, see what was appended.
func TestSmallArrayBuffers(t *testing.T) {
	ws, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	small, err := ws.NewArray(16)
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 16)
	for i := 0; i < 10; i++ {
		binary.BigEndian.PutUint64(rec, uint64(i))
		if err := small.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := small.Iterate(context.Background(), func(int64, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if small.wbuf != nil {
		t.Fatalf("10 records read whole still hold a %d-byte append buffer", cap(small.wbuf))
	}
	for i := 0; i < 10; i++ {
		if err := small.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if cap(small.wbuf) > startBufSize {
		t.Fatalf("10 more records hold a %d-byte append buffer", cap(small.wbuf))
	}
	big, err := ws.NewArray(16)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	for i := 0; i < 100000; i++ {
		binary.BigEndian.PutUint64(rec, uint64(i))
		if err := big.Append(rec); err != nil {
			t.Fatal(err)
		}
		if i == 99999 && cap(big.wbuf) != ioBufSize/16*16 {
			t.Fatalf("a large array's append buffer is %d bytes, want the full %d", cap(big.wbuf), ioBufSize)
		}
		if i%997 == 0 {
			j := int64(i / 2)
			if err := big.Load(j, got); err != nil || binary.BigEndian.Uint64(got) != uint64(j) {
				t.Fatalf("record %d reads %d (%v) after %d appends", j, binary.BigEndian.Uint64(got), err, i+1)
			}
		}
	}
	n := uint64(0)
	if err := big.Iterate(context.Background(), func(i int64, r []byte) error {
		if binary.BigEndian.Uint64(r) != uint64(i) {
			t.Fatalf("record %d holds %d", i, binary.BigEndian.Uint64(r))
		}
		n++
		return nil
	}); err != nil || n != 100000 {
		t.Fatalf("%d records iterated (%v)", n, err)
	}
	if big.wbuf != nil {
		t.Fatalf("an array read whole still holds a %d-byte append buffer", cap(big.wbuf))
	}
}

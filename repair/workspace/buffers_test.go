package workspace

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
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

// TestSpanCompare: SortBy's comparison, which loads spans as words,
// orders records as bytes.Compare of each span in turn does, for spans
// of every length from 1 to 20 bytes at odd offsets.
func TestSpanCompare(t *testing.T) {
	keys := [][]Span{{{0, 8}}, {{0, 4}}, {{3, 1}}, {{1, 3}, {7, 5}}, {{0, 4}, {8, 16}, {4, 4}}, {{2, 20}}, {{5, 9}, {0, 2}}}
	recs := genRecs("fewdistinct", 2000, 24, 9)
	for _, key := range keys {
		cmp := spanCompare(key)
		for i := 0; i+48 <= len(recs); i += 24 {
			x, y := recs[i:i+24], recs[i+24:i+48]
			want := 0
			for _, s := range key {
				if want = bytes.Compare(x[s.Off:s.Off+s.Len], y[s.Off:s.Off+s.Len]); want != 0 {
					break
				}
			}
			if got := cmp(x, y); got != want {
				t.Fatalf("key %v: records %x and %x compare %d, want %d", key, x, y, got, want)
			}
		}
	}
}

// TestHugeSortBuffers: sort buffers of 2 MiB and more are mapped outside
// the Go heap; sorts through them (in memory and through the merge)
// order the records, and every mapping is let go by the time the
// workspace closes, kept or not.
func TestHugeSortBuffers(t *testing.T) {
	mappedNow := func() int {
		mappedMu.Lock()
		defer mappedMu.Unlock()
		return len(mapped)
	}
	before := mappedNow()
	for _, keep := range []bool{false, true} {
		ws, err := New(context.Background(), Options{SortMemory: 8 << 20, KeepSortBuffers: keep})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{150_000, 700_000} { // one chunk; several and a merge
			data := genRecs("random", n, 24, uint64(n))
			a := fillArray(t, ws, data, 24)
			if err := a.SortBy(context.Background(), Span{0, 4}, Span{8, 16}, Span{4, 4}); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, a)
			cmp := spanCompare([]Span{{0, 4}, {8, 16}, {4, 4}})
			for i := 24; i < len(got); i += 24 {
				if cmp(got[i-24:i], got[i:i+24]) > 0 {
					t.Fatalf("keep %v, %d records: record %d out of order", keep, n, i/24)
				}
			}
			if len(got) != len(data) {
				t.Fatalf("keep %v: %d bytes after the sort, want %d", keep, len(got), len(data))
			}
			if !keep && mappedNow() != before {
				t.Errorf("%d sort buffers still mapped after a sort that keeps none", mappedNow()-before)
			}
		}
		if keep && mappedNow() == before {
			t.Errorf("no sort buffer mapped: buffers of 4 MiB should be")
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		if n := mappedNow() - before; n != 0 {
			t.Errorf("keep %v: %d sort buffers still mapped after Close", keep, n)
		}
	}
}

// TestIOBuffersReused: iterations and cursors read to the end give their
// 512 KiB buffers back for the next, rather than each taking fresh
// memory (which is what cost a check of many AGs most).
func TestIOBuffersReused(t *testing.T) {
	ws := newWS(t, Options{})
	a := fillArray(t, ws, genRecs("random", 200_000, 8, 7), 8) // 1.6 MB: full-size buffers
	readAll := func() {
		if err := a.Iterate(context.Background(), func(int64, []byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
		c := NewCursor(context.Background(), a)
		for {
			if _, ok := c.Next(); !ok {
				break
			}
		}
		if err := c.Err(); err != nil {
			t.Fatal(err)
		}
	}
	readAll() // the pool's first buffers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		readAll()
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 2*ioBufSize {
		t.Errorf("20 reads of the array allocated %d bytes: their buffers were not reused", got)
	}
}

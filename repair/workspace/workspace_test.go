//go:build linux

package workspace

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newWS(t testing.TB, opts Options) *Workspace {
	t.Helper()
	ws, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := ws.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ws
}

// genRecs returns n records of size r laid out back to back.
func genRecs(kind string, n, r int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n*r)
	switch kind {
	case "random":
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	case "sorted", "reversed", "rotated", "lastswapped":
		for i := range n {
			v := uint64(i)
			switch kind {
			case "reversed":
				v = uint64(n - 1 - i)
			case "rotated": // two ascending halves: sorted runs out of order
				v = uint64((i + n/2) % n)
			case "lastswapped": // in order but for the last two records
				if i >= n-2 {
					v = uint64(2*n - 3 - i)
				}
			}
			rec := b[i*r : (i+1)*r]
			for k := range rec {
				// Big-endian counter in the record's tail, so bytes.Compare
				// orders records by i.
				if sh := (r - 1 - k) * 8; sh < 64 {
					rec[k] = byte(v >> sh)
				}
			}
		}
	case "allequal":
		for i := range n {
			copy(b[i*r:], bytes.Repeat([]byte{0xa5}, r))
		}
	case "fewdistinct":
		for i := range n {
			v := byte(rng.IntN(4))
			rec := b[i*r : (i+1)*r]
			for k := range rec {
				rec[k] = v
			}
		}
	default:
		panic("unknown kind " + kind)
	}
	return b
}

// refSort sorts records the way slices.SortFunc would.
func refSort(b []byte, r int) []byte {
	n := len(b) / r
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = b[i*r : (i+1)*r]
	}
	slices.SortFunc(recs, bytes.Compare)
	out := make([]byte, 0, len(b))
	for _, rec := range recs {
		out = append(out, rec...)
	}
	return out
}

func fillArray(t testing.TB, ws *Workspace, b []byte, r int) *Array {
	t.Helper()
	a, err := ws.NewArray(r)
	if err != nil {
		t.Fatal(err)
	}
	for o := 0; o < len(b); o += r {
		if err := a.Append(b[o : o+r]); err != nil {
			t.Fatalf("Append %d: %v", o/r, err)
		}
	}
	return a
}

func readAll(t testing.TB, a *Array) []byte {
	t.Helper()
	out := make([]byte, 0, a.Len()*int64(a.RecordSize()))
	next := int64(0)
	err := a.Iterate(context.Background(), func(i int64, rec []byte) error {
		if i != next {
			t.Fatalf("Iterate gave index %d, want %d", i, next)
		}
		next++
		out = append(out, rec...)
		return nil
	})
	if err != nil {
		t.Fatalf("Iterate: %v", err)
	}
	return out
}

func TestArrayBasics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scratch bool
		r       int
		n       int
	}{
		{"memfd/16", false, 16, 100_000},
		{"memfd/1", false, 1, 3_000_000},
		{"memfd/4000", false, 4000, 1000},
		{"tmpfile/16", true, 16, 100_000},
		{"tmpfile/24", true, 24, 100_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts Options
			if tc.scratch {
				opts.ScratchDir = t.TempDir()
			}
			ws := newWS(t, opts)
			data := genRecs("random", tc.n, tc.r, 1)
			a := fillArray(t, ws, data, tc.r)
			if a.Len() != int64(tc.n) {
				t.Fatalf("Len = %d, want %d", a.Len(), tc.n)
			}
			// Loads of flushed and still-buffered records.
			dst := make([]byte, tc.r)
			for _, i := range []int{0, 1, tc.n / 2, tc.n - 2, tc.n - 1} {
				if err := a.Load(int64(i), dst); err != nil {
					t.Fatalf("Load(%d): %v", i, err)
				}
				if !bytes.Equal(dst, data[i*tc.r:(i+1)*tc.r]) {
					t.Fatalf("Load(%d) mismatch", i)
				}
			}
			// Runs of records in one read, across the flushed and
			// buffered ones; a run past the end is refused.
			for _, span := range [][2]int{{0, 1}, {0, tc.n}, {tc.n / 2, tc.n / 2}, {tc.n - 3, 3}} {
				run := make([]byte, span[1]*tc.r)
				if err := a.LoadN(int64(span[0]), run); err != nil {
					t.Fatalf("LoadN(%d, %d records): %v", span[0], span[1], err)
				}
				if !bytes.Equal(run, data[span[0]*tc.r:(span[0]+span[1])*tc.r]) {
					t.Fatalf("LoadN(%d, %d records) mismatch", span[0], span[1])
				}
			}
			if err := a.LoadN(int64(tc.n-1), make([]byte, 2*tc.r)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("LoadN past the end: %v", err)
			}
			// Stores, then everything reads back through Iterate.
			rec := bytes.Repeat([]byte{0x7e}, tc.r)
			for _, i := range []int{0, tc.n / 3, tc.n - 1} {
				if err := a.Store(int64(i), rec); err != nil {
					t.Fatalf("Store(%d): %v", i, err)
				}
				copy(data[i*tc.r:], rec)
			}
			if got := readAll(t, a); !bytes.Equal(got, data) {
				t.Fatal("Iterate content mismatch")
			}
			if err := a.Load(0, dst); err != nil || !bytes.Equal(dst, rec) {
				t.Fatalf("Load after flush: %v", err)
			}
		})
	}
}

func TestArrayMisuse(t *testing.T) {
	ctx := context.Background()
	ws := newWS(t, Options{})
	a, err := ws.NewArray(16)
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 16)
	if err := a.Append(rec); err != nil {
		t.Fatal(err)
	}
	cmp := bytes.Compare
	checks := []struct {
		name string
		err  error
		want error
	}{
		{"short append", a.Append(rec[:15]), ErrInvalid},
		{"load -1", a.Load(-1, rec), ErrInvalid},
		{"load past end", a.Load(1, rec), ErrInvalid},
		{"load small dst", a.Load(0, rec[:8]), ErrInvalid},
		{"store past end", a.Store(1, rec), ErrInvalid},
		{"store long", a.Store(0, make([]byte, 17)), ErrInvalid},
		{"nil cmp", a.Sort(ctx, nil), ErrInvalid},
		{"nil fn", a.Iterate(ctx, nil), ErrInvalid},
	}
	for _, size := range []int{0, -1, MaxRecordSize + 1} {
		_, err := ws.NewArray(size)
		checks = append(checks, struct {
			name string
			err  error
			want error
		}{"recsize", err, ErrInvalid})
	}
	var nilWS *Workspace
	_, err = nilWS.NewArray(16)
	checks = append(checks, struct {
		name string
		err  error
		want error
	}{"nil workspace", err, ErrClosed})
	var nilArr *Array
	for _, e := range []error{nilArr.Append(rec), nilArr.Load(0, rec), nilArr.Store(0, rec),
		nilArr.Sort(ctx, cmp), nilArr.Iterate(ctx, func(int64, []byte) error { return nil })} {
		checks = append(checks, struct {
			name string
			err  error
			want error
		}{"nil array", e, ErrClosed})
	}
	var nilBlobs *Blobs
	_, err = nilBlobs.Put(rec)
	checks = append(checks, struct {
		name string
		err  error
		want error
	}{"nil blobs", err, ErrClosed})
	if _, err := New(ctx, Options{Estimate: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative estimate: %v", err)
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}

	// Everything fails cleanly after Close.
	bs, err := ws.NewBlobs()
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := bs.Put([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ws.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"append":  a.Append(rec),
		"load":    a.Load(0, rec),
		"store":   a.Store(0, rec),
		"sort":    a.Sort(ctx, cmp),
		"iterate": a.Iterate(ctx, func(int64, []byte) error { return nil }),
		"get":     func() error { _, err := bs.Get(cookie); return err }(),
		"put":     func() error { _, err := bs.Put(rec); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := ws.NewArray(16); !errors.Is(err, ErrClosed) {
		t.Errorf("NewArray after Close: %v", err)
	}
	if u, r := ws.Usage(); u != 0 || r != 0 {
		t.Errorf("Usage after Close = %d, %d", u, r)
	}
}

func TestIterateStopsOnError(t *testing.T) {
	ws := newWS(t, Options{})
	a := fillArray(t, ws, genRecs("random", 10000, 16, 2), 16)
	stop := errors.New("stop")
	var seen int64
	err := a.Iterate(context.Background(), func(i int64, rec []byte) error {
		seen++
		if i == 1234 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || seen != 1235 {
		t.Fatalf("Iterate = %v after %d records", err, seen)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = a.Iterate(ctx, func(int64, []byte) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Iterate with cancelled context = %v", err)
	}
}

// TestAll: the iterator yields what Iterate does, stops when its
// consumer does (no error), keeps Iterate's first error, and yields
// nothing for a nil array.
func TestAll(t *testing.T) {
	ws := newWS(t, Options{})
	b := genRecs("random", 10000, 16, 3)
	a := fillArray(t, ws, b, 16)
	var err error
	var got []byte
	for rec := range a.All(context.Background(), &err) {
		got = append(got, rec...)
	}
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("All: %v, %d of %d bytes equal", err, len(got), len(b))
	}
	n := 0
	for range a.All(context.Background(), &err) {
		if n++; n == 10 {
			break
		}
	}
	if err != nil || n != 10 {
		t.Fatalf("All stopped after %d records: %v", n, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range a.All(ctx, &err) {
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("All with a cancelled context: %v", err)
	}
	var nilArray *Array
	for range nilArray.All(context.Background(), &err) {
		t.Fatal("a nil array yielded a record")
	}
}

func TestSortMatchesSlices(t *testing.T) {
	kinds := []string{"random", "sorted", "reversed", "rotated", "lastswapped", "allequal", "fewdistinct"}
	type cfg struct {
		name   string
		r, n   int
		memory int64
	}
	cfgs := []cfg{
		{"runs64K", 16, 100_000, 64 << 10},      // 25 runs, two merge passes
		{"inmemory", 16, 100_000, 0},            // one run, no merge
		{"runs64K/rec24", 24, 60_000, 64 << 10}, // records straddle segments
		{"runs256K/rec13", 13, 80_000, 256 << 10},
		{"runs64K/rec200", 200, 5_000, 64 << 10},
		{"tiny", 16, 3, 64 << 10},
	}
	for _, c := range cfgs {
		for _, kind := range kinds {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				ws := newWS(t, Options{SortMemory: c.memory})
				data := genRecs(kind, c.n, c.r, 3)
				want := refSort(slices.Clone(data), c.r)
				a := fillArray(t, ws, data, c.r)
				if err := a.Sort(context.Background(), bytes.Compare); err != nil {
					t.Fatalf("Sort: %v", err)
				}
				if a.Len() != int64(c.n) {
					t.Fatalf("Len after sort = %d", a.Len())
				}
				if got := readAll(t, a); !bytes.Equal(got, want) {
					t.Fatal("sorted content differs from slices.SortFunc")
				}
				// The array stays usable: append and sort again.
				if err := a.Append(make([]byte, c.r)); err != nil {
					t.Fatal(err)
				}
				if err := a.Sort(context.Background(), bytes.Compare); err != nil {
					t.Fatal(err)
				}
				first := make([]byte, c.r)
				if err := a.Load(0, first); err != nil || !bytes.Equal(first, make([]byte, c.r)) {
					t.Fatalf("zero record not first after re-sort: %v %x", err, first)
				}
			})
		}
	}
}

// TestSortKeyMatchesSlices: SortKey over the whole record gives exactly
// what slices.SortFunc with bytes.Compare gives, and over a prefix the
// same keys in the same order with the same records; in memory and
// through the external merge, records of odd sizes straddling
// segments.
func TestSortKeyMatchesSlices(t *testing.T) {
	kinds := []string{"random", "sorted", "reversed", "rotated", "lastswapped", "allequal", "fewdistinct"}
	cfgs := []struct {
		name   string
		r, n   int
		memory int64
	}{
		{"runs64K", 16, 100_000, 64 << 10},
		{"inmemory", 16, 100_000, 0},
		{"runs64K/rec24", 24, 60_000, 64 << 10},
		{"runs256K/rec13", 13, 80_000, 256 << 10},
		{"tiny", 16, 3, 64 << 10},
	}
	for _, c := range cfgs {
		for _, kind := range kinds {
			for _, keyLen := range []int{c.r, 5} {
				t.Run(fmt.Sprintf("%s/%s/key%d", c.name, kind, keyLen), func(t *testing.T) {
					ws := newWS(t, Options{SortMemory: c.memory})
					data := genRecs(kind, c.n, c.r, 3)
					want := refSort(slices.Clone(data), c.r)
					a := fillArray(t, ws, data, c.r)
					if err := a.SortKey(context.Background(), keyLen); err != nil {
						t.Fatalf("SortKey: %v", err)
					}
					got := readAll(t, a)
					if keyLen == c.r {
						if !bytes.Equal(got, want) {
							t.Fatal("sorted content differs from slices.SortFunc")
						}
						return
					}
					for i := 0; i < len(got); i += c.r {
						if !bytes.Equal(got[i:i+keyLen], want[i:i+keyLen]) {
							t.Fatalf("record %d: key %x, slices.SortFunc's %x", i/c.r, got[i:i+keyLen], want[i:i+keyLen])
						}
					}
					if !bytes.Equal(refSort(got, c.r), want) {
						t.Fatal("the records differ from the input's")
					}
				})
			}
		}
	}
	ws := newWS(t, Options{})
	a := fillArray(t, ws, genRecs("random", 10, 8, 1), 8)
	for _, k := range []int{0, 9} {
		if err := a.SortKey(context.Background(), k); !errors.Is(err, ErrInvalid) {
			t.Errorf("SortKey(%d) on 8-byte records: %v", k, err)
		}
	}
}

// TestSortByMatchesSlices: SortBy over spans that cover the whole record
// out of order (an rmap record's start, owner and offset, then length)
// gives exactly what slices.SortFunc gives with the same comparison,
// through the external merge too.
func TestSortByMatchesSlices(t *testing.T) {
	key := []Span{{0, 4}, {8, 16}, {4, 4}}
	cmpKey := func(a, b []byte) int {
		for _, s := range key {
			if c := bytes.Compare(a[s.Off:s.Off+s.Len], b[s.Off:s.Off+s.Len]); c != 0 {
				return c
			}
		}
		return 0
	}
	for _, kind := range []string{"random", "sorted", "reversed", "fewdistinct"} {
		for _, mem := range []int64{64 << 10, 0} {
			t.Run(fmt.Sprintf("%s/%d", kind, mem), func(t *testing.T) {
				ws := newWS(t, Options{SortMemory: mem})
				data := genRecs(kind, 50_000, 24, 5)
				want := slices.Clone(data)
				recs := make([][]byte, 0, 50_000)
				for i := 0; i < len(want); i += 24 {
					recs = append(recs, slices.Clone(want[i:i+24]))
				}
				slices.SortFunc(recs, cmpKey)
				want = bytes.Join(recs, nil)
				a := fillArray(t, ws, data, 24)
				if err := a.SortBy(context.Background(), key...); err != nil {
					t.Fatal(err)
				}
				if got := readAll(t, a); !bytes.Equal(got, want) {
					t.Fatal("SortBy differs from slices.SortFunc")
				}
			})
		}
	}
	ws := newWS(t, Options{})
	a := fillArray(t, ws, genRecs("random", 10, 8, 1), 8)
	for _, bad := range [][]Span{nil, {{4, 5}}, {{-1, 2}}, {{0, 0}}} {
		if err := a.SortBy(context.Background(), bad...); !errors.Is(err, ErrInvalid) {
			t.Errorf("SortBy(%v) on 8-byte records: %v", bad, err)
		}
	}
}

// TestSortNotQuadratic checks that inputs with few distinct keys cost
// O(n log n) comparisons, in memory and through the external merge.
func TestSortNotQuadratic(t *testing.T) {
	const n = 2_000_000
	for _, kind := range []string{"allequal", "fewdistinct", "sorted", "reversed"} {
		for _, mem := range []int64{0, 1 << 20} {
			t.Run(kind+"/"+map[int64]string{0: "default", 1 << 20: "1MiB"}[mem], func(t *testing.T) {
				ws := newWS(t, Options{SortMemory: mem})
				data := genRecs(kind, n, 16, 4)
				a := fillArray(t, ws, data, 16)
				var calls int64
				err := a.Sort(context.Background(), func(x, y []byte) int {
					calls++
					return bytes.Compare(x, y)
				})
				if err != nil {
					t.Fatal(err)
				}
				bound := int64(3 * n * math.Log2(n))
				t.Logf("%d comparisons for %d records (bound %d)", calls, n, bound)
				if calls > bound {
					t.Fatalf("%d comparisons > bound %d", calls, bound)
				}
				var prev []byte
				err = a.Iterate(context.Background(), func(i int64, rec []byte) error {
					if prev != nil && bytes.Compare(prev, rec) > 0 {
						t.Fatalf("record %d out of order", i)
					}
					prev = append(prev[:0], rec...)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// heapWatch samples HeapInuse every 50 ms and keeps the maximum.
type heapWatch struct {
	max  atomic.Uint64
	stop chan struct{}
	wg   sync.WaitGroup
}

func watchHeap() *heapWatch {
	h := &heapWatch{stop: make(chan struct{})}
	h.sample()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tk.C:
				h.sample()
			}
		}
	}()
	return h
}

func (h *heapWatch) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for {
		old := h.max.Load()
		if ms.HeapInuse <= old || h.max.CompareAndSwap(old, ms.HeapInuse) {
			return
		}
	}
}

func (h *heapWatch) done() uint64 {
	close(h.stop)
	h.wg.Wait()
	h.sample()
	return h.max.Load()
}

// TestLargeSortBoundedHeap appends, sorts and iterates 50 million 16-byte
// records (800 MB) with the default 64 MiB sort memory and checks that the
// Go heap stays under 128 MiB throughout.
func TestLargeSortBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("50M-record sort skipped in -short mode")
	}
	const (
		n        = 50_000_000
		heapCap  = 128 << 20
		recBytes = 16
	)
	runtime.GC()
	hw := watchHeap()
	ctx := context.Background()
	start := time.Now()

	ws := newWS(t, Options{Estimate: n * recBytes})
	a, err := ws.NewArray(recBytes)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var rec [recBytes]byte
	var sumIn, xorIn uint64
	for range n {
		x, y := rng.Uint64(), rng.Uint64()
		binary.BigEndian.PutUint64(rec[:8], x)
		binary.BigEndian.PutUint64(rec[8:], y)
		sumIn += x*3 + y
		xorIn ^= x ^ y<<1
		if err := a.Append(rec[:]); err != nil {
			t.Fatal(err)
		}
	}
	tAppend := time.Since(start)

	used0, reserved := ws.Usage()
	if err := a.Sort(ctx, bytes.Compare); err != nil {
		t.Fatal(err)
	}
	tSort := time.Since(start) - tAppend
	used1, _ := ws.Usage()

	var prev [recBytes]byte
	var sumOut, xorOut uint64
	var count int64
	err = a.Iterate(ctx, func(i int64, r []byte) error {
		if i > 0 && bytes.Compare(prev[:], r) > 0 {
			t.Fatalf("record %d out of order", i)
		}
		copy(prev[:], r)
		x, y := binary.BigEndian.Uint64(r), binary.BigEndian.Uint64(r[8:])
		sumOut += x*3 + y
		xorOut ^= x ^ y<<1
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tIter := time.Since(start) - tAppend - tSort
	maxHeap := hw.done()

	if count != n || sumIn != sumOut || xorIn != xorOut {
		t.Fatalf("sorted output is not a permutation of the input: %d records", count)
	}
	t.Logf("append %v, sort %v, iterate %v; max HeapInuse %.1f MiB; usage %d MiB before sort, %d MiB after (reserved %d MiB)",
		tAppend.Round(time.Millisecond), tSort.Round(time.Millisecond), tIter.Round(time.Millisecond),
		float64(maxHeap)/(1<<20), used0>>20, used1>>20, reserved>>20)
	if maxHeap >= heapCap {
		t.Fatalf("max HeapInuse %d bytes >= %d", maxHeap, heapCap)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it at cleanup. It skips the test when that is not possible,
// unless running in CI.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		fail("mount -t tmpfs -o size=%s: %v", size, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%s not empty: %v", dir, ents)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks != st.Bfree {
		t.Fatalf("%s still has %d blocks in use", dir, st.Blocks-st.Bfree)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestENOSPC(t *testing.T) {
	dir := mountTmpfs(t, "1m")

	t.Run("reservation", func(t *testing.T) {
		fds := openFDs(t)
		ws, err := New(context.Background(), Options{ScratchDir: dir, Estimate: 10 << 20})
		if err == nil {
			ws.Close()
			t.Fatal("New with 10 MiB estimate on a 1 MiB tmpfs succeeded")
		}
		t.Logf("error: %v", err)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("error does not wrap ENOSPC: %v", err)
		}
		var oe *OpError
		if !errors.As(err, &oe) || oe.Op != "fallocate" {
			t.Fatalf("error is not a fallocate *OpError: %#v", err)
		}
		if got := openFDs(t); got != fds {
			t.Fatalf("%d open descriptors after failed New, had %d", got, fds)
		}
		assertEmptyDir(t, dir)
	})

	t.Run("append", func(t *testing.T) {
		ws, err := New(context.Background(), Options{ScratchDir: dir, Estimate: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		a, err := ws.NewArray(16)
		if err != nil {
			t.Fatal(err)
		}
		rec := make([]byte, 16)
		var appendErr error
		for i := 0; i < 1<<20 && appendErr == nil; i++ { // up to 16 MiB
			appendErr = a.Append(rec)
		}
		if appendErr == nil {
			appendErr = a.Flush()
		}
		t.Logf("error: %v", appendErr)
		if !errors.Is(appendErr, syscall.ENOSPC) {
			t.Fatalf("appending past the tmpfs size: %v, want ENOSPC", appendErr)
		}
		if err := a.Append(rec); err == nil {
			t.Fatal("array still accepts appends after losing records")
		}
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		assertEmptyDir(t, dir)
	})
}

func TestMaxBytes(t *testing.T) {
	t.Run("refused before creating anything", func(t *testing.T) {
		dir := t.TempDir()
		fds := openFDs(t)
		for _, scratch := range []string{dir, filepath.Join(dir, "does-not-exist")} {
			_, err := New(context.Background(), Options{ScratchDir: scratch, MaxBytes: 1 << 20, Estimate: 1 << 20})
			if !errors.Is(err, ErrOverLimit) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("New: %v, want ErrOverLimit and ENOSPC", err)
			}
		}
		if got := openFDs(t); got != fds {
			t.Fatalf("%d open descriptors after refused New, had %d", got, fds)
		}
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 0 {
			t.Fatalf("scratch dir: %v, %v", ents, err)
		}
	})
	t.Run("exact fit accepted", func(t *testing.T) {
		ws := newWS(t, Options{MaxBytes: 3 << 20, Estimate: 2 << 20})
		if _, reserved := ws.Usage(); reserved != 3<<20 {
			t.Fatalf("reserved %d, want %d", reserved, 3<<20)
		}
	})
	t.Run("growth past limit", func(t *testing.T) {
		ws := newWS(t, Options{MaxBytes: 256 << 10, Estimate: 64 << 10})
		a, err := ws.NewArray(16)
		if err != nil {
			t.Fatal(err)
		}
		rec := make([]byte, 16)
		var n int
		for ; n < 100_000; n++ {
			if err = a.Append(rec); err != nil {
				break
			}
		}
		if err == nil {
			err = a.Flush()
		}
		if !errors.Is(err, ErrOverLimit) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("growth past MaxBytes: %v", err)
		}
		if used, _ := ws.Usage(); used > 256<<10 {
			t.Fatalf("used %d bytes past MaxBytes", used)
		}
		t.Logf("stopped after %d records: %v", n, err)
	})
}

// fingerprint is an order-independent digest of a multiset of records.
type fingerprint struct{ n, sum, xor uint64 }

func (f *fingerprint) add(rec []byte) {
	h := uint64(14695981039346656037)
	for _, c := range rec {
		h = (h ^ uint64(c)) * 1099511628211
	}
	f.n++
	f.sum += h
	f.xor ^= h * 0x9e3779b97f4a7c15
}

// runSorted returns n 16-byte records in which every stretch of per
// records is already sorted but the stretches interleave, so that a sort
// with per-record runs spends nearly all its comparisons merging.
func runSorted(n, per int) []byte {
	b := make([]byte, n*16)
	stride := uint64(n/per + 1)
	for i := range n {
		v := uint64(i%per)*stride + uint64(i/per)
		binary.BigEndian.PutUint64(b[i*16+8:], v)
	}
	return b
}

func TestSortCancel(t *testing.T) {
	const n = 4_000_000
	random := genRecs("random", n, 16, 7)
	merging := runSorted(n, (64<<10)/16)
	for _, tc := range []struct {
		name   string
		data   []byte
		memory int64
		delay  time.Duration // cancel after this long, or
		calls  int64         // from the comparator after this many calls
		phase  string        // expected in the error message
	}{
		{"run-sort/timer", random, 0, 150 * time.Millisecond, 0, "run"},
		{"run-sort/comparator", random, 0, 0, 1_000_000, "sorting run"},
		{"merge/timer", merging, 64 << 10, 250 * time.Millisecond, 0, "merging"},
		{"merge/comparator", merging, 64 << 10, 0, 20_000_000, "merging"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newWS(t, Options{SortMemory: tc.memory})
			a := fillArray(t, ws, tc.data, 16)
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Promptness is measured in work, not time (a loaded machine
			// delays the timer and the return alike): the comparisons made
			// after the cancellation are bounded by how often the sort
			// looks at its context (every ctxCheckMask+1 comparisons in a
			// run, every ctxEvery records in a merge).
			var calls, atCancel atomic.Int64
			atCancel.Store(-1)
			doCancel := func() {
				atCancel.Store(calls.Load())
				cancel()
			}
			cmp := func(x, y []byte) int {
				if calls.Add(1) == tc.calls {
					doCancel()
				}
				return bytes.Compare(x, y)
			}
			if tc.calls == 0 {
				tm := time.AfterFunc(tc.delay, doCancel)
				defer tm.Stop()
			}
			err := a.Sort(ctx, cmp)
			if atCancel.Load() < 0 {
				t.Fatalf("sort finished (%v) before cancellation", err)
			}
			after := calls.Load() - atCancel.Load()
			t.Logf("returned %d comparisons after cancel: %v", after, err)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Sort error %v does not wrap context.Canceled", err)
			}
			const most = 1 << 18
			if after > most {
				t.Fatalf("Sort made %d comparisons after cancel, want <= %d", after, most)
			}
			if !strings.Contains(err.Error(), tc.phase) {
				t.Errorf("cancelled in an unexpected phase: %v", err)
			}
			// Afterwards the array is either unusable or still holds the
			// same records.
			var fp fingerprint
			err = a.Iterate(context.Background(), func(_ int64, rec []byte) error {
				fp.add(rec)
				return nil
			})
			if err != nil {
				t.Logf("array unusable after cancelled sort: %v", err)
				return
			}
			var want fingerprint
			for o := 0; o < len(tc.data); o += 16 {
				want.add(tc.data[o : o+16])
			}
			if fp != want {
				t.Fatal("array usable after cancelled sort but records changed")
			}
		})
	}
}

func TestBlobs(t *testing.T) {
	ws := newWS(t, Options{Estimate: 1 << 20})
	bs, err := ws.NewBlobs()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(8, 9))
	sizes := []int{0, 1, 7, 8, 100, 4095, blobCombine, blobCombine + 1, 3 << 20}
	var cookies []Cookie
	var blobs [][]byte
	for _, sz := range sizes {
		b := make([]byte, sz)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		c, err := bs.Put(b)
		if err != nil {
			t.Fatalf("Put(%d bytes): %v", sz, err)
		}
		cookies = append(cookies, c)
		blobs = append(blobs, b)
	}
	for i, c := range cookies {
		got, err := bs.Get(c)
		if err != nil {
			t.Fatalf("Get(%d-byte blob): %v", sizes[i], err)
		}
		if !bytes.Equal(got, blobs[i]) {
			t.Fatalf("Get(%d-byte blob) returned different bytes", sizes[i])
		}
	}

	other, err := ws.NewBlobs()
	if err != nil {
		t.Fatal(err)
	}
	oc, err := other.Put([]byte("other store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Free(cookies[2]); err != nil {
		t.Fatalf("Free: %v", err)
	}
	if _, err := bs.Get(cookies[3]); err != nil {
		t.Fatalf("Get of neighbour after Free: %v", err)
	}

	for _, tc := range []struct {
		name string
		c    Cookie
	}{
		{"zero", 0},
		{"past end", cookies[0] + Cookie(bs.Size())},
		{"huge", Cookie(math.MaxUint64)},
		{"shifted", cookies[1] + 1},
		{"inside data", cookies[len(cookies)-1] + 4096},
		{"zero position", cookies[0] &^ cookiePosMask},
		{"freed", cookies[2]},
		{"other store", oc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bs.Get(tc.c); !errors.Is(err, ErrBadCookie) {
				t.Fatalf("Get: %v, want ErrBadCookie", err)
			}
			if err := bs.Free(tc.c); !errors.Is(err, ErrBadCookie) {
				t.Fatalf("Free: %v, want ErrBadCookie", err)
			}
		})
	}
	if _, err := bs.Put(make([]byte, MaxBlobSize+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized Put: %v", err)
	}
	if got, err := other.Get(oc); err != nil || string(got) != "other store" {
		t.Fatalf("other.Get = %q, %v", got, err)
	}
}

func TestUsage(t *testing.T) {
	for _, scratch := range []bool{false, true} {
		t.Run(map[bool]string{false: "memfd", true: "tmpfile"}[scratch], func(t *testing.T) {
			opts := Options{Estimate: 8 << 20}
			if scratch {
				opts.ScratchDir = t.TempDir()
			}
			ws := newWS(t, opts)
			used, reserved := ws.Usage()
			t.Logf("after New: used %d reserved %d", used, reserved)
			if reserved != 12<<20 {
				t.Fatalf("reserved %d, want 1.5 x 8 MiB", reserved)
			}
			if used < reserved {
				t.Fatalf("used %d < reserved %d after fallocate", used, reserved)
			}
			// Staying inside the reservation does not grow the file.
			a := fillArray(t, ws, genRecs("random", 256<<10, 16, 10), 16) // 4 MiB
			if err := a.Flush(); err != nil {
				t.Fatal(err)
			}
			if u, _ := ws.Usage(); u != used {
				t.Fatalf("used went from %d to %d inside the reservation", used, u)
			}
			// Outgrowing the estimate is allowed and counted.
			b := fillArray(t, ws, genRecs("random", 1<<20, 16, 11), 16) // 16 MiB
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			grown, _ := ws.Usage()
			t.Logf("after 20 MiB of records: used %d", grown)
			if grown < 20<<20 || grown <= used {
				t.Fatalf("used %d after 20 MiB of records (was %d)", grown, used)
			}
			// Released space is reused rather than grown.
			b.Release()
			c := fillArray(t, ws, genRecs("random", 1<<20, 16, 12), 16)
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if u, _ := ws.Usage(); u != grown {
				t.Fatalf("used %d after reusing released space, want %d", u, grown)
			}
		})
	}
}

// TestAppendRun: runs of records appended at once, of every size from
// one record to several buffers, interleaved with single appends and
// reads, leave the array Append of each record would: the same records
// in the same order, across buffer growth and flushes; a run that is
// not a whole number of records is refused whole.
func TestAppendRun(t *testing.T) {
	const r = 24
	ws := newWS(t, Options{})
	data := genRecs("random", 200_000, r, 7)
	a, err := ws.NewArray(r)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for off := 0; off < len(data); {
		n := 1 + rng.IntN(30_000)
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(200)
		}
		end := min(len(data), off+n*r)
		if rng.IntN(5) == 0 {
			if err := a.Append(data[off : off+r]); err != nil {
				t.Fatal(err)
			}
			end = off + r
		} else if err := a.AppendRun(data[off:end]); err != nil {
			t.Fatal(err)
		}
		off = end
		if rng.IntN(10) == 0 { // a read in between settles the array
			var rec [r]byte
			if err := a.Load(int64(off/r-1), rec[:]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec[:], data[off-r:off]) {
				t.Fatalf("record %d after a run: %x, want %x", off/r-1, rec, data[off-r:off])
			}
		}
	}
	if a.Len() != int64(len(data)/r) {
		t.Fatalf("Len %d, want %d", a.Len(), len(data)/r)
	}
	var got []byte
	if err := a.Iterate(context.Background(), func(_ int64, rec []byte) error { got = append(got, rec...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("records differ from those appended")
	}
	if err := a.AppendRun(data[:r+1]); !errors.Is(err, ErrInvalid) {
		t.Errorf("run of 25 bytes into 24-byte records: %v, want ErrInvalid", err)
	}
	if a.Len() != int64(len(data)/r) {
		t.Errorf("a refused run changed Len to %d", a.Len())
	}
}

// TestSortedByForgotten: an array sorted (or marked sorted) by a key
// skips the next SortBy of that key, and forgets the order on any
// change: an append, a store, a sort by another comparison; a SortBy of
// another key sorts.
func TestSortedByForgotten(t *testing.T) {
	ctx := context.Background()
	ws := newWS(t, Options{})
	key := []Span{{Off: 4, Len: 4}}
	sortedBy := func(a *Array, key []Span) bool {
		prev := []byte(nil)
		ok := true
		cmp := CompareBy(key...)
		a.Iterate(ctx, func(_ int64, rec []byte) error {
			if prev != nil && cmp(prev, rec) > 0 {
				ok = false
			}
			prev = append(prev[:0], rec...)
			return nil
		})
		return ok
	}
	a := fillArray(t, ws, genRecs("random", 5000, 8, 3), 8)
	if err := a.SortBy(ctx, key...); err != nil {
		t.Fatal(err)
	}
	if !sortedBy(a, key) {
		t.Fatal("not sorted")
	}
	for name, change := range map[string]func() error{
		"append": func() error { return a.Append([]byte{0, 0, 0, 0, 0, 0, 0, 0}) },
		"run":    func() error { return a.AppendRun([]byte{0, 0, 0, 0, 0, 0, 0, 1}) },
		"store":  func() error { return a.Store(a.Len()-1, []byte{0, 0, 0, 0, 0, 0, 0, 0}) },
		"sort": func() error {
			return a.Sort(ctx, func(x, y []byte) int { return bytes.Compare(y, x) })
		},
	} {
		if err := a.SortBy(ctx, key...); err != nil {
			t.Fatal(err)
		}
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if err := a.SortBy(ctx, key...); err != nil {
			t.Fatal(err)
		}
		if !sortedBy(a, key) {
			t.Errorf("after %s, SortBy left the array unsorted", name)
		}
	}
	a.MarkSorted(Span{Off: 0, Len: 2})
	other := []Span{{Off: 2, Len: 6}}
	if err := a.SortBy(ctx, other...); err != nil {
		t.Fatal(err)
	}
	if !sortedBy(a, other) {
		t.Error("a SortBy of another key than the one marked did not sort")
	}
}

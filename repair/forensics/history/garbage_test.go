package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// openMem opens an image held in memory, read-only.
func openMem(t *testing.T, img []byte) *fsys.FS {
	t.Helper()
	fs, err := fsys.OpenImage(store.NewImage(store.MemDevice(img), int64(len(img)), "mem.img", false), fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// logSpan is where the internal log lies in an image's bytes.
func logSpan(t *testing.T, img []byte) (off, size int) {
	t.Helper()
	fs := openMem(t, img)
	defer fs.Close()
	agno, agbno, ok := fs.Geo.InternalLogAG()
	if !ok {
		t.Fatal("no internal log")
	}
	return int(fs.Geo.ByteOffset(agno, agbno)), int(fs.Geo.LogBlocks) * int(fs.Geo.BlockSize)
}

// scanBounded scans img with every callback set and LastLives, bounded
// in time: damage must end neither in a panic nor in a hang, and is no
// error (an in-memory image never fails a read).
func scanBounded(t *testing.T, img []byte, what string) Stats {
	t.Helper()
	fs := openMem(t, img)
	defer fs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	count := func(*InodeSnapshot) error { return nil }
	st, err := Scan(ctx, fs, Visitor{
		Record: func(*RecordSnapshot) error { return nil }, Trans: func(*TransSnapshot) error { return nil },
		Inode: count, Buffer: func(*BufferSnapshot) error { return nil }, Intent: func(*IntentSnapshot) error { return nil },
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if _, _, err := LastLives(ctx, fs, nil); err != nil {
		t.Fatalf("%s: LastLives: %v", what, err)
	}
	return st
}

// damage writes one kind of damage into the log bytes lb, chosen by rng:
// random bytes, zeroes, a record header copied elsewhere, a forged
// header with random lengths, or single flipped bytes.
func damage(rng *rand.Rand, lb []byte, headers []int) string {
	nbb := len(lb) / xlog.BBSize
	at := rng.IntN(nbb) * xlog.BBSize
	n := min(len(lb)-at, (1+rng.IntN(64))*xlog.BBSize)
	switch k := rng.IntN(6); {
	case k == 0:
		for i := at; i < at+n; i++ {
			lb[i] = byte(rng.Uint32())
		}
		return "random bytes"
	case k == 1:
		clear(lb[at : at+n])
		return "zeroes"
	case k == 2 && len(headers) > 0:
		h := headers[rng.IntN(len(headers))]
		copy(lb[at:at+xlog.BBSize], bytes.Clone(lb[h:h+xlog.BBSize]))
		return "a header copied"
	case k == 3:
		b := lb[at : at+xlog.BBSize]
		binary.BigEndian.PutUint32(b, xlog.HeaderMagic)
		binary.BigEndian.PutUint32(b[4:], rng.Uint32N(4))
		binary.BigEndian.PutUint32(b[8:], 1+rng.Uint32N(2))
		binary.BigEndian.PutUint32(b[12:], rng.Uint32())
		binary.BigEndian.PutUint64(b[16:], rng.Uint64())
		binary.BigEndian.PutUint32(b[40:], rng.Uint32())
		binary.BigEndian.PutUint32(b[320:], rng.Uint32N(1<<19))
		return "a forged header"
	case k == 4 && len(headers) > 0:
		h := headers[rng.IntN(len(headers))]
		b := lb[h : h+xlog.BBSize]
		binary.BigEndian.PutUint32(b[12:], rng.Uint32())
		return "a header's length"
	default:
		for i := 0; i < 1+rng.IntN(8); i++ {
			lb[at+rng.IntN(n)] ^= byte(1 + rng.IntN(255))
		}
		return "flipped bytes"
	}
}

// recordHeaders are the byte offsets in lb of the blocks starting with
// the record magic.
func recordHeaders(lb []byte) []int {
	var out []int
	for off := 0; off+xlog.BBSize <= len(lb); off += xlog.BBSize {
		if xlog.IsRecHeader(lb[off:]) {
			out = append(out, off)
		}
	}
	return out
}

// fuzzLog damages img's log rounds times, a few damages at a time, and
// scans each result; the log is restored between rounds.
func fuzzLog(t *testing.T, img []byte, rounds int) {
	off, size := logSpan(t, img)
	lb := img[off : off+size]
	saved := bytes.Clone(lb)
	headers := recordHeaders(lb)
	rng := rand.New(rand.NewPCG(17, 2))
	for r := 0; r < rounds; r++ {
		what := ""
		for i := 0; i < 1+rng.IntN(4); i++ {
			what += damage(rng, lb, headers) + "; "
		}
		scanBounded(t, img, what)
		copy(lb, saved)
	}
}

// TestScanHistoryGarbageSmall: the small fixture (no root needed), its
// log damaged in many ways, and filled with garbage whole.
func TestScanHistoryGarbageSmall(t *testing.T) {
	img := bytes.Clone(testimg.SmallImage(t))
	before := scanBounded(t, img, "the fixture")
	if before.Records == 0 {
		t.Fatalf("the fixture's log: %+v", before)
	}
	fuzzLog(t, img, 300)
	off, size := logSpan(t, img)
	rng := rand.New(rand.NewPCG(17, 3))
	for i := off; i < off+size; i++ {
		img[i] = byte(rng.Uint32())
	}
	if st := scanBounded(t, img, "a log of garbage"); st.Records != 0 || st.Transactions != 0 {
		t.Errorf("a log of garbage: %+v", st)
	}
}

// TestScanHistoryGarbage: a churned log of a kernel mount, damaged in
// many ways; and one record damaged on purpose: the middle one of the
// transaction over the most records. The scan skips it, counts each
// transaction it held a piece of as incomplete once (the one that goes
// on past it too), and reads on.
func TestScanHistoryGarbage(t *testing.T) {
	dir := testimg.TmpfsDir(t)
	path := mkfsImage(t, dir, "garbage.img", 96<<20, "-l", "size=1368b")
	mnt, umount := testimg.LoopMount(t, path, "loop")
	churn(t, mnt, 20, 300)
	umount()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	fs := openMem(t, img)
	ctx := context.Background()
	var trans []*TransSnapshot
	recs := map[uint64]*RecordSnapshot{}
	before, err := Scan(ctx, fs, Visitor{
		Record: func(r *RecordSnapshot) error { recs[r.LSN] = r; return nil },
		Trans:  func(ts *TransSnapshot) error { trans = append(trans, ts); return nil },
	})
	fs.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The record in the middle of the transaction over the most records.
	lsns := slices.Sorted(maps.Keys(recs))
	span := func(ts *TransSnapshot) []uint64 {
		i, _ := slices.BinarySearch(lsns, ts.StartLSN)
		j, _ := slices.BinarySearch(lsns, ts.CommitLSN)
		return lsns[i : j+1]
	}
	longest := slices.MaxFunc(trans, func(a, b *TransSnapshot) int { return len(span(a)) - len(span(b)) })
	if len(span(longest)) < 3 {
		t.Fatalf("no transaction over three records or more: %+v", before)
	}
	rec := recs[span(longest)[len(span(longest))/2]]
	hit := 0
	for _, ts := range trans {
		if ts.StartLSN <= rec.LSN && rec.LSN <= ts.CommitLSN {
			hit++
		}
	}
	off, _ := logSpan(t, img)
	// A byte of the record's last block: its CRC no longer holds.
	img[off+int(rec.Block+rec.Blocks-1)*xlog.BBSize+100] ^= 0xff
	after := scanBounded(t, img, "a damaged record")
	t.Logf("before %+v; after damaging record %s (%d blocks, in %d transactions, the longest over %d records) %+v",
		before, xlog.LSNText(rec.LSN), rec.Blocks, hit, len(span(longest)), after)
	if after.Records != before.Records-1 || after.Incomplete != before.Incomplete+hit || after.Transactions != before.Transactions-hit ||
		after.SkippedBlocks != before.SkippedBlocks+int(rec.Blocks) {
		t.Errorf("the damaged record was not skipped, or the %d transactions it held a piece of not counted incomplete once each", hit)
	}
	img[off+int(rec.Block+rec.Blocks-1)*xlog.BBSize+100] ^= 0xff
	fuzzLog(t, img, 200)
}

// TestScanHistoryHostile: a log whose every block is a record header
// that fits its place (cycle, LSN) but whose records fail their CRC:
// the scan gives up by name within its budget instead of reading a
// quarter megabyte per block.
func TestScanHistoryHostile(t *testing.T) {
	img := bytes.Clone(testimg.SmallImage(t))
	off, size := logSpan(t, img)
	for b := 0; b < size/xlog.BBSize; b++ {
		h := img[off+b*xlog.BBSize : off+(b+1)*xlog.BBSize]
		clear(h)
		binary.BigEndian.PutUint32(h, xlog.HeaderMagic)
		binary.BigEndian.PutUint32(h[4:], 1)
		binary.BigEndian.PutUint32(h[8:], xlog.Version2)
		binary.BigEndian.PutUint32(h[12:], xlog.MaxRecordSize)
		binary.BigEndian.PutUint64(h[16:], xlog.MakeLSN(1, uint32(b)))
		binary.BigEndian.PutUint32(h[40:], 1)
		binary.BigEndian.PutUint32(h[320:], xlog.MaxRecordSize)
		binary.LittleEndian.PutUint32(h[32:], 1)
	}
	fs := openMem(t, img)
	defer fs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	st, err := Scan(ctx, fs, Visitor{})
	t.Logf("%v in %v: %+v", err, time.Since(start), st)
	if !errors.Is(err, ErrLogTooDamaged) || st.Records != 0 {
		t.Errorf("a hostile log: %v, %+v", err, st)
	}
}

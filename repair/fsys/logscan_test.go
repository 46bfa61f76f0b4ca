package fsys

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// TestLogReaderNextHeader: the small fixture's log with record magics
// planted near its end and start: NextHeader finds each from any block
// before it, across the log's end, within its limit only, as a block by
// block look does; Record reads the fixture's first record.
func TestLogReaderNextHeader(t *testing.T) {
	img := bytes.Clone(testimg.SmallImage(t))
	fs, err := OpenImage(store.NewImage(store.MemDevice(img), int64(len(img)), "small.img", false), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	r, err := NewLogReader(fs)
	if err != nil {
		t.Fatal(err)
	}
	n := r.Blocks()
	if n < 2048 {
		t.Fatalf("a log of %d blocks", n)
	}
	agno, agbno, _ := fs.Geo.InternalLogAG()
	off := fs.Geo.ByteOffset(agno, agbno)
	for _, b := range []uint32{n - 1, n - 700, 5000 % n} {
		binary.BigEndian.PutUint32(img[off+int64(b)*xlog.BBSize:], xlog.HeaderMagic)
	}
	bb := make([]byte, xlog.BBSize)
	brute := func(from, limit uint32) (uint32, bool) {
		for i := uint32(0); i < limit; i++ {
			if err := r.ReadBlocks(bb, (from+i)%n); err != nil {
				t.Fatal(err)
			}
			if xlog.IsRecHeader(bb) {
				return (from + i) % n, true
			}
		}
		return 0, false
	}
	for _, from := range []uint32{0, 1, 2, 3, n / 2, n - 800, n - 701, n - 699, n - 2, n - 1} {
		for _, limit := range []uint32{1, 2, 9, 700, n} {
			got, ok, err := r.NextHeader(from, limit)
			want, wok := brute(from, limit)
			if err != nil || ok != wok || got != want {
				t.Errorf("NextHeader(%d, %d) = %d %v %v, want %d %v", from, limit, got, ok, err, want, wok)
			}
		}
	}
	rec, why, err := r.Record(0)
	if err != nil || why != "" || rec.Header.LSN != xlog.MakeLSN(rec.Header.Cycle, 0) || len(rec.Ops) == 0 {
		t.Fatalf("the first record: %v %q %+v", err, why, rec)
	}
}

package store_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// TestMetadumpIndexMemory: the index of a metadump of a 16 TiB
// filesystem with 200,000 separate runs, written in shuffled order,
// lives in the workspace: the Go heap grows by a small fraction of the
// index's own size (4.8 MB of runs), and every run reads back as
// written, with the gaps between them missing.
func TestMetadumpIndexMemory(t *testing.T) {
	const runs = 200_000
	sb := make([]byte, 512)
	copy(sb, testimg.SmallImage(t)[:512])
	s, err := xfsformat.DecodeSuperblock(sb)
	if err != nil {
		t.Fatal(err)
	}
	s.DBlocks = 16 << 40 / uint64(s.BlockSize)
	if err := s.Encode(sb); err != nil {
		t.Fatal(err)
	}
	xfsformat.UpdateCRC(sb, xfsformat.SBCRCOffset())
	path := filepath.Join(t.TempDir(), "big.md")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w, err := metadump.NewV2Writer(bw, metadump.Info{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Extent(metadump.DataDevice, 0, sb); err != nil {
		t.Fatal(err)
	}
	// Run i holds sector 1000*(i+1), its 8 bytes of content the sector's
	// number; written in a shuffled order.
	order := rand.New(rand.NewPCG(1, 2)).Perm(runs)
	sector := make([]byte, 512)
	for _, i := range order {
		d := uint64(1000 * (i + 1))
		binary.BigEndian.PutUint64(sector, d)
		if err := w.Extent(metadump.DataDevice, d, sector); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	md, ok, err := store.OpenMetadump(context.Background(), path, workspace.Options{})
	if !ok || err != nil {
		t.Fatalf("OpenMetadump: ok %v, %v", ok, err)
	}
	defer md.Close()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d runs indexed; Go heap grew by %d KiB", md.Runs, grown>>10)
	if md.Runs != runs+1 || md.Size != 16<<40 {
		t.Fatalf("%d runs of a %d-byte filesystem, want %d of %d", md.Runs, md.Size, runs+1, int64(16<<40))
	}
	if grown > 2<<20 {
		t.Errorf("the Go heap grew by %d bytes for an index of %d runs: it should live in the workspace", grown, runs)
	}
	got := make([]byte, 1024)
	for _, i := range []int{0, 1, 255, 256, 257, runs / 2, runs - 1} {
		d := int64(1000 * (i + 1))
		if n, err := md.ReadAt(got[:512], d*512); err != nil || n != 512 || binary.BigEndian.Uint64(got) != uint64(d) {
			t.Errorf("run %d (sector %d): read %d bytes, %v, holding %d", i, d, n, err, binary.BigEndian.Uint64(got))
		}
		// The run and the sector after it: half missing, read as zeros.
		if miss := md.Missing(d*512, 1024); miss != 512 {
			t.Errorf("sector %d and the next: %d bytes missing, want 512", d, miss)
		}
		if _, err := md.ReadAt(got, (d+1)*512); err == nil {
			t.Errorf("sector %d: read of what the metadump does not hold succeeded", d+1)
		}
	}
}

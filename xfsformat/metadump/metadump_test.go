package metadump_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// randBlocks makes n blocks of random bytes: the first at sector 0 (the
// primary superblock's place, as the format wants), the rest at the
// sectors daddr gives.
func randBlocks(seed uint64, n int, daddr func(i int) uint64) []testimg.MetadumpBlock {
	r := rand.New(rand.NewPCG(seed, 7))
	blocks := make([]testimg.MetadumpBlock, n)
	for i := range blocks {
		data := make([]byte, metadump.SectorSize)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		blocks[i] = testimg.MetadumpBlock{Daddr: daddr(i), Data: data}
	}
	blocks[0].Daddr = 0
	return blocks
}

// scanAll scans b whole and returns its extents, failing the test if
// any lies outside b or after another's bytes: a metadump is read in
// file order, each extent's bytes after the last's.
func scanAll(t testing.TB, b []byte) (metadump.Info, []metadump.Extent, error) {
	t.Helper()
	var exts []metadump.Extent
	info, err := metadump.Scan(bytes.NewReader(b), int64(len(b)), func(e metadump.Extent) error {
		if msg := extentOutside(e, int64(len(b)), exts); msg != "" {
			t.Fatalf("in a file of %d bytes: %s", len(b), msg)
		}
		exts = append(exts, e)
		return nil
	})
	return info, exts, err
}

// extentOutside says how e breaks the rules every reported extent keeps
// (inside the file, of a known device, at least a sector, after the
// extents before it, the first the primary superblock), or "".
func extentOutside(e metadump.Extent, size int64, before []metadump.Extent) string {
	end := e.Offset + int64(e.Sectors)<<metadump.SectorLog
	switch {
	case e.Sectors == 0 || e.Sectors > metadump.MaxExtentSectors:
		return fmt.Sprintf("an extent of %d sectors", e.Sectors)
	case e.Offset < 0 || end > size || end < e.Offset:
		return fmt.Sprintf("an extent of %d sectors at byte %d runs outside the file", e.Sectors, e.Offset)
	case e.Device > metadump.RTDevice:
		return fmt.Sprintf("an extent of unknown %s", e.Device)
	}
	if n := len(before); n > 0 {
		if p := before[n-1]; e.Offset < p.Offset+int64(p.Sectors)<<metadump.SectorLog {
			return fmt.Sprintf("the extent at byte %d overlaps the one before it", e.Offset)
		}
	} else if e.Daddr != 0 || e.Device != metadump.DataDevice {
		return "the first extent is not the primary superblock"
	}
	return ""
}

// TestScanV1TwoMetablocks: a v1 metadump of 68 blocks is a full
// metablock (63) and one of 5; Scan reports every block, in order, at
// its sector, its bytes where the file holds them, and the info flags.
func TestScanV1TwoMetablocks(t *testing.T) {
	blocks := randBlocks(1, 68, func(i int) uint64 { return uint64(i*i) % 997 })
	blocks[40].Daddr = blocks[3].Daddr // a sector held twice
	b := testimg.SynthMetadumpV1(1|2|8, blocks)
	if want := 2*metadump.SectorSize + 68*metadump.SectorSize; len(b) != want {
		t.Fatalf("synthetic metadump of %d bytes, want %d", len(b), want)
	}
	info, exts, err := scanAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 1 || !info.HasFlags || !info.Obfuscated || !info.DirtyLog || info.FullBlocks || info.BlockLog != 9 {
		t.Errorf("info %+v, want v1 with flags, obfuscated, dirty log, zeroed blocks", info)
	}
	if len(exts) != len(blocks) {
		t.Fatalf("%d extents, want %d", len(exts), len(blocks))
	}
	for i, e := range exts {
		if e.Daddr != blocks[i].Daddr || e.Sectors != 1 || e.Device != metadump.DataDevice {
			t.Errorf("extent %d: %+v, want sector %d", i, e, blocks[i].Daddr)
		}
		if !bytes.Equal(b[e.Offset:e.Offset+metadump.SectorSize], blocks[i].Data) {
			t.Errorf("extent %d at byte %d does not hold block %d's bytes", i, e.Offset, i)
		}
	}
	// Without the flags bit, the other bits mean nothing.
	info, _, err = scanAll(t, testimg.SynthMetadumpV1(2|4, blocks[:3]))
	if err != nil || info.HasFlags || info.Obfuscated || info.FullBlocks {
		t.Errorf("info without the flags bit: %+v %v", info, err)
	}
}

// TestScanV1FullLastMetablock: 63 blocks fill a metablock, and
// xfs_metadump then ends the file with an empty one, which Scan reads
// as the end.
func TestScanV1FullLastMetablock(t *testing.T) {
	blocks := randBlocks(2, 63, func(i int) uint64 { return uint64(8 * i) })
	b := testimg.SynthMetadumpV1(1, blocks)
	if want := 65 * metadump.SectorSize; len(b) != want {
		t.Fatalf("synthetic metadump of %d bytes, want %d (with an empty last metablock)", len(b), want)
	}
	_, exts, err := scanAll(t, b)
	if err != nil || len(exts) != 63 {
		t.Fatalf("%d extents, %v; want 63", len(exts), err)
	}
}

// v2Fixture is a v2 metadump of a superblock, two data extents and an
// external log's extent, and where each extent's header ends.
func v2Fixture(t testing.TB) (b []byte, exts []metadump.Extent, data [][]byte, bounds []int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := metadump.NewV2Writer(&buf, metadump.Info{Obfuscated: true, FullBlocks: true, ExternalLog: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, e := range []metadump.Extent{
		{Device: metadump.DataDevice, Daddr: 0, Sectors: 1},
		{Device: metadump.DataDevice, Daddr: 64, Sectors: 8},
		{Device: metadump.LogDevice, Daddr: 0, Sectors: 4},
		{Device: metadump.DataDevice, Daddr: 8, Sectors: 2},
	} {
		d := make([]byte, e.Sectors<<metadump.SectorLog)
		for i := range d {
			d[i] = byte(r.Uint32())
		}
		e.Offset = int64(buf.Len()) + 12
		if err := w.Extent(e.Device, e.Daddr, d); err != nil {
			t.Fatal(err)
		}
		exts, data, bounds = append(exts, e), append(data, d), append(bounds, buf.Len())
	}
	return buf.Bytes(), exts, data, bounds
}

// TestScanV2: the extents of a v2 metadump, the external log's among
// them, with their devices, sectors, lengths and bytes; the header's
// flags.
func TestScanV2(t *testing.T) {
	b, want, data, _ := v2Fixture(t)
	info, exts, err := scanAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != 2 || !info.HasFlags || !info.Obfuscated || !info.FullBlocks || !info.ExternalLog || info.DirtyLog || info.RTDevice {
		t.Errorf("info %+v", info)
	}
	if !slices.Equal(exts, want) {
		t.Fatalf("extents %+v, want %+v", exts, want)
	}
	for i, e := range exts {
		if !bytes.Equal(b[e.Offset:e.Offset+int64(e.Sectors)<<metadump.SectorLog], data[i]) {
			t.Errorf("extent %d does not point at its bytes", i)
		}
	}
	// fn's error stops the scan and is Scan's.
	stop := errors.New("stop")
	n := 0
	if _, err := metadump.Scan(bytes.NewReader(b), int64(len(b)), func(metadump.Extent) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("a callback's error: Scan returned %v after %d extents", err, n)
	}
}

// TestScanTruncated cuts valid metadumps at every byte: each cut either
// fails as corrupt (or not a metadump, in the magic) or, for a v2 cut
// between extents, which is a shorter valid file, succeeds; no extent
// ever reaches past the cut, and nothing panics. A v1 metadump always
// ends with a metablock of fewer than 63 blocks, so a v1 cut anywhere,
// even right after a full metablock, is corrupt (xfs_mdrestore: "error
// reading from metadump file").
func TestScanTruncated(t *testing.T) {
	v2, _, _, bounds := v2Fixture(t)
	files := []struct {
		name  string
		b     []byte
		valid []int // cuts that leave a valid file
	}{
		{"v1 63+5", testimg.SynthMetadumpV1(1, randBlocks(5, 68, func(i int) uint64 { return uint64(3 * i) })), nil},
		{"v2", v2, bounds},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			for n := range len(f.b) {
				cut := f.b[:n]
				_, _, err := scanAll(t, cut)
				switch {
				case err == nil && !slices.Contains(f.valid, n):
					t.Fatalf("cut at byte %d of %d: Scan succeeded", n, len(f.b))
				case err != nil && slices.Contains(f.valid, n):
					t.Fatalf("cut at byte %d, between extents: %v", n, err)
				case err != nil && !errors.Is(err, metadump.ErrCorrupt) && !errors.Is(err, metadump.ErrNotMetadump):
					t.Fatalf("cut at byte %d: %v, neither corrupt nor not a metadump", n, err)
				case n < 4 && !errors.Is(err, metadump.ErrNotMetadump):
					t.Fatalf("cut at byte %d, in the magic: %v", n, err)
				}
			}
		})
	}
}

// TestScanCorrupt: each break of the format fails as corrupt, naming
// the problem, before an extent it cannot hold is reported.
func TestScanCorrupt(t *testing.T) {
	v1 := testimg.SynthMetadumpV1(1, randBlocks(7, 70, func(i int) uint64 { return uint64(i) }))
	v2, _, _, bounds := v2Fixture(t)
	edit := func(b []byte, fn func([]byte)) []byte {
		b = slices.Clone(b)
		fn(b)
		return b
	}
	be := binary.BigEndian
	second := 64 * metadump.SectorSize // the second metablock (after a full first one)
	cases := []struct {
		name string
		b    []byte
		want error
		msg  string
	}{
		{"no magic", edit(v1, func(b []byte) { b[0] = 'Y' }), metadump.ErrNotMetadump, "no XFSM"},
		{"v1 blocklog 8", edit(v1, func(b []byte) { b[6] = 8 }), metadump.ErrCorrupt, "block size 2^8"},
		{"v1 blocklog 17", edit(v1, func(b []byte) { b[6] = 17 }), metadump.ErrCorrupt, "block size 2^17"},
		{"v1 count 0 first", edit(v1, func(b []byte) { be.PutUint16(b[4:], 0) }), metadump.ErrCorrupt, "index count 0"},
		{"v1 count 64", edit(v1, func(b []byte) { be.PutUint16(b[4:], 64) }), metadump.ErrCorrupt, "index count 64"},
		{"v1 first not sector 0", edit(v1, func(b []byte) { be.PutUint64(b[8:], 16) }), metadump.ErrCorrupt, "not the primary superblock"},
		{"v1 second metablock magic", edit(v1, func(b []byte) { b[second] = 'Y' }), metadump.ErrCorrupt, "metablock magic"},
		{"v1 second metablock count 64", edit(v1, func(b []byte) { be.PutUint16(b[second+4:], 64) }), metadump.ErrCorrupt, "index count 64"},
		{"v1 second metablock count 8 (of 7 blocks)", edit(v1, func(b []byte) { be.PutUint16(b[second+4:], 8) }), metadump.ErrCorrupt, "runs past the end"},
		{"v1 huge blocklog count", edit(v1, func(b []byte) { b[6] = 16; be.PutUint16(b[4:], 8000) }), metadump.ErrCorrupt, "index cut short"},
		{"v2 version 3", edit(v2, func(b []byte) { be.PutUint32(b[4:], 3) }), metadump.ErrCorrupt, "version 3"},
		{"v2 unknown incompat", edit(v2, func(b []byte) { be.PutUint32(b[12:], 2) }), metadump.ErrCorrupt, "unknown incompatible flags"},
		{"v2 reserved", edit(v2, func(b []byte) { b[23] = 1 }), metadump.ErrCorrupt, "reserved field"},
		{"v2 no extents", v2[:24], metadump.ErrCorrupt, "no extents"},
		{"v2 first not sector 0", edit(v2, func(b []byte) { be.PutUint64(b[24:], 1) }), metadump.ErrCorrupt, "not the primary superblock"},
		{"v2 first on the log", edit(v2, func(b []byte) { be.PutUint64(b[24:], 1<<54) }), metadump.ErrCorrupt, "not the primary superblock"},
		{"v2 first of 65 sectors", edit(v2, func(b []byte) { be.PutUint32(b[32:], 65) }), metadump.ErrCorrupt, "65 sectors"},
		{"v2 device 3", edit(v2, func(b []byte) { be.PutUint64(b[bounds[0]:], 3<<54|64) }), metadump.ErrCorrupt, "unknown device 3"},
		{"v2 bits above the device", edit(v2, func(b []byte) { be.PutUint64(b[bounds[0]:], 1<<60|64) }), metadump.ErrCorrupt, "bits above the device"},
		{"v2 extent of 0 sectors", edit(v2, func(b []byte) { be.PutUint32(b[bounds[0]+8:], 0) }), metadump.ErrCorrupt, "0 sectors"},
		{"v2 extent past the end", edit(v2, func(b []byte) { be.PutUint32(b[bounds[2]+8:], 3) }), metadump.ErrCorrupt, "past the end"},
		{"v2 extent of 2^32-1 sectors", edit(v2, func(b []byte) { be.PutUint32(b[bounds[0]+8:], 1<<32-1) }), metadump.ErrCorrupt, "past the end"},
		{"v2 extent at the last sector", edit(v2, func(b []byte) { be.PutUint64(b[bounds[0]:], 1<<54-1) }), metadump.ErrCorrupt, "past the end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := scanAll(t, c.b)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Scan: %v, want %v naming %q", err, c.want, c.msg)
			}
		})
	}
}

// realSeeds are a small real metadump's first blocks (xfs_metadump -o
// of testdata's small image, when xfsprogs is here), as a valid v1
// metadump and as a v2 one, and its first 4 KiB as they are (a cut
// metadump).
func realSeeds(f *testing.F) [][]byte {
	f.Helper()
	if _, err := testimg.LookTool("xfs_metadump"); err != nil {
		return nil
	}
	md, err := os.ReadFile(testimg.SmallMetadump(f, "-o"))
	if err != nil {
		f.Fatal(err)
	}
	info, exts, err := scanAll(f, md)
	if err != nil || len(exts) < 9 {
		f.Fatalf("xfs_metadump's metadump: %d extents, %v", len(exts), err)
	}
	var blocks []testimg.MetadumpBlock
	var v2 bytes.Buffer
	w, err := metadump.NewV2Writer(&v2, info)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range exts[:9] {
		d := md[e.Offset : e.Offset+metadump.SectorSize]
		blocks = append(blocks, testimg.MetadumpBlock{Daddr: e.Daddr, Data: d})
		if err := w.Extent(e.Device, e.Daddr, d); err != nil {
			f.Fatal(err)
		}
	}
	return [][]byte{md[:4096], testimg.SynthMetadumpV1(md[7], blocks), v2.Bytes()}
}

// FuzzMetadumpScan: whatever the bytes, Scan returns (an error or not)
// without panicking, and every extent it reports lies inside the file,
// after the one before it, the first the primary superblock's.
func FuzzMetadumpScan(f *testing.F) {
	for _, s := range realSeeds(f) {
		f.Add(s)
	}
	v2, _, _, _ := v2Fixture(f)
	f.Add(v2)
	f.Add(testimg.SynthMetadumpV1(1|2, randBlocks(8, 4, func(i int) uint64 { return uint64(i) })))
	f.Add(testimg.SynthMetadumpV1(1, randBlocks(9, 63, func(i int) uint64 { return uint64(i) })))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, err := scanAll(t, b)
		if err != nil && !errors.Is(err, metadump.ErrCorrupt) && !errors.Is(err, metadump.ErrNotMetadump) {
			t.Fatalf("Scan: %v, neither corrupt nor not a metadump", err)
		}
	})
}

package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// mdModel is what xfs_mdrestore would leave of a metadump: every extent
// written in file order (a later copy of a sector over an earlier one),
// with, for each sector, whether it was written and from which byte of
// the metadump.
type mdModel struct {
	data []byte
	held []bool
	foff []int64
}

// mdModelSectors is the size of the modelled device: the metadumps here
// hold sectors below it.
const mdModelSectors = 256

// newMDModel scans the metadump b and writes its extents, in order, into
// a model of the restored device of size sectors.
func newMDModel(t *testing.T, b []byte, size int) *mdModel {
	t.Helper()
	m := &mdModel{data: make([]byte, size*metadump.SectorSize), held: make([]bool, size), foff: make([]int64, size)}
	_, err := metadump.Scan(bytes.NewReader(b), int64(len(b)), func(e metadump.Extent) error {
		if e.Device != metadump.DataDevice {
			return nil
		}
		if e.Daddr+e.Sectors > uint64(size) {
			t.Fatalf("extent at sector %d beyond the model's %d sectors", e.Daddr, size)
		}
		for i := range e.Sectors {
			s, off := e.Daddr+i, e.Offset+int64(i)<<metadump.SectorLog
			copy(m.data[s<<metadump.SectorLog:], b[off:off+metadump.SectorSize])
			m.held[s], m.foff[s] = true, off
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runs counts the sectors held and the runs xfsbox's index should merge
// them into: maximal stretches of held sectors whose bytes also follow
// each other in the metadump.
func (m *mdModel) runs() (sectors, runs uint64) {
	for s := range m.held {
		if !m.held[s] {
			continue
		}
		sectors++
		if s == 0 || !m.held[s-1] || m.foff[s-1]+metadump.SectorSize != m.foff[s] {
			runs++
		}
	}
	return sectors, runs
}

// missing counts the bytes of [off, off+n) the model does not hold.
func (m *mdModel) missing(off, n int64) int64 {
	var miss int64
	for p := off; p < off+n; {
		next := min(off+n, (p>>metadump.SectorLog+1)<<metadump.SectorLog)
		if !m.held[p>>metadump.SectorLog] {
			miss += next - p
		}
		p = next
	}
	return miss
}

// buildMD writes b to a file and indexes it.
func buildMD(t *testing.T, b []byte) *Metadump {
	t.Helper()
	p := filepath.Join(t.TempDir(), "md")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	// A small sort buffer, so that the index's sort spills to runs.
	md, err := BuildMetadump(context.Background(), f, int64(len(b)), p, workspace.Options{SortMemory: 4096})
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	return md
}

// checkMD holds the index of the metadump b to the model of it: the
// sectors and runs counted, every run EachRun gives (in order, apart,
// each held whole by the model at the file bytes it names), and
// ReadAt and Missing over every sector, over ranges across sector edges
// and held/unheld edges, and over random ranges, byte for byte: zeros
// where nothing is held, ErrNotInMetadump where nothing at all is.
func checkMD(t *testing.T, b []byte, size int, seed uint64) {
	t.Helper()
	m := newMDModel(t, b, size)
	md := buildMD(t, b)
	sectors, runs := m.runs()
	if md.Sectors != sectors || md.Runs != runs {
		t.Errorf("index holds %d sectors in %d runs, the model %d in %d", md.Sectors, md.Runs, sectors, runs)
	}
	var last int64 = -1
	err := md.EachRun(context.Background(), func(off, n, foff int64) error {
		if off < last || n <= 0 {
			t.Errorf("run at byte %d (%d bytes) after one ending at %d", off, n, last)
		}
		last = off + n
		for p := off; p < off+n; p += metadump.SectorSize {
			s := p >> metadump.SectorLog
			if !m.held[s] || m.foff[s] != foff+(p-off) {
				t.Errorf("run at byte %d: sector %d at metadump byte %d; the model holds it (%v) at %d", off, s, foff+(p-off), m.held[s], m.foff[s])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	read := func(off, n int64) {
		t.Helper()
		p := make([]byte, n)
		for i := range p {
			p[i] = 0xa5 // ReadAt must overwrite every byte
		}
		got, err := md.ReadAt(p, off)
		miss := m.missing(off, n)
		if md.Missing(off, n) != miss {
			t.Errorf("Missing(%d, %d) = %d, the model lacks %d", off, n, md.Missing(off, n), miss)
		}
		if miss == n {
			if !errors.Is(err, ErrNotInMetadump) {
				t.Errorf("ReadAt(%d, %d) of nothing held: %d, %v", off, n, got, err)
			}
			return
		}
		if err != nil || got != int(n) {
			t.Errorf("ReadAt(%d, %d): %d, %v", off, n, got, err)
			return
		}
		if !bytes.Equal(p, m.data[off:off+n]) {
			t.Errorf("ReadAt(%d, %d) differs from the model", off, n)
		}
	}
	for s := range int64(size) {
		read(s<<metadump.SectorLog, metadump.SectorSize)
		if s > 0 {
			read(s<<metadump.SectorLog-7, 14)
			if m.held[s] != m.held[s-1] {
				read((s-1)<<metadump.SectorLog, 2*metadump.SectorSize)
			}
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for range 300 {
		off := r.Int64N(int64(len(m.data)))
		read(off, 1+r.Int64N(int64(len(m.data))-off))
	}
}

// smallSB is the primary superblock of testdata's small image.
var smallSB []byte

// mdSectors returns a real primary superblock, which the index checks
// for, and a source of sectors of random bytes.
func mdSectors(t *testing.T, seed uint64) (sector0 []byte, sector func() []byte) {
	if smallSB == nil {
		smallSB = testimg.SmallImage(t)[:metadump.SectorSize]
	}
	r := rand.New(rand.NewPCG(seed, 3))
	return smallSB, func() []byte {
		b := make([]byte, metadump.SectorSize)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
}

// v2MD writes a v2 metadump: the superblock, then an extent of n
// random sectors at each daddr, in order.
func v2MD(t *testing.T, seed uint64, exts [][2]uint64) []byte {
	t.Helper()
	sb, sector := mdSectors(t, seed)
	var buf bytes.Buffer
	w, err := metadump.NewV2Writer(&buf, metadump.Info{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Extent(metadump.DataDevice, 0, sb); err != nil {
		t.Fatal(err)
	}
	for _, e := range exts {
		var d []byte
		for range e[1] {
			d = append(d, sector()...)
		}
		if err := w.Extent(metadump.DataDevice, e[0], d); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// v1MD writes a v1 metadump of the superblock and a random sector at
// each daddr, in order.
func v1MD(t *testing.T, seed uint64, daddrs []uint64) []byte {
	sb, sector := mdSectors(t, seed)
	blocks := []testimg.MetadumpBlock{{Daddr: 0, Data: sb}}
	for _, d := range daddrs {
		blocks = append(blocks, testimg.MetadumpBlock{Daddr: d, Data: sector()})
	}
	return testimg.SynthMetadumpV1(1, blocks)
}

// TestMetadumpIndexMerge: the index of a metadump reads as
// xfs_mdrestore's sequential writes leave the device: a sector held
// twice reads as its later copy, overlapping v2 extents as the later
// one where they overlap, an earlier extent wholly covered by a later
// one not at all; sectors that follow each other both on the device
// and in the file form one run (a v1 metablock's blocks), others not
// (v2 extents, whose headers part their bytes; blocks out of order; a
// metablock's edge).
func TestMetadumpIndexMerge(t *testing.T) {
	cases := []struct {
		name       string
		b          []byte
		runs, held uint64 // counted by hand, beside the model's count
	}{
		{"v2 held twice", v2MD(t, 1, [][2]uint64{{10, 8}, {12, 2}}), 4, 9},
		{"v2 overlapping", v2MD(t, 2, [][2]uint64{{20, 11}, {25, 16}}), 3, 22},
		{"v2 covered by a later", v2MD(t, 3, [][2]uint64{{60, 4}, {56, 12}}), 2, 13},
		{"v2 covering a later", v2MD(t, 4, [][2]uint64{{56, 12}, {60, 4}}), 4, 13},
		{"v2 adjacent", v2MD(t, 5, [][2]uint64{{100, 2}, {102, 2}}), 3, 5},
		{"v2 three deep", v2MD(t, 6, [][2]uint64{{30, 30}, {35, 20}, {40, 5}, {38, 1}}), 8, 31},
		{"v1 contiguous", v1MD(t, 7, []uint64{50, 51, 52}), 2, 4},
		{"v1 out of order", v1MD(t, 8, []uint64{50, 51, 52, 70, 72, 71}), 5, 7},
		{"v1 held twice", v1MD(t, 9, []uint64{50, 51, 52, 51}), 4, 4},
		{"v1 across a metablock", v1MD(t, 10, func() []uint64 {
			var d []uint64
			for i := range uint64(70) {
				d = append(d, 1+i)
			}
			return d
		}()), 2, 71},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := buildMD(t, c.b)
			if md.Runs != c.runs || md.Sectors != c.held {
				t.Errorf("%d sectors in %d runs, want %d in %d", md.Sectors, md.Runs, c.held, c.runs)
			}
			checkMD(t, c.b, mdModelSectors, 1)
		})
	}
}

// TestMetadumpIndexRandom: random v2 metadumps of many overlapping
// extents, and v1 ones of sectors held many times over, read as the
// model of their sequential restore does.
func TestMetadumpIndexRandom(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 9))
		var exts [][2]uint64
		var daddrs []uint64
		for range 40 {
			start := 1 + r.Uint64N(mdModelSectors-40)
			exts = append(exts, [2]uint64{start, 1 + r.Uint64N(32)})
		}
		for range 150 {
			daddrs = append(daddrs, 1+r.Uint64N(mdModelSectors/2))
			if r.IntN(2) == 0 { // runs of consecutive sectors, as a real metadump's blocks
				daddrs = append(daddrs, daddrs[len(daddrs)-1]+1)
			}
		}
		checkMD(t, v2MD(t, seed, exts), mdModelSectors, seed)
		checkMD(t, v1MD(t, seed, daddrs), mdModelSectors, seed)
	}
}

// TestMetadumpIndexPages: a metadump of thousands of runs, more than a
// page of the index holds, reads right across the pages' edges.
func TestMetadumpIndexPages(t *testing.T) {
	var daddrs []uint64
	for i := range uint64(3 * indexPage) {
		daddrs = append(daddrs, 2+2*i) // every other sector: a run each
	}
	b := v1MD(t, 11, daddrs)
	if md := buildMD(t, b); md.Runs != 3*indexPage+1 || len(md.fence) != 4 {
		t.Fatalf("%d runs in %d pages, want %d in 4", md.Runs, len(md.fence), 3*indexPage+1)
	}
	checkMD(t, b, 2+6*indexPage+8, 11)
}

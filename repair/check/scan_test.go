package check

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

func openProfile(t *testing.T, path string) *fsys.FS {
	t.Helper()
	fs, err := fsys.Open(path, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

type scanResult struct {
	perAG    map[uint32][]xfsformat.RmapRec
	chunks   []ChunkUse
	findings *Findings
}

func runScan(t *testing.T, fs *fsys.FS) *scanResult {
	t.Helper()
	res := &scanResult{perAG: map[uint32][]xfsformat.RmapRec{}, findings: &Findings{}}
	var mu sync.Mutex // the scan serialises calls; the lock checks that claim under -race
	err := ScanInodes(context.Background(), fs, func(agno uint32, r xfsformat.RmapRec) error {
		if !mu.TryLock() {
			t.Error("sink called concurrently")
			return nil
		}
		defer mu.Unlock()
		res.perAG[agno] = append(res.perAG[agno], r)
		return nil
	}, func(c ChunkUse) error {
		if !mu.TryLock() {
			t.Error("onChunk called concurrently")
			return nil
		}
		defer mu.Unlock()
		res.chunks = append(res.chunks, c)
		return nil
	}, res.findings)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// mergeRmaps normalises inode-owned mappings the way the kernel stores
// them: records of one owner, fork and state that are contiguous in block
// and (except bmbt blocks) file offset become one. The result is in
// rmapbt key order.
func mergeRmaps(in []xfsformat.RmapRec) []xfsformat.RmapRec {
	recs := slices.Clone(in)
	flags := func(r xfsformat.RmapRec) uint64 { return r.Offset &^ xfsformat.RmapOffMask }
	slices.SortFunc(recs, func(a, b xfsformat.RmapRec) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(flags(a), flags(b)),
			cmp.Compare(a.StartBlock, b.StartBlock), cmp.Compare(a.Offset, b.Offset))
	})
	var out []xfsformat.RmapRec
	for _, r := range recs {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Owner == r.Owner && flags(*p) == flags(r) && p.StartBlock+p.BlockCount == r.StartBlock &&
				(r.Offset&xfsformat.RmapOffBmbtBlock != 0 || p.FileOffset()+uint64(p.BlockCount) == r.FileOffset()) {
				p.BlockCount += r.BlockCount
				continue
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b xfsformat.RmapRec) int {
		return cmp.Or(cmp.Compare(a.StartBlock, b.StartBlock), cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Offset, b.Offset))
	})
	return out
}

// rmapbtInodeRecs returns the inode-owned records of AG agno's rmapbt.
func rmapbtInodeRecs(t *testing.T, fs *fsys.FS, agno uint32) []xfsformat.RmapRec {
	t.Helper()
	var recs []xfsformat.RmapRec
	w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Rmapbt, OnProblem: func(err error) { t.Errorf("rmapbt walk: %v", err) }}
	err := w.Records(context.Background(), func(_ uint32, _ int, raw []byte) error {
		if r := xfsformat.DecodeRmapRec(raw); r.IsInodeOwner() {
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func rmapString(r xfsformat.RmapRec) string {
	return fmt.Sprintf("[%d+%d owner %d off %d attr %v bmbt %v unwritten %v]", r.StartBlock, r.BlockCount, r.Owner,
		r.FileOffset(), r.Offset&xfsformat.RmapOffAttrFork != 0, r.Offset&xfsformat.RmapOffBmbtBlock != 0, r.Offset&xfsformat.RmapOffUnwritten != 0)
}

func noFindings(t *testing.T, f *Findings) {
	t.Helper()
	for i, x := range f.List() {
		if i == 20 {
			t.Errorf("...")
			break
		}
		t.Errorf("finding on a healthy image: %v", x)
	}
}

// TestScanMatchesRmapbt: on healthy images with an rmapbt, what the scan
// finds is exactly the inode-owned part of the rmapbt, AG by AG.
func TestScanMatchesRmapbt(t *testing.T) {
	for _, profile := range []string{"allfeatures", "1k", "4ksector", "oneag", "manyag"} {
		t.Run(profile, func(t *testing.T) {
			fs := openProfile(t, testimg.Image(t, profile))
			res := runScan(t, fs)
			noFindings(t, res.findings)
			var total int
			for agno := range fs.Geo.AGCount {
				ours := res.perAG[agno]
				if got := mergeRmaps(ours); len(got) != len(ours) {
					t.Errorf("AG %d: the scan left %d mergeable mappings unmerged", agno, len(ours)-len(got))
				}
				got, want := mergeRmaps(ours), mergeRmaps(rmapbtInodeRecs(t, fs, agno))
				total += len(want)
				if slices.Equal(got, want) {
					continue
				}
				t.Errorf("AG %d: scan has %d mappings, rmapbt %d inode-owned records", agno, len(got), len(want))
				diff(t, got, want)
			}
			t.Logf("%d AGs, %d inode-owned rmap records, %d chunks", fs.Geo.AGCount, total, len(res.chunks))
		})
	}
}

func diff(t *testing.T, got, want []xfsformat.RmapRec) {
	t.Helper()
	key := func(r xfsformat.RmapRec) string { return rmapString(r) }
	in := map[string]int{}
	for _, r := range want {
		in[key(r)]++
	}
	for _, r := range got {
		in[key(r)]--
	}
	n := 0
	for k, c := range in {
		if c != 0 && n < 20 {
			side := "only in rmapbt"
			if c < 0 {
				side = "only in scan"
			}
			t.Errorf("  %s %s", side, k)
			n++
		}
	}
}

// readInodeCore decodes inode ino straight from the image.
func readInodeCore(t *testing.T, fs *fsys.FS, ino uint64) *xfsformat.Inode {
	t.Helper()
	agno, agino := fs.Geo.SplitIno(ino)
	buf := make([]byte, fs.Geo.InodeSize)
	if err := fs.Img.ReadAt(buf, fs.Geo.ByteOffset(agno, 0)+int64(agino)*int64(fs.Geo.InodeSize)); err != nil {
		t.Fatal(err)
	}
	in, err := xfsformat.DecodeInode(buf)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestScanNBlocks: without an rmapbt to compare with (defaults image),
// every inode's mappings must add up to its di_nblocks (data and attr
// extents plus bmbt blocks), and di_nblocks is what xfs_db prints.
func TestScanNBlocks(t *testing.T) {
	for _, profile := range []string{"defaults", "allfeatures"} {
		t.Run(profile, func(t *testing.T) {
			img := testimg.Image(t, profile)
			fs := openProfile(t, img)
			res := runScan(t, fs)
			noFindings(t, res.findings)
			sums := map[uint64]uint64{}
			for _, recs := range res.perAG {
				for _, r := range recs {
					sums[r.Owner] += uint64(r.BlockCount)
				}
			}
			var inUse []uint64
			for _, c := range res.chunks {
				for i := range 64 {
					if c.InUse&(1<<i) != 0 {
						inUse = append(inUse, fs.Geo.Ino(c.AG, c.Rec.StartIno+uint32(i)))
					}
				}
			}
			slices.Sort(inUse)
			withBlocks := 0
			for _, ino := range inUse {
				in := readInodeCore(t, fs, ino)
				if sums[ino] != in.NBlocks {
					t.Errorf("inode %d: mappings add up to %d blocks, di_nblocks = %d", ino, sums[ino], in.NBlocks)
				}
				if in.NBlocks > 0 {
					withBlocks++
				}
				delete(sums, ino)
			}
			for ino := range sums {
				t.Errorf("mappings for inode %d, which is not in use", ino)
			}
			// The oracle for di_nblocks: xfs_db, on a sample spread over
			// the inode numbers (every inode with blocks would take long).
			var sample []uint64
			var batches [][]string
			for i, ino := range inUse {
				if i%max(1, len(inUse)/300) == 0 || readInodeCore(t, fs, ino).NBlocks > 100 {
					sample = append(sample, ino)
					batches = append(batches, []string{"inode " + strconv.FormatUint(ino, 10), "print core.nblocks"})
				}
			}
			objs, err := xfsdb.PrintMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range objs {
				want, err := o.Uint("core.nblocks")
				if got := readInodeCore(t, fs, sample[i]).NBlocks; err != nil || got != want {
					t.Errorf("inode %d: di_nblocks %d, xfs_db %q", sample[i], got, o.Value("core.nblocks"))
				}
			}
			t.Logf("%d inodes in use, %d with blocks; %d checked against xfs_db", len(inUse), withBlocks, len(sample))
		})
	}
}

// TestScanChunkUse: on a healthy image every inode the scan sees in use
// is allocated in the inobt, and every other present inode is free.
func TestScanChunkUse(t *testing.T) {
	for _, profile := range []string{"allfeatures", "defaults", "1k"} {
		t.Run(profile, func(t *testing.T) {
			fs := openProfile(t, testimg.Image(t, profile))
			res := runScan(t, fs)
			perAG := map[uint32]uint64{}
			chunks := map[uint32]int{}
			for _, c := range res.chunks {
				var holes uint64
				for b := range 16 {
					if c.Rec.HoleMask&(1<<b) != 0 {
						holes |= 0xf << (4 * b)
					}
				}
				if c.Bad != 0 {
					t.Errorf("AG %d chunk %d: bad inodes %#x", c.AG, c.Rec.StartIno, c.Bad)
				}
				if want := ^c.Rec.Free &^ holes; c.InUse != want {
					t.Errorf("AG %d chunk %d: in use %#x, inobt says %#x", c.AG, c.Rec.StartIno, c.InUse, want)
				}
				perAG[c.AG] += uint64(bits.OnesCount64(c.InUse))
				chunks[c.AG]++
			}
			for agno := range fs.Geo.AGCount {
				agi, _, err := fs.ReadAGI(agno)
				if err != nil {
					t.Fatal(err)
				}
				if want := uint64(agi.Count - agi.FreeCount); perAG[agno] != want {
					t.Errorf("AG %d: %d inodes in use, AGI count-freecount = %d", agno, perAG[agno], want)
				}
			}
			if len(res.chunks) == 0 {
				t.Fatal("no chunks")
			}
		})
	}
}

// inodeOf returns the inode number of a path, from xfs_db.
func inodeOf(t *testing.T, img, path string) uint64 {
	t.Helper()
	return printUint(t, img, "v3.inumber", "path "+path)
}

// printUint is the number xfs_db prints for field after the commands
// nav.
func printUint(t *testing.T, img, field string, nav ...string) uint64 {
	t.Helper()
	o, err := xfsdb.Print(img, append(nav, "print "+field)...)
	if err != nil {
		t.Fatal(err)
	}
	n, err := o.Uint(field)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// patch rewrites bytes of the image file in place; fix, if set, edits
// the bytes read at off before they are written back.
func patch(t *testing.T, img string, off int64, n int, fix func([]byte)) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	fix(b)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestScanCorrupt damages a copy of the image in several ways; each must
// become a finding with its code, and the scan must finish.
func TestScanCorrupt(t *testing.T) {
	testimg.Require(t, "root")
	img := testimg.Copy(t, "allfeatures")
	hello := inodeOf(t, img, "/ag0/hello.txt")
	big := inodeOf(t, img, "/ag0/big.bin")
	punched := inodeOf(t, img, "/ag0/punched")
	shared := inodeOf(t, img, "/ag0/shared.reflink")
	fs := openProfile(t, img)
	g := fs.Geo
	before := runScan(t, fs)
	inodeOff := func(ino uint64) int64 {
		agno, agino := g.SplitIno(ino)
		return g.ByteOffset(agno, 0) + int64(agino)*int64(g.InodeSize)
	}
	isize := int(g.InodeSize)
	// hello.txt: not an inode any more.
	patch(t, img, inodeOff(hello), 2, func(b []byte) { b[0] = 'X' })
	// big.bin: its extent now runs past the end of the filesystem.
	patch(t, img, inodeOff(big), isize, func(b []byte) {
		r := xfsformat.DecodeBmbtRec(b[xfsformat.DinodeCoreSize:])
		r.StartBlock = g.FSB(g.AGCount-1, g.AGLength(g.AGCount-1)-1)
		r.Encode(b[xfsformat.DinodeCoreSize:])
		xfsformat.UpdateCRC(b, xfsformat.InodeCRCOffset())
	})
	// punched: the root's second pointer leaves the filesystem, the third
	// repeats the first, the first leaf gets a bad CRC.
	var leaf uint64
	patch(t, img, inodeOff(punched), isize, func(b []byte) {
		in, _ := xfsformat.DecodeInode(b)
		root, _ := xfsformat.NewBmbtRoot(in.Fork(false))
		leaf = root.Ptr(0)
		ptrs := xfsformat.DinodeCoreSize + xfsformat.BmdrHeaderSize + root.MaxRecs()*8
		b[ptrs+8] = 0x7f                         // ptr 1: outside
		copy(b[ptrs+16:ptrs+24], b[ptrs:ptrs+8]) // ptr 2: ptr 0 again
		xfsformat.UpdateCRC(b, xfsformat.InodeCRCOffset())
	})
	agno, agbno := g.SplitFSB(leaf)
	patch(t, img, g.ByteOffset(agno, agbno)+32, 1, func(b []byte) { b[0] ^= 0xff }) // lsn
	// shared.reflink: a CRC error only; still decoded.
	patch(t, img, inodeOff(shared)+8, 1, func(b []byte) { b[0] ^= 1 }) // uid

	fs2 := openProfile(t, img)
	after := runScan(t, fs2)
	codes := map[string][]Finding{}
	for _, f := range after.findings.List() {
		codes[f.Code] = append(codes[f.Code], f)
		t.Logf("%v", f)
	}
	if len(codes["bmbt.ptr"]) != 2 {
		t.Errorf("want 2 bmbt.ptr findings (outside, reached twice), got %v", codes["bmbt.ptr"])
	}
	for _, c := range []string{"inode.magic", "inode.extent", "bmbt.ptr", "bmbt.crc", "inode.crc"} {
		if len(codes[c]) == 0 {
			t.Errorf("no %s finding", c)
		}
		for _, f := range codes[c] {
			if f.Severity != Corrupt {
				t.Errorf("%v: severity %v", f, f.Severity)
			}
		}
	}
	owners := func(r *scanResult) map[uint64]uint64 {
		m := map[uint64]uint64{}
		for _, recs := range r.perAG {
			for _, x := range recs {
				m[x.Owner] += uint64(x.BlockCount)
			}
		}
		return m
	}
	ob, oa := owners(before), owners(after)
	if oa[hello] != 0 || oa[big] != 0 {
		t.Errorf("mappings for the damaged inodes: hello %d, big %d", oa[hello], oa[big])
	}
	if oa[shared] != ob[shared] {
		t.Errorf("inode with only a bad CRC: %d blocks mapped, %d before", oa[shared], ob[shared])
	}
	if oa[punched] >= ob[punched] || oa[punched] == 0 {
		t.Errorf("punched: %d blocks mapped, %d before: the subtree behind the bad pointer should be gone, the rest kept", oa[punched], ob[punched])
	}
	for ino, n := range ob {
		if ino != hello && ino != big && ino != punched && oa[ino] != n {
			t.Errorf("inode %d: %d blocks mapped, %d before", ino, oa[ino], n)
		}
	}
	var bad uint64
	for _, c := range after.chunks {
		bad += uint64(bits.OnesCount64(c.Bad))
		for i := range 64 {
			ino := g.Ino(c.AG, c.Rec.StartIno+uint32(i))
			if (ino == hello || ino == shared) && c.Bad&(1<<i) == 0 {
				t.Errorf("inode %d not marked bad", ino)
			}
			if ino == hello && c.InUse&(1<<i) != 0 {
				t.Errorf("inode %d without magic marked in use", ino)
			}
		}
	}
	if bad != 2 {
		t.Errorf("%d bad inodes, want 2", bad)
	}
}

// TestScanStops: an error from the sink, or a cancelled context, ends
// the scan with that error.
func TestScanStops(t *testing.T) {
	fs := openProfile(t, testimg.Image(t, "manyag"))
	stop := errors.New("enough")
	var n int
	err := ScanInodes(context.Background(), fs, func(uint32, xfsformat.RmapRec) error {
		if n++; n == 100 {
			return stop
		}
		return nil
	}, nil, nil)
	if !errors.Is(err, stop) {
		t.Errorf("sink error: got %v", err)
	}
	err = ScanInodes(context.Background(), fs, nil, func(ChunkUse) error { return stop }, nil)
	if !errors.Is(err, stop) {
		t.Errorf("onChunk error: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ScanInodes(ctx, fs, nil, nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
}

// TestScanGarbageForks fills every inode of one chunk with random core
// fields and forks that still pass the identity checks (magic, version,
// inode number, uuid, CRC), so the scan has to decode them: it must end
// normally, never panic, and report what it cannot use.
func TestScanGarbageForks(t *testing.T) {
	testimg.Require(t, "root")
	img := testimg.Copy(t, "allfeatures")
	target := inodeOf(t, img, "/ag0/punched")
	fs := openProfile(t, img)
	g := fs.Geo
	agno, agino := g.SplitIno(target)
	first := agino &^ 63
	rng := rand.New(rand.NewPCG(1, 2))
	isize := int(g.InodeSize)
	patch(t, img, g.ByteOffset(agno, 0)+int64(first)*int64(isize), 64*isize, func(b []byte) {
		for i := range 64 {
			in := b[i*isize : (i+1)*isize]
			for j := 24; j < len(in); j++ {
				in[j] = byte(rng.Uint32())
			}
			modes := []uint16{xfsformat.ModeRegular, xfsformat.ModeDir, xfsformat.ModeSymlink, 0, xfsformat.ModeChar}
			binary.BigEndian.PutUint16(in[2:], modes[rng.IntN(len(modes))]|0o644)
			in[4], in[5], in[83] = 3, byte(rng.IntN(5)), byte(rng.IntN(5))
			in[82] = byte(rng.IntN(int(g.InodeSize-xfsformat.DinodeCoreSize) / 8))
			if rng.IntN(2) == 0 { // plausible bmbt roots: low levels, small numrecs
				binary.BigEndian.PutUint16(in[xfsformat.DinodeCoreSize:], uint16(rng.IntN(4)))
				binary.BigEndian.PutUint16(in[xfsformat.DinodeCoreSize+2:], uint16(rng.IntN(8)))
				for p := xfsformat.DinodeCoreSize + 4; p+8 <= len(in); p += 8 { // pointers into the filesystem
					binary.BigEndian.PutUint64(in[p:], uint64(rng.IntN(int(g.AGBlocks))))
				}
			}
			binary.BigEndian.PutUint64(in[152:], g.Ino(agno, first+uint32(i)))
			copy(in[160:176], g.MetaUUID[:])
			xfsformat.UpdateCRC(in, xfsformat.InodeCRCOffset())
		}
	})
	res := runScan(t, openProfile(t, img))
	if len(res.findings.List()) == 0 {
		t.Fatal("no findings for a chunk of garbage inodes")
	}
	codes := map[string]int{}
	for _, f := range res.findings.List() {
		codes[f.Code]++
	}
	t.Logf("%d findings, %d suppressed: %v", len(res.findings.List()), res.findings.Suppressed, codes)
}

// TestScanSparseHoles: the inodes of a sparse chunk's holes (one
// holemask bit per 4 inodes) are neither read nor reported. The images
// have no sparse chunk, so one is made by setting holemask bits in the
// inobt record of the chunk that holds hello.txt.
func TestScanSparseHoles(t *testing.T) {
	testimg.Require(t, "root")
	img := testimg.Copy(t, "allfeatures")
	hello := inodeOf(t, img, "/ag0/hello.txt")
	fs := openProfile(t, img)
	g := fs.Geo
	agno, agino := g.SplitIno(hello)
	var leaf uint32
	idx := -1
	w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Inobt}
	err := w.Records(context.Background(), func(agbno uint32, i int, raw []byte) error {
		if r := xfsformat.DecodeInobtRec(raw, true); agino >= r.StartIno && agino < r.StartIno+64 {
			leaf, idx = agbno, i
		}
		return nil
	})
	if err != nil || idx < 0 {
		t.Fatalf("chunk of inode %d not found: %v", hello, err)
	}
	bit := (agino & 63) / 4
	holeBits := uint16(1<<bit | 1<<15) // hello's group and the last one
	patch(t, img, g.ByteOffset(agno, leaf), int(g.BlockSize), func(b []byte) {
		off := xfsformat.BtreeHeaderSize + idx*xfsformat.InobtRecLen + 4
		binary.BigEndian.PutUint16(b[off:], binary.BigEndian.Uint16(b[off:])|holeBits)
		xfsformat.UpdateCRC(b, xfsformat.BtreeCRCOffset())
	})
	res := runScan(t, openProfile(t, img))
	var found bool
	for _, c := range res.chunks {
		if c.AG != agno || agino < c.Rec.StartIno || agino >= c.Rec.StartIno+64 {
			continue
		}
		found = true
		holes := uint64(0xf)<<(4*bit) | uint64(0xf)<<60
		if c.Rec.HoleMask&holeBits != holeBits {
			t.Errorf("holemask %#x", c.Rec.HoleMask)
		}
		if (c.InUse|c.Bad)&holes != 0 {
			t.Errorf("hole inodes reported: in use %#x bad %#x", c.InUse, c.Bad)
		}
		if want := ^c.Rec.Free &^ holes; c.InUse != want {
			t.Errorf("in use %#x, want %#x", c.InUse, want)
		}
	}
	if !found {
		t.Fatal("chunk not reported")
	}
	for _, recs := range res.perAG {
		for _, r := range recs {
			if r.Owner == hello {
				t.Errorf("mapping of inode %d, which is in a hole: %s", hello, rmapString(r))
			}
		}
	}
}

package replay_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/replay"
	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// TestReplayUnfinishedIntents: a crash in the middle of a truncate.
// The log holds the transaction that took a file's extent away (the
// inode, logged with no extents) and the intents it left for the rest
// of the work, but none of their done items: the kernel's mount replays
// the inode and finishes the intents; xfsbox replays the inode and
// finishes them by rebuilding the extent's AG from the inode scan. The
// log is written here, the way the kernel writes it (the intents in the
// order xfs_bmap_del_extent_real defers them), on filesystems the kernel
// made: without an rmapbt, an EFI; with one, an RUI unmapping the
// extent and an EFI freeing it; on a reflinked file, an RUI and a CUI
// taking the extent's reference count from 2 back to 1. Both replays
// are judged as every shutdown point whose after-work rebuilt AGs
// (judgeDirty, judgeLogically).
func TestReplayUnfinishedIntents(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	const (
		rmapUnmap, rmapUnmapShared = 3, 4 // XFS_RMAP_EXTENT_UNMAP, _UNMAP_SHARED
		refcountDecrease           = 2    // XFS_REFCOUNT_DECREASE
	)
	for _, tc := range []struct {
		name   string
		mkfs   string
		reflnk bool
		// intents are the items the truncate leaves, for the extent
		// (fsblock, length) of inode ino.
		intents func(ino, fsb uint64, n uint32) [][]byte
		freed   bool // the extent ends up free
	}{
		{"efi", "rmapbt=0,reflink=0", false, func(ino, fsb uint64, n uint32) [][]byte {
			return [][]byte{replay.IntentItem(xlog.ItemEFI, 0xe1f0, 16, map[int]uint64{0: fsb}, map[int]uint32{8: n})}
		}, true},
		{"rui-efi", "rmapbt=1,reflink=0", false, func(ino, fsb uint64, n uint32) [][]byte {
			return [][]byte{
				replay.IntentItem(xlog.ItemRUI, 0x5e1, 32, map[int]uint64{0: ino, 8: fsb, 16: 0}, map[int]uint32{24: n, 28: rmapUnmap}),
				replay.IntentItem(xlog.ItemEFI, 0xe1f1, 16, map[int]uint64{0: fsb}, map[int]uint32{8: n}),
			}
		}, true},
		{"rui-cui", "rmapbt=1,reflink=1", true, func(ino, fsb uint64, n uint32) [][]byte {
			return [][]byte{
				replay.IntentItem(xlog.ItemRUI, 0x5e2, 32, map[int]uint64{0: ino, 8: fsb, 16: 0}, map[int]uint32{24: n, 28: rmapUnmapShared}),
				replay.IntentItem(xlog.ItemCUI, 0xc1, 16, map[int]uint64{0: fsb}, map[int]uint32{8: n, 12: refcountDecrease}),
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := testimg.TmpfsDir(t)
			img := mkfsImage(t, dir, tc.name+".img", "-m", tc.mkfs)
			mnt, umount := testimg.LoopMount(t, img, "loop")
			file := filepath.Join(mnt, "victim")
			runs := [][]string{{"-f", "-c", "pwrite -S 0x77 0 64k", "-c", "fsync", file}}
			if tc.reflnk {
				runs = append(runs, []string{"-f", "-c", "reflink " + file + " 0 0 64k", "-c", "fsync", filepath.Join(mnt, "twin")})
			}
			for _, args := range runs {
				if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", args...); err != nil {
					t.Fatalf("xfs_io %q: %v\n%s", args, err, out)
				}
			}
			ino := statIno(t, file)
			umount()
			exts, err := xfsdb.Bmap(img, ino, false)
			if err != nil || len(exts) != 1 {
				t.Fatalf("inode %d's extents: %+v %v", ino, exts, err)
			}
			raw, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			var items [][][]byte
			items = append(items, truncatedInode(t, raw, ino))
			for _, it := range tc.intents(ino, exts[0].StartBlock, uint32(exts[0].Count)) {
				items = append(items, [][]byte{it})
			}
			replay.NewLogWriter(t, raw).Transaction(0x7e1, items...)
			dirty := filepath.Join(dir, "dirty.img")
			if err := os.WriteFile(dirty, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			p := shutdownPoint{profile: tc.mkfs, mode: "truncate-" + tc.name}
			o := judgeDirty(t, p, dirty)
			if o.refused != "" || len(o.res.Unfinished) != len(items)-1 || len(o.res.Rebuilt) != 1 {
				t.Fatalf("replay of unfinished intents: refused %q, result %+v", o.refused, o.res)
			}
			t.Logf("%s", strings.Join(o.res.AfterWork, "; "))
			if !tc.freed {
				return
			}
			// The extent is free after the kernel's replay; after
			// xfsbox's, free or holding the AG's rebuilt trees (the
			// spare sets agree).
			for _, x := range []string{o.a, o.b} {
				out, err := xfsdb.Run(x, fmt.Sprintf("fsblock %d", exts[0].StartBlock), "blockget", "blockuse")
				_, typ, _ := strings.Cut(strings.TrimSpace(out), " type ")
				ok := strings.HasPrefix(typ, "free") || (x == o.b && (typ == "btbno" || typ == "btcnt" || typ == "btrmap"))
				if err != nil || !ok {
					t.Errorf("%s: block %d after the replay: %v\n%s", filepath.Base(x), exts[0].StartBlock, err, out)
				}
			}
		})
	}
}

// truncatedInode is an inode item logging inode ino of the image raw
// with its data fork emptied (size, blocks and extents zero), as a
// truncate's first transaction logs it: the format and the core.
func truncatedInode(t *testing.T, raw []byte, ino uint64) [][]byte {
	t.Helper()
	fs, err := fsys.OpenImage(store.NewImage(store.MemDevice(raw), int64(len(raw)), "img", false), fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := fs.Geo
	fs.Close()
	agno, agino := g.SplitIno(ino)
	agbno, idx := g.AGInoBlock(agino)
	cluster := g.InodeClusterBlocks()
	cagbno := agbno - agbno%cluster
	blkno := int64(g.Daddr(agno, cagbno))
	boff := int((agbno-cagbno)*g.BlockSize) + int(idx*g.InodeSize)
	core := logDinode(t, raw[blkno*512+int64(boff):][:g.InodeSize])
	le := binary.LittleEndian
	le.PutUint64(core[56:], 0) // di_size
	le.PutUint64(core[64:], 0) // di_nblocks
	le.PutUint32(core[76:], 0) // di_nextents
	format := make([]byte, xlog.InodeFormatSize)
	le.PutUint16(format, uint16(xlog.ItemInode))
	le.PutUint16(format[2:], 2)
	le.PutUint32(format[4:], xlog.ILogCore)
	le.PutUint64(format[16:], ino)
	le.PutUint64(format[40:], uint64(blkno))
	le.PutUint32(format[48:], cluster<<(g.BlockLog-9))
	le.PutUint32(format[52:], uint32(boff))
	return [][]byte{format, core}
}

// logDinode is the on-disk inode core dino as the kernel logs it: in
// its own (little-endian) order, field by field (struct xfs_log_dinode).
func logDinode(t *testing.T, dino []byte) []byte {
	t.Helper()
	be, le := binary.BigEndian, binary.LittleEndian
	out := bytes.Clone(dino[:xlog.LogDinodeSize])
	bigtime := be.Uint64(dino[120:])&(1<<3) != 0
	widths := []struct{ off, n int }{{0, 2}, {2, 2}, {6, 2}, {8, 4}, {12, 4}, {16, 4}, {20, 2}, {22, 2}, {24, 8},
		{56, 8}, {64, 8}, {72, 4}, {76, 4}, {80, 2}, {84, 4}, {88, 2}, {90, 2}, {92, 4}, {96, 4}, {100, 4},
		{104, 8}, {112, 8}, {120, 8}, {128, 4}, {152, 8}}
	for _, ts := range []int{32, 40, 48, 144} {
		if bigtime {
			widths = append(widths, struct{ off, n int }{ts, 8})
		} else {
			widths = append(widths, struct{ off, n int }{ts, 4}, struct{ off, n int }{ts + 4, 4})
		}
	}
	for _, w := range widths {
		switch w.n {
		case 2:
			le.PutUint16(out[w.off:], be.Uint16(dino[w.off:]))
		case 4:
			le.PutUint32(out[w.off:], be.Uint32(dino[w.off:]))
		case 8:
			le.PutUint64(out[w.off:], be.Uint64(dino[w.off:]))
		}
	}
	return out
}

// TestReplayCowStaging: a direct write into a reflinked file allocates
// copy-on-write staging extents of the file's CoW extent size hint,
// more than the write remaps; the rest stays staged in the refcountbt
// (and the rmapbt, owned by OWN_COW) until the inode is evicted. A
// shutdown then leaves them on disk, and the kernel's next mount frees
// them (xfs_reflink_recover_cow). xfsbox frees them by rebuilding their
// AGs, judged against the kernel's replay (judgeLogically).
func TestReplayCowStaging(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Copy(t, "allfeatures")
	mnt, umount := testimg.LoopMount(t, img, "loop")
	src, dst := filepath.Join(mnt, "cow-src"), filepath.Join(mnt, "cow-dst")
	for _, args := range [][]string{
		{"-f", "-c", "pwrite -S 0x41 0 1m", "-c", "fsync", src},
		{"-f", "-c", "reflink " + src + " 0 0 1m", "-c", "fsync", dst},
		{"-d", "-c", "pwrite -S 0x42 64k 4k", "-c", "fsync", dst},
	} {
		if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", args...); err != nil {
			t.Fatalf("xfs_io %q: %v\n%s", args, err, out)
		}
	}
	testimg.Shutdown(t, mnt, true)
	umount()
	p := shutdownPoint{profile: "allfeatures", mode: "cow-staging", force: true}
	o := judgeDirty(t, p, img)
	if o.refused != "" || o.res.CowStaging == 0 || len(o.res.Rebuilt) == 0 {
		t.Fatalf("replay of a log leaving copy-on-write staging extents: refused %q, result %+v", o.refused, o.res)
	}
	t.Logf("%s", strings.Join(o.res.AfterWork, "; "))
	report(t, []outcome{o})
}

// TestReplayUnlinkedChunk: the inode removed while open is the only one
// of its chunk, so the kernel's freeing of it frees the chunk too
// (xfs_difree without the ikeep mount option); xfsbox's rebuild drops
// the chunk the same way. On a filesystem the kernel made, with the
// rmapbt (whose OWN_INODES record goes with the chunk) and sparse inode
// chunks; judged against the kernel's replay (judgeLogically).
func TestReplayUnlinkedChunk(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := mkfsImage(t, testimg.TmpfsDir(t), "chunk.img", "-m", "rmapbt=1,reflink=1", "-i", "sparse=1")
	mnt, umount := testimg.LoopMount(t, img, "loop")
	rootIno := statIno(t, mnt)
	// Files until one lands in a chunk of its own: that one is held
	// open, removed, and the filesystem shut down before its close.
	var held *os.File
	var heldIno uint64
	for i := 0; i < 1000 && held == nil; i++ {
		name := filepath.Join(mnt, fmt.Sprintf("f%d", i))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if ino := statIno(t, name); ino/64 != rootIno/64 {
			held, heldIno = f, ino
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
			break
		}
		f.Close()
	}
	if held == nil || heldIno%64 != 0 {
		t.Fatalf("no file alone in a new inode chunk (the last inode %d)", heldIno)
	}
	crashHolding(t, mnt, umount, held)
	p := shutdownPoint{profile: "rmapbt-sparse", mode: "unlinked-chunk", force: true}
	o := judgeDirty(t, p, img)
	if o.refused != "" || !slices.Equal(o.res.Freed, []uint64{heldIno}) || len(o.res.Rebuilt) == 0 || !strings.Contains(o.res.Rebuilt[0].Why, "inode chunk(s) freed") {
		t.Fatalf("replay of a log leaving inode %d, alone in its chunk, unlinked: refused %q, result %+v", heldIno, o.refused, o.res)
	}
	t.Logf("%s", strings.Join(o.res.AfterWork, "; "))
	report(t, []outcome{o})
}

// statIno is path's inode number.
func statIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// mkfsImage makes a 512 MiB filesystem in dir/name with mkfs.xfs args.
func mkfsImage(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	img := filepath.Join(dir, name)
	testimg.SparseFile(t, img, 512<<20)
	mkfs, err := testimg.LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testimg.RunTimed(t, time.Minute, mkfs, append(append([]string{"-q", "-f"}, args...), img)...); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	return img
}

// TestReplayUnlinkedBtree: the file removed while open maps its blocks
// through a bmbt (every other block of 2 MiB punched out), whose blocks
// may lie in any AG: xfsbox frees the inode and rebuilds every AG,
// judged against the kernel's replay (judgeLogically).
func TestReplayUnlinkedBtree(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := mkfsImage(t, testimg.TmpfsDir(t), "btree.img", "-m", "rmapbt=1,reflink=1", "-d", "agcount=4")
	mnt, umount := testimg.LoopMount(t, img, "loop")
	name := filepath.Join(mnt, "fragmented")
	args := []string{"-f", "-c", "pwrite -b 2m 0 2m", "-c", "fsync"}
	for off := 0; off < 2<<20; off += 8192 {
		args = append(args, "-c", fmt.Sprintf("fpunch %d 4096", off))
	}
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", append(args, "-c", "fsync", name)...); err != nil {
		t.Fatalf("xfs_io: %v\n%s", err, out)
	}
	held, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	ino := statIno(t, name)
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	crashHolding(t, mnt, umount, held)
	p := shutdownPoint{profile: "rmapbt-4ag", mode: "unlinked-btree", force: true}
	o := judgeDirty(t, p, img)
	if o.refused != "" || !slices.Equal(o.res.Freed, []uint64{ino}) || len(o.res.Rebuilt) != 4 ||
		!strings.Contains(o.res.Rebuilt[len(o.res.Rebuilt)-1].Why, "block map is a btree") {
		t.Fatalf("replay of a log leaving inode %d, a bmbt's, unlinked: refused %q, result %+v", ino, o.refused, o.res)
	}
	t.Logf("%s", strings.Join(o.res.AfterWork, "; "))
	report(t, []outcome{o})
}

// crashHolding shuts the filesystem at mnt down, its log forced, while
// held (a removed file) is open, then closes it and unmounts: the
// file's inode stays on its AGI unlinked list.
func crashHolding(t *testing.T, mnt string, umount func(), held *os.File) {
	t.Helper()
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", "-c", "fsync", mnt); err != nil {
		t.Fatalf("fsync: %v\n%s", err, out)
	}
	testimg.Shutdown(t, mnt, true)
	held.Close()
	umount()
}

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

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/replay"
	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// TestReplayUnfinishedEFI: the truncate of a file whose log holds the
// transaction that took its extent away (the inode, logged with no
// extents) and the free-extent intent for it, but not the EFD (the crash
// came before the free): the kernel's mount replays the inode and
// finishes the EFI, freeing the extent; xfsbox replays the inode and
// finishes the EFI by rebuilding the extent's AG from the inode scan.
// The log is written here, the way the kernel writes it, on a
// filesystem the kernel made (no rmapbt, whose record an RUI would have
// dropped first); the two replays are judged as every shutdown point
// whose after-work rebuilt AGs (judgeLogically), and the file reads
// the same (empty) through the kernel.
func TestReplayUnfinishedEFI(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	dir := testimg.TmpfsDir(t)
	img := mkfsImage(t, dir, "efi.img", "-m", "rmapbt=0,reflink=0")
	mnt, umount := testimg.LoopMount(t, img, "loop")
	file := filepath.Join(mnt, "victim")
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", "-f", "-c", "pwrite -S 0x77 0 64k", "-c", "fsync", file); err != nil {
		t.Fatalf("xfs_io: %v\n%s", err, out)
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
	fs, err := fsys.OpenImage(store.NewImage(store.MemDevice(raw), int64(len(raw)), "efi.img", false), fsys.OpenOptions{})
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
	dino := raw[blkno*512+int64(boff):][:g.InodeSize]
	core := logDinode(t, dino)
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
	efi := make([]byte, 32)
	le.PutUint16(efi, uint16(xlog.ItemEFI))
	le.PutUint16(efi[2:], 1)
	le.PutUint32(efi[4:], 1)
	le.PutUint64(efi[8:], 0xe1f0)
	le.PutUint64(efi[16:], exts[0].StartBlock)
	le.PutUint32(efi[24:], uint32(exts[0].Count))
	replay.NewLogWriter(t, raw).Transaction(0x7e1, [][]byte{format, core}, [][]byte{efi})
	dirty := filepath.Join(dir, "dirty.img")
	if err := os.WriteFile(dirty, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	p := shutdownPoint{profile: "efi", mode: "synthetic"}
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	copyFile(t, dirty, a)
	copyFile(t, dirty, b)
	res, refused := xfsboxReplay(t, b)
	if refused != "" || len(res.Unfinished) != 1 || len(res.Rebuilt) != 1 {
		t.Fatalf("replay of an unfinished EFI: refused %q, result %+v", refused, res)
	}
	t.Logf("%s", strings.Join(res.AfterWork, "; "))
	kernelReplay(t, a, "")
	from, to := logRange(t, a)
	judgeLogically(t, p, a, b, from, to, res)
	sameFiles(t, p, a, b)
	if clean, out := judge.XfsRepairN(t, b); !clean {
		t.Errorf("xfs_repair -n on xfsbox's replay:\n%s", out)
	}
	ourCheck(t, p, b)
	// The extent is free after the kernel's replay; after xfsbox's, free
	// or holding the AG's rebuilt trees (the spare sets agree).
	for _, x := range []string{a, b} {
		out, err := xfsdb.Run(x, fmt.Sprintf("fsblock %d", exts[0].StartBlock), "blockget", "blockuse")
		_, typ, _ := strings.Cut(strings.TrimSpace(out), " type ")
		ok := strings.HasPrefix(typ, "free") || (x == b && (typ == "btbno" || typ == "btcnt"))
		if err != nil || !ok {
			t.Errorf("%s: block %d after the replay: %v\n%s", filepath.Base(x), exts[0].StartBlock, err, out)
		}
	}
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
	if out, err := testimg.RunTimed(t, time.Minute, "xfs_io", "-c", "fsync", mnt); err != nil {
		t.Fatalf("fsync: %v\n%s", err, out)
	}
	testimg.Shutdown(t, mnt, true)
	held.Close()
	umount()
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

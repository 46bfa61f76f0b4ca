package log

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Oracle tests on logs the kernel writes while the test runs: copies of
// the test images made dirty by testdata/logwork.sh and a shutdown, and
// a small log run around its end. Each becomes a logFixture (the blocks
// from the tail to the head, and what xfs_logprint says) held to the
// same checks as the committed fixtures.

// liveFixture reads img's log between the tail and the head xfs_logprint
// finds, and its print of the log.
func liveFixture(t *testing.T, name, img string) *logFixture {
	t.Helper()
	lp, err := logprint.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	st := lp.State
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sbuf := make([]byte, BBSize)
	_, err = f.ReadAt(sbuf, 0)
	var sb *xfsformat.Superblock
	if err == nil {
		sb, err = xfsformat.DecodeSuperblock(sbuf)
	}
	var g *xfsformat.Geometry
	if err == nil {
		g, err = xfsformat.NewGeometry(sb)
	}
	if err != nil {
		t.Fatal(err)
	}
	agno, agbno, ok := g.InternalLogAG()
	if !ok {
		t.Fatal("no internal log")
	}
	start := g.ByteOffset(agno, agbno)
	fx := &logFixture{name: name, logBlocks: uint32(g.LogBlocks << (g.BlockLog - 9)), tail: st.Tail, head: st.Head, uuid: sb.UUID, trans: lp.TransText, plain: lp.PlainText}
	read := func(from, to uint32) {
		b := make([]byte, int(to-from)*BBSize)
		if _, err := f.ReadAt(b, start+int64(from)*BBSize); err != nil {
			t.Fatal(err)
		}
		fx.active = append(fx.active, b...)
	}
	if fx.tail <= fx.head {
		read(fx.tail, fx.head)
	} else {
		read(fx.tail, fx.logBlocks)
		read(0, fx.head)
	}
	return fx
}

// TestLiveDirtyLogs: the test images made dirty, with and without a log
// force at the shutdown, with small and large log buffers.
func TestLiveDirtyLogs(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, tc := range []struct {
		name, profile, mode, opts string
		force                     bool
	}{
		{"defaults", "defaults", "full", "", false},
		{"defaults-f", "defaults", "full", "", true},
		{"allfeatures-intents", "allfeatures", "intents", ",logbsize=256k", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.DirtyLog(t, tc.profile, tc.mode, tc.opts, tc.force)
			fx := liveFixture(t, tc.name, img)
			if fx.tail == fx.head {
				t.Fatal("the log is clean after a shutdown")
			}
			extended := checkRecords(t, fx)
			types := checkTransactions(t, fx)
			if types["BUF"] == 0 || types["INO"] == 0 {
				t.Errorf("no buffer or inode items: %v", types)
			}
			if tc.opts != "" && extended == 0 {
				t.Error("no record with extended headers: logbsize=256k did not take?")
			}
		})
	}
}

// TestLiveWrappedLog: the records from the tail to the head cross the
// log's end.
func TestLiveWrappedLog(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	fx := liveFixture(t, "wrapped", testimg.WrappedLog(t, testimg.TmpfsDir(t)))
	if fx.tail <= fx.head {
		t.Fatalf("tail %d head %d: not wrapped", fx.tail, fx.head)
	}
	checkRecords(t, fx)
	checkTransactions(t, fx)
}

// TestLiveInodeCores holds LogDinode.ToDisk to the kernel's replay: the
// last core the log holds of each inode, written as an on-disk inode,
// must be what a mount (which replays the log) leaves on disk, but for
// the fields recovery sets itself (di_next_unlinked, di_crc, di_lsn).
// Inodes the log leaves unlinked are skipped: the mount frees them.
func TestLiveInodeCores(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.DirtyLog(t, "allfeatures", "full", "", true)
	fx := liveFixture(t, "cores", img)
	type logged struct {
		core  *LogDinode
		where int64 // byte offset of the inode in the image
	}
	last := map[uint64]logged{}
	for _, tr := range assembleAll(t, fx.records(t), 0) {
		for _, raw := range tr.Items {
			if it, ok := DecodeItem(raw, tr.Order).(*InodeItem); ok && it.Core != nil {
				last[it.Format.Ino] = logged{it.Core, it.Format.Blkno*BBSize + int64(it.Format.Boffset)}
			}
		}
	}
	_, umount := testimg.LoopMount(t, img, "loop")
	umount()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	compared := 0
	for ino, l := range last {
		if l.core.Nlink == 0 {
			continue
		}
		disk := make([]byte, LogDinodeSize)
		if _, err := f.ReadAt(disk, l.where); err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), disk...)
		if err := l.core.ToDisk(disk, binary.BigEndian.Uint64(disk[112:])); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, want) {
			t.Errorf("inode %d: the logged core written on disk:\n%x\nthe kernel's replay:\n%x", ino, disk, want)
		}
		compared++
	}
	if compared < 10 {
		t.Errorf("only %d inodes compared", compared)
	}
	t.Logf("%d inodes' logged cores compared with the kernel's replay", compared)
}

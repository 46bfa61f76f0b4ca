//go:build bench

package testimg_test

import (
	"os"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// TestBenchImage checks the benchmark image: about 2 million free extents
// in AG 0. Building it takes minutes, so it runs only when asked for.
func TestBenchImage(t *testing.T) {
	if os.Getenv("XFSBOX_TEST_BENCH") != "1" {
		t.Skip("set XFSBOX_TEST_BENCH=1 to build and check the bench image (takes minutes)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "bench")
	extents := freeExtents(t, img, 0)
	lv := levels(t, img, 0)
	t.Logf("bench: %d free extents in AG 0; heights bnobt %d cntbt %d rmapbt %d", extents, lv.bno, lv.cnt, lv.rmap)
	if extents < 1900000 {
		t.Errorf("only %d free extents in AG 0", extents)
	}
	repairClean(t, img, 2)
}

// TestBenchInodesImage checks the inode-heavy benchmark image: about a
// million inodes (at least 800,000 in use) over 4 AGs, each AG's inobt
// more than one level high, xfs_repair -n clean. Building it takes
// minutes, so it runs only when asked for.
func TestBenchInodesImage(t *testing.T) {
	if os.Getenv("XFSBOX_TEST_BENCH") != "1" {
		t.Skip("set XFSBOX_TEST_BENCH=1 to build and check the bench images (takes minutes)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "benchinodes")
	sb, err := xfsdb.Print(img, "sb 0")
	if err != nil {
		t.Fatal(err)
	}
	icount, _ := sb.Uint("icount")
	ifree, _ := sb.Uint("ifree")
	agcount, _ := sb.Uint("agcount")
	t.Logf("benchinodes: %d inodes, %d free, %d AGs", icount, ifree, agcount)
	if icount-ifree < 800000 || ifree == 0 {
		t.Errorf("%d inodes with %d free: want at least 800000 in use and some free", icount, ifree)
	}
	for ag := 0; ag < int(agcount); ag++ {
		if lv := levels(t, img, ag); lv.ino < 2 || lv.rmap < 2 {
			t.Errorf("AG %d: inobt %d, rmapbt %d level(s) high, want >= 2", ag, lv.ino, lv.rmap)
		}
	}
	repairClean(t, img, agcount)
}

// TestFilesImage checks the files image: a directory of a million
// entries and a 1 GiB file of thousands of extents under a bmbt of three
// levels, xfs_repair -n clean. Building it takes minutes, so it runs
// only when asked for.
func TestFilesImage(t *testing.T) {
	if os.Getenv("XFSBOX_TEST_BENCH") != "1" {
		t.Skip("set XFSBOX_TEST_BENCH=1 to build and check the bench images (takes minutes)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "files")
	objs, err := xfsdb.PrintMany(img, [][]string{{"sb 0"}, {"path /big/gib"}, {"path /million"}})
	if err != nil {
		t.Fatal(err)
	}
	sb, big, dir := objs[0], objs[1], objs[2]
	icount, _ := sb.Uint("icount")
	size, _ := big.Uint("core.size")
	nextents, _ := big.Uint("core.nextents")
	level, _ := big.Uint("u3.bmbt.level")
	dirSize, _ := dir.Uint("core.size")
	t.Logf("files: %d inodes; /big/gib %d bytes, %d extents, bmbt root level %d; /million %d bytes of directory data",
		icount, size, nextents, level, dirSize)
	if icount < 1000000 {
		t.Errorf("%d inodes, want a million and more", icount)
	}
	if size != 1<<30 || nextents < 1000 || level < 2 {
		t.Errorf("/big/gib: %d bytes, %d extents, bmbt root level %d: want 1 GiB, >= 1000, >= 2", size, nextents, level)
	}
	// A data block entry of a 13-byte name takes 32 bytes: ask for 24.
	if dirSize < 1000000*24 {
		t.Errorf("/million: %d bytes of directory data, too few for a million entries", dirSize)
	}
	sbAgcount, _ := sb.Uint("agcount")
	repairClean(t, img, sbAgcount)
}

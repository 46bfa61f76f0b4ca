package testimg_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// TestV4 checks each v4 image's superblock (v4, its block size, file
// types in directory entries or not) and that xfs_repair -n finds it
// clean.
func TestV4(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, p := range testimg.V4Profiles() {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			sb, err := xfsdb.Print(img, "sb 0")
			if err != nil {
				t.Fatal(err)
			}
			v, err := sb.Uint("versionnum")
			if err != nil || v&0xf != 4 {
				t.Fatalf("versionnum %q, want a v4 superblock", sb.Value("versionnum"))
			}
			blksz, _ := sb.Uint("blocksize")
			f2, _ := sb.Uint("features2")
			wantBlk, wantFtype := uint64(4096), true
			if p == "v4-1k" {
				wantBlk, wantFtype = 1024, false
			}
			if blksz != wantBlk || (f2&0x200 != 0) != wantFtype { // XFS_SB_VERSION2_FTYPE
				t.Errorf("blocksize %d features2 %#x: want blocksize %d, ftype %v", blksz, f2, wantBlk, wantFtype)
			}
			agcount, _ := sb.Uint("agcount")
			repairClean(t, img, agcount)
		})
	}
}

// v4Want is a field of the object that cmds reach after `path
// /ag0/fmt/PATH`, and the value xfs_db must print for it.
type v4Want struct {
	path  string
	cmds  []string
	field string
	value string
}

// TestV4Formats checks with xfs_db that each v4 image holds what
// testdata/mkv4.sh says: every directory of its format (by the magic of
// its blocks, the shortform layout with or without file types), every
// file type, mode and owner, symlinks inline and remote, attribute forks
// of each format, the directories of ag0/ in AG 0 and AG 0's inobt two
// levels high, and the .sha256 agreeing with the contents of the files
// as xfs_db maps them.
func TestV4Formats(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, p := range testimg.V4Profiles() {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			g, err := xfsdb.ReadGeometry(img)
			if err != nil {
				t.Fatal(err)
			}
			sb, err := xfsdb.Print(img, "sb 0")
			if err != nil {
				t.Fatal(err)
			}
			inopblog, _ := sb.Uint("inopblog")
			leafOff := uint64(32<<30) / uint64(g.BlockSize)
			freeOff := 2 * leafOff
			sf := "u.sfdir3" // shortform entries with a file type
			if p == "v4-1k" {
				sf = "u.sfdir2"
			}
			dblock := func(n uint64) string { return "dblock " + strconv.FormatUint(n, 10) }
			local, extents := "1 (local)", "2 (extents)"
			wants := []v4Want{
				{"dirs/empty", nil, "core.format", local},
				{"dirs/empty", nil, sf + ".hdr.count", "0"},
				{"dirs/short", nil, "core.format", local},
				{"dirs/short", nil, sf + ".hdr.count", "7"},
				{"dirs/block", []string{"dblock 0"}, "bhdr.magic", "0x58443242"}, // XD2B
				{"dirs/leaf", []string{"dblock 0"}, "dhdr.magic", "0x58443244"},  // XD2D
				{"dirs/leaf", []string{dblock(leafOff)}, "lhdr.info.magic", "0xd2f1"},
				{"dirs/node", []string{dblock(leafOff)}, "nhdr.info.magic", "0xfebe"},
				{"dirs/node", []string{dblock(freeOff)}, "fhdr.magic", "0x58443246"}, // XD2F
				{"links/short", nil, "core.format", local},
				{"links/at-limit", nil, "core.format", local},
				{"links/at-limit", nil, "core.size", "156"},
				{"links/over-limit", nil, "core.format", extents},
				{"links/over-limit", nil, "core.size", "157"},
				{"links/long", nil, "core.format", extents},
				{"links/long", nil, "core.size", "1023"},
				{"links/long", nil, "core.uid", "42"},
				{"xattr/sf", nil, "core.aformat", local},
				{"xattr/leaf", []string{"ablock 0"}, "hdr.info.magic", "0xfbee"},
				{"xattr/node", []string{"ablock 0"}, "hdr.info.magic", "0xfebe"},
				{"xattr/remote", []string{"ablock 0"}, "hdr.info.magic", "0xfbee"},
				{"files/prealloc", nil, "core.size", "0"},
				{"files/size-8m", nil, "core.nextents", "1"},
			}
			// Every file type, and the modes and owners.
			for _, m := range []struct{ path, mode, uid, gid string }{
				{"dirs/short/reg", "0100644", "0", "0"},
				{"dirs/short/dir", "040755", "0", "0"},
				{"dirs/short/symlink", "0120777", "0", "0"},
				{"dirs/short/chr", "020644", "0", "0"},
				{"dirs/short/blk", "060660", "0", "6"},
				{"dirs/short/chrbig", "020600", "0", "0"},
				{"dirs/short/fifo", "010644", "0", "0"},
				{"modes/m0000", "0100000", "0", "0"},
				{"modes/m0640", "0100640", "1234", "5678"},
				{"modes/m4755", "0104755", "65534", "65534"},
				{"modes/m2710", "0102710", "0", "0"},
				{"modes/m6711", "0106711", "0", "0"},
				{"modes/m0777", "0100777", "3000000000", "3000000001"},
				{"modes/setgid-dir", "042775", "0", "100"},
			} {
				wants = append(wants,
					v4Want{m.path, nil, "core.mode", m.mode},
					v4Want{m.path, nil, "core.uid", m.uid},
					v4Want{m.path, nil, "core.gid", m.gid})
			}
			wants = append(wants, v4Want{"dirs/short/chrbig", nil, "u.dev", fmt.Sprintf("%#x", 300<<18|70000)})
			batches := make([][]string, len(wants))
			for i, w := range wants {
				batches[i] = append([]string{"path /ag0/fmt/" + w.path}, w.cmds...)
				batches[i] = append(batches[i], "print "+w.field)
			}
			objs, err := xfsdb.PrintMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range wants {
				if got := objs[i].Value(w.field); got != w.value {
					t.Errorf("%s %v: %s = %q, want %q %v", w.path, w.cmds, w.field, got, w.value, objs[i].Messages)
				}
			}

			// The node form's leaves: the da node's first child.
			node, err := xfsdb.Print(img, "path /ag0/fmt/dirs/node", dblock(leafOff), "print nbtree[0].before")
			if err != nil {
				t.Fatal(err)
			}
			before, err := node.Uint("nbtree[0].before")
			if err != nil {
				t.Fatal(err)
			}
			leafn, err := xfsdb.Print(img, "path /ag0/fmt/dirs/node", dblock(before), "print lhdr.info.magic")
			if err != nil || leafn.Value("lhdr.info.magic") != "0xd2ff" {
				t.Errorf("dirs/node block %d: magic %q, want a leafn (0xd2ff): %v", before, leafn.Value("lhdr.info.magic"), err)
			}
			// The leaf form: several data blocks, one leaf, no free index;
			// the block form one block; a remote attribute value.
			dirblk := max(uint64(g.BlockSize), 4096)
			fsbPerDir := dirblk / uint64(g.BlockSize)
			for _, c := range []struct {
				path        string
				attr        bool
				from, to    uint64
				least, most uint64
			}{
				{"dirs/leaf", false, 0, leafOff, 2 * fsbPerDir, 1 << 20},
				{"dirs/leaf", false, leafOff, freeOff, fsbPerDir, fsbPerDir},
				{"dirs/leaf", false, freeOff, 1 << 62, 0, 0},
				{"dirs/block", false, 0, 1 << 62, fsbPerDir, fsbPerDir},
				{"xattr/remote", true, 0, 1 << 62, 2, 1 << 20},
			} {
				cmd := "bmap"
				if c.attr {
					cmd = "bmap -a"
				}
				out, err := xfsdb.Run(img, "path /ag0/fmt/"+c.path, cmd)
				if err != nil {
					t.Fatal(err)
				}
				exts, err := xfsdb.ParseBmap(out)
				if err != nil {
					t.Fatal(err)
				}
				var n uint64
				for _, e := range exts {
					if e.Offset >= c.from && e.Offset < c.to {
						n += e.Count
					}
				}
				if n < c.least || n > c.most {
					t.Errorf("%s (attr %v): %d blocks at offsets [%d, %d), want %d to %d", c.path, c.attr, n, c.from, c.to, c.least, c.most)
				}
			}

			// The directories of ag0/ are in AG 0, and so its inobt is tall.
			var dirs []string
			for _, d := range []string{"", "/fmt", "/fmt/dirs", "/fmt/dirs/empty", "/fmt/dirs/short", "/fmt/dirs/block",
				"/fmt/dirs/leaf", "/fmt/dirs/node", "/fmt/files", "/fmt/links", "/fmt/modes", "/fmt/modes/setgid-dir", "/fmt/xattr"} {
				dirs = append(dirs, "/ag0"+d)
			}
			inos := inodeNumbers(t, img, append(dirs, "/ag1"))
			shift := uint64(g.AGBlkLog) + inopblog
			for i, d := range dirs {
				if ag := inos[i] >> shift; ag != 0 {
					t.Errorf("%s: inode %d is in AG %d", d, inos[i], ag)
				}
			}
			if ag := inos[len(dirs)] >> shift; ag != 1 {
				t.Errorf("/ag1: inode %d is in AG %d", inos[len(dirs)], ag)
			}
			if lv := levels(t, img, 0); lv.ino < 2 {
				t.Errorf("AG 0's inobt is %d level(s) high, want 2", lv.ino)
			}

			checkV4Hashes(t, img, g)
		})
	}
}

// inodeNumbers are the inode numbers of paths, by xfs_db's path.
func inodeNumbers(t *testing.T, img string, paths []string) []uint64 {
	t.Helper()
	batches := make([][]string, len(paths))
	for i, p := range paths {
		batches[i] = []string{"path " + p, "inode"}
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		t.Fatal(err)
	}
	inos := make([]uint64, len(paths))
	for i, out := range outs {
		var n uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "current inode number is %d", &n); err != nil {
			t.Fatalf("%s: %q: %v", paths[i], out, err)
		}
		inos[i] = n
	}
	return inos
}

// checkV4Hashes reads, through the extents xfs_db maps, the files of the
// image's .sha256 (every one but the directories of empty entries, and
// every 97th of those) and compares their sha256 with it: the hashes,
// taken from mkfs's sources, are the image's.
func checkV4Hashes(t *testing.T, img string, g xfsdb.Geometry) {
	t.Helper()
	hashes, err := testimg.ReadHashes(img + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	n := 0
	for _, p := range slices.Sorted(maps.Keys(hashes)) {
		if strings.Contains(p, "-entry-") {
			if n++; n%97 != 0 {
				continue
			}
		}
		paths = append(paths, p)
	}
	if len(hashes) < 1000 || len(paths) < 30 {
		t.Fatalf("%d hashes, %d checked", len(hashes), len(paths))
	}
	batches := make([][]string, len(paths))
	for i, p := range paths {
		batches[i] = []string{"path /" + p, "print core.size core.mode", "bmap"}
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bs := uint64(g.BlockSize)
	for i, out := range outs {
		head, bmap, _ := strings.Cut(out, "\ndata ")
		if bmap != "" {
			bmap = "data " + bmap
		}
		o := xfsdb.Parse(head)
		size, err := o.Uint("core.size")
		mode, merr := strconv.ParseUint(o.Value("core.mode"), 0, 32) // octal
		if err != nil || merr != nil || mode&0o170000 != 0o100000 || size > 64<<20 {
			t.Errorf("/%s: size %q mode %q: not a regular file of at most 64 MiB", paths[i], o.Value("core.size"), o.Value("core.mode"))
			continue
		}
		exts, err := xfsdb.ParseBmap(bmap)
		if err != nil {
			t.Fatalf("/%s: %v", paths[i], err)
		}
		data := make([]byte, size) // holes and unwritten extents read as zeros
		for _, e := range exts {
			if e.Attr || e.Flag != 0 || e.Offset*bs >= size {
				continue
			}
			agno, agbno := e.StartBlock>>g.AGBlkLog, e.StartBlock&(1<<g.AGBlkLog-1)
			at := int64((agno*uint64(g.AGBlocks) + agbno) * bs)
			want := min(e.Count*bs, size-e.Offset*bs)
			if _, err := io.ReadFull(io.NewSectionReader(f, at, int64(want)), data[e.Offset*bs:e.Offset*bs+want]); err != nil {
				t.Fatalf("/%s: %v", paths[i], err)
			}
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != hashes[paths[i]] {
			t.Errorf("/%s: sha256 %s in the image, %s in the .sha256", paths[i], got, hashes[paths[i]])
		}
	}
}

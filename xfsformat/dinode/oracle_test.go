package dinode

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// oracleProfiles are the images TestOracle reads: every feature, the
// mkfs defaults, 1 KiB blocks, large extent counters, legacy timestamps
// (rhel7), 64 KiB blocks (two inode chunks a block), 2 KiB inodes.
var oracleProfiles = []string{"allfeatures", "defaults", "1k", "nrext64", "rhel7", "64k", "isize2k"}

// delegated are the xfs_db fields other packages decode: local
// directory and attribute forks.
var delegated = []string{"u3.sfdir3", "u3.sfdir2", "u.sfdir2", "u.sfdir3", "a.sfattr"}

func isDelegated(name string) bool {
	for _, p := range delegated {
		if strings.HasPrefix(name, p+".") || strings.HasPrefix(name, p+"[") {
			return true
		}
	}
	return false
}

// render writes fields as "name = text" lines, as xfs_db prints them.
func render(fields []xfsformat.Field) string {
	var sb strings.Builder
	for _, f := range fields {
		sb.WriteString(f.Name + " = " + f.Text + "\n")
	}
	return sb.String()
}

// pick chooses the inodes to compare: every one that is not an empty
// regular file (directories, symlinks, files with data, attr forks,
// btree forks of either kind), and of the empty regular files and the
// free inodes the first few and every 97th. XFSBOX_DINODE_ALL=1 takes
// every inode (minutes a profile).
func pick(t *testing.T, im *image, slots []slot) []*Core {
	t.Helper()
	every := os.Getenv("XFSBOX_DINODE_ALL") == "1"
	var out []*Core
	seen := map[string]int{}
	for i, s := range slots {
		c, err := Decode(im.Inode(t, s.ino))
		if err != nil {
			t.Fatal(err)
		}
		if s.free != (c.Mode == 0) {
			t.Errorf("inode %d: inobt says free %v, mode %#o", s.ino, s.free, c.Mode)
		}
		plain := c.Mode == 0 || (c.FileType() == xfsformat.ModeRegular && c.NExtents == 0 && c.ANExtents == 0 &&
			(c.ForkOff == 0 || c.AFormat == xfsformat.FmtExtents))
		class := fmt.Sprintf("%o/%d/%d/%d", c.FileType(), c.Format, c.ForkOff, c.AFormat)
		if plain && !every && seen[class] >= 3 && i%97 != 0 {
			continue
		}
		seen[class]++
		out = append(out, c)
	}
	return out
}

// TestOracle compares, for every inode pick chooses, what we decode with
// what xfs_db prints: `inode N` then `print`, field for field (the
// local directory and attribute forks aside), and `bmap` then `bmap
// -a`, line for line. The inode must also pass Verify (a false alarm
// on a clean image is a failure), encode back to its own bytes, and
// map any range of its forks the way its whole extent list does.
func TestOracle(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	t.Setenv("TZ", "UTC") // xfs_db prints timestamps in local time
	shapes := map[string]int{}
	for _, profile := range oracleProfiles {
		t.Run(profile, func(t *testing.T) {
			im := openImage(t, profile)
			for s, n := range compareAll(t, im, pick(t, im, im.inodes(t))) {
				shapes[s] += n
			}
		})
	}
	for _, want := range []string{"dir local", "dir extents", "dir btree", "symlink local", "symlink extents",
		"regular extents", "regular btree", "attr local", "attr extents", "attr btree", "free", "unwritten"} {
		if shapes[want] == 0 {
			t.Errorf("no inode of shape %q compared", want)
		}
	}
}

// TestOracleProto compares every inode of a small image mkfs.xfs
// populates from a prototype file (no mount, no root): the device and
// fifo inodes the test matrix lacks, an empty directory and file.
func TestOracleProto(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	t.Setenv("TZ", "UTC")
	dir := t.TempDir()
	proto := "/dev/null\n0 0\nd--755 0 0\nblk b--644 0 0 8 1\nchr c--600 7 9 1 3\nfifo p--644 0 0\n" +
		"empty ---600 0 0 /dev/null\nsub d--700 0 0\n$\nlink l--777 0 0 sub\n$\n"
	img := filepath.Join(dir, "proto.img")
	if err := os.WriteFile(filepath.Join(dir, "proto"), []byte(proto), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(img, 300<<20); err != nil {
		t.Fatal(err)
	}
	mkfs, err := testimg.LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-f", "-K", "-p", filepath.Join(dir, "proto"), img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	im := openPath(t, img)
	var cores []*Core
	for _, s := range im.inodes(t) {
		c, err := Decode(im.Inode(t, s.ino))
		if err != nil {
			t.Fatal(err)
		}
		cores = append(cores, c)
	}
	shapes := compareAll(t, im, cores)
	if shapes["other"] < 3 {
		t.Errorf("the device and fifo inodes were not compared: %v", shapes)
	}
}

// compareAll compares the inodes with xfs_db's print and bmap of them,
// running one xfs_db for all, and counts their shapes.
func compareAll(t *testing.T, im *image, cores []*Core) map[string]int {
	t.Helper()
	batches := make([][]string, len(cores))
	for i, c := range cores {
		batches[i] = []string{"inode " + strconv.FormatUint(c.Ino, 10), "bmap", "bmap -a", "print"}
	}
	shapes := map[string]int{}
	err := xfsdb.EachObject(im.Path, batches, func(i int, o *xfsdb.Object) error {
		checkInode(t, im, cores[i], o)
		shapes[shape(cores[i])]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d inodes compared: %v", len(cores), shapes)
	return shapes
}

// shape names what an inode exercises, for the coverage check.
func shape(c *Core) string {
	if c.Mode == 0 {
		return "free"
	}
	kinds := map[uint16]string{xfsformat.ModeDir: "dir", xfsformat.ModeSymlink: "symlink", xfsformat.ModeRegular: "regular"}
	formats := []string{"dev", "local", "extents", "btree"}
	k, ok := kinds[c.FileType()]
	if !ok || int(c.Format) >= len(formats) {
		return "other"
	}
	s := k + " " + formats[c.Format]
	if c.ForkOff != 0 && c.AFormat < 4 && (c.ANExtents != 0 || c.AFormat == xfsformat.FmtLocal) {
		s = "attr " + formats[c.AFormat]
	}
	if c.Format == xfsformat.FmtExtents {
		if recs, _ := c.Extents(false); slices.ContainsFunc(recs, func(r xfsformat.BmbtRec) bool { return r.Unwritten }) {
			s = "unwritten"
		}
	}
	return s
}

func checkInode(t *testing.T, im *image, c *Core, o *xfsdb.Object) {
	t.Helper()
	var dbBmap, other []string
	for _, m := range o.Messages {
		if strings.HasPrefix(m, "data offset ") || strings.HasPrefix(m, "attr offset ") {
			dbBmap = append(dbBmap, m)
		} else {
			other = append(other, m)
		}
	}
	if len(other) > 0 {
		t.Errorf("inode %d: xfs_db said %q", c.Ino, other)
	}
	compareDB(t, im.fs, c, o, dbBmap, im.reader(t))
	for _, attr := range []bool{false, true} {
		checkRanges(t, im, c, attr)
	}
	if c.FileType() == xfsformat.ModeSymlink {
		target, err := Target(im.fs, c, im.reader(t))
		if err != nil {
			t.Errorf("inode %d: symlink target: %v", c.Ino, err)
		} else if len(target) != int(c.Size) {
			t.Errorf("inode %d: target of %d bytes, size %d", c.Ino, len(target), c.Size)
		}
		if c.Format == xfsformat.FmtLocal && CharsText(target) != o.Value("u3.symlink") {
			t.Errorf("inode %d: target %q, xfs_db %s", c.Ino, target, o.Value("u3.symlink"))
		}
	}
}

// compareDB checks an inode against what xfs_db printed of it: o is its
// print, bmap the lines of its "bmap" then "bmap -a" (or the first of
// them). Our fields, rendered and parsed as xfs_db's, must equal its
// own (the local directory and attribute forks aside) and our bmap its
// lines; and a healthy inode must pass Verify and encode to its bytes.
func compareDB(t *testing.T, fs *FS, c *Core, o *xfsdb.Object, bmap []string, read BlockReader) {
	t.Helper()
	ours := xfsdb.Parse(render(c.Fields(fs, nil)))
	var want []xfsdb.Field
	for _, f := range o.Fields {
		if !isDelegated(f.Name) {
			want = append(want, f)
		}
	}
	if !reflect.DeepEqual(ours.Fields, want) {
		t.Errorf("inode %d: fields differ:\n%s", c.Ino, diffFields(ours.Fields, want))
	}
	var wantArrays []*xfsdb.Array
	for _, a := range o.Arrays {
		if !isDelegated(a.Name) {
			wantArrays = append(wantArrays, a)
		}
	}
	if !reflect.DeepEqual(ours.Arrays, wantArrays) {
		t.Errorf("inode %d: arrays differ:\nours   %s\nxfs_db %s", c.Ino, arraysText(ours.Arrays), arraysText(wantArrays))
	}
	var got []string
	data, attr := DBBmapForks(c)
	for _, f := range []struct{ attr, on bool }{{false, data}, {true, attr}, {true, true}} {
		if !f.on {
			continue
		}
		if err := NewMap(fs, c, f.attr, read).DBBmap(func(l string) error {
			got = append(got, l)
			return nil
		}); err != nil && len(got) < len(bmap) {
			t.Errorf("inode %d: bmap (attr %v): %v", c.Ino, f.attr, err)
		}
	}
	if !slices.Equal(got[:min(len(got), len(bmap))], bmap) || len(got) < len(bmap) {
		t.Errorf("inode %d: bmap differs:\nours   %q\nxfs_db %q", c.Ino, head(got), head(bmap))
	}
	if errs := Verify(fs, c, c.Ino); len(errs) > 0 {
		t.Errorf("inode %d: healthy inode fails Verify: %v", c.Ino, errs)
	}
	if b := c.Bytes(); !bytes.Equal(b, c.Buf) {
		t.Errorf("inode %d: Bytes() differs from the inode read", c.Ino)
	}
}

// checkRanges maps ranges of a fork through the bmbt lookup (Bmap from
// an offset), through the whole extent list (BmapExtents), and through a
// map that knows its list (Map.Known, as a caller's cache serves it,
// reading nothing): they must agree, holes and unwritten pieces
// included, and cover the range.
func checkRanges(t *testing.T, im *image, c *Core, attr bool) {
	t.Helper()
	m := NewMap(im.fs, c, attr, im.reader(t))
	all, err := m.Extents()
	if err != nil {
		t.Errorf("inode %d attr %v: %v", c.Ino, attr, err)
		return
	}
	known := NewMap(im.fs, c, attr, func(fsb uint64) ([]byte, error) {
		t.Errorf("inode %d attr %v: a map that knows its extents read block %d", c.Ino, attr, fsb)
		return nil, errors.New("no reads")
	})
	known.Known = all
	checkRangesOf(t, c, attr, m, all)
	checkRangesOf(t, c, attr, known, all)
}

func checkRangesOf(t *testing.T, c *Core, attr bool, m *Map, all []xfsformat.BmbtRec) {
	t.Helper()
	if len(all) == 0 {
		return
	}
	last := all[len(all)-1]
	end := last.StartOff + uint64(last.BlockCount)
	offs := []uint64{0, 1, end / 3, end / 2, end - 1, end, end + 5}
	for _, r := range all[:min(len(all), 4)] {
		offs = append(offs, r.StartOff, r.StartOff+uint64(r.BlockCount))
	}
	for _, off := range offs {
		for _, n := range []uint64{1, 3, end/4 + 1, end + 10} {
			want := BmapExtents(all, off, n)
			var got []Mapping
			if err := m.Bmap(off, n, func(p Mapping) error {
				got = append(got, p)
				return nil
			}); err != nil {
				t.Errorf("inode %d attr %v bmap %d+%d: %v", c.Ino, attr, off, n, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("inode %d attr %v bmap %d+%d:\n got %+v\nwant %+v", c.Ino, attr, off, n, got, want)
			}
			var covered uint64
			for _, p := range got {
				covered += p.Count
			}
			if covered != n {
				t.Errorf("inode %d attr %v bmap %d+%d covers %d blocks", c.Ino, attr, off, n, covered)
			}
		}
	}
}

func head(l []string) []string { return l[:min(len(l), 8)] }

func diffFields(got, want []xfsdb.Field) string {
	var sb strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w xfsdb.Field
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&sb, "  %d: ours %s = %q, xfs_db %s = %q\n", i, g.Name, g.Value, w.Name, w.Value)
		}
	}
	return sb.String()
}

func arraysText(as []*xfsdb.Array) string {
	var sb strings.Builder
	for _, a := range as {
		fmt.Fprintf(&sb, "%s[%d-%d]%v%v ", a.Name, a.First, a.Last, a.Columns, a.Rows[:min(len(a.Rows), 4)])
	}
	return sb.String()
}

// TestOracleV4Core compares the cores of the first inode chunk of a v4
// image (v2 inodes: di_flushiter, no v3 fields) with xfs_db's print.
// Only the core: the forks of v1 and v2 inodes are not read yet (their
// literal area starts after the v2 core).
func TestOracleV4Core(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	t.Setenv("TZ", "UTC")
	path := testimg.Image(t, "v4")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, xfsformat.SBSize)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	sb, err := xfsformat.DecodeSuperblock(b)
	if err != nil {
		t.Fatal(err)
	}
	fs := NewFS(sb, nil)
	if fs.CRC {
		t.Fatal("the v4 image is a v5 filesystem")
	}
	var cores []*Core
	var batches [][]string
	for ino := sb.RootIno; ino < sb.RootIno+xfsformat.InodesPerChunk; ino++ {
		buf := make([]byte, sb.InodeSize)
		if _, err := f.ReadAt(buf, int64(ino)*int64(sb.InodeSize)); err != nil { // AG 0: agino = ino
			t.Fatal(err)
		}
		c, err := Decode(buf)
		if err != nil {
			t.Fatal(err)
		}
		cores = append(cores, c)
		batches = append(batches, []string{"inode " + strconv.FormatUint(ino, 10), "print"})
	}
	err = xfsdb.EachObject(path, batches, func(i int, o *xfsdb.Object) error {
		var want []xfsdb.Field
		for _, f := range o.Fields {
			if strings.HasPrefix(f.Name, "core.") || f.Name == "next_unlinked" {
				want = append(want, f)
			}
		}
		if got := xfsdb.Parse(render(cores[i].CoreFields(fs))).Fields; !reflect.DeepEqual(got, want) {
			t.Errorf("inode %d: fields differ:\n%s", sb.RootIno+uint64(i), diffFields(got, want))
		}
		if cores[i].Version != 2 {
			t.Errorf("inode %d: version %d on a v4 filesystem", sb.RootIno+uint64(i), cores[i].Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

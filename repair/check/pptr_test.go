package check

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// TestCheckParentPointers: on the parent profile (the kernel wrote a
// parent pointer for every name), the check is clean, and each damage
// made with xfs_db to a copy gives exactly the parent pointer findings
// it must, on the inode it must: a generation that is not the
// directory's (in a shortform attribute fork and in a node fork's
// leaf), a renamed parent pointer (its entry has none, it names no
// entry), one pointed at another directory, and a renamed directory
// entry. xfs_repair 6.1 cannot judge these images (it refuses the
// parent feature), so the damage is the ground truth: each case's
// findings are compared with what was changed.
func TestCheckParentPointers(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	pristine := testimg.Image(t, "parent")
	if got := checkImage(t, pristine); len(got) != 0 {
		t.Fatalf("the clean parent image: %v", got)
	}
	fs, err := fsys.Open(pristine, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	inode := func(p string) *fsys.Inode {
		in, err := fs.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	// value is the hex of a parent record naming directory d, its
	// generation plus delta.
	value := func(d *fsys.Inode, delta uint32) string {
		var b [12]byte
		binary.BigEndian.PutUint64(b[:], d.Ino)
		binary.BigEndian.PutUint32(b[8:], d.Gen+delta)
		return "0x" + hex.EncodeToString(b[:])
	}
	// parentAt is the directory the index-th parent pointer of in names.
	parentAt := func(in *fsys.Inode, index int) *fsys.Inode {
		var dirs []uint64
		if err := fs.Parents(in, func(p fsys.Parent) error { dirs = append(dirs, p.Dir); return nil }); err != nil {
			t.Fatal(err)
		}
		d, err := fs.Inode(dirs[index])
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	few := inode("/ag0/pptr/a/few")           // three names: a shortform fork
	target := inode("/ag0/pptr/links/target") // 260 names: a node fork
	links := inode("/ag0/pptr/links")
	cb := inode("/ag0/pptr/c/b") // a shortform directory naming few
	if few.AFormat != 1 || target.AFormat != 2 {
		t.Fatalf("attr fork formats %d and %d: the image no longer has the forks the cases edit", few.AFormat, target.AFormat)
	}
	at := func(in *fsys.Inode) string { return "inode " + strconv.FormatUint(in.Ino, 10) }
	type want struct {
		code string
		ino  uint64
	}
	for _, tc := range []struct {
		name string
		cmds []string
		want []want
	}{
		{"generation, shortform fork", []string{at(few), "write -d a.sfattr.list[0].value " + value(parentAt(few, 0), 1)},
			[]want{{"pptr.gen", few.Ino}}},
		{"generation, leaf of a node fork", []string{at(target), "ablock 1", "write -d nvlist[0].value " + value(links, 7)},
			[]want{{"pptr.gen", target.Ino}}},
		{"parent pointer renamed", []string{at(few), `write -d a.sfattr.list[1].name "fex"`},
			[]want{{"pptr.dangling", few.Ino}, {"pptr.missing", few.Ino}}},
		{"parent pointer to another directory", []string{at(few), "write -d a.sfattr.list[2].value " + value(links, 0)},
			[]want{{"pptr.dangling", few.Ino}, {"pptr.missing", few.Ino}}},
		{"directory entry renamed", []string{at(cb), fmt.Sprintf(`write -d %s.name "fex"`, sfEntry(t, fs, cb, "few"))},
			[]want{{"pptr.dangling", few.Ino}, {"pptr.missing", few.Ino}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.Copy(t, "parent")
			xfsdbWrite(t, img, tc.cmds)
			var got []want
			for _, f := range checkImage(t, img) {
				got = append(got, want{f.Code, f.Ino})
			}
			slices.SortFunc(got, func(a, b want) int { return cmp.Compare(a.code, b.code) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			// One inode's check (inodes/N/health) sees the same.
			dfs, err := fsys.Open(img, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer dfs.Close()
			one, err := CheckInode(context.Background(), dfs, tc.want[0].ino)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, f := range one.List() {
				got = append(got, want{f.Code, f.Ino})
			}
			slices.SortFunc(got, func(a, b want) int { return cmp.Compare(a.code, b.code) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("CheckInode: findings %v, want %v", got, tc.want)
			}
		})
	}
}

// sfEntry is the xfs_db field prefix of shortform directory d's entry
// name ("u3.sfdir3.list[1]"), by its place in the fork.
func sfEntry(t *testing.T, fs *fsys.FS, d *fsys.Inode, name string) string {
	t.Helper()
	i := 0
	found := -1
	if err := fs.ReadDir(d, 0, func(e dir.Entry) error {
		if string(e.Name) == "." || string(e.Name) == ".." {
			return nil
		}
		if string(e.Name) == name {
			found = i
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if found < 0 {
		t.Fatalf("directory %d has no %q", d.Ino, name)
	}
	return fmt.Sprintf("u3.sfdir3.list[%d]", found)
}

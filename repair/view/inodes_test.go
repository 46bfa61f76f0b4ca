package view_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestInodeViewOracle: inodes/N/inode prints what xfs_db's "inode N"
// then "print" prints, line for line (the local directory and attribute
// forks included), followed by "identity = ok"; inodes/N/bmap prints
// what xfs_db's bmap prints (both forks). Every directory, symlink, inode
// with attributes and btree-format inode, and every 40th other
// allocated inode, of the allfeatures, defaults and 1k images and the
// v4 ones (v2 inode cores).
func TestInodeViewOracle(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	t.Setenv("TZ", "UTC") // xfs_db prints times in local time
	for _, prof := range append([]string{"allfeatures", "defaults", "1k"}, testimg.V4Profiles()...) {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			fs, err := fsys.Open(img, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			tree := view.NewTree(fs)
			ctx := context.Background()
			var inos []uint64
			n := 0
			err = tree.EachInode(ctx, func(ino uint64) error {
				in, err := fs.ReadInode(ino)
				if err != nil {
					return err
				}
				n++
				if in.FileType() == xfsformat.ModeDir || in.FileType() == xfsformat.ModeSymlink || in.ANExtents > 0 || in.ForkOff != 0 && in.AFormat == xfsformat.FmtLocal && len(in.Fork(true)) > 4 && in.Fork(true)[2] > 0 ||
					in.Format == xfsformat.FmtBtree || n%40 == 0 {
					inos = append(inos, ino)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			render := func(p string) string { return render(t, ctx, tree, p) }
			var batches [][]string
			for _, ino := range inos {
				s := "inode " + strconv.FormatUint(ino, 10)
				batches = append(batches, []string{s, "print"}, []string{s, "bmap"})
			}
			outs, err := xfsdb.RunMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			for i, ino := range inos {
				s := strconv.FormatUint(ino, 10)
				want := outs[2*i]
				if got := render("inodes/" + s + "/inode"); got != want+"identity = ok\n" {
					t.Fatalf("inode %d differs from xfs_db:\n%s", ino, lineDiff(got, want))
				}
				wantBmap := outs[2*i+1]
				if got := render("inodes/" + s + "/bmap"); got != wantBmap {
					t.Fatalf("bmap of inode %d differs from xfs_db:\n%s", ino, lineDiff(got, wantBmap))
				}
			}
			t.Logf("%d inodes compared", len(inos))
		})
	}
}

func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return "line " + strconv.Itoa(i+1) + ":\n  ours:   " + g[i] + "\n  xfs_db: " + w[i]
		}
	}
	return "ours has " + strconv.Itoa(len(g)) + " lines, xfs_db " + strconv.Itoa(len(w))
}

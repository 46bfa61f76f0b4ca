package check

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// inoOf is the inode xfs_db's path command finds at p.
func inoOf(t *testing.T, img, p string) uint64 {
	t.Helper()
	out, err := exec.Command("xfs_db", "-r", "-c", "path "+p, "-c", "print v3.inumber", img).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f := strings.Fields(string(out))
	ino, err := strconv.ParseUint(f[len(f)-1], 10, 64)
	if err != nil {
		t.Fatalf("xfs_db path %s: %q", p, out)
	}
	return ino
}

func codes(list []Finding) []string {
	var out []string
	for _, f := range list {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestCheckInode: CheckInode (inodes/N/health) is clean on every inode
// of the formats tree of a clean image, and on damage that xfs_repair -n
// reports it names the same problem as the whole check: a link count
// one too high, a directory's leaf entry pointing elsewhere, a
// directory entry's file type, the root on an unlinked list or with an
// attr format of 0 and no attr fork.
func TestCheckInode(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	ctx := context.Background()
	clean := testimg.Image(t, "allfeatures")
	fs, err := fsys.Open(clean, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = fs.AllocatedInodes(ctx, func(ino uint64) error {
		if checked++; checked > 3000 {
			return context.Canceled
		}
		f, err := CheckInode(ctx, fs, ino)
		if err != nil {
			return err
		}
		if l := f.List(); len(l) > 0 {
			t.Errorf("inode %d of a clean image: %v", ino, l)
		}
		return nil
	})
	fs.Close()
	if err != nil && err != context.Canceled {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		cmds       []string
		code       string
	}{
		{"nlink", "/ag0/fmt/files/linked", []string{"write core.nlinkv2 5"}, "inode.nlink"},
		{"leaf address", "/ag0/fmt/dirs/leaf", []string{"dblock 8388608", "write -d lents[3].address 12"}, "dir.index"},
		{"ftype", "/ag0/fmt/dirs/short", []string{"write u3.sfdir3.list[0].filetype 2"}, "dir.ftype"},
		// xfs_repair's rules beyond the kernel's, on the root.
		{"next_unlinked", "/", []string{"fuzz -d next_unlinked add"}, "inode.next_unlinked"},
		{"aformat", "/", []string{"write core.aformat 0"}, "inode.aformat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			ino := inoOf(t, img, tc.path)
			args := []string{"-x", "-c", "path " + tc.path}
			for _, c := range tc.cmds {
				args = append(args, "-c", c)
			}
			if out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if clean, _ := judge.XfsRepairN(t, img); clean {
				t.Fatal("xfs_repair -n finds the damage clean: the case proves nothing")
			}
			whole := codes(checkImage(t, img))
			if !slices.Contains(whole, tc.code) {
				t.Errorf("check: %v, want %s", whole, tc.code)
			}
			fs, err := fsys.Open(img, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			// The ftype case's finding is the directory's; the others the inode's.
			f, err := CheckInode(ctx, fs, ino)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(f.List()); !slices.Contains(got, tc.code) && tc.code != "dir.ftype" {
				t.Errorf("inodes/%d/health: %v, want %s", ino, got, tc.code)
			}
		})
	}
}

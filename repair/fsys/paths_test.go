package fsys

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestPathsMatchXfsDB: for every regular file the generator made, the
// inode xfs_db's path command finds names it, and Paths of that inode is
// exactly the set of generated paths xfs_db resolves to it (the hard
// links' names, all of them), through the index built in the workspace.
func TestPathsMatchXfsDB(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, prof := range []string{"allfeatures", "1k"} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			fs, err := Open(img, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			fs.Scratch.ScratchDir = t.TempDir() // the index in an unnamed file there
			want := map[uint64][]string{}
			for p, ino := range fileInodes(t, img, testimg.Hashes(t, prof)) {
				want[ino] = append(want[ino], "/"+p)
			}
			links := 0
			for ino, ps := range want {
				slices.Sort(ps)
				got, err := fs.Paths(context.Background(), ino)
				if err != nil {
					t.Fatalf("inode %d: %v", ino, err)
				}
				// Paths the generator did not hash (none for regular
				// files) would show as extra names here.
				if !slices.Equal(got, ps) {
					t.Errorf("inode %d: paths %q, xfs_db resolves %q to it", ino, got, ps)
				}
				if len(ps) > 1 {
					links++
				}
			}
			t.Logf("%d inodes, %d with more than one name", len(want), links)
			if links == 0 {
				t.Error("no hard-linked file among the generated ones: the test proves less than it says")
			}
			if fs.paths == nil || fs.paths.refs.Len() < int64(len(want)) {
				t.Errorf("the index holds fewer entries than the files it answered for")
			}
			fs.Invalidate()
			if fs.paths != nil {
				t.Error("Invalidate left the paths index")
			}
		})
	}
}

// TestPathsSelfNamed: a directory whose "." was renamed (the campaign's
// dir-leaf-data du[0].name case: an entry naming the directory itself)
// made Paths recurse without end; its paths are its own and one turn
// through itself.
func TestPathsSelfNamed(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	if out, err := exec.Command("xfs_db", "-x", "-c", "path /ag0/fmt/dirs/leaf", "-c", "dblock 0", "-c", "fuzz -d du[0].name firstbit", img).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	d, err := fs.Resolve("/ag0/fmt/dirs/leaf")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := fs.Paths(ctx, d.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/ag0/fmt/dirs/leaf", "/ag0/fmt/dirs/leaf/\xae"}; !slices.Equal(got, want) {
		t.Errorf("paths %q, want %q", got, want)
	}
}

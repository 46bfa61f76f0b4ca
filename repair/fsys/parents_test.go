package fsys_test

import (
	"context"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// TestParentPointersMatchKernel: on the parent profile (every name the
// kernel made has a parent pointer), for every inode reachable on the
// kernel's read-only mount, Parents gives exactly the parent pointers
// the kernel's getparents ioctl gives (directory, generation, name;
// none for the root, which getparents flags as the root), and Paths,
// which follows parent pointers up on such a filesystem, gives exactly
// the paths the mount's walk finds for the inode. Paths is then asked
// again with the parent pointers ignored (the index of a tree walk),
// and must agree.
func TestParentPointersMatchKernel(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	img := testimg.Image(t, "parent")
	kernel := judge.KernelParents(t, img)
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if !fs.HasParentPointers() {
		t.Fatal("the parent profile's image has no parent feature bit")
	}
	ctx := context.Background()
	var pptrs, multi, leafForks int
	for ino, k := range kernel {
		in, err := fs.Inode(ino)
		if err != nil {
			t.Fatalf("inode %d (%s): %v", ino, k.Paths[0], err)
		}
		var got []judge.KernelParent
		if err := fs.Parents(in, func(p fsys.Parent) error {
			got = append(got, judge.KernelParent{Dir: p.Dir, Gen: p.Gen, Name: string(p.Name)})
			return nil
		}); err != nil {
			t.Fatalf("inode %d (%s): %v", ino, k.Paths[0], err)
		}
		slices.SortFunc(got, judge.CompareParents)
		if !slices.Equal(got, k.Parents) {
			t.Errorf("inode %d (%s): parent pointers %v, the kernel's getparents %v", ino, k.Paths[0], got, k.Parents)
		}
		if k.Root != (ino == fs.RootIno()) {
			t.Errorf("inode %d: getparents says root %v, the superblock's root is %d", ino, k.Root, fs.RootIno())
		}
		paths, err := fs.Paths(ctx, ino)
		if err != nil {
			t.Fatalf("inode %d (%s): paths: %v", ino, k.Paths[0], err)
		}
		if !slices.Equal(paths, k.Paths) {
			t.Errorf("inode %d: paths %q, the kernel's mount %q", ino, paths, k.Paths)
		}
		pptrs += len(got)
		if len(got) > 1 {
			multi++
		}
		if in.ForkOff != 0 && in.AFormat != 1 && len(got) > 0 {
			leafForks++
		}
	}
	t.Logf("%d inodes, %d parent pointers, %d inodes with several, %d in leaf or node attribute forks", len(kernel), pptrs, multi, leafForks)
	if pptrs < len(kernel)-1 || multi == 0 || leafForks == 0 {
		t.Fatal("the image does not hold what the test needs: a parent pointer for every inode but the root, hard links, and parent pointers in attribute blocks")
	}
}

package fsys

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// widestBtreeFile finds the regular file whose data fork is a bmbt with
// the most pointers in its root (the image's many-extent files).
func widestBtreeFile(t *testing.T, fs *FS) (*Inode, *dinode.Root) {
	t.Helper()
	var best *Inode
	var bestRoot *dinode.Root
	err := fs.AllocatedInodes(context.Background(), func(ino uint64) error {
		in, err := fs.Inode(ino)
		if err != nil || in.FileType() != xfsformat.ModeRegular || in.Format != xfsformat.FmtBtree {
			return nil
		}
		r, err := dinode.DecodeRoot(in.Fork(false))
		if err == nil && (bestRoot == nil || len(r.Ptrs) > len(bestRoot.Ptrs)) {
			best, bestRoot = in, r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if best == nil || len(bestRoot.Ptrs) < 2 {
		t.Fatal("the image has no file whose bmbt root has two pointers or more")
	}
	return best, bestRoot
}

func hashFile(fs *FS, in *Inode) ([32]byte, error) {
	h := sha256.New()
	_, err := io.Copy(h, fs.Content(in))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

// TestCachesFollowTheImage: the inode and extent-map caches serve what
// was read while the image stays as it was, and nothing of it once
// Invalidate says the image changed; a fork whose full walk fails is
// not cached, and reads of its sound part go on as without the cache.
func TestCachesFollowTheImage(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	found, root := widestBtreeFile(t, fs)
	in, err := fs.Inode(found.Ino)
	if err != nil {
		t.Fatal(err)
	}

	// Read twice: the second read is served by the caches, and the same.
	first, err := hashFile(fs, in)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := fs.Inode(in.Ino); again != in {
		t.Errorf("inode %d read twice: not served from the inode cache", in.Ino)
	}
	m := fs.fork(in, false)
	if m.Known == nil {
		t.Fatalf("inode %d: the map of a sound bmbt fork is not cached", in.Ino)
	}
	want, err := dinode.NewMap(fs.inodeFS(), in.Core, false, fs.blockReader()).Extents()
	if err != nil || len(want) != len(m.Known) {
		t.Fatalf("cached map of %d extents, a walk gives %d (%v)", len(m.Known), len(want), err)
	}
	if second, err := hashFile(fs, in); err != nil || second != first {
		t.Fatalf("second read through the caches differs (%v)", err)
	}

	// Damage the last subtree's block behind the caches' back, and say so.
	agno, agbno := fs.Geo.SplitFSB(root.Ptrs[len(root.Ptrs)-1])
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("JUNK"), fs.Geo.ByteOffset(agno, agbno)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fs.Invalidate()
	in2, err := fs.Inode(in.Ino)
	if err != nil {
		t.Fatal(err)
	}
	if in2 == in {
		t.Error("after Invalidate the inode cache still serves the inode read before")
	}
	if m := fs.fork(in2, false); m.Known != nil {
		t.Error("after Invalidate, a fork whose last bmbt block is damaged is served from the map cache")
	}
	if _, err := hashFile(fs, in2); !errors.Is(err, ErrCorrupt) {
		t.Errorf("reading the file through a damaged bmbt block: %v, want ErrCorrupt", err)
	}
	// The part the sound subtrees map still reads, as before the damage.
	bs := int64(fs.Geo.BlockSize)
	whole := make([]byte, bs)
	if _, err := fs.ReadFileAt(in2, whole, 0); err != nil && err != io.EOF {
		t.Errorf("reading the first block, mapped by a sound leaf: %v", err)
	}
}

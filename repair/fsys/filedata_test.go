package fsys

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// fileInodes finds, with xfs_db's path, the inode numbers of the
// non-empty files the generator hashed and of a sample of empty ones.
func fileInodes(t *testing.T, img string, hashes map[string]string) map[string]uint64 {
	t.Helper()
	empty := hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }())
	var paths []string
	nEmpty := 0
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range hashes {
			if !yield(p) {
				return
			}
		}
	}) {
		if hashes[p] == empty {
			if nEmpty++; nEmpty > 50 {
				continue
			}
		}
		paths = append(paths, p)
	}
	// xfs_db's "inode" with no number says which inode "path" reached
	// (v2 inodes, on v4, print no inumber of their own).
	var batches [][]string
	for _, p := range paths {
		batches = append(batches, []string{"path /" + p, "inode"})
	}
	outs, err := xfsdb.RunMany(img, batches)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for i, o := range outs {
		var ino uint64
		if _, err := fmt.Sscanf(strings.TrimSpace(o), "current inode number is %d", &ino); err != nil {
			t.Fatalf("%s: xfs_db said %q: %v", paths[i], o, err)
		}
		out[paths[i]] = ino
	}
	return out
}

// TestReadFileMatchesKernel: every file's content read through
// ReadFileAt hashes as the kernel read it when the image was made
// (holes, unwritten extents, reflinked blocks, bmbt-mapped files), read
// whole and in odd-sized pieces at odd offsets.
func TestReadFileMatchesKernel(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	// The v4 images' hashes are of the source tree mkfs -p copied.
	for _, prof := range append([]string{"allfeatures", "defaults", "1k"}, testimg.V4Profiles()...) {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			hashes := testimg.Hashes(t, prof)
			fs, err := Open(img, OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			rng := rand.New(rand.NewPCG(7, uint64(len(prof))))
			for p, ino := range fileInodes(t, img, hashes) {
				in, err := fs.Inode(ino)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				h := sha256.New()
				if _, err := io.Copy(h, io.NewSectionReader(readerAt{fs, in}, 0, int64(in.Size))); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != hashes[p] {
					t.Errorf("%s (inode %d): sha256 %s, the kernel read %s", p, ino, got, hashes[p])
				}
				// Pieces: a random offset and length, against the whole.
				if in.Size > 0 {
					whole := make([]byte, in.Size)
					if _, err := fs.ReadFileAt(in, whole, 0); err != nil && err != io.EOF {
						t.Fatal(err)
					}
					for range 5 {
						off := rng.Int64N(int64(in.Size))
						buf := make([]byte, 1+rng.IntN(3*int(fs.Geo.BlockSize)))
						n, err := fs.ReadFileAt(in, buf, off)
						if err != nil && err != io.EOF {
							t.Fatalf("%s at %d: %v", p, off, err)
						}
						if want := whole[off:min(off+int64(len(buf)), int64(in.Size))]; n != len(want) || string(buf[:n]) != string(want) {
							t.Fatalf("%s: %d bytes at %d differ from the whole read", p, len(buf), off)
						}
					}
					if _, err := fs.ReadFileAt(in, make([]byte, 1), int64(in.Size)); err != io.EOF {
						t.Errorf("%s: a read at the size gives %v, want io.EOF", p, err)
					}
				}
			}
		})
	}
}

type readerAt struct {
	fs *FS
	in *Inode
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) { return r.fs.ReadFileAt(r.in, p, off) }

// TestInodeErrors: numbers that name no inode slot, free inodes and a
// damaged inode each fail with the error that says so, never a panic.
func TestInodeErrors(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "defaults")
	fs, err := Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	for _, ino := range []uint64{0, 1, 1 << 62, ^uint64(0), uint64(fs.Geo.AGCount) << fs.Geo.AGInoLog()} {
		if _, err := fs.Inode(ino); !errors.Is(err, ErrNoInode) {
			t.Errorf("inode %d: %v, want ErrNoInode", ino, err)
		}
	}
	root, err := fs.Inode(fs.RootIno())
	if err != nil {
		t.Fatal(err)
	}
	// A free slot in the root's chunk.
	for ino := root.Ino + 1; ino < root.Ino+64; ino++ {
		in, err := fs.ReadInode(ino)
		if err == nil && in.Mode == 0 {
			if _, err := fs.Inode(ino); !errors.Is(err, ErrNoInode) {
				t.Errorf("free inode %d: %v, want ErrNoInode", ino, err)
			}
			break
		}
	}
	if _, err := fs.ReadFileAt(root, make([]byte, 10), 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("reading a directory's data: %v", err)
	}
	if _, err := fs.Readlink(root); !errors.Is(err, ErrCorrupt) {
		t.Errorf("readlink of a directory: %v", err)
	}
	// A damaged inode: flip a byte of the root's core (its CRC breaks).
	fs.Close()
	// xfs_db -x writes the field and leaves the CRC as it was (-c).
	if out, err := exec.Command("xfs_db", "-x", "-c", "inode "+strconv.FormatUint(root.Ino, 10), "-c", "write -c core.gen 12345", img).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fs, err = Open(img, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := fs.Inode(root.Ino); !errors.Is(err, ErrCorrupt) {
		t.Errorf("an inode with a bad CRC: %v, want ErrCorrupt", err)
	}
}

package dinode

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// contentFiles are files of every data fork shape the generator makes:
// one extent, many, a bmbt, unwritten extents, holes, shared blocks.
var contentFiles = []string{"ag0/hello.txt", "ag0/small.bin", "ag0/big.bin", "ag0/prealloc.bin",
	"ag0/sparse.bin", "ag0/punched", "ag0/shared", "ag0/shared.reflink", "ag0/tree/a/file", "spread1/data"}

// TestContentHashes reads files through Bmap (holes and unwritten
// pieces as zeroes, the rest from the image, cut at di_size) and checks
// their sha256 against the image's hash list, which the generator took
// through the kernel while the filesystem was mounted. (The unwritten
// blocks of these images hold zeroes on disk too: that Bmap marks them
// is TestOracle's and TestBmapExtents' to show.)
func TestContentHashes(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, profile := range []string{"allfeatures", "1k", "rhel7", "64k"} {
		t.Run(profile, func(t *testing.T) {
			im := openImage(t, profile)
			sums := testimg.Hashes(t, profile)
			var files []string
			var batches [][]string
			for _, p := range contentFiles {
				if _, ok := sums[p]; ok { // (not made when reflink is off)
					files = append(files, p)
					batches = append(batches, []string{"path /" + p})
				}
			}
			if len(files) < len(contentFiles)-2 {
				t.Errorf("only %d files of the list in the hash list", len(files))
			}
			objs, err := xfsdb.PrintMany(im.Path, batches)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range files {
				want := sums[p]
				ino, err := objs[i].Uint("v3.inumber")
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				c, err := Decode(im.Inode(t, ino))
				if err != nil {
					t.Fatal(err)
				}
				h := sha256.New()
				if err := readContent(t, im, c, h); err != nil {
					t.Errorf("%s (inode %d): %v", p, ino, err)
					continue
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != want {
					t.Errorf("%s (inode %d): sha256 %s, the kernel read %s", p, ino, got, want)
				}
			}
		})
	}
}

// readContent writes the file's bytes to w, as a read layer would.
func readContent(t *testing.T, im *image, c *Core, w io.Writer) error {
	bs := uint64(im.Geo.BlockSize)
	left := c.Size
	zero := make([]byte, bs)
	read := im.reader(t)
	return NewMap(im.fs, c, false, read).Bmap(0, (c.Size+bs-1)/bs, func(p Mapping) error {
		for i := range p.Count {
			b := zero
			if !p.Zero() {
				var err error
				if b, err = read(p.StartBlock + i); err != nil {
					return err
				}
			}
			n := min(left, bs)
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			left -= n
		}
		return nil
	})
}

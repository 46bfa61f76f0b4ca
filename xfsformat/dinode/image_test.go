package dinode

import (
	"os"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// image is a test image opened read-only: inodes and blocks are read
// straight from the file.
type image struct {
	path string
	f    *os.File
	sb   *xfsformat.Superblock
	geo  *xfsformat.Geometry
	fs   *FS
}

func openImage(t testing.TB, profile string) *image {
	t.Helper()
	return openPath(t, testimg.Image(t, profile))
}

// openPath opens the image at path.
func openPath(t testing.TB, path string) *image {
	t.Helper()
	im := &image{path: path}
	var err error
	if im.f, err = os.Open(im.path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.f.Close() })
	sb := make([]byte, xfsformat.SBSize)
	if _, err = im.f.ReadAt(sb, 0); err == nil {
		if im.sb, err = xfsformat.DecodeSuperblock(sb); err == nil {
			im.geo, err = xfsformat.NewGeometry(im.sb)
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", im.path, err)
	}
	im.fs = NewFS(im.sb, im.geo)
	return im
}

func (im *image) read(t testing.TB, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := im.f.ReadAt(b, off); err != nil {
		t.Fatalf("reading %d bytes at %d: %v", n, off, err)
	}
	return b
}

func (im *image) inode(t testing.TB, ino uint64) []byte {
	t.Helper()
	agno, agino := im.geo.SplitIno(ino)
	isize := int64(im.geo.InodeSize)
	return im.read(t, im.geo.ByteOffset(agno, 0)+int64(agino)*isize, int(isize))
}

// reader is the BlockReader of the image (bounded to the data device).
func (im *image) reader() BlockReader {
	return func(fsb uint64) ([]byte, error) {
		agno, agbno := im.geo.SplitFSB(fsb)
		b := make([]byte, im.geo.BlockSize)
		_, err := im.f.ReadAt(b, im.geo.ByteOffset(agno, agbno))
		return b, err
	}
}

// slot is one inode of the inobt: its number and whether it is free.
type slot struct {
	ino  uint64
	free bool
}

// inodes lists every inode the inobts of all AGs record (allocated or
// free, sparse holes left out), walking each tree from the AGI.
func (im *image) inodes(t testing.TB) []slot {
	t.Helper()
	g := im.geo
	var out []slot
	var walk func(agno, agbno uint32, level int)
	walk = func(agno, agbno uint32, level int) {
		blk, err := xfsformat.NewBlock(xfsformat.Inobt, im.read(t, g.ByteOffset(agno, agbno), int(g.BlockSize)))
		if err != nil {
			t.Fatal(err)
		}
		if int(blk.Hdr.Level) != level || level > 8 {
			t.Fatalf("inobt block %d/%d at level %d, expected %d", agno, agbno, blk.Hdr.Level, level)
		}
		for i := range blk.NumRecs() {
			if level > 0 {
				walk(agno, blk.Ptr(i), level-1)
				continue
			}
			r := xfsformat.DecodeInobtRec(blk.Rec(i), g.SparseInodes)
			holes := r.Holes()
			for j := range uint32(xfsformat.InodesPerChunk) {
				if holes>>j&1 == 0 {
					out = append(out, slot{g.Ino(agno, r.StartIno+j), r.Free>>j&1 != 0})
				}
			}
		}
	}
	for agno := range g.AGCount {
		agi, err := xfsformat.DecodeAGI(im.read(t, g.SectorOffset(agno, 2), xfsformat.AGISize))
		if err != nil {
			t.Fatal(err)
		}
		walk(agno, agi.Root, int(agi.Level)-1)
	}
	return out
}

package dinode

import (
	"testing"

	"github.com/xfsbox/xfsbox/internal/rawimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// image is a test image opened read-only (internal/rawimg) with the
// filesystem's features: inodes and blocks are read straight from the
// file.
type image struct {
	*rawimg.Reader
	fs *FS
}

func openImage(t testing.TB, profile string) *image {
	t.Helper()
	r := rawimg.Open(t, profile)
	return &image{r, NewFS(r.SB, r.Geo)}
}

// openPath opens the image at path.
func openPath(t testing.TB, path string) *image {
	t.Helper()
	r := rawimg.OpenPath(t, path)
	return &image{r, NewFS(r.SB, r.Geo)}
}

// reader is the BlockReader of the image.
func (im *image) reader(t testing.TB) BlockReader {
	return func(fsb uint64) ([]byte, error) { return im.Blocks(t, fsb, 1), nil }
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
	g := im.Geo
	var out []slot
	var walk func(agno, agbno uint32, level int)
	walk = func(agno, agbno uint32, level int) {
		blk, err := xfsformat.NewBlock(xfsformat.Inobt, im.Read(t, g.ByteOffset(agno, agbno), int(g.BlockSize)))
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
		agi, err := xfsformat.DecodeAGI(im.Read(t, g.SectorOffset(agno, 2), xfsformat.AGISize))
		if err != nil {
			t.Fatal(err)
		}
		walk(agno, agi.Root, int(agi.Level)-1)
	}
	return out
}

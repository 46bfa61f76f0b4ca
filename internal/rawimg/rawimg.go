// Package rawimg reads a test image's sectors, blocks and inodes straight
// from the file by the filesystem's own geometry, for decoder tests that
// compare with xfs_db without the engine's read layer. It is test tooling:
// nothing outside tests imports it. (It is not part of testimg, which the
// xfsformat tests import and which therefore must not import xfsformat.)
package rawimg

import (
	"os"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Reader is an image file opened read-only with its geometry.
type Reader struct {
	Path string
	Geo  *xfsformat.Geometry
	SB   *xfsformat.Superblock
	f    *os.File
}

// Open builds (or takes from the cache) the image of profile and opens
// it read-only; it is closed in t.Cleanup.
func Open(t testing.TB, profile string) *Reader {
	t.Helper()
	return OpenPath(t, testimg.Image(t, profile))
}

// OpenPath opens an image file read-only; it is closed in t.Cleanup.
func OpenPath(t testing.TB, path string) *Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &Reader{Path: path, f: f}
	if r.SB, err = xfsformat.DecodeSuperblock(r.Read(t, 0, xfsformat.SBSize)); err != nil {
		t.Fatal(err)
	}
	if r.Geo, err = xfsformat.NewGeometry(r.SB); err != nil {
		t.Fatal(err)
	}
	return r
}

// Read returns n bytes at byte offset off.
func (r *Reader) Read(t testing.TB, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := r.f.ReadAt(b, off); err != nil {
		t.Fatalf("%s: reading %d bytes at %d: %v", r.Path, n, off, err)
	}
	return b
}

// Blocks returns count filesystem blocks from fsb (a filesystem block
// number: AG in the high bits).
func (r *Reader) Blocks(t testing.TB, fsb uint64, count int) []byte {
	t.Helper()
	agno, agbno := r.Geo.SplitFSB(fsb)
	return r.Read(t, r.Geo.ByteOffset(agno, agbno), count*int(r.Geo.BlockSize))
}

// Inode returns the bytes of inode ino.
func (r *Reader) Inode(t testing.TB, ino uint64) []byte {
	t.Helper()
	agno, agino := r.Geo.SplitIno(ino)
	isize := int64(r.Geo.InodeSize)
	return r.Read(t, r.Geo.ByteOffset(agno, 0)+int64(agino)*isize, int(isize))
}

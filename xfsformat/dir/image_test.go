package dir

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// image reads a v4 or v5 image by its superblock alone (internal/rawimg
// refuses v4), enough to walk its directories from the root inode.
type image struct {
	path string
	f    *os.File
	sb   *xfsformat.Superblock
	g    *Geometry
}

func openImage(t testing.TB, path string) *image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	im := &image{path: path, f: f}
	if im.sb, err = xfsformat.DecodeSuperblock(im.read(t, 0, xfsformat.SBSize)); err != nil {
		t.Fatal(err)
	}
	if im.g, err = NewGeometry(im.sb); err != nil {
		t.Fatal(err)
	}
	return im
}

func (im *image) read(t testing.TB, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := im.f.ReadAt(b, off); err != nil {
		t.Fatalf("%s: reading %d bytes at %d: %v", im.path, n, off, err)
	}
	return b
}

// fsbDaddr is the disk address of filesystem block fsb.
func (im *image) fsbDaddr(fsb uint64) uint64 {
	agno, agbno := fsb>>im.sb.AGBlkLog, fsb&(1<<im.sb.AGBlkLog-1)
	return (agno*uint64(im.sb.AGBlocks) + agbno) << (im.sb.BlockLog - 9)
}

// dinode is what the directory walk needs of an inode.
type dinode struct {
	ino    uint64
	mode   uint16
	format uint8
	v3     bool
	size   uint64
	fork   []byte // the data fork's literal area
	nexts  uint64
}

// inodeOffset is where inode ino lives in the image.
func (im *image) inodeOffset(ino uint64) int64 {
	bits := uint(im.sb.AGBlkLog) + uint(im.sb.InoPBLog)
	agno, agino := ino>>bits, ino&(1<<bits-1)
	return int64(agno*uint64(im.sb.AGBlocks))<<im.sb.BlockLog + int64(agino)*int64(im.sb.InodeSize)
}

func (im *image) inode(t testing.TB, ino uint64) dinode {
	t.Helper()
	b := im.read(t, im.inodeOffset(ino), int(im.sb.InodeSize))
	be := binary.BigEndian
	if be.Uint16(b) != xfsformat.DinodeMagic {
		t.Fatalf("inode %d: bad magic %#x", ino, be.Uint16(b))
	}
	d := dinode{ino: ino, mode: be.Uint16(b[2:]), format: b[5], v3: b[4] >= 3, size: be.Uint64(b[56:])}
	core := 100
	if d.v3 {
		core = xfsformat.DinodeCoreSize
	}
	d.nexts = uint64(be.Uint32(b[76:]))
	if d.v3 && be.Uint64(b[120:])&xfsformat.Diflag2Nrext64 != 0 {
		d.nexts = be.Uint64(b[24:])
	}
	d.fork = b[core:]
	if fo := int(b[82]) * 8; fo > 0 && fo < len(d.fork) {
		d.fork = d.fork[:fo]
	}
	return d
}

// extent maps count filesystem blocks of the fork from off to fsb.
type extent struct{ off, fsb, count uint64 }

// bmap is the data fork's extent map: decoded from the inode for the
// extents format, from xfs_db's bmap for a btree.
func (im *image) bmap(t testing.TB, d dinode) []extent {
	t.Helper()
	var ext []extent
	switch d.format {
	case xfsformat.FmtExtents:
		for i := range min(int(d.nexts), len(d.fork)/16) {
			r := xfsformat.DecodeBmbtRec(d.fork[16*i:])
			ext = append(ext, extent{r.StartOff, r.StartBlock, uint64(r.BlockCount)})
		}
	case xfsformat.FmtBtree:
		bm, err := xfsdb.Bmap(im.path, d.ino, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range bm {
			ext = append(ext, extent{e.Offset, e.StartBlock, e.Count})
		}
	default:
		t.Fatalf("inode %d: data fork format %d has no map", d.ino, d.format)
	}
	return ext
}

func fsbOf(ext []extent, off uint64) (uint64, bool) {
	for _, e := range ext {
		if off >= e.off && off < e.off+e.count {
			return e.fsb + off - e.off, true
		}
	}
	return 0, false
}

// dirReader reads one directory's blocks by fork offset, a directory
// block whole even when its filesystem blocks are not contiguous.
type dirReader struct {
	im  *image
	t   testing.TB
	ext []extent
}

func (r *dirReader) read(dablk uint32) ([]byte, error) {
	n := 1 << r.im.g.DirBlkLog
	bs := int(r.im.sb.BlockSize)
	buf := make([]byte, 0, n*bs)
	for i := range n {
		fsb, ok := fsbOf(r.ext, uint64(dablk)+uint64(i))
		if !ok {
			return nil, fmt.Errorf("directory offset %d is a hole", uint64(dablk)+uint64(i))
		}
		buf = append(buf, r.im.read(r.t, int64(r.im.fsbDaddr(fsb))<<9, bs)...)
	}
	return buf, nil
}

// daddr is where the directory block at dablk starts.
func (r *dirReader) daddr(dablk uint32) uint64 {
	fsb, _ := fsbOf(r.ext, uint64(dablk))
	return r.im.fsbDaddr(fsb)
}

// blocks are the fork offsets of the directory's mapped blocks, in order.
func (r *dirReader) blocks() []uint32 {
	var out []uint32
	step := uint64(1) << r.im.g.DirBlkLog
	for _, e := range r.ext {
		for off := (e.off + step - 1) / step * step; off < e.off+e.count; off += step {
			out = append(out, uint32(off))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

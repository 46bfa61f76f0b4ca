package forensics

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Directory blocks in free space. Removing a directory frees its blocks
// without clearing them (the kernel invalidates the buffers; nothing
// writes them), so a deleted directory's data blocks stay in free space,
// each proving on v5 whose it was: the header holds the owner inode,
// the block's own address, the filesystem's uuid and a CRC. Its entries,
// still listed or already removed when it was last written, are the
// names of the files it held: the names a wrapped log no longer has.

// freeScanChunk is how many blocks of a free extent are read at once.
const freeScanChunk = 256

// FreeDirRemovals reads every AG's free space (the bnobt's extents) and
// carves the entries of every v5 directory data block it finds there,
// live or removed, with the block's owner as their directory.
func FreeDirRemovals(ctx context.Context, fs *fsys.FS, fn func(RemovedEntry)) (extents, blocks uint64, err error) {
	g, err := fs.DirGeometry()
	if err != nil {
		return 0, 0, err
	}
	if !g.V5 {
		return 0, 0, nil // v4 blocks name no owner
	}
	bs := int(fs.Geo.BlockSize)
	per := g.BlockSize / bs // filesystem blocks per directory block
	buf := make([]byte, freeScanChunk*bs)
	for agno := range fs.Geo.AGCount {
		w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Bnobt}
		err := w.Records(ctx, func(_ uint32, _ int, b []byte) error {
			r := xfsformat.DecodeAllocRec(b)
			end := uint64(r.StartBlock) + uint64(r.BlockCount)
			if end > uint64(fs.Geo.AGLength(agno)) {
				return nil // a damaged record: not ours to follow
			}
			extents++
			blocks += uint64(r.BlockCount)
			for at := uint64(r.StartBlock); at+uint64(per) <= end; at += freeScanChunk - uint64(per) + 1 {
				if err := ctx.Err(); err != nil {
					return err
				}
				n := min(uint64(freeScanChunk), end-at)
				chunk := buf[:n*uint64(bs)]
				if err := fs.Img.ReadAt(chunk, fs.Geo.ByteOffset(agno, uint32(at))); err != nil {
					return err
				}
				for i := 0; i+per <= int(n); i++ {
					blk := chunk[i*bs : (i+per)*bs]
					if m := binary.BigEndian.Uint32(blk); m != dir.Block3Magic && m != dir.Data3Magic {
						continue
					}
					carveFreeBlock(fs, g, blk, fs.Geo.Daddr(agno, uint32(at)+uint32(i)), fn)
				}
				if at+n >= end {
					break
				}
			}
			return nil
		})
		if err != nil {
			return extents, blocks, fmt.Errorf("free space of AG %d: %w", agno, err)
		}
	}
	return extents, blocks, nil
}

// carveFreeBlock carves one directory data block found in free space
// at daddr, if its header proves it one.
func carveFreeBlock(fs *fsys.FS, g *dir.Geometry, blk []byte, daddr uint64, fn func(RemovedEntry)) {
	d, err := dir.DecodeData(g, blk)
	if err != nil || !d.Hdr.V3 || d.Hdr.Blkno != daddr || d.Hdr.UUID != g.MetaUUID || !fs.ValidIno(d.Hdr.Owner) || !xfsformat.CRCOK(blk, 4) {
		return
	}
	owner := d.Hdr.Owner
	emit := func(c Carved) {
		fn(RemovedEntry{Carved: cloneCarved(c), Dir: owner, Daddr: daddr, Source: "free-dir-block"})
	}
	for s := range d.Slots() {
		switch {
		case s.Bad != "":
		case s.Unused:
			carveRegion(g, d.Buf, s.Off, s.Off+s.Len, freeRegion, emit)
		case validName(s.Name) && s.Ino != 0:
			emit(Carved{Name: s.Name, Ino: s.Ino, Ftype: s.Ftype, Off: s.Off, OwnTag: int(s.Tag) == s.Off})
		}
	}
}

package forensics

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
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

// FreeLeaf is a v5 bmbt leaf found in free space, proving itself
// (magic, CRC, its own address, the filesystem's uuid; level 0): a
// freed block of a btree-format file's map.
type FreeLeaf struct {
	FSB, Owner  uint64
	Left, Right uint64 // sibling pointers (xfsformat.NullFSBlock at the ends)
	Recs        []xfsformat.BmbtRec
}

// FreeScan reads every AG's free space (the bnobt's extents) once and
// hands dir the entries of every v5 directory data block it finds there
// (live or removed, with the block's owner as their directory), and leaf
// every bmbt leaf (nil callbacks are skipped).
func FreeScan(ctx context.Context, fs *fsys.FS, dirFn func(RemovedEntry), leafFn func(FreeLeaf)) (extents, blocks uint64, err error) {
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
			// Every block once, in chunks; a directory block running past
			// its chunk (directory blocks larger than filesystem blocks)
			// is read whole on its own, if the free extent holds it.
			for at := uint64(r.StartBlock); at < end; at += freeScanChunk {
				if err := ctx.Err(); err != nil {
					return err
				}
				n := min(uint64(freeScanChunk), end-at)
				chunk := buf[:n*uint64(bs)]
				if err := fs.Img.ReadAt(chunk, fs.Geo.ByteOffset(agno, uint32(at))); errors.Is(err, store.ErrNotInMetadump) {
					continue // a metadump holds no free space: nothing to carve
				} else if err != nil {
					return err
				}
				for i := range int(n) {
					fsb := fs.Geo.FSB(agno, uint32(at)+uint32(i))
					switch m := binary.BigEndian.Uint32(chunk[i*bs:]); {
					case (m == dir.Block3Magic || m == dir.Data3Magic) && dirFn != nil && at+uint64(i+per) <= end:
						blk := chunk[i*bs : min(i+per, int(n))*bs]
						if i+per > int(n) {
							blk = make([]byte, per*bs)
							if err := fs.Img.ReadAt(blk, fs.Geo.ByteOffset(agno, uint32(at)+uint32(i))); errors.Is(err, store.ErrNotInMetadump) {
								continue
							} else if err != nil {
								return err
							}
						}
						carveFreeBlock(fs, g, blk, fs.Geo.FSBToDaddr(fsb), dirFn)
					case m == xfsformat.BmapCRCMagic && leafFn != nil:
						freeLeaf(fs, chunk[i*bs:(i+1)*bs], fsb, leafFn)
					}
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

// freeLeaf hands fn the bmbt block at fsb if it proves to be a leaf.
func freeLeaf(fs *fsys.FS, blk []byte, fsb uint64, fn func(FreeLeaf)) {
	b, err := xfsformat.NewBmbtBlock(bytes.Clone(blk))
	if err != nil || b.Hdr.Level != 0 || !fs.ValidIno(b.Hdr.Owner) || len(xfsformat.VerifyBmbtBlock(b, fs.Geo, fsb, b.Hdr.Owner)) > 0 {
		return
	}
	l := FreeLeaf{FSB: fsb, Owner: b.Hdr.Owner, Left: b.Hdr.LeftSib, Right: b.Hdr.RightSib}
	for i := range b.NumRecs() {
		l.Recs = append(l.Recs, b.Rec(i))
	}
	fn(l)
}

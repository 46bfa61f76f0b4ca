package forensics

import (
	"context"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// RemovedEntry is a removed directory entry carved from a directory's
// block.
type RemovedEntry struct {
	Carved
	// Dir is the directory the block belongs to.
	Dir uint64
	// Daddr is where the block was read (512-byte units).
	Daddr uint64
	// HashSeen says a stale leaf entry of the directory holds the
	// name's hash (leaf entries of removed names keep it).
	HashSeen bool
	// Source is "dir-block" for a live directory's block, "deleted-dir"
	// for a deleted directory's, "log" for a logged copy.
	Source string
}

// Where says where the entry was found, for a manifest.
func (r *RemovedEntry) Where() string {
	return fmt.Sprintf("daddr %d offset %d", r.Daddr, r.Off)
}

// dirBlocks reads the directory blocks of d (extents or btree format)
// and calls data with each data block and leaf with each leaf (or
// block-form tail) entry's hash of a stale entry. A directory whose map
// cannot be read is skipped with the error returned.
func dirBlocks(fs *fsys.FS, g *dir.Geometry, d *fsys.Inode, data func(db *dir.DataBlock, daddr uint64), stale func(hash uint32)) error {
	blocks, read, err := fs.ForkBlocks(d, false)
	if err != nil {
		return err
	}
	for _, dablk := range blocks {
		buf, daddr, err := read(dablk)
		if err != nil {
			continue // a hole or an unreadable block: nothing to carve
		}
		switch {
		case dablk < g.LeafDA():
			db, err := dir.DecodeData(g, buf)
			if err != nil {
				continue
			}
			if db.IsBlock() {
				for i := range db.NumLeafEntries() {
					if e := db.LeafEntry(i); e.Stale() {
						stale(e.Hash)
					}
				}
			}
			data(db, daddr)
		case dablk < g.FreeDA():
			l, err := dir.DecodeLeaf(buf)
			if err != nil || l.Info.Magic == da.Node3Magic || l.Info.Magic == da.NodeMagic {
				continue
			}
			for i := range l.NumEntries() {
				if e := l.Entry(i); e.Stale() {
					stale(e.Hash)
				}
			}
		}
	}
	return nil
}

// LiveDirRemovals carves the removed entries out of every live
// directory's blocks (block, leaf and node forms; a shortform directory
// shifts its entries over a removed one and keeps nothing). It reads
// each directory once. Errors reading one directory are counted, not
// fatal: a forensic pass reads what it can.
func LiveDirRemovals(ctx context.Context, fs *fsys.FS, fn func(RemovedEntry)) (skipped int, err error) {
	g, err := fs.DirGeometry()
	if err != nil {
		return 0, err
	}
	err = fs.AllocatedInodes(ctx, func(ino uint64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		in, err := fs.Inode(ino)
		if err != nil {
			skipped++
			return nil
		}
		if in.Mode&xfsformat.ModeTypeMask != xfsformat.ModeDir || (in.Format != xfsformat.FmtExtents && in.Format != xfsformat.FmtBtree) {
			return nil
		}
		var found []RemovedEntry
		hashes := map[uint32]bool{}
		err = dirBlocks(fs, g, in, func(db *dir.DataBlock, daddr uint64) {
			carveBlock(g, db, func(c Carved) {
				found = append(found, RemovedEntry{Carved: cloneCarved(c), Dir: ino, Daddr: daddr, Source: "dir-block"})
			})
		}, func(h uint32) { hashes[h] = true })
		if err != nil {
			skipped++
		}
		for _, r := range found {
			r.HashSeen = hashes[da.DirHash(r.Name, g.ASCIICI)]
			fn(r)
		}
		return nil
	})
	return skipped, err
}

// cloneCarved copies the name out of the block it aliases.
func cloneCarved(c Carved) Carved {
	c.Name = append([]byte(nil), c.Name...)
	return c
}

package forensics

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
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
	if r.Source == "shortform-tail" {
		return fmt.Sprintf("inode %d's inline fork, byte %d (past the directory's end)", r.Dir, r.Off)
	}
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
// directory: the blocks of block, leaf and node forms, and the stale
// tail of a shortform directory's inline fork (carveShortformTail). It
// reads each directory once. Errors reading one directory are counted, not
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
		if in.Mode&xfsformat.ModeTypeMask != xfsformat.ModeDir {
			return nil
		}
		if in.Format == xfsformat.FmtLocal {
			carveShortformTail(g, in.Core, func(c Carved) {
				fn(RemovedEntry{Carved: cloneCarved(c), Dir: ino, Source: "shortform-tail"})
			})
			return nil
		}
		if in.Format != xfsformat.FmtExtents && in.Format != xfsformat.FmtBtree {
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

// carveShortformTail carves the bytes of a shortform directory's fork
// past its last entry. Removing an entry moves the later ones down and
// shrinks the fork, and only the fork's new length is written to the
// inode: the bytes past it keep the entries as they were, those of the
// names removed last (an rm -rf of a directory's children leaves them
// all). A shortform entry has no tag to prove it, so a candidate must
// have a valid name, a known file type, a data-block offset (8-byte
// aligned, past "." and ".."), and an inode number of the filesystem;
// Examine then keeps only the numbers of freed inodes of the right
// kind.
func carveShortformTail(g *dir.Geometry, c *dinode.Core, fn func(Carved)) {
	fork := c.Fork(false)
	end := min(int(c.Size), len(fork))
	sf, err := dir.DecodeShortform(g, fork[:end])
	if err != nil {
		return
	}
	inoSize := 4
	if sf.I8Count > 0 {
		inoSize = 8
	}
	be := binary.BigEndian
	for p := sf.End(); p+3 < len(fork); {
		n := int(fork[p])
		size := g.SFEntSize(n, inoSize)
		if n == 0 || p+size > len(fork) {
			p++
			continue
		}
		off := int(be.Uint16(fork[p+1:]))
		name := fork[p+3 : p+3+n]
		at := p + 3 + n
		var ft uint8
		if g.Ftype {
			ft = fork[at]
			at++
		}
		var ino uint64
		if inoSize == 8 {
			ino = be.Uint64(fork[at:])
		} else {
			ino = uint64(be.Uint32(fork[at:]))
		}
		if off < g.DataFirstOffset() || off%8 != 0 || !validName(name) || (g.Ftype && (ft == 0 || ft >= dir.FtWhiteout)) || !g.ValidIno(ino) {
			p++
			continue
		}
		fn(Carved{Name: name, Ino: ino, Ftype: ft, Off: p})
		p += size
	}
}

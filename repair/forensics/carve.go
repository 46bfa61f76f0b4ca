package forensics

import (
	"bytes"
	"encoding/binary"

	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Carving directory entries out of bytes a directory no longer lists.
//
// A live entry of a data block (xfs_dir2_data_entry) is an 8-byte inode
// number, a name length, the name, a file type byte (ftype), padding to
// 8 bytes, and a 2-byte tag holding the entry's own offset in the block.
// Removing it (xfs_dir2_data_make_free) writes a 0xffff free tag and a
// length over the first four bytes, the high half of the inode number,
// and the region's start offset over the last two, the tag; merging with
// a free neighbour moves those words to the merged region's ends. The
// name, its length, the file type and the low half of the inode number
// stay until the space is reused. Shape, not luck, admits a carved
// entry: its name must be a valid name, its file type known, and its
// tag either its own offset (an entry freed inside a larger region) or,
// for the entry closing a region, the region's start.

// Carved is a directory entry found in bytes the directory no longer
// lists.
type Carved struct {
	Name  []byte
	Ino   uint64
	Ftype uint8
	// Off is the entry's byte offset in its directory block.
	Off int
	// LowOnly says only the low 32 bits of Ino survived: the free tag
	// and length overwrote the high half (Ino holds the low half).
	LowOnly bool
	// OwnTag says the tag still holds the entry's own offset.
	OwnTag bool
}

// carveMode says what bytes carveRegion reads.
type carveMode int

const (
	// freeRegion: a free region of a data block. Its first entry lost
	// its inode number's high half to the free tag and length, and the
	// entry closing it may carry the region's start as its tag.
	freeRegion carveMode = iota
	// loggedSpan: a logged span of a data block, holding whole entries
	// (and free regions, skipped).
	loggedSpan
)

// carveRegion yields the entries carved from blk[from:to]. Entries are
// 8-byte aligned, so candidates are tried at every aligned offset; a
// candidate that fits advances past itself.
func carveRegion(g *dir.Geometry, blk []byte, from, to int, mode carveMode, fn func(Carved)) {
	be := binary.BigEndian
	if to > len(blk) {
		to = len(blk)
	}
	for o := from; o+9 <= to; {
		n := int(blk[o+8])
		size := g.EntSize(n)
		if n == 0 || o+size > to || (mode == loggedSpan && be.Uint16(blk[o:]) == dir.FreeTag) {
			o += 8
			continue
		}
		name := blk[o+9 : o+9+n]
		c := Carved{Name: name, Off: o}
		if g.Ftype {
			c.Ftype = blk[o+9+n]
		}
		tag := int(be.Uint16(blk[o+size-2:]))
		c.OwnTag = tag == o
		closes := mode == freeRegion && o+size == to && tag == from
		if !validName(name) || (g.Ftype && (c.Ftype == 0 || c.Ftype >= dir.FtWhiteout)) || !(c.OwnTag || closes) {
			o += 8
			continue
		}
		if o == from && mode == freeRegion {
			c.Ino, c.LowOnly = uint64(be.Uint32(blk[o+4:])), true
		} else {
			c.Ino = be.Uint64(blk[o:])
		}
		if c.Ino == 0 {
			o += 8
			continue
		}
		fn(c)
		o += size
	}
}

// validName: what a directory entry's name may be (no NUL, no '/', not
// "." or "..").
func validName(name []byte) bool {
	if len(name) == 0 || bytes.IndexByte(name, 0) >= 0 || bytes.IndexByte(name, '/') >= 0 {
		return false
	}
	return !bytes.Equal(name, []byte(".")) && !bytes.Equal(name, []byte(".."))
}

// carveBlock yields the removed entries of a decoded data block: those
// carved from its unused regions.
func carveBlock(g *dir.Geometry, d *dir.DataBlock, fn func(Carved)) {
	for s := range d.Slots() {
		if s.Unused && s.Bad == "" {
			carveRegion(g, d.Buf, s.Off, s.Off+s.Len, freeRegion, fn)
		}
	}
}

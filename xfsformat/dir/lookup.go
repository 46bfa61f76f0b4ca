package dir

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// Form is a directory's format.
type Form int

// The directory formats. Shortform lives in the inode; the others are
// told apart by the magics of their blocks (FormOf).
const (
	FormUnknown   Form = iota
	FormShortform      // entries in the inode's data fork
	FormBlock          // one directory block with its leaf and tail inside
	FormLeaf           // data blocks and one LEAF1 block at LeafDA
	FormNode           // data blocks, a da-btree at LeafDA over LEAFN leaves, free-index blocks at FreeDA
)

func (f Form) String() string {
	return [...]string{"unknown", "shortform", "block", "leaf", "node"}[min(int(f), 4)]
}

// ErrNotFound is returned by Lookup for a name the directory does not hold.
var ErrNotFound = errors.New("dir: no such name")

// FormOf tells a block, leaf or node directory apart by reading its
// first data block and, unless that is a block-form directory's, the
// block at LeafDA, as the kernel's lookups do after checking the
// directory's size.
func FormOf(g *Geometry, read da.ReadFunc) (Form, error) {
	buf, err := read(0)
	if err == nil && len(buf) >= 4 {
		switch binary.BigEndian.Uint32(buf) {
		case Block3Magic, Block2Magic:
			return FormBlock, nil
		}
	}
	buf, err = read(g.LeafDA())
	if err != nil {
		return FormUnknown, err
	}
	if len(buf) < da.BlkInfoSize {
		return FormUnknown, ferr(xfsformat.ErrShort, "dir leaf", "", "", "block at %d is %d bytes", g.LeafDA(), len(buf))
	}
	switch m := binary.BigEndian.Uint16(buf[8:]); m {
	case da.DirLeaf1Magic, da.Dir3Leaf1Magic:
		return FormLeaf, nil
	case da.NodeMagic, da.Node3Magic, da.DirLeafNMagic, da.Dir3LeafNMagic:
		return FormNode, nil
	default:
		return FormUnknown, magicErr("dir leaf", "lhdr.info.hdr.magic", uint64(m), da.Dir3Leaf1Magic, da.Dir3LeafNMagic, da.Node3Magic)
	}
}

// Lookup finds name in a block, leaf or node directory whose blocks
// read returns (by fork offset, dablk; a directory block may span
// several filesystem blocks, read returns it whole). It hashes the
// name (da.DirHash), finds the leaf entries of that hash (the block's
// own leaf, the LEAF1 block, or the LEAFN leaf the da-btree leads to
// and its forward siblings while the hash goes on), and compares the
// name at each address. With ASCII-CI an exact match wins over a
// case-insensitive one. Reads are bounded: every leaf is visited once.
func Lookup(g *Geometry, read da.ReadFunc, name []byte) (Entry, error) {
	form, err := FormOf(g, read)
	if err != nil {
		return Entry{}, err
	}
	hash := da.DirHash(name, g.ASCIICI)
	var addrs []uint32
	switch form {
	case FormBlock:
		buf, err := read(0)
		if err != nil {
			return Entry{}, err
		}
		d, err := DecodeData(g, buf)
		if err != nil {
			return Entry{}, err
		}
		addrs = d.Match(hash)
	case FormLeaf:
		buf, err := read(g.LeafDA())
		if err != nil {
			return Entry{}, err
		}
		l, err := DecodeLeaf(buf)
		if err != nil {
			return Entry{}, err
		}
		addrs = l.Match(hash)
	case FormNode:
		if addrs, err = nodeMatch(g, read, hash); err != nil {
			return Entry{}, err
		}
	}
	var ci *Entry
	for _, a := range addrs {
		db, off := g.SplitDataptr(a)
		buf, err := read(g.DBToDA(db))
		if err != nil {
			return Entry{}, err
		}
		d, err := DecodeData(g, buf)
		if err != nil {
			return Entry{}, err
		}
		e, ok := d.EntryAt(db, off)
		if !ok {
			continue
		}
		if bytes.Equal(e.Name, name) {
			return e, nil
		}
		if g.ASCIICI && ci == nil && equalFold(e.Name, name) {
			ci = &e
		}
	}
	if ci != nil {
		return *ci, nil
	}
	return Entry{}, fmt.Errorf("%w: %q", ErrNotFound, name)
}

// nodeMatch descends the da-btree to the first leaf that may hold hash
// and collects the matching addresses there and in the following
// leaves while their entries still have that hash.
func nodeMatch(g *Geometry, read da.ReadFunc, hash uint32) ([]uint32, error) {
	blk, err := da.Lookup(read, g.LeafDA(), hash)
	if err != nil {
		return nil, err
	}
	var addrs []uint32
	seen := map[uint32]bool{}
	for !seen[blk] {
		seen[blk] = true
		buf, err := read(blk)
		if err != nil {
			return nil, err
		}
		l, err := DecodeLeaf(buf)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, l.Match(hash)...)
		n := l.NumEntries()
		if n == 0 || l.Entry(n-1).Hash != hash || l.Info.Forw == 0 {
			return addrs, nil
		}
		blk = l.Info.Forw
	}
	return nil, fmt.Errorf("leaf %d met twice following forward links: %w", blk, da.ErrLoop)
}

// equalFold compares names as ASCII-CI directories do (xfs_ascii_ci_compname).
func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if da.FoldCI(a[i]) != da.FoldCI(b[i]) {
			return false
		}
	}
	return true
}

// NodeFields are a directory's da-btree node as xfs_db prints it under
// the dir3 and dir2 types: the header under nhdr (da.Node.FieldsAt) and
// every entry as nbtree[i].hashval and nbtree[i].before (xfs_db prints
// them as one table, "nbtree[0-N] = [hashval,before]").
func NodeFields(n *da.Node, crcOK bool) []xfsformat.Field {
	fs := n.FieldsAt("nhdr", crcOK)
	for i := range n.NumEntries() {
		e := n.Entry(i)
		p := "nbtree[" + itoa(i) + "]."
		fs = append(fs, hex(p+"hashval", uint64(e.Hash)), dec(p+"before", uint64(e.Before)))
	}
	return fs
}

package dir

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// CheckOpts say what a directory's blocks must agree with.
type CheckOpts struct {
	Owner   uint64 // the directory's inode (0: not checked)
	ASCIICI bool   // names hash case-insensitively
	// Daddr is the disk address a block was read from, for the v5
	// blocks' self-address check.
	Daddr func(dablk uint32) uint64
}

// nullDataOff is a bests slot that names no data block.
const nullDataOff = 0xffff

// addrHash is a name's address (its dataptr) and hash.
type addrHash struct{ addr, hash uint32 }

// CheckBlocks reports, through report, everything wrong with a block,
// leaf or node directory whose fork maps the directory blocks at blocks
// (each block's first directory offset, in order): each block's
// verifier (data and block-form blocks, leaf, node and free-index
// blocks), and across blocks what xfs_repair's phase 6 checks: a block
// form that is alone, a leaf entry for every name and a name for every
// leaf entry with the name's hash, leaf hashes in order across a node
// directory's leaves, and the bests of the leaf or the free index equal
// to each data block's longest free region. entry gets every name of
// the data blocks that could be read ("." and ".." included). It
// returns what ended the check early: a read error, a loop.
func CheckBlocks(g *Geometry, blocks []uint32, read func(dablk uint32) ([]byte, error), o CheckOpts, report func(error), entry func(Entry) error) error {
	daddr := func(dablk uint32) uint64 { return o.Daddr(dablk) }
	var data, leaves, frees []uint32
	for _, b := range blocks {
		switch {
		case b < g.LeafDA():
			data = append(data, b)
		case b < g.FreeDA():
			leaves = append(leaves, b)
		default:
			frees = append(frees, b)
		}
	}
	say := func(what string, dablk uint32, err error) { report(fmt.Errorf("%s %d: %w", what, dablk, err)) }
	var names []addrHash
	best := map[uint32]uint16{} // data block -> its longest free region
	block := false
	for _, dablk := range data {
		buf, err := read(dablk)
		if err != nil {
			return err
		}
		d, err := DecodeData(g, buf)
		if err != nil {
			say("directory block", dablk, err)
			continue
		}
		errs := d.Verify(daddr(dablk), o.Owner)
		for _, e := range errs {
			say("directory block", dablk, e)
		}
		if len(errs) > 0 {
			continue
		}
		db := g.DAToDB(dablk)
		if d.IsBlock() {
			block = true
			if len(blocks) != 1 {
				say("directory block", dablk, fmt.Errorf("a block-form block in a directory of %d blocks", len(blocks)))
			}
		}
		best[db] = d.BestFree[0].Length
		for e := range d.Entries(db) {
			names = append(names, addrHash{e.Cookie, da.DirHash(e.Name, o.ASCIICI)})
			if err := entry(e); err != nil {
				return err
			}
		}
	}
	if block || len(data) == 0 && len(leaves) == 0 {
		return nil
	}
	var leafEnts []addrHash
	add := func(l *Leaf) {
		for i := range l.NumEntries() {
			if e := l.Entry(i); !e.Stale() {
				leafEnts = append(leafEnts, addrHash{e.Address, e.Hash})
			}
		}
	}
	// leaf decodes and verifies a leaf block: nil (and reported) if it
	// cannot be trusted.
	leaf := func(dablk uint32, buf []byte) *Leaf {
		l, err := DecodeLeaf(buf)
		if err != nil {
			say("directory leaf", dablk, err)
			return nil
		}
		errs := l.Verify(g, daddr(dablk), o.Owner)
		for _, e := range errs {
			say("directory leaf", dablk, e)
		}
		if len(errs) > 0 {
			return nil
		}
		return l
	}
	leafDA := g.LeafDA()
	if !slices.Contains(leaves, leafDA) {
		report(fmt.Errorf("directory of %d data blocks has no leaf or node block at offset %d", len(data), leafDA))
		return nil
	}
	buf, err := read(leafDA)
	if err != nil {
		return err
	}
	if len(buf) >= da.BlkInfoSize && da.IsNodeMagic(binary.BigEndian.Uint16(buf[8:])) {
		// A node directory: the da-btree over its leaves.
		var last uint32
		first := true
		hp := &da.HashPath{Report: func(node uint32, i int, hash, child, last uint32) {
			say("directory node", node, fmt.Errorf("btree[%d].hashval %#x, but block %d below it ends at hash %#x", i, hash, child, last))
		}}
		sib := &da.Siblings{Report: func(dablk uint32, field string, got, want uint32) {
			say("directory node", dablk, fmt.Errorf("%s %d, should be %d", field, got, want))
		}}
		nodes := func(dablk uint32) ([]byte, error) {
			b, err := read(dablk)
			if err != nil || len(b) < da.BlkInfoSize || !da.IsNodeMagic(binary.BigEndian.Uint16(b[8:])) {
				return b, err
			}
			n, err := da.DecodeNode(b)
			if err != nil {
				say("directory node", dablk, err)
				return b, nil
			}
			for _, e := range n.Verify(g.V5, g.MetaUUID, daddr(dablk), o.Owner) {
				say("directory node", dablk, e)
			}
			if dablk == leafDA {
				sib.Root(dablk, n.Info)
			}
			hp.Node(dablk, n)
			return b, nil
		}
		err := da.Leaves(nodes, leafDA, func(dablk uint32, b []byte) error {
			l := leaf(dablk, b)
			if l == nil {
				return nil
			}
			sib.Leaf(dablk, l.Info)
			if n := l.NumEntries(); n > 0 {
				if h := l.Entry(0).Hash; !first && h < last {
					say("directory leaf", dablk, fmt.Errorf("first hash %#x below the previous leaf's last %#x", h, last))
				}
				last, first = l.Entry(n-1).Hash, false
				hp.Last(dablk, last)
			}
			add(l)
			return nil
		})
		if err != nil {
			say("directory node", leafDA, err)
			return nil
		}
		sib.End()
		checkBests(g, frees, read, daddr, o.Owner, best, say)
	} else {
		l := leaf(leafDA, buf)
		if l == nil {
			return nil
		}
		(&da.Siblings{Report: func(dablk uint32, field string, got, want uint32) {
			say("directory leaf", dablk, fmt.Errorf("%s %d, should be %d", field, got, want))
		}}).Root(leafDA, l.Info)
		if !l.IsLeaf1() {
			say("directory leaf", leafDA, fmt.Errorf("a node-form leaf where a leaf directory's single leaf block goes"))
		}
		add(l)
		for i := range l.NumBests() {
			compareBest(uint32(i), l.Best(i), best, func(err error) { say("directory leaf", leafDA, err) })
		}
		if len(frees) > 0 {
			say("directory free index", frees[0], fmt.Errorf("a leaf-form directory has free-index blocks"))
		}
	}
	compareNames(names, leafEnts, report)
	return nil
}

// checkBests verifies a node directory's free-index blocks and compares
// their bests with the data blocks'.
func checkBests(g *Geometry, frees []uint32, read func(uint32) ([]byte, error), daddr func(uint32) uint64, owner uint64, best map[uint32]uint16, say func(string, uint32, error)) {
	indexed := map[uint32]bool{}
	for _, dablk := range frees {
		buf, err := read(dablk)
		if err != nil {
			say("directory free index", dablk, err)
			continue
		}
		f, err := DecodeFree(g, buf)
		if err != nil {
			say("directory free index", dablk, err)
			continue
		}
		errs := f.Verify(dablk, daddr(dablk), owner)
		for _, e := range errs {
			say("directory free index", dablk, e)
		}
		if len(errs) > 0 {
			continue
		}
		for i := range f.NumBests() {
			db := uint32(f.FirstDB) + uint32(i)
			indexed[db] = true
			compareBest(db, f.Best(i), best, func(err error) { say("directory free index", dablk, err) })
		}
	}
	for db := range best {
		if !indexed[db] {
			say("directory block", g.DBToDA(db), fmt.Errorf("data block %d is in no free-index block", db))
		}
	}
}

// compareBest reports a bests slot that disagrees with data block db.
func compareBest(db uint32, slot uint16, best map[uint32]uint16, report func(error)) {
	b, ok := best[db]
	switch {
	case !ok && slot != nullDataOff:
		report(fmt.Errorf("bests[%d] = %d names data block %d, which the directory does not have (or could not be read)", db, slot, db))
	case ok && slot != b:
		report(fmt.Errorf("bests[%d] = %d, but data block %d's longest free region is %d bytes", db, slot, db, b))
	}
}

// compareNames reports names without a leaf entry and leaf entries
// without a name (or with another hash), at most a few of each.
func compareNames(names, leafEnts []addrHash, report func(error)) {
	cmp := func(a, b addrHash) int {
		if a.addr != b.addr {
			return int(int64(a.addr) - int64(b.addr))
		}
		return int(int64(a.hash) - int64(b.hash))
	}
	slices.SortFunc(names, cmp)
	slices.SortFunc(leafEnts, cmp)
	const most = 4
	var missing, extra int
	i, j := 0, 0
	for i < len(names) || j < len(leafEnts) {
		switch {
		case j == len(leafEnts) || i < len(names) && cmp(names[i], leafEnts[j]) < 0:
			if missing++; missing <= most {
				report(xfsformat.Errorf(xfsformat.ErrRange, "dir leaf", -1, -1, "", "", "the name at address %#x (hash %#x) has no leaf entry", names[i].addr, names[i].hash))
			}
			i++
		case i == len(names) || cmp(names[i], leafEnts[j]) > 0:
			if extra++; extra <= most {
				report(xfsformat.Errorf(xfsformat.ErrRange, "dir leaf", -1, -1, "", "", "a leaf entry (address %#x, hash %#x) names no entry with that hash", leafEnts[j].addr, leafEnts[j].hash))
			}
			j++
		default:
			i++
			j++
		}
	}
	if missing > most || extra > most {
		report(fmt.Errorf("in all %d names without a leaf entry, %d leaf entries without a name", missing, extra))
	}
}

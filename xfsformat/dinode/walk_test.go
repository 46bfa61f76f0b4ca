package dinode

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// btreeCase is the fixture's "punched" file (a one-level bmbt of a
// few leaves) with its blocks, to break.
type btreeCase struct {
	fx     *fixture
	c      *Core
	root   *Root
	blocks map[uint64][]byte
}

func newBtreeCase(t *testing.T, fx *fixture) *btreeCase {
	t.Helper()
	bc := &btreeCase{fx: fx, c: fx.core(t, "punched"), blocks: map[uint64][]byte{}}
	var err error
	if bc.root, err = DecodeRoot(bc.c.Fork(false)); err != nil {
		t.Fatal(err)
	}
	if bc.root.Level != 1 || len(bc.root.Ptrs) < 3 {
		t.Fatalf("punched: root level %d with %d pointers; the test wants a one-level tree of 3 leaves or more", bc.root.Level, len(bc.root.Ptrs))
	}
	for fsb, b := range fx.blocks {
		bc.blocks[fsb] = append([]byte(nil), b...)
	}
	return bc
}

// reader serves the case's blocks, counting the reads in reads.
func (bc *btreeCase) reader(reads *int) BlockReader {
	read := mapReader(bc.blocks)
	return func(fsb uint64) ([]byte, error) {
		if reads != nil {
			*reads++
		}
		return read(fsb)
	}
}

// leaf returns leaf i's bytes, to change (then reseal).
func (bc *btreeCase) leaf(i int) []byte { return bc.blocks[bc.root.Ptrs[i]] }

func reseal(b []byte) { xfsformat.UpdateCRC(b, xfsformat.BmbtCRCOffset()) }

// rootKey and rootPtr address the root's slots in the inode.
func (bc *btreeCase) setRootKey(i int, v uint64) {
	binary.BigEndian.PutUint64(bc.c.Buf[xfsformat.DinodeCoreSize+xfsformat.BmdrHeaderSize+i*8:], v)
}

func (bc *btreeCase) setRootPtr(i int, v uint64) {
	binary.BigEndian.PutUint64(bc.c.Buf[xfsformat.DinodeCoreSize+xfsformat.BmdrHeaderSize+bc.root.MaxRecs*8+i*8:], v)
}

// TestWalkDamage breaks the tree one way at a time: every walk must end,
// with an error saying what is wrong (strict), and the lenient walk must
// still read what only fails a CRC or identity check.
func TestWalkDamage(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(bc *btreeCase)
		want    string // in the error
		kind    error
		lenient bool // a lenient walk gets every extent
	}{
		{"pointer twice", func(bc *btreeCase) { bc.setRootPtr(1, bc.root.Ptrs[0]) }, "reached twice", xfsformat.ErrRange, false},
		{"leaf claims level 1", func(bc *btreeCase) { l := bc.leaf(1); binary.BigEndian.PutUint16(l[4:], 1); reseal(l) }, "level 1 under", xfsformat.ErrRange, false},
		{"root keys out of order", func(bc *btreeCase) { bc.setRootKey(2, bc.root.Keys[1]) }, "not above", xfsformat.ErrRange, false},
		{"leaf records out of order", func(bc *btreeCase) {
			l := bc.leaf(0)
			r0, r1 := append([]byte(nil), l[72:88]...), append([]byte(nil), l[88:104]...)
			copy(l[72:], r1)
			copy(l[88:], r0)
			reseal(l)
		}, "precedes", xfsformat.ErrRange, false},
		{"leaf outside its key range", func(bc *btreeCase) { bc.setRootKey(1, bc.root.Keys[1]+1) }, "outside its parent key", xfsformat.ErrRange, false},
		{"bad magic", func(bc *btreeCase) { l := bc.leaf(2); l[0] = 'X'; reseal(l) }, "not a bmbt block", xfsformat.ErrMagic, false},
		{"numrecs past capacity", func(bc *btreeCase) { l := bc.leaf(0); binary.BigEndian.PutUint16(l[6:], 9999); reseal(l) }, "more records", xfsformat.ErrRange, false},
		{"bad CRC", func(bc *btreeCase) { bc.leaf(1)[100] ^= 1 }, "CRC", xfsformat.ErrCRC, true},
		{"wrong owner", func(bc *btreeCase) { l := bc.leaf(1); l[63]++; reseal(l) }, "owner", xfsformat.ErrIdentity, true},
		{"sibling pointers crossed", func(bc *btreeCase) { l := bc.leaf(1); binary.BigEndian.PutUint64(l[8:], bc.root.Ptrs[2]); reseal(l) }, "siblings disagree", xfsformat.ErrRange, true},
		{"extent count off by one", func(bc *btreeCase) { bc.c.NExtents-- }, "maps", xfsformat.ErrRange, true},
		{"root without records", func(bc *btreeCase) { binary.BigEndian.PutUint16(bc.c.Buf[xfsformat.DinodeCoreSize+2:], 0) }, "1 to", xfsformat.ErrRange, false},
		{"pointer outside the filesystem", func(bc *btreeCase) { bc.setRootPtr(0, 1<<50) }, "not a block", xfsformat.ErrRange, false},
		{"short block", func(bc *btreeCase) { bc.blocks[bc.root.Ptrs[0]] = bc.leaf(0)[:100] }, "read 100 bytes", xfsformat.ErrShort, false},
		{"missing block", func(bc *btreeCase) { delete(bc.blocks, bc.root.Ptrs[3]) }, "no such block", nil, false},
	}
	fx := loadFixtures(t)[0]
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bc := newBtreeCase(t, fx)
			want := bc.c.NExtents
			tc.breakIt(bc)
			m := NewMap(bc.fx.fs, bc.c, false, bc.reader(nil))
			_, err := m.Extents()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %v is not %v", err, tc.kind)
			}
			m.Lenient = true
			exts, err := m.Extents()
			if tc.lenient && (err != nil || uint64(len(exts)) != want) {
				t.Errorf("lenient walk: %d extents of %d, %v", len(exts), want, err)
			}
			if !tc.lenient && err == nil && uint64(len(exts)) == want {
				t.Errorf("lenient walk read the broken tree whole")
			}
		})
	}
}

// TestWalkSyntheticLoops builds two-level trees whose blocks point back
// into the tree: the walk must stop with an error, never loop.
func TestWalkSyntheticLoops(t *testing.T) {
	fx := loadFixtures(t)[0]
	g := fx.fs.Geo
	bs := int(g.BlockSize)
	base := fx.core(t, "punched")
	owner := base.Ino
	leafFSB, nodeA, nodeB := uint64(20000), uint64(20001), uint64(20002)
	mkBlock := func(level uint16, keys, ptrs []uint64, recs []xfsformat.BmbtRec) []byte {
		b := make([]byte, bs)
		h := xfsformat.BmbtHeader{Magic: xfsformat.BmapCRCMagic, Level: level, NumRecs: uint16(len(keys) + len(recs)),
			LeftSib: xfsformat.NullFSBlock, RightSib: xfsformat.NullFSBlock, Owner: owner, UUID: g.MetaUUID}
		if err := h.Encode(b); err != nil {
			t.Fatal(err)
		}
		maxrecs := (bs - xfsformat.BmbtHeaderSize) / 16
		for i, k := range keys {
			binary.BigEndian.PutUint64(b[xfsformat.BmbtHeaderSize+i*8:], k)
			binary.BigEndian.PutUint64(b[xfsformat.BmbtHeaderSize+maxrecs*8+i*8:], ptrs[i])
		}
		for i, r := range recs {
			r.Encode(b[xfsformat.BmbtHeaderSize+i*16:])
		}
		return b
	}
	leaf := mkBlock(0, nil, nil, []xfsformat.BmbtRec{{StartOff: 0, StartBlock: 30000, BlockCount: 1}, {StartOff: 10, StartBlock: 30010, BlockCount: 1}})
	cases := []struct {
		name   string
		root   []uint64 // root pointers (keys 0, 100, ...)
		blocks map[uint64][]byte
		want   string
	}{
		{"node points to itself", []uint64{nodeA}, map[uint64][]byte{nodeA: mkBlock(1, []uint64{0}, []uint64{nodeA}, nil)}, "reached twice"},
		{"two nodes share a leaf", []uint64{nodeA, nodeB}, map[uint64][]byte{
			nodeA: mkBlock(1, []uint64{0}, []uint64{leafFSB}, nil), nodeB: mkBlock(1, []uint64{100}, []uint64{leafFSB}, nil), leafFSB: leaf}, "reached twice"},
		{"node points to the root's other child", []uint64{nodeA, nodeB}, map[uint64][]byte{
			nodeA: mkBlock(1, []uint64{0}, []uint64{nodeB}, nil), nodeB: mkBlock(1, []uint64{100}, []uint64{leafFSB}, nil)}, "level 1 under"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode(append([]byte(nil), base.Buf...))
			if err != nil {
				t.Fatal(err)
			}
			fork := c.Fork(false)
			maxrecs := (len(fork) - xfsformat.BmdrHeaderSize) / 16
			binary.BigEndian.PutUint16(fork[0:], 2)
			binary.BigEndian.PutUint16(fork[2:], uint16(len(tc.root)))
			for i, p := range tc.root {
				binary.BigEndian.PutUint64(fork[xfsformat.BmdrHeaderSize+i*8:], uint64(i)*100)
				binary.BigEndian.PutUint64(fork[xfsformat.BmdrHeaderSize+maxrecs*8+i*8:], p)
			}
			reads, blocks := 0, mapReader(tc.blocks)
			read := func(fsb uint64) ([]byte, error) {
				if reads++; reads > 100 {
					t.Fatal("the walk does not end")
				}
				return blocks(fsb)
			}
			m := &Map{FS: fx.fs, Core: c, Read: read, Lenient: true}
			if _, err := m.Extents(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestWalkStreams checks that a walk reads only the leaves it needs: a
// lookup one leaf, a stopped walk no further than where it stopped, the
// iterator likewise.
func TestWalkStreams(t *testing.T) {
	bc := newBtreeCase(t, loadFixtures(t)[0])
	reads := 0
	m := NewMap(bc.fx.fs, bc.c, false, bc.reader(&reads))
	all, err := m.Extents()
	if err != nil {
		t.Fatal(err)
	}
	if reads != len(bc.root.Ptrs) {
		t.Errorf("a full walk read %d blocks, the tree has %d leaves", reads, len(bc.root.Ptrs))
	}
	mid := all[len(all)/2]
	for _, off := range []uint64{0, mid.StartOff, all[len(all)-1].StartOff} {
		reads = 0
		var got []Mapping
		if err := m.Bmap(off, 1, func(p Mapping) error { got = append(got, p); return nil }); err != nil {
			t.Fatal(err)
		}
		if reads != 1 || len(got) != 1 || got[0].FileOff != off {
			t.Errorf("bmap of block %d read %d blocks, gave %+v", off, reads, got)
		}
	}
	reads = 0
	n := 0
	for r, err := range m.All(mid.StartOff) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			if r.StartOff <= mid.StartOff {
				t.Errorf("third extent from %d starts at %d", mid.StartOff, r.StartOff)
			}
			break
		}
	}
	if reads > 2 {
		t.Errorf("three extents from the middle read %d blocks", reads)
	}
}

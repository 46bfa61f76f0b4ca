package attr

import (
	"cmp"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// leafAttr is an attribute for buildLeaf: local unless valueBlk is set.
type leafAttr struct {
	flags    uint8
	name     string
	value    string
	valueBlk uint32
	valueLen uint32
	hash     uint32 // 0: the name's
}

// buildLeaf lays out a v5 leaf block the way the kernel does: entries
// in hash order after the header, names and values packed from the end
// of the block down, the freemap the gap between them. It fails the
// test when they do not fit.
func buildLeaf(t testing.TB, bs int, forw, back uint32, attrs []leafAttr) []byte {
	t.Helper()
	attrs = slices.Clone(attrs)
	for i := range attrs {
		if attrs[i].hash == 0 {
			attrs[i].hash = da.HashName([]byte(attrs[i].name))
		}
	}
	slices.SortStableFunc(attrs, func(a, b leafAttr) int { return cmp.Compare(a.hash, b.hash) })
	b := make([]byte, bs)
	h := LeafHdr{Info: da.BlkInfo{Forw: forw, Back: back, Magic: da.Attr3LeafMagic, V3: true, Owner: 99}, Count: uint16(len(attrs))}
	top := bs
	for i, a := range attrs {
		var size int
		if a.valueBlk == 0 {
			size = LocalEntSize(len(a.name), len(a.value))
		} else {
			size = RemoteEntSize(len(a.name))
		}
		top -= size
		if top < Leaf3HdrSize+len(attrs)*LeafEntSize {
			t.Fatalf("buildLeaf: %d attributes do not fit %d bytes", len(attrs), bs)
		}
		e := b[Leaf3HdrSize+i*LeafEntSize:]
		binary.BigEndian.PutUint32(e, a.hash)
		binary.BigEndian.PutUint16(e[4:], uint16(top))
		e[6] = a.flags
		if a.valueBlk == 0 {
			e[6] |= FlagLocal
			binary.BigEndian.PutUint16(b[top:], uint16(len(a.value)))
			b[top+2] = uint8(len(a.name))
			copy(b[top+3:], a.name)
			copy(b[top+3+len(a.name):], a.value)
		} else {
			binary.BigEndian.PutUint32(b[top:], a.valueBlk)
			binary.BigEndian.PutUint32(b[top+4:], a.valueLen)
			b[top+8] = uint8(len(a.name))
			copy(b[top+9:], a.name)
		}
		h.UsedBytes += uint16(size)
	}
	h.FirstUsed = EncodeFirstUsed(top)
	base := Leaf3HdrSize + len(attrs)*LeafEntSize
	h.FreeMap[0] = FreeMap{uint16(base), uint16(top - base)}
	if err := h.Encode(b); err != nil {
		t.Fatal(err)
	}
	xfsformat.UpdateCRC(b, da.CRCOffset)
	return b
}

// buildNode makes a v5 da node block of the given level over
// (hash, before) entries.
func buildNode(t testing.TB, bs int, level uint16, ents []da.NodeEntry) []byte {
	t.Helper()
	b := make([]byte, bs)
	info := da.BlkInfo{Magic: da.Node3Magic, V3: true, Owner: 99}
	if err := info.Encode(b); err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(b[56:], uint16(len(ents)))
	binary.BigEndian.PutUint16(b[58:], level)
	for i, e := range ents {
		binary.BigEndian.PutUint32(b[64+8*i:], e.Hash)
		binary.BigEndian.PutUint32(b[68+8*i:], e.Before)
	}
	xfsformat.UpdateCRC(b, da.CRCOffset)
	return b
}

// blocksOf is a da.ReadFunc over a map of attr blocks.
func blocksOf(m map[uint32][]byte) da.ReadFunc {
	return func(blk uint32) ([]byte, error) {
		if b, ok := m[blk]; ok {
			return b, nil
		}
		return nil, ErrNoAttr
	}
}

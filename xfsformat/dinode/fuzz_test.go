package dinode

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Fuzz targets: no input may panic or hang. Seeds are the inodes and
// blocks of testdata/fixtures/dinode.tar.gz, cut from real images.

// fuzzFixture is the allfeatures fixture, for the geometry and seeds.
func fuzzFixture(f *testing.F) *fixture { return loadFixtures(f)[0] }

func seedInodes(f *testing.F, fx *fixture) {
	for _, ino := range fx.inos {
		f.Add(fx.inodeBytes(f, ino))
	}
}

// FuzzCore decodes an inode, prints it, verifies it and encodes it back:
// the bytes must come back (the CRC aside) and decode to the same core.
func FuzzCore(f *testing.F) {
	fx := fuzzFixture(f)
	seedInodes(f, fx)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		fields := c.Fields(fx.fs, func(prefix string, fork []byte) []xfsformat.Field { return nil })
		_ = Verify(fx.fs, c, c.Ino)
		out := c.Bytes()
		crc := xfsformat.InodeCRCOffset()
		if c.Version == 3 {
			copy(out[crc:crc+4], b[crc:crc+4])
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("encode changed the inode:\n%x\n%x", out, b)
		}
		d, err := Decode(c.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if c.Version == 3 && !d.CRCOK() {
			t.Fatal("Bytes() left a bad CRC")
		}
		again := d.Fields(fx.fs, nil)
		if len(again) != len(fields) {
			t.Fatalf("%d fields, %d after encoding", len(fields), len(again))
		}
	})
}

// FuzzForkMap walks the forks of an inode whose blocks are all block:
// every walk, lookup and bmap must end.
func FuzzForkMap(f *testing.F) {
	fx := fuzzFixture(f)
	for _, label := range []string{"punched", "xattr_many", "bigdir", "sparse.bin", "prealloc.bin"} {
		c := fx.core(f, label)
		for _, attr := range []bool{false, true} {
			if c.ForkFormat(attr) == xfsformat.FmtBtree && (!attr || c.ForkOff != 0) {
				root, _ := DecodeRoot(c.Fork(attr))
				f.Add(c.Buf, fx.blocks[root.Ptrs[0]], uint64(0), uint64(100))
			}
		}
		f.Add(c.Buf, []byte{}, uint64(3), uint64(1))
	}
	f.Fuzz(func(t *testing.T, ib, blk []byte, off, n uint64) {
		c, err := Decode(ib)
		if err != nil {
			return
		}
		reads := 0
		read := func(fsb uint64) ([]byte, error) {
			if reads++; reads > 1<<16 {
				t.Fatal("the walk does not end")
			}
			return blk, nil
		}
		for _, attr := range []bool{false, true} {
			for _, lenient := range []bool{false, true} {
				m := &Map{FS: fx.fs, Core: c, Attr: attr, Read: read, Lenient: lenient}
				exts, err := m.Extents()
				if err == nil {
					want := BmapExtents(exts, off, n)
					var got []Mapping
					if err := m.Bmap(off, n, func(p Mapping) error { got = append(got, p); return nil }); err != nil {
						t.Fatalf("the whole map reads but bmap %d+%d fails: %v", off, n, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("bmap %d+%d: lookup %+v, list %+v", off, n, got, want)
					}
				}
				_ = m.DBBmap(func(string) error { return nil })
			}
		}
	})
}

// FuzzExtentList decodes an extents fork of any bytes and count, maps
// ranges of it and prints it.
func FuzzExtentList(f *testing.F) {
	fx := fuzzFixture(f)
	for _, label := range []string{"big.bin", "sparse.bin", "prealloc.bin", "xattr_bigval"} {
		c := fx.core(f, label)
		f.Add(c.Fork(false), c.NExtents, uint64(0), uint64(1<<20))
	}
	base := fx.core(f, "sparse.bin")
	f.Fuzz(func(t *testing.T, fork []byte, n, off, count uint64) {
		c, err := Decode(append([]byte(nil), base.Buf...))
		if err != nil {
			t.Fatal(err)
		}
		copy(c.Fork(false), fork)
		c.Format, c.NExtents, c.ForkOff = xfsformat.FmtExtents, n, 0
		recs, _ := c.Extents(false)
		if len(recs) > len(c.Fork(false))/xfsformat.BmbtRecLen {
			t.Fatalf("%d records from a fork of %d bytes", len(recs), len(c.Fork(false)))
		}
		pieces := BmapExtents(recs, off, count)
		var covered uint64
		for _, p := range pieces {
			covered += p.Count
		}
		if want := rangeEnd(off, count) - min(off, rangeEnd(off, count)); covered > want {
			t.Fatalf("bmap %d+%d covers %d blocks", off, count, covered)
		}
		_ = c.ForkFields(fx.fs, false, nil)
		_ = Verify(fx.fs, c, c.Ino)
		m := &Map{FS: fx.fs, Core: c, Read: func(uint64) ([]byte, error) { return nil, errors.New("no blocks") }}
		_ = m.Bmap(off, count, func(Mapping) error { return nil })
	})
}

// FuzzBmbtRoot decodes a btree fork's root of any bytes and walks it
// over the fixture's real bmbt blocks.
func FuzzBmbtRoot(f *testing.F) {
	fx := fuzzFixture(f)
	base := fx.core(f, "punched")
	f.Add(base.Fork(false))
	f.Add(fx.core(f, "bigdir").Fork(false))
	f.Fuzz(func(t *testing.T, fork []byte) {
		root, err := DecodeRoot(fork)
		if err != nil {
			return
		}
		if len(root.Keys) > root.MaxRecs || len(root.Ptrs) != len(root.Keys) {
			t.Fatalf("%d keys, %d ptrs, room for %d", len(root.Keys), len(root.Ptrs), root.MaxRecs)
		}
		c, err := Decode(append([]byte(nil), base.Buf...))
		if err != nil {
			t.Fatal(err)
		}
		copy(c.Fork(false), fork)
		_ = c.ForkFields(fx.fs, false, nil)
		for _, lenient := range []bool{false, true} {
			m := &Map{FS: fx.fs, Core: c, Read: fx.reader(), Lenient: lenient}
			_, _ = m.Extents()
			_ = m.Bmap(1000, 100, func(Mapping) error { return nil })
		}
	})
}

// FuzzSymlinkBlock decodes, prints and verifies a remote symlink block,
// and reads a symlink whose every block it is.
func FuzzSymlinkBlock(f *testing.F) {
	fx := fuzzFixture(f)
	c := fx.core(f, "tree_long.link")
	recs, err := c.Extents(false)
	if err != nil || len(recs) == 0 {
		f.Fatalf("tree_long.link: %v extents, %v", recs, err)
	}
	f.Add(fx.blocks[recs[0].StartBlock])
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := DecodeSymlinkBlock(b)
		if err != nil {
			return
		}
		_ = blk.Fields()
		_ = blk.Data()
		_ = VerifySymlinkBlock(fx.fs, blk, 0, c.Ino, 0, 10)
		target, err := Target(fx.fs, c, func(uint64) ([]byte, error) { return b, nil })
		if err == nil && len(target) != int(c.Size) {
			t.Fatalf("target of %d bytes for a size of %d", len(target), c.Size)
		}
	})
}

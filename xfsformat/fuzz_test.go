package xfsformat

import (
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets: no input may panic. Seeds are real sectors and blocks
// from the fixtures.

func seedSectors(f *testing.F, name string) *Geometry {
	fx := loadFixture(f, "allfeatures")
	for _, prof := range fixtureProfiles {
		d := testFixtureDir(f, prof)
		for _, ag := range []string{"ag0", "ag1"} {
			if b, err := os.ReadFile(filepath.Join(d, ag, name+".bin")); err == nil {
				f.Add(b)
			}
		}
	}
	return fx.geo
}

func testFixtureDir(f *testing.F, prof string) string { return loadFixture(f, prof).dir }

func FuzzSuperblock(f *testing.F) {
	seedSectors(f, "sb")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSuperblock(b)
		if err != nil {
			return
		}
		g, err := NewGeometry(s)
		if err != nil {
			return
		}
		_ = s.Fields(CRCOK(b, sbCRCOff))
		_ = VerifySuperblockCopy(s, b, g, 0)
		for _, t := range BtreeTypes {
			_ = t.Ops().MaxLevels(g)
		}
		_ = g.AGLength(g.AGCount - 1)
	})
}

func FuzzAGF(f *testing.F) {
	g := seedSectors(f, "agf")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAGF(b)
		if err != nil {
			return
		}
		_ = a.Fields(CRCOK(b, agfCRCOff))
		_ = VerifyAGF(a, b, g, 1)
	})
}

func FuzzAGI(f *testing.F) {
	g := seedSectors(f, "agi")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAGI(b)
		if err != nil {
			return
		}
		_ = a.Fields(CRCOK(b, agiCRCOff))
		_ = VerifyAGI(a, b, g, 1)
	})
}

func FuzzAGFL(f *testing.F) {
	fx := loadFixture(f, "allfeatures")
	g := fx.geo
	for _, prof := range fixtureProfiles {
		d := testFixtureDir(f, prof)
		for _, ag := range []string{"ag0", "ag1"} {
			if b, err := os.ReadFile(filepath.Join(d, ag, "agfl.bin")); err == nil {
				f.Add(b, uint32(1), uint32(6), uint32(6))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, first, last, count uint32) {
		a, err := DecodeAGFL(b)
		if err != nil {
			return
		}
		_ = a.Fields(CRCOK(b, agflCRCOff))
		_ = VerifyAGFL(a, b, g, 1)
		if blocks, _ := a.Active(first, last, count); len(blocks) > len(a.Bno) {
			t.Fatalf("Active returned %d entries from %d slots", len(blocks), len(a.Bno))
		}
	})
}

func FuzzBtreeBlock(f *testing.F) {
	fx := loadFixture(f, "allfeatures")
	for _, b := range fx.blocks(f) {
		buf, _ := os.ReadFile(b.path)
		f.Add(uint8(b.typ), buf)
	}
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		bt := BtreeType(int(typ) % int(NumBtreeTypes))
		blk, err := NewBlock(bt, b)
		if err != nil {
			return
		}
		_ = VerifyBlock(blk, fx.geo, 0, 10)
		_ = blk.Hdr.HeaderFields(blk.CRCOK())
		ops := blk.Ops
		for i := 0; i < blk.NumRecs(); i++ {
			if blk.IsLeaf() {
				_ = ops.RecValues(fx.geo, blk.Rec(i))
				key := make([]byte, ops.KeyLen)
				ops.RecKey(key, blk.Rec(i))
				if ops.RecHighKey != nil {
					ops.RecHighKey(key, blk.Rec(i))
				}
			} else {
				_ = ops.KeyValues(blk.Key(i))
				_ = blk.Ptr(i)
				if ops.Overlapping {
					_ = ops.KeyValues(blk.HighKey(i))
				}
			}
		}
	})
}

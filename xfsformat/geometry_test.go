package xfsformat

import (
	"errors"
	"testing"
)

func TestGeometryConversions(t *testing.T) {
	for _, prof := range fixtureProfiles {
		f := loadFixture(t, prof)
		g := f.geo
		for _, c := range []struct{ agno, agbno uint32 }{{0, 0}, {0, 1}, {1, 7}, {g.AGCount - 1, g.AGLength(g.AGCount-1) - 1}} {
			fsb := g.FSB(c.agno, c.agbno)
			if a, b := g.SplitFSB(fsb); a != c.agno || b != c.agbno {
				t.Errorf("%s: SplitFSB(FSB(%d,%d)) = %d,%d", prof, c.agno, c.agbno, a, b)
			}
			want := (uint64(c.agno)*uint64(g.AGBlocks) + uint64(c.agbno)) * uint64(g.BlockSize) / 512
			if d := g.Daddr(c.agno, c.agbno); d != want {
				t.Errorf("%s: Daddr(%d,%d) = %d, want %d", prof, c.agno, c.agbno, d, want)
			}
			if g.FSBToDaddr(fsb) != want {
				t.Errorf("%s: FSBToDaddr mismatch", prof)
			}
		}
		// The root inode lives in AG 0 at the block the inode geometry says.
		agno, agino := g.SplitIno(f.sb.RootIno)
		if agno != 0 || g.Ino(agno, agino) != f.sb.RootIno {
			t.Errorf("%s: root inode %d splits to %d/%d", prof, f.sb.RootIno, agno, agino)
		}
		blk, idx := g.AGInoBlock(agino)
		if g.AGIno(blk, idx) != agino {
			t.Errorf("%s: AGIno(AGInoBlock(%d)) differs", prof, agino)
		}
	}
}

// TestMaxRecs checks capacities against the kernel's for 4 KiB blocks.
func TestMaxRecs(t *testing.T) {
	want := map[BtreeType][2]int{Bnobt: {505, 336}, Cntbt: {505, 336}, Inobt: {252, 505}, Finobt: {252, 505},
		Rmapbt: {168, 91}, Refcountbt: {336, 505}}
	for typ, w := range want {
		if l, n := typ.Ops().MaxRecs(4096, true), typ.Ops().MaxRecs(4096, false); l != w[0] || n != w[1] {
			t.Errorf("%s: maxrecs leaf/node = %d/%d, want %d/%d", typ, l, n, w[0], w[1])
		}
	}
}

func TestRefusals(t *testing.T) {
	f := loadFixture(t, "allfeatures")
	cases := []struct {
		name   string
		mutate func(s *Superblock)
		kind   error
		text   string
	}{
		// A v5 superblock relabelled v4 keeps features2's crc bit, which
		// no v4 filesystem may have.
		{"v4 with crc", func(s *Superblock) { s.VersionNum = s.VersionNum&^0xf | 4 }, ErrUnsupported, "v4 feature(s) not supported: crc"},
		{"v4 dirv1", func(s *Superblock) {
			s.VersionNum = (s.VersionNum&^0xf | 4) &^ VersionDirV2Bit
			s.Features2 &^= Version2CRC
		}, ErrUnsupported, "version 1 directories"},
		{"v3", func(s *Superblock) { s.VersionNum = s.VersionNum&^0xf | 3 }, ErrUnsupported, "v3 filesystem"},
		{"unknown incompat", func(s *Superblock) { s.FeaturesIncompat |= 1 << 30 }, ErrUnsupported, "unknown(0x40000000)"},
		{"metadir", func(s *Superblock) { s.FeaturesIncompat |= IncompatMetadir }, ErrUnsupported, "metadir"},
		{"bad magic", func(s *Superblock) { s.MagicNum = 0 }, ErrNotXFS, "not an XFS"},
		{"blocksize", func(s *Superblock) { s.BlockSize = 3000 }, ErrRange, "block size"},
		{"agcount 0", func(s *Superblock) { s.AGCount = 0 }, ErrRange, "AG count"},
		{"dblocks", func(s *Superblock) { s.DBlocks = uint64(s.AGBlocks) * uint64(s.AGCount+3) }, ErrRange, "data size"},
	}
	for _, c := range cases {
		s := *f.sb
		c.mutate(&s)
		_, err := NewGeometry(&s)
		if err == nil || !errors.Is(err, c.kind) || !contains(err.Error(), c.text) {
			t.Errorf("%s: got %v, want %v naming %q", c.name, err, c.kind, c.text)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

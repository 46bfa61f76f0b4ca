package repair

import (
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestPlanLoadGeometry compares the loader's shapes with what xfs_repair
// (whose phase 5 uses the kernel's bulk loader) built for the same record
// counts on the test images: blocks per level, leaf first.
func TestPlanLoadGeometry(t *testing.T) {
	g4k := &xfsformat.Geometry{CRC: true, BlockSize: 4096, AGBlocks: 65536, InoPBLog: 3, Rmapbt: true, Reflink: true}
	g1k := &xfsformat.Geometry{CRC: true, BlockSize: 1024, AGBlocks: 262144, InoPBLog: 0, Rmapbt: true, Reflink: true}
	cases := []struct {
		g    *xfsformat.Geometry
		t    xfsformat.BtreeType
		n    int64
		want []int64
	}{
		{g4k, xfsformat.Bnobt, 1981, []int64{5, 1}},
		{g4k, xfsformat.Cntbt, 2011, []int64{5, 1}},
		{g4k, xfsformat.Rmapbt, 4509, []int64{35, 1}},
		{g4k, xfsformat.Inobt, 519, []int64{3, 1}},
		{g4k, xfsformat.Finobt, 513, []int64{3, 1}},
		{g4k, xfsformat.Refcountbt, 2049, []int64{8, 1}},
		{g1k, xfsformat.Bnobt, 374, []int64{4, 1}},
		{g1k, xfsformat.Rmapbt, 1281, []int64{42, 2, 1}},
		{g1k, xfsformat.Inobt, 135, []int64{3, 1}},
		{g1k, xfsformat.Refcountbt, 513, []int64{8, 1}},
		{g4k, xfsformat.Bnobt, 0, []int64{1}},
		{g4k, xfsformat.Bnobt, 378, []int64{1}},
		{g4k, xfsformat.Bnobt, 505, []int64{1, 1}[:1]},
	}
	for _, c := range cases {
		p, err := PlanLoad(c.t, c.g, c.n, false)
		if err != nil {
			t.Fatalf("%s %d: %v", c.t, c.n, err)
		}
		var got []int64
		for _, l := range p.Levels {
			got = append(got, l.Blocks)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s of %d records (%d-byte blocks): levels %v, want %v", c.t, c.n, c.g.BlockSize, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s of %d records (%d-byte blocks): levels %v, want %v", c.t, c.n, c.g.BlockSize, got, c.want)
				break
			}
		}
		// Every block within [minrecs, maxrecs] except a lone root.
		for li, l := range p.Levels {
			leaf := li == 0
			maxr, minr := c.t.Ops().MaxRecs(int(c.g.BlockSize), leaf), c.t.Ops().MinRecs(int(c.g.BlockSize), leaf)
			for b := int64(0); b < l.Blocks; b++ {
				n := l.perBlock(b)
				if n > maxr || (l.Blocks > 1 && n < minr) {
					t.Errorf("%s %d: level %d block %d holds %d (min %d max %d)", c.t, c.n, li, b, n, minr, maxr)
				}
			}
		}
	}
	// Tight slack packs leaves to maxrecs-2.
	p, _ := PlanLoad(xfsformat.Bnobt, g4k, 5030, true)
	if p.Levels[0].Blocks != 10 {
		t.Errorf("tight bnobt of 5030: %d leaves, want 10", p.Levels[0].Blocks)
	}
}

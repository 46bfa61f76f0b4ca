package view_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestOracle compares, field by field, every header of every AG and every
// block of every btree as xfsbox renders it with what xfs_db prints, on
// every profile of the image matrix and of the wild sample.
func TestOracle(t *testing.T) {
	for _, prof := range append(testimg.Profiles(), testimg.WildSample()...) {
		t.Run(prof, func(t *testing.T) {
			t.Parallel()
			oracleProfile(t, prof)
		})
	}
}

// TestOracleV4 is TestOracle on the v4 (non-CRC) images: 16-byte btree
// headers, the header-less AGFL, CRC fields xfs_db calls unchecked.
func TestOracleV4(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, prof := range testimg.V4Profiles() {
		t.Run(prof, func(t *testing.T) { oracleProfile(t, prof) })
	}
}

func oracleProfile(t *testing.T, prof string) {
	{
		{
			img := testimg.Image(t, prof)
			fs, err := fsys.Open(img, fsys.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close()
			tree := view.NewTree(fs)
			ctx := context.Background()

			var paths []string
			var batches [][]string
			for ag := uint32(0); ag < fs.Geo.AGCount; ag++ {
				for _, h := range []string{"sb", "agf", "agi", "agfl"} {
					paths = append(paths, fmt.Sprintf("ag/%d/%s", ag, h))
					batches = append(batches, []string{fmt.Sprintf("%s %d", h, ag)})
				}
			}
			dbg, err := xfsdb.ReadGeometry(img)
			if err != nil {
				t.Fatal(err)
			}
			perType := map[xfsformat.BtreeType]int{}
			for ag := uint32(0); ag < fs.Geo.AGCount; ag++ {
				for _, bt := range xfsformat.BtreeTypes {
					if !fs.HasBtree(bt) {
						continue
					}
					ents, err := tree.List(ctx, fmt.Sprintf("ag/%d/%s/blocks", ag, bt))
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range ents {
						if strings.HasSuffix(e.Name, ".raw") {
							continue
						}
						var agbno uint32
						fmt.Sscan(e.Name, &agbno)
						cmds, err := xfsdb.BtreeBlockCmds(dbg, ag, agbno, bt.Ops().DBType)
						if err != nil {
							t.Fatal(err)
						}
						paths = append(paths, fmt.Sprintf("ag/%d/%s/blocks/%d", ag, bt, agbno))
						batches = append(batches, cmds)
						perType[bt]++
					}
				}
			}
			objs, err := xfsdb.PrintMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(paths) {
				t.Fatalf("xfs_db printed %d objects for %d requests", len(objs), len(paths))
			}
			for i, p := range paths {
				compareObjects(t, p, xfsdb.Parse(render(t, ctx, tree, p)), objs[i])
			}
			for _, bt := range xfsformat.BtreeTypes {
				if fs.HasBtree(bt) && perType[bt] == 0 {
					t.Errorf("no %s blocks compared", bt)
				}
			}
			t.Logf("%s: compared %d objects (blocks per tree: %v)", prof, len(paths), perType)
		}
	}
}

// compareObjects wants every field and array xfs_db printed to be in
// ours with the same value. Ours may add lines xfs_db does not have
// (identity, problem).
func compareObjects(t *testing.T, where string, ours, ref *xfsdb.Object) {
	t.Helper()
	if ref.Empty() {
		t.Errorf("%s: xfs_db printed nothing (%v)", where, ref.Messages)
		return
	}
	for _, f := range ref.Fields {
		v, ok := ours.Get(f.Name)
		if !ok {
			t.Errorf("%s: field %s missing (xfs_db: %q)", where, f.Name, f.Value)
		} else if v != f.Value {
			t.Errorf("%s: %s = %q, xfs_db says %q", where, f.Name, v, f.Value)
		}
	}
	for _, a := range ref.Arrays {
		b := ours.Array(a.Name)
		if b == nil {
			t.Errorf("%s: array %s missing", where, a.Name)
			continue
		}
		if !slices.Equal(a.Columns, b.Columns) {
			t.Errorf("%s: %s columns %v, xfs_db %v", where, a.Name, b.Columns, a.Columns)
		}
		if !slices.Equal(a.Index, b.Index) {
			t.Errorf("%s: %s has %d elements, xfs_db %d", where, a.Name, len(b.Index), len(a.Index))
			continue
		}
		for i := range a.Rows {
			if !slices.Equal(a.Rows[i], b.Rows[i]) {
				t.Errorf("%s: %s[%d] = %v, xfs_db %v", where, a.Name, a.Index[i], b.Rows[i], a.Rows[i])
				break
			}
		}
	}
	for _, a := range ours.Arrays {
		if ref.Array(a.Name) == nil {
			t.Errorf("%s: we print array %s that xfs_db does not", where, a.Name)
		}
	}
}

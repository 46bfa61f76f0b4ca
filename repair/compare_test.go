package repair

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// treeRecords lists the records of one AG btree (for the rmapbt, only
// file mappings: owners that are inodes).
func treeRecords(t *testing.T, img string, agno uint32, bt xfsformat.BtreeType) []string {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if !fs.HasBtree(bt) {
		return nil
	}
	var out []string
	w := &fsys.Walk{FS: fs, AG: agno, Type: bt, OnProblem: func(err error) { t.Fatalf("%s: %v", bt, err) }}
	err = w.Records(context.Background(), func(_ uint32, _ int, rec []byte) error {
		if bt == xfsformat.Rmapbt && !xfsformat.DecodeRmapRec(rec).IsInodeOwner() {
			return nil
		}
		out = append(out, fmt.Sprintf("%x", rec))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRepairAllMatchesXfsRepair forces `repair all` on healthy images and
// compares, record for record, the inobt, finobt, refcountbt and the
// rmapbt's file mappings with what xfs_repair's own rebuild of a copy
// produces (block layouts differ; records must not), on the recipe images
// and on one a random workload aged (reflinks, punches, truncates and
// removals in every order), and on the wild sample (chunks on cluster
// boundaries, two chunks a block).
func TestRepairAllMatchesXfsRepair(t *testing.T) {
	for _, prof := range append([]string{"allfeatures", "defaults", "1k", "aged"}, testimg.WildSample()...) {
		t.Run(prof, func(t *testing.T) {
			ours, theirs := testimg.Copy(t, prof), testimg.Copy(t, prof)
			fs := openRW(t, ours)
			if _, err := Repair(context.Background(), fs, All, fsys.AllAGs, RepairOptions{Force: true}); err != nil {
				t.Fatal(err)
			}
			agcount := fs.Geo.AGCount
			fs.Close()
			if out, err := exec.Command("xfs_repair", theirs).CombinedOutput(); err != nil {
				t.Fatalf("xfs_repair: %v\n%s", err, out)
			}
			judge.RequireClean(t, ours, "after repair all")
			for agno := uint32(0); agno < agcount; agno++ {
				for _, bt := range []xfsformat.BtreeType{xfsformat.Inobt, xfsformat.Finobt, xfsformat.Refcountbt, xfsformat.Rmapbt} {
					a, b := treeRecords(t, ours, agno, bt), treeRecords(t, theirs, agno, bt)
					if len(a) != len(b) {
						t.Fatalf("ag %d %s: %d records, xfs_repair's rebuild has %d", agno, bt, len(a), len(b))
					}
					for i := range a {
						if !bytes.Equal([]byte(a[i]), []byte(b[i])) {
							t.Fatalf("ag %d %s record %d: ours %s, xfs_repair's %s", agno, bt, i, a[i], b[i])
						}
					}
				}
			}
			judge.KernelVerify(t, ours, testimg.Hashes(t, prof))
		})
	}
}

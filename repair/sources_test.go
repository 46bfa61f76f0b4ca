package repair_test

import (
	"context"
	"testing"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

func repairAG(t *testing.T, img string, agno uint32, what repair.Structures, opts repair.RepairOptions) *repair.RepairResult {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	results, err := repair.Repair(context.Background(), fs, what, fsys.OneAG(agno), opts)
	if err != nil || len(results) != 1 {
		t.Fatalf("repair ag %d %v: %d results, %v", agno, what, len(results), err)
	}
	res := results[0]
	if len(res.After) > 0 {
		t.Fatalf("ag %d: findings after the repair: %v", agno, res.After)
	}
	return res
}

// TestRmapSourceMatchesScan: a forced free-space (and refcountbt)
// rebuild that takes the used space from a sound rmapbt writes exactly
// the image the rebuild from a scan of every inode writes, AG by AG.
func TestRmapSourceMatchesScan(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	fromRmap, fromScan := testimg.Copy(t, "allfeatures"), testimg.Copy(t, "allfeatures")
	for agno := uint32(0); agno < 4; agno++ {
		for _, what := range []repair.Structures{repair.BnoBT, repair.RefcountBT} {
			r := repairAG(t, fromRmap, agno, what, repair.RepairOptions{Force: true})
			s := repairAG(t, fromScan, agno, what, repair.RepairOptions{Force: true, FullScan: true})
			if r.Source != repair.SourceRmapbt || s.Source != repair.SourceInodeScan {
				t.Fatalf("ag %d %v: sources %q and %q, want %q and %q", agno, what, r.Source, s.Source, repair.SourceRmapbt, repair.SourceInodeScan)
			}
			if testimg.FileSum(t, fromRmap) != testimg.FileSum(t, fromScan) {
				t.Fatalf("ag %d %v: the rebuild from the rmapbt and the one from the inode scan wrote different images", agno, what)
			}
		}
	}
	judge.RequireClean(t, fromRmap, "after rebuilds from the rmapbt")
}

// TestRmapSourceGate: the rmapbt is used only when it agrees with the
// bnobt. A cntbt record made wrong leaves them agreeing (source: the
// rmapbt); a bnobt record made wrong does not (source: the inode scan).
// Both repairs leave the image clean. Without an rmapbt the inode scan
// is the only source.
func TestRmapSourceGate(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, tc := range []struct {
		tree, root, want string
		what             repair.Structures
	}{
		{"cntbt", "cntroot", repair.SourceRmapbt, repair.CntBT},
		{"bnobt", "bnoroot", repair.SourceInodeScan, repair.BnoBT},
	} {
		t.Run(tc.tree, func(t *testing.T) {
			img := testimg.Copy(t, "allfeatures")
			c := campaign.Case{Profile: "allfeatures", AG: 0, Object: tc.tree + "-leaf", Field: "recs[2].blockcount", Verb: "sub",
				Nav: []string{"agf 0", "addr " + tc.root, "addr ptrs[1]"}}
			if _, changed, err := campaign.Apply(context.Background(), img, c); err != nil || !changed {
				t.Fatalf("corrupting %s: changed %v, %v", c, changed, err)
			}
			res := repairAG(t, img, 0, tc.what, repair.RepairOptions{})
			if res.NothingToDo || len(res.Before) == 0 {
				t.Fatalf("the repair saw nothing wrong after %s", c)
			}
			if res.Source != tc.want {
				t.Fatalf("source %q, want %q", res.Source, tc.want)
			}
			judge.RequireClean(t, img, "after repairing "+c.String())
		})
	}
	t.Run("no-rmapbt", func(t *testing.T) {
		img := testimg.Copy(t, "defaults")
		if res := repairAG(t, img, 1, repair.BnoBT, repair.RepairOptions{Force: true}); res.Source != repair.SourceInodeScan {
			t.Fatalf("source %q without an rmapbt", res.Source)
		}
	})
}

// TestRmapRepairReadsInodes: a repair of the rmapbt itself never takes
// the rmapbt as its source.
func TestRmapRepairReadsInodes(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	if res := repairAG(t, img, 2, repair.RmapBT, repair.RepairOptions{Force: true}); res.Source != repair.SourceInodeScan {
		t.Fatalf("rmapbt repair took its used space from the %s", res.Source)
	}
}

// TestRepairAllParallel: `repair all` over an image with damage in two
// AGs (a cntbt record in AG 1, an inobt record's free count in AG 2)
// repairs both in one parallel pass, leaves the healthy AGs alone, and
// the image checks clean by our check and xfs_repair -n.
func TestRepairAllParallel(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	for _, c := range []campaign.Case{
		{Profile: "allfeatures", AG: 1, Object: "cntbt-leaf", Field: "recs[2].blockcount", Verb: "sub", Nav: []string{"agf 1", "addr cntroot", "addr ptrs[1]"}},
		{Profile: "allfeatures", AG: 2, Object: "inobt-root", Field: "recs[2].freecount", Verb: "add", Nav: []string{"agi 2", "addr root"}},
	} {
		if _, changed, err := campaign.Apply(context.Background(), img, c); err != nil || !changed {
			t.Fatalf("corrupting %s: changed %v, %v", c, changed, err)
		}
	}
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	results, err := repair.Repair(context.Background(), fs, repair.All, fsys.AllAGs, repair.RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	repaired := map[uint32]bool{}
	for _, r := range results {
		if len(r.After) > 0 {
			t.Fatalf("ag %d: findings after: %v", r.AG, r.After)
		}
		for _, rw := range r.Rewritten {
			if rw.Structure == "bnobt" {
				repaired[r.AG] = true
			}
		}
	}
	if !repaired[1] || !repaired[2] || repaired[0] || repaired[3] {
		t.Fatalf("AGs whose trees were rebuilt: %v, want 1 and 2", repaired)
	}
	res, err := check.Check(context.Background(), fs, check.CheckOptions{})
	if err != nil || res.Findings.Corrupt() {
		t.Fatalf("check after repair all: %v %v", err, res.Findings.List())
	}
	fs.Close()
	judge.RequireClean(t, img, "after repair all")
}

// TestChunkSources: an inode-tree rebuild finds the chunks in the
// rmapbt when it is sound, else in the old inobt when that is sound,
// else by searching the AG; each way rebuilds a clean image with every
// file intact. A source that lost records is not sound even though it is
// well-formed: an emptied inobt leaf (the campaign's defaults inobt-leaf
// numrecs zeroes, which lost the root directory's chunk when the old
// inobt was trusted) and an emptied rmapbt leaf (its OWN_INODES records;
// a forced repair's light check does not compare the rmapbt with the
// owners, so the rmapbt and the inobt disagreeing block for block is what
// sends it to the search: that repair lost the root chunk too).
func TestChunkSources(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	emptied := func(profile, object string, nav ...string) *campaign.Case {
		return &campaign.Case{Profile: profile, AG: 0, Object: object, Field: "numrecs", Verb: "zeroes", Nav: nav}
	}
	for _, tc := range []struct {
		name, profile string
		ag            uint32
		structures    repair.Structures
		corrupt       *campaign.Case
		want          string
	}{
		{"healthy", "allfeatures", 1, repair.InoBT, nil, repair.ChunksFromRmapbt},
		{"healthy", "defaults", 1, repair.InoBT, nil, repair.ChunksFromInobt},
		{"bad-record", "defaults", 1, repair.InoBT, &campaign.Case{Profile: "defaults", AG: 1, Object: "inobt-root", Field: "recs[1].startino", Verb: "add", Nav: []string{"agi 1", "addr root"}}, repair.ChunksFromSearch},
		{"emptied-inobt-leaf", "defaults", 0, repair.InoBT, emptied("defaults", "inobt-leaf", "agi 0", "addr root", "addr ptrs[1]"), repair.ChunksFromSearch},
		{"emptied-inobt-leaf", "allfeatures", 0, repair.InoBT, emptied("allfeatures", "inobt-leaf", "agi 0", "addr root", "addr ptrs[1]"), repair.ChunksFromRmapbt},
		{"emptied-rmapbt-leaf", "allfeatures", 0, repair.All, emptied("allfeatures", "rmapbt-leaf", "agf 0", "addr rmaproot", "addr ptrs[1]"), repair.ChunksFromSearch},
	} {
		t.Run(tc.profile+"/"+tc.name, func(t *testing.T) {
			img := testimg.Copy(t, tc.profile)
			if tc.corrupt != nil {
				if _, changed, err := campaign.Apply(context.Background(), img, *tc.corrupt); err != nil || !changed {
					t.Fatalf("corrupting %s: changed %v, %v", tc.corrupt, changed, err)
				}
			}
			res := repairAG(t, img, tc.ag, tc.structures, repair.RepairOptions{Force: true})
			if res.ChunkSource != tc.want {
				t.Fatalf("chunks from the %q, want the %q", res.ChunkSource, tc.want)
			}
			judge.RequireClean(t, img, "after the inode btrees' rebuild from the "+tc.want)
			judge.KernelVerify(t, img, testimg.Hashes(t, tc.profile))
		})
	}
}

// TestRmapSourceRefcounts: a refcountbt record with a wrong count is
// seen without the inode scan (the rmapbt's overlaps are compared with
// the refcountbt) and repaired from the rmapbt.
func TestRmapSourceRefcounts(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	c := campaign.Case{Profile: "allfeatures", AG: 0, Object: "refcntbt-leaf", Field: "recs[1].refcount", Verb: "add",
		Nav: []string{"agf 0", "addr refcntroot", "addr ptrs[1]"}}
	if _, changed, err := campaign.Apply(context.Background(), img, c); err != nil || !changed {
		t.Fatalf("corrupting %s: changed %v, %v", c, changed, err)
	}
	res := repairAG(t, img, 0, repair.RefcountBT, repair.RepairOptions{})
	if res.NothingToDo || res.Source != repair.SourceRmapbt {
		t.Fatalf("nothing to do %v, source %q: want a repair from the rmapbt", res.NothingToDo, res.Source)
	}
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if r, err := check.Check(context.Background(), fs, check.CheckOptions{}); err != nil || r.Findings.Corrupt() {
		t.Fatalf("check after the repair: %v %v", err, r.Findings.List())
	}
	judge.RequireClean(t, img, "after repairing "+c.String())
}

package repair

import (
	"context"
	"reflect"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// TestPlanBesideCheck: the free-space plan made beside the check, from
// the rmapbt's records as the walk staged them, is adopted when the
// check finds the rmapbt sound, and is the plan made after the check
// from its used space: the same blocks reserved, the same trees, the
// same counts. With the refcountbt too (its records staged by the
// plan).
func TestPlanBesideCheck(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	fs, err := fsys.Open(testimg.Image(t, "allfeatures"), fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	for agno := uint32(0); agno < fs.Geo.AGCount; agno++ {
		for _, refc := range []bool{false, true} {
			opts := RepairOptions{ag: agno, Force: true}
			early := &earlyPlan{fs: fs, opts: opts, refc: refc}
			ws, c, res, err := checkAG(ctx, fs, opts, true, early.beside)
			if err != nil {
				t.Fatal(err)
			}
			s := early.adopt(ws, c, res)
			if res.Source != SourceRmapbt || s == nil || s.planErr != nil {
				ws.Close()
				t.Fatalf("ag %d: source %q, plan beside the check adopted %v (%v)", agno, res.Source, s != nil, early.err)
			}
			after := &freeSpaceRebuild{fs: fs, opts: opts, ws: ws, c: c, res: res, refc: refc}
			if err := after.plan(ctx); err != nil {
				ws.Close()
				t.Fatal(err)
			}
			for _, f := range []struct {
				name          string
				beside, after any
			}{
				{"reserved", s.reserved, after.reserved},
				{"bnobt", s.bnobt.plan, after.bnobt.plan}, {"cntbt", s.cntbt.plan, after.cntbt.plan},
				{"rmapbt", s.rmapbt.plan, after.rmapbt.plan}, {"refcountbt", s.refcbt.plan, after.refcbt.plan},
				{"kept rmaps", s.keptRmaps, after.keptRmaps}, {"kept normal", s.keptNormal, after.keptNormal},
				{"kept gaps", s.keptGaps, after.keptGaps}, {"blocks replaced", s.oldOwnAG, after.oldOwnAG},
				{"tight", s.tight, after.tight}, {"groups", s.groups, after.groups},
				{"kept extents", s.keptExt.Len(), after.keptExt.Len()},
			} {
				if !reflect.DeepEqual(f.beside, f.after) {
					t.Errorf("ag %d refc %v: %s planned beside the check %v, after it %v", agno, refc, f.name, f.beside, f.after)
				}
			}
			if s.bnobt.plan == nil || s.bnobt.plan.Records == 0 || (refc && s.refcbt.plan == nil) {
				t.Errorf("ag %d refc %v: an empty plan: %+v", agno, refc, s.bnobt.plan)
			}
			ws.Close()
		}
	}
}

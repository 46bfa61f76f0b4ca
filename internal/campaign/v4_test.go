package campaign_test

import (
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestCampaignV4Sample is TestCampaignSample on the v4 images (4 KiB
// and 1 KiB blocks): every object (AG headers, the header-less AGFL,
// the v4 btree blocks) and verb, one field each drawn with the fixed
// seed, judged by xfs_repair -n and our check, and every in-scope case
// our check detects repaired and judged by both again. No kernel here
// mounts v4, so none judges the repairs; a damaged inobt's rebuild is
// refused by name (RepairRefusedV4). It fails on any miss.
func TestCampaignV4Sample(t *testing.T) {
	if testing.Short() {
		t.Skip("the campaign sample takes minutes (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	var plans []*campaign.Plan
	var results []campaign.Result
	start := time.Now()
	for _, p := range testimg.V4Profiles() {
		plan := campaign.PlanFor(t, p)
		cases := campaign.Sample(plan.Cases, 1, sampleSeed)
		checkCoverage(t, plan, cases)
		t.Logf("%s: %d objects, %d cases in all, sampling %d", p, len(plan.Objects), len(plan.Cases), len(cases))
		plans = append(plans, plan)
		results = append(results, run(t, p, cases, 50, nil)...)
	}
	judge(t, &campaign.Report{Plans: plans, Results: results, Elapsed: time.Since(start), Workers: workers})
}

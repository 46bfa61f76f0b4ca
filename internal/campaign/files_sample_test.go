package campaign_test

import (
	"context"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestCampaignFilesSample is the campaign over the objects above the AG
// (campaign.EnumerateFiles: inode cores, directory blocks of every
// format, attribute blocks, bmbt blocks, symlinks), one field drawn
// per object and verb, on the all-features, mkfs-defaults and 1 KiB-block
// images: xfs_repair -n and our check judge each case, and a case
// xfs_repair flags and we call clean (a miss) fails the test.
func TestCampaignFilesSample(t *testing.T) {
	if testing.Short() {
		t.Skip("the campaign sample takes minutes (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	var plans []*campaign.Plan
	var results []campaign.Result
	start := time.Now()
	for _, prof := range []string{"allfeatures", "defaults", "1k"} {
		img := testimg.Image(t, prof)
		plan, err := campaign.EnumerateFiles(context.Background(), img, prof)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Notes) > 0 {
			t.Fatalf("%s: objects missing: %v", prof, plan.Notes)
		}
		cases := campaign.Sample(plan.Cases, 1, sampleSeed)
		t.Logf("%s: %d objects, %d cases in all, sampling %d", prof, len(plan.Objects), len(plan.Cases), len(cases))
		plans = append(plans, plan)
		images := make([]string, workers)
		for i := range images {
			images[i] = testimg.Copy(t, prof)
		}
		res, err := campaign.Run(context.Background(), images, cases, campaign.Options{Pristine: img, Verify: true})
		if err != nil {
			t.Fatalf("%s: %v", prof, err)
		}
		results = append(results, res...)
	}
	judge(t, &campaign.Report{Plans: plans, Results: results, Elapsed: time.Since(start), Workers: workers})
}

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
// format, attribute blocks, bmbt blocks, symlinks), one field drawn per
// object and verb, half of those on each of the all-features,
// mkfs-defaults and 1 KiB-block images: xfs_repair -n and our check judge each case, and a case
// xfs_repair flags and we call clean (a miss) fails the test.
func TestCampaignFilesSample(t *testing.T) {
	if testing.Short() {
		t.Skip("the campaign sample takes minutes (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	var plans []*campaign.Plan
	var results []campaign.Result
	start := time.Now()
	for pi, prof := range []string{"allfeatures", "defaults", "1k"} {
		img := testimg.Image(t, prof)
		plan, err := campaign.EnumerateFiles(context.Background(), img, prof)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Notes) > 0 {
			t.Fatalf("%s: objects missing: %v", prof, plan.Notes)
		}
		// One field per object and verb, and of those every other one,
		// the other half on the next profile: every object and verb is
		// judged on some image, in a couple of minutes (make
		// campaign-files runs them all).
		var cases []campaign.Case
		for i, c := range campaign.Sample(plan.Cases, 1, sampleSeed) {
			if (i+pi)%2 == 0 {
				cases = append(cases, c)
			}
		}
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

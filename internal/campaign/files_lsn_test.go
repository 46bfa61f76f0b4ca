package campaign_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestCampaignFilesLSN fuzzes every LSN field of every object above the
// AG (inode cores, directory, attribute, bmbt and symlink blocks) so that
// it points past the log's head: xfs_repair -n reports such metadata
// ("Maximum metadata LSN ... is ahead of log") and so must our check.
// The sample draws one field per object and verb and met this only by
// chance (a CI run's draw), so every LSN field is judged here.
// aheadLSN is cycle 0x12345678, block 1: ahead of every test image's
// log, and positive as the signed LSN xfs_repair compares (fuzz's
// firstbit and half of its random draws make a negative one, which
// xfs_repair does not call ahead).
const aheadLSN = "=0x1234567800000001"

func TestCampaignFilesLSN(t *testing.T) {
	if testing.Short() {
		t.Skip("judges with xfs_repair (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	const prof = "allfeatures"
	start := time.Now()
	img := testimg.Image(t, prof)
	plan, err := campaign.EnumerateFiles(context.Background(), img, prof)
	if err != nil {
		t.Fatal(err)
	}
	var cases []campaign.Case
	objs := map[string]bool{}
	for _, c := range plan.Cases {
		if strings.HasSuffix(c.Field, "lsn") && c.Verb == "zeroes" {
			c.Verb = aheadLSN
			cases = append(cases, c)
			objs[c.Object] = true
		}
	}
	for _, o := range plan.Objects {
		if !objs[o.Name] {
			t.Errorf("%s has no lsn field to fuzz", o.Name)
		}
	}
	images := make([]string, workers)
	for i := range images {
		images[i] = testimg.Copy(t, prof)
	}
	res, err := campaign.Run(context.Background(), images, cases, campaign.Options{Pristine: img, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	judge(t, &campaign.Report{Plans: []*campaign.Plan{plan}, Results: res, Elapsed: time.Since(start), Workers: workers})
}

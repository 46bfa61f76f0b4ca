package campaign_test

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// workers is the number of private image copies a run uses: one per
// core of the 2-core machines this runs on.
const workers = 2

// sampleSeed fixes TestCampaignSample's choice of cases.
const sampleSeed = 20260514

// sampleProfiles are the images the sample runs on: allfeatures and
// defaults, and the wild sample (no sparse inodes, 64 KiB blocks, the
// RHEL 7 defaults).
func sampleProfiles() []string {
	return append([]string{"allfeatures", "defaults"}, testimg.WildSample()...)
}

// TestCampaignSample runs a deterministic slice of the campaign: for
// every object and verb, one field drawn with a fixed seed, on
// allfeatures and defaults, and half of such a draw on each of the wild
// sample's shapes. It fails on any miss.
func TestCampaignSample(t *testing.T) {
	if testing.Short() {
		t.Skip("the campaign sample takes minutes (not in -short)")
	}
	testimg.Require(t, "root", "xfsprogs")
	var plans []*campaign.Plan
	var results []campaign.Result
	start := time.Now()
	for pi, p := range sampleProfiles() {
		plan := campaign.PlanFor(t, p)
		cases := campaign.Sample(plan.Cases, 1, sampleSeed)
		if pi < 2 {
			// allfeatures and defaults: every object and verb.
			checkCoverage(t, plan, cases)
		} else {
			// The wild shapes: every other case, the next profile the
			// rest (make wild and make campaign run them whole), to
			// keep make test within its time.
			var half []campaign.Case
			for i, c := range cases {
				if (i+pi)%2 == 0 {
					half = append(half, c)
				}
			}
			cases = half
		}
		t.Logf("%s: %d objects, %d cases in all, sampling %d", p, len(plan.Objects), len(plan.Cases), len(cases))
		plans = append(plans, plan)
		// Judge every fourth repaired case by the kernel too (mount,
		// hashes, write workload): the full campaign judges them all.
		var n atomic.Int64
		kernel := func(c campaign.Case) bool { return n.Add(1)%4 == 1 }
		results = append(results, run(t, p, cases, 50, kernel)...)
	}
	rep := &campaign.Report{Plans: plans, Results: results, Elapsed: time.Since(start), Workers: workers}
	judge(t, rep)
}

// run runs cases on workers private copies of profile's image, logging
// progress every `every` cases and each miss as it happens, and checks at
// the end that every copy is byte for byte the image again.
func run(t *testing.T, profile string, cases []campaign.Case, every int, kernel func(campaign.Case) bool) []campaign.Result {
	t.Helper()
	images := make([]string, workers)
	for i := range images {
		images[i] = testimg.Copy(t, profile)
	}
	start := time.Now()
	progress := func(done, total int, r *campaign.Result) {
		if r.Outcome() == campaign.Miss {
			t.Logf("MISS %s", campaign.MissText(r))
		}
		if done%every == 0 || done == total {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(done) * float64(total-done))
			t.Logf("%s: %d/%d cases, %v elapsed, ~%v to go", profile, done, total, el.Round(time.Second), eta.Round(time.Second))
		}
	}
	results, err := campaign.Run(context.Background(), images, cases, campaign.Options{
		Pristine: testimg.Image(t, profile),
		Verify:   true,
		Progress: progress,
		Hook:     campaign.RepairHook(testimg.Hashes(t, profile), kernel),
	})
	if err != nil {
		t.Fatalf("%s: %v", profile, err)
	}
	return results
}

// judge fails the test on every miss and every case our check could not
// run, and logs the report.
func judge(t *testing.T, rep *campaign.Report) {
	t.Helper()
	var buf bytes.Buffer
	rep.Write(&buf)
	t.Logf("\n%s", buf.String())
	repaired := map[string]int{}
	for _, r := range rep.Results {
		if r.Extra != nil && r.Extra["repair"] != campaign.RepairSkipped {
			repaired[r.Object+" "+r.Extra["repair"]]++
		}
	}
	t.Logf("repairs (object outcome: cases): %v", repaired)
	// The failures last: a long log is cut in the middle, so they stay
	// in sight at its end.
	for _, r := range rep.Misses() {
		t.Errorf("MISS %s", campaign.MissText(r))
	}
	for _, r := range rep.Failures() {
		if r.OurErr != nil {
			t.Errorf("our check failed on %s: %v", r.Case, r.OurErr)
		}
		if r.HookErr != nil {
			t.Errorf("REPAIR FAILED %s: %v\n  reproduce: %s", r.Case, r.HookErr, r.Case.Command("IMAGE"))
		}
	}
	n := rep.Count()
	if judged := n[campaign.Both] + n[campaign.Neither] + n[campaign.Extra] + n[campaign.Miss]; judged == 0 {
		t.Errorf("no case was judged: %v", n)
	}
}

// checkCoverage fails unless the sample has every object and every verb.
func checkCoverage(t *testing.T, plan *campaign.Plan, cases []campaign.Case) {
	t.Helper()
	objs, verbs := map[string]bool{}, map[string]bool{}
	for _, c := range cases {
		objs[c.Object], verbs[c.Verb] = true, true
	}
	for _, o := range plan.Objects {
		if !objs[o.Name] {
			t.Errorf("%s: the sample has no case of %s", plan.Profile, o.Name)
		}
	}
	for _, v := range campaign.Verbs {
		if !verbs[v] {
			t.Errorf("%s: the sample has no %s case", plan.Profile, v)
		}
	}
}

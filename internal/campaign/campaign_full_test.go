//go:build campaign

package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestCampaignFull runs every case on every profile of
// $XFSBOX_CAMPAIGN_PROFILES (comma-separated; default fullProfiles), or those of the objects in $XFSBOX_CAMPAIGN_OBJECTS
// ("agf,bnobt-leaf,rmapbt": objects or whole structures) (make campaign: go test -tags campaign), and writes the table to stdout and to
// $XFSBOX_CAMPAIGN_OUT (default testdata/cache/campaign.txt). Every in-scope case our check detects is repaired and judged by
// xfs_repair -n and the kernel. It fails on any miss or failed repair.
func TestCampaignFull(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs")
	profiles := fullProfiles
	if s := os.Getenv("XFSBOX_CAMPAIGN_PROFILES"); s != "" {
		profiles = strings.Split(s, ",")
	}
	runAndReport(t, profiles, "campaign.txt", campaign.PlanFor, func(plan *campaign.Plan) []campaign.Case {
		cases := selectObjects(plan.Cases, os.Getenv("XFSBOX_CAMPAIGN_OBJECTS"))
		t.Logf("%s: %d objects, %d cases, %d selected", plan.Profile, len(plan.Objects), len(plan.Cases), len(cases))
		return cases
	})
}

// runAndReport runs the cases pick chooses from each profile's plan,
// the kernel judging repairs as kernelEvery says, writes the table to
// stdout and to $XFSBOX_CAMPAIGN_OUT (default testdata/cache/<name>),
// and fails on any miss or failed repair.
func runAndReport(t *testing.T, profiles []string, name string, planFor func(testing.TB, string) *campaign.Plan, pick func(*campaign.Plan) []campaign.Case) {
	t.Helper()
	out := os.Getenv("XFSBOX_CAMPAIGN_OUT")
	if out == "" {
		root, err := testimg.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "testdata", "cache", name)
	}
	var plans []*campaign.Plan
	var results []campaign.Result
	start := time.Now()
	for _, p := range profiles {
		plan := planFor(t, p)
		cases := pick(plan)
		plans = append(plans, plan)
		results = append(results, run(t, p, cases, 50, kernelEvery(t))...)
	}
	rep := &campaign.Report{Plans: plans, Results: results, Elapsed: time.Since(start), Workers: workers}
	var buf bytes.Buffer
	rep.Write(&buf)
	fmt.Print(buf.String())
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("table written to %s", out)
	judge(t, rep)
}

// fullProfiles are the images the full campaign covers by default: the
// all-features, mkfs-defaults and 1 KiB-block images that the repair
// issues' acceptance names (make test's sample covers the first two).
var fullProfiles = []string{"allfeatures", "defaults", "1k"}

// selectObjects keeps the cases whose object is named in the
// comma-separated list (an object, "bnobt-leaf", or a whole structure,
// "bnobt"); an empty list keeps them all.
func selectObjects(cases []campaign.Case, list string) []campaign.Case {
	if list == "" {
		return cases
	}
	want := strings.Split(list, ",")
	var out []campaign.Case
	for _, c := range cases {
		structure, _, _ := strings.Cut(c.Object, "-")
		if slices.Contains(want, c.Object) || slices.Contains(want, structure) {
			out = append(out, c)
		}
	}
	return out
}

// kernelEvery picks the repaired cases the kernel judges too: every one,
// or every Nth with XFSBOX_CAMPAIGN_KERNEL_EVERY=N (the kernel's mount,
// hashes and write workload take seconds a case).
func kernelEvery(t *testing.T) func(campaign.Case) bool {
	every := int64(1)
	if s := os.Getenv("XFSBOX_CAMPAIGN_KERNEL_EVERY"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("XFSBOX_CAMPAIGN_KERNEL_EVERY=%q: want a positive number", s)
		}
		every = n
	}
	var n atomic.Int64
	return func(campaign.Case) bool { return (n.Add(1)-1)%every == 0 }
}

// TestCampaignWild runs, on every profile of the wild matrix
// (testimg.WildProfiles, or $XFSBOX_WILD_PROFILES), a sample of the
// campaign: for every object and verb, $XFSBOX_WILD_PER_PAIR fields
// (default 1, as make test's sample) drawn with the sample's seed, every repaired case judged
// by xfs_repair -n and the kernel. The table goes to stdout and to
// $XFSBOX_CAMPAIGN_OUT (default testdata/cache/campaign-wild.txt). It
// fails on any miss or failed repair. make campaign runs it after
// TestCampaignFull.
func TestCampaignWild(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs")
	profiles := testimg.WildProfiles()
	if os.Getenv("XFSBOX_WILD_PROFILES") != "" {
		profiles = testimg.WildSample()
	}
	perPair := 1
	if s := os.Getenv("XFSBOX_WILD_PER_PAIR"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("XFSBOX_WILD_PER_PAIR=%q: want a positive number", s)
		}
		perPair = n
	}
	runAndReport(t, profiles, "campaign-wild.txt", campaign.PlanFor, func(plan *campaign.Plan) []campaign.Case {
		cases := campaign.Sample(plan.Cases, perPair, sampleSeed)
		checkCoverage(t, plan, cases)
		t.Logf("%s: %d objects, %d cases in all, sampling %d", plan.Profile, len(plan.Objects), len(plan.Cases), len(cases))
		return cases
	})
}

// TestReadLayerDamageFull is TestReadLayerDamage with every case of
// every object above the AG (make campaign), on the profiles of
// $XFSBOX_CAMPAIGN_PROFILES (default allfeatures and 1k).
func TestReadLayerDamageFull(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	profiles := []string{"allfeatures", "1k"}
	if s := os.Getenv("XFSBOX_CAMPAIGN_PROFILES"); s != "" {
		profiles = strings.Split(s, ",")
	}
	for _, prof := range profiles {
		t.Run(prof, func(t *testing.T) {
			readLayerDamage(t, prof, func(cases []campaign.Case) []campaign.Case { return cases })
		})
	}
}

// TestCampaignFilesFull is the campaign over every case of the objects
// above the AG (campaign.EnumerateFiles) on fullProfiles (or
// $XFSBOX_CAMPAIGN_PROFILES), judged by xfs_repair -n and our check;
// the table goes to testdata/cache/campaign-files.txt (or
// $XFSBOX_CAMPAIGN_OUT). It fails on any miss. About 45,000 cases: hours.
func TestCampaignFilesFull(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	profiles := fullProfiles
	if s := os.Getenv("XFSBOX_CAMPAIGN_PROFILES"); s != "" {
		profiles = strings.Split(s, ",")
	}
	planFor := func(t testing.TB, prof string) *campaign.Plan {
		plan, err := campaign.EnumerateFiles(context.Background(), testimg.Image(t, prof), prof)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	runAndReport(t, profiles, "campaign-files.txt", planFor, func(plan *campaign.Plan) []campaign.Case {
		return selectObjects(plan.Cases, os.Getenv("XFSBOX_CAMPAIGN_OBJECTS"))
	})
}

package campaign_test

import (
	"context"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// filesRegressions are cases the full files campaign once found missed
// (xfs_repair -n flagged them, our check called the image clean), each
// with the value that showed it, so that make test keeps them seen
// whatever the sample draws.
var filesRegressions = []struct{ profile, object, field, verb string }{
	// A NUL byte in a remote symlink's target (9eb528f).
	{"allfeatures", "symlink-remote", "data", "zeroes"},
	// A device inode with a nonzero size (xfs_repair's
	// process_misc_ino_types).
	{"allfeatures", "inode-chrdev", "core.size", "=1"},
	{"allfeatures", "inode-chrdev", "core.size", "=2147483648"},
	// An extent past the largest file offset (xfs_repair 6.1: extent
	// exceeds max offset); without an rmapbt nothing else sees it.
	{"defaults", "inode-attr-sf", "u3.bmx[0].startoff", "=18014398509481983"},
	{"defaults", "inode-attr-sf", "u3.bmx[0].startoff", "=17632777678183268"},
	// A directory's size past the data space (xfs_repair: directory
	// inode N has bad size).
	{"defaults", "inode-dir-node", "core.size", "=8514145501801230806"},
	{"allfeatures", "inode-dir-node", "core.size", "=2226870977541805729"},
	// The file type of a block directory's "." and ".." entries
	// (xfs_repair: ftype mismatch).
	{"allfeatures", "dir-block", "bu[0].filetype", "zeroes"},
	{"allfeatures", "dir-block", "bu[1].filetype", "lastbit"},
	// An attribute leaf entry left incomplete with a clean log
	// (xfs_repair: attribute entry #N ... is INCOMPLETE).
	{"1k", "attr-leaf", "entries[0].incomplete", "ones"},
	{"1k", "attr-node-leaf", "entries[4].incomplete", "firstbit"},
}

// TestCampaignFilesRegressions judges filesRegressions, each on its
// profile's image, with xfs_repair -n and our check: 0 misses.
func TestCampaignFilesRegressions(t *testing.T) {
	if testing.Short() {
		t.Skip("judges with xfs_repair (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	byProfile := map[string][]int{}
	var profiles []string
	for i, r := range filesRegressions {
		if byProfile[r.profile] == nil {
			profiles = append(profiles, r.profile)
		}
		byProfile[r.profile] = append(byProfile[r.profile], i)
	}
	for _, prof := range profiles {
		t.Run(prof, func(t *testing.T) {
			start := time.Now()
			img := testimg.Image(t, prof)
			plan, err := campaign.EnumerateFiles(context.Background(), img, prof)
			if err != nil {
				t.Fatal(err)
			}
			var cases []campaign.Case
			for _, i := range byProfile[prof] {
				r := filesRegressions[i]
				found := false
				for _, c := range plan.Cases {
					if c.Object == r.object && c.Field == r.field && !found {
						c.Verb = r.verb
						cases = append(cases, c)
						found = true
					}
				}
				if !found {
					t.Errorf("the plan has no %s %s", r.object, r.field)
				}
			}
			res, err := campaign.Run(context.Background(), []string{testimg.Copy(t, prof)}, cases, campaign.Options{Pristine: img, Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !r.Changed || !r.RepairDetected {
					t.Errorf("%s: the case no longer damages what xfs_repair -n sees (changed %v, detected %v)", r.Case, r.Changed, r.RepairDetected)
				}
			}
			judge(t, &campaign.Report{Plans: []*campaign.Plan{plan}, Results: res, Elapsed: time.Since(start), Workers: 1})
		})
	}
}

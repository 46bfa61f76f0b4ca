package check

import (
	"context"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// TestCheckCleanMatrix: a freshly generated image of every profile has
// zero findings of any severity, and xfs_repair -n agrees it is clean.
// (The parent profile, which xfs_repair 6.1 cannot read, is held clean
// by TestCheckParentPointers.)
func TestCheckCleanMatrix(t *testing.T) {
	for _, prof := range testimg.Profiles() {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			if list := checkImage(t, img); len(list) > 0 {
				t.Fatalf("%d findings on a fresh %s image: %v", len(list), prof, list)
			}
			judge.RequireClean(t, img, "fresh "+prof+" image")
		})
	}
}

// checkImage runs our check of every AG of img, read-only, and returns
// its findings (every severity; suppressed ones fail the test).
func checkImage(t *testing.T, img string) []Finding {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	res, err := Check(context.Background(), fs, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Findings.Suppressed > 0 {
		t.Fatalf("%d findings suppressed: %v", res.Findings.Suppressed, res.Findings.List())
	}
	return res.Findings.List()
}

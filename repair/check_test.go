package repair

import (
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestCheckCleanMatrix: a freshly generated image of every profile has
// zero findings of any severity, and xfs_repair -n agrees it is clean.
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

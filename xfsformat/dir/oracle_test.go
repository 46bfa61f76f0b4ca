package dir

import (
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

func newStats() *stats { return &stats{forms: map[Form]int{}, magics: map[string]int{}} }

// TestImages judges the decoders by xfs_db on every directory of the
// test images: 4 KiB and 1 KiB blocks, the mkfs defaults, and 64 KiB
// directory blocks over 4 KiB filesystem blocks.
func TestImages(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	profiles := []string{"allfeatures", "defaults", "1k", "dir64k"}
	sts := make([]*stats, len(profiles))
	t.Run("profiles", func(t *testing.T) {
		for i, prof := range profiles {
			sts[i] = newStats()
			t.Run(prof, func(t *testing.T) {
				t.Parallel() // mostly waiting for xfs_db
				st := sts[i]
				checkImage(t, testimg.Image(t, prof), st)
				t.Logf("%s: forms %v, blocks %v, %d entries, %d unused regions, %d stale, %d lookups", prof, st.forms, st.magics, st.entries, st.unused, st.stale, st.lookups)
			})
		}
	})
	all := newStats()
	for _, st := range sts {
		for f, n := range st.forms {
			all.forms[f] += n
		}
		all.unused += st.unused
	}
	// The images must have exercised every format and freed entries.
	for _, f := range []Form{FormShortform, FormBlock, FormLeaf, FormNode} {
		if all.forms[f] == 0 {
			t.Errorf("no %s directory in the images", f)
		}
	}
	if all.unused == 0 {
		t.Error("no unused region in any data block")
	}
}

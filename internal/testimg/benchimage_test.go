//go:build bench

package testimg_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestBenchImage checks the benchmark image: about 2 million free extents
// in AG 0. Building it takes minutes, so it runs only when asked for.
func TestBenchImage(t *testing.T) {
	if os.Getenv("XFSBOX_TEST_BENCH") != "1" {
		t.Skip("set XFSBOX_TEST_BENCH=1 to build and check the bench image (takes minutes)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "bench")
	db, err := testimg.LookTool("xfs_db")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(db, "-r", "-c", "freesp -a 0 -s", img).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var extents int
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "total free extents "); ok {
			extents, _ = strconv.Atoi(strings.TrimSpace(s))
		}
	}
	lv := levels(t, img, 0)
	t.Logf("bench: %d free extents in AG 0; heights bnobt %d cntbt %d rmapbt %d", extents, lv.bno, lv.cnt, lv.rmap)
	if extents < 1900000 {
		t.Errorf("only %d free extents in AG 0", extents)
	}
	repairClean(t, img, 2)
}

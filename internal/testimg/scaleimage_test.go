//go:build bench

package testimg_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// freeExtents is xfs_db's count of free extents (freesp -s), in AG ag
// or, with ag < 0, in all of them.
func freeExtents(t *testing.T, img string, ag int) int {
	t.Helper()
	db, err := testimg.LookTool("xfs_db")
	if err != nil {
		t.Fatal(err)
	}
	cmd := "freesp -s"
	if ag >= 0 {
		cmd = fmt.Sprintf("freesp -a %d -s", ag)
	}
	out, err := exec.Command(db, "-r", "-c", cmd, img).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if s, ok := strings.CutPrefix(l, "total free extents "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(s))
			return n
		}
	}
	t.Fatalf("no free extent count in\n%s", out)
	return 0
}

// TestScaleImages builds and checks the scale rows' images (see
// testdata/mkscale.sh): the free extents the bench series promises, the
// files and AGs of scale16ag, the size and spread of sparse4t, each
// clean under xfs_repair -n. XFSBOX_SCALE_PROFILES (comma-separated)
// picks some; all by default.
func TestScaleImages(t *testing.T) {
	if os.Getenv("XFSBOX_TEST_BENCH") != "1" {
		t.Skip("set XFSBOX_TEST_BENCH=1 to build and check the scale images (takes many minutes)")
	}
	testimg.Require(t, "root", "xfsprogs", "loop")
	profiles := testimg.ScaleProfiles()
	if s := os.Getenv("XFSBOX_SCALE_PROFILES"); s != "" {
		profiles = strings.Split(s, ",")
	}
	for _, p := range profiles {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			sb, err := xfsdb.Print(img, "sb 0")
			if err != nil {
				t.Fatal(err)
			}
			agcount, _ := sb.Uint("agcount")
			switch p {
			case "bench1m", "bench4m":
				want := map[string]int{"bench1m": 950000, "bench4m": 3800000}[p]
				if n := freeExtents(t, img, 0); n < want {
					t.Errorf("%d free extents in AG 0, want at least %d", n, want)
				} else {
					t.Logf("%s: %d free extents in AG 0", p, n)
				}
			case "scale16ag":
				icount, _ := sb.Uint("icount")
				ifree, _ := sb.Uint("ifree")
				t.Logf("scale16ag: %d AGs, %d inodes, %d free", agcount, icount, ifree)
				if agcount != 16 || icount-ifree < 590000 {
					t.Errorf("%d AGs, %d inodes in use: want 16 and 590,000 or more", agcount, icount-ifree)
				}
				for ag := 0; ag < int(agcount); ag++ {
					if agi, err := xfsdb.Print(img, fmt.Sprintf("agi %d", ag)); err != nil {
						t.Fatal(err)
					} else if n, _ := agi.Uint("count"); n == 0 {
						t.Errorf("AG %d holds no inodes", ag)
					}
				}
			case "sparse4t":
				dblocks, _ := sb.Uint("dblocks")
				bs, _ := sb.Uint("blocksize")
				total := freeExtents(t, img, -1)
				t.Logf("sparse4t: %d AGs, %d bytes, %d free extents", agcount, dblocks*bs, total)
				if dblocks*bs < 4<<40 || agcount != 8 || total < 2300000 {
					t.Errorf("%d bytes, %d AGs, %d free extents: want 4 TiB, 8, 2.3 million or more", dblocks*bs, agcount, total)
				}
				for ag := 0; ag < int(agcount); ag++ {
					if n := freeExtents(t, img, ag); n < 290000 {
						t.Errorf("AG %d: %d free extents, want 290,000 or more", ag, n)
					}
				}
			}
			repairClean(t, img, agcount)
		})
	}
}

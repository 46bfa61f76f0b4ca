package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestMountHugeSparse mounts an empty 8 TiB sparse image: nothing is read
// up front, so the peak RSS stays small (asserted) and the mount is quick
// (logged here; measured by make bench).
func TestMountHugeSparse(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "fuse")
	img := filepath.Join(t.TempDir(), "8t.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 8<<40); err != nil {
		t.Skipf("scratch filesystem cannot hold an 8 TiB sparse file: %v", err)
	}
	if out, err := exec.Command("mkfs.xfs", "-q", "-m", "rmapbt=1,reflink=1", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	start := time.Now()
	mnt, cmd := startMountProc(t, img, "--read-only")
	t.Logf("8 TiB image mounted and answering in %v", time.Since(start))
	geo, err := os.ReadFile(filepath.Join(mnt, "geometry"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(geo), "agcount = ") {
		t.Fatalf("geometry: %s", geo)
	}
	last := lastAG(t, string(geo))
	for _, p := range []string{"ag/0/agf", "ag/" + last + "/agi", "ag/" + last + "/bnobt/records", "ag/" + last + "/freesp"} {
		if _, err := os.ReadFile(filepath.Join(mnt, p)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	hwm := vmHWM(t, cmd.Process.Pid)
	t.Logf("peak RSS %d KiB", hwm)
	if hwm > 100<<10 {
		t.Errorf("peak RSS %d KiB, want under 100 MB", hwm)
	}
}

func lastAG(t *testing.T, geometry string) string {
	for _, l := range lines(geometry) {
		if v, ok := strings.CutPrefix(l, "agcount = "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return strconv.Itoa(n - 1)
		}
	}
	t.Fatal("no agcount in geometry")
	return ""
}

func vmHWM(t *testing.T, pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

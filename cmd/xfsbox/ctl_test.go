package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// startMount runs the real binary's mount in the background and stops
// it in t.Cleanup.
func startMount(t *testing.T, img string, args ...string) string {
	t.Helper()
	mnt, _ := startMountProc(t, img, args...)
	return mnt
}

// startMountProc is startMount that also returns the mount's process.
func startMountProc(t *testing.T, img string, args ...string) (string, *exec.Cmd) {
	t.Helper()
	testimg.Require(t, "root", "fuse")
	mnt := t.TempDir()
	cmd := exec.Command(buildBinary(t), append(append([]string{"mount"}, args...), img, mnt)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	waitFor(t, 20*time.Second, "mount", func() bool {
		_, err := os.Stat(filepath.Join(mnt, "ctl"))
		return err == nil
	})
	return mnt, cmd
}

// echo writes a line to a control file the way a shell's echo does
// (open with O_TRUNC, one write) and returns the write's error.
func echo(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(line + "\n"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// TestEchoRepair damages a copy, mounts it, repairs it with
// `echo bnobt > MNT/ag/0/repair`, and after unmount wants xfs_repair -n
// clean. Bad commands get EINVAL; the reason is in ctl.
func TestEchoRepair(t *testing.T) {
	img := testimg.Copy(t, "allfeatures")
	if out, err := exec.Command("xfs_db", "-x", "-c", "agf 0", "-c", "addr bnoroot", "-c", "addr ptrs[1]", "-c", "fuzz -d recs[2].blockcount add", img).CombinedOutput(); err != nil {
		t.Fatalf("fuzz: %v %s", err, out)
	}
	if clean, _ := judge.XfsRepairN(t, img); clean {
		t.Fatal("xfs_repair -n did not see the damage")
	}
	mnt := startMount(t, img)
	health, err := os.ReadFile(filepath.Join(mnt, "ag/0/health"))
	if err != nil || !strings.Contains(string(health), "corrupt") {
		t.Fatalf("ag/0/health before: %q %v", health, err)
	}
	if err := echo(filepath.Join(mnt, "ag/0/repair"), "bnobt"); err != nil {
		t.Fatalf("echo bnobt > ag/0/repair: %v", err)
	}
	var result struct {
		OK     bool `json:"ok"`
		Result struct {
			Repairs []struct {
				Rewritten []struct{ Structure string } `json:"rewritten"`
				After     []any                        `json:"findings_after"`
			} `json:"repairs"`
		} `json:"result"`
	}
	b, _ := os.ReadFile(filepath.Join(mnt, "ctl"))
	if err := json.Unmarshal(b, &result); err != nil || !result.OK || len(result.Result.Repairs) != 1 ||
		len(result.Result.Repairs[0].Rewritten) == 0 || len(result.Result.Repairs[0].After) != 0 {
		t.Fatalf("ctl after repair: %v\n%s", err, b)
	}
	if health, _ := os.ReadFile(filepath.Join(mnt, "ag/0/health")); !strings.Contains(string(health), "clean") {
		t.Fatalf("ag/0/health after: %s", health)
	}
	if log, _ := os.ReadFile(filepath.Join(mnt, "log")); !strings.Contains(string(log), "rewrote bnobt") {
		t.Fatalf("log: %s", log)
	}
	for _, c := range []struct{ file, line string }{{"ag/0/repair", "nonsense"}, {"ctl", "repair bnobt"}, {"ctl", "frobnicate"}} {
		err := echo(filepath.Join(mnt, c.file), c.line)
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("echo %q > %s: %v, want EINVAL", c.line, c.file, err)
		}
		if b, _ := os.ReadFile(filepath.Join(mnt, "ctl")); !strings.Contains(string(b), `"ok": false`) {
			t.Errorf("ctl after a bad command: %s", b)
		}
	}
	if err := echo(filepath.Join(mnt, "ag/1/repair"), "bnobt force"); err != nil {
		t.Fatalf("forced rebuild of ag 1: %v", err)
	}
	exec.Command("fusermount3", "-u", mnt).Run()
	waitFor(t, 10*time.Second, "unmount", func() bool { return !mounted(t, mnt) })
	judge.RequireClean(t, img, "after echo bnobt > ag/0/repair")
	judge.KernelVerify(t, img, testimg.Hashes(t, "allfeatures"))
}

// TestReadOnlyMountRefusesRepair: a --read-only mount answers EROFS and
// never changes the image.
func TestReadOnlyMountRefusesRepair(t *testing.T) {
	img := testimg.Copy(t, "defaults")
	before := sha(t, img)
	mnt := startMount(t, img, "--read-only")
	if err := echo(filepath.Join(mnt, "ag/0/repair"), "bnobt force"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("repair on a read-only mount: %v, want EROFS", err)
	}
	if _, err := os.ReadFile(filepath.Join(mnt, "health")); err != nil {
		t.Fatal(err)
	}
	exec.Command("fusermount3", "-u", mnt).Run()
	waitFor(t, 10*time.Second, "unmount", func() bool { return !mounted(t, mnt) })
	if sha(t, img) != before {
		t.Fatal("a read-only mount changed the image")
	}
}

// TestReadsDuringRepair: readers walking views while a repair runs see
// no errors, and every AGF they read is the old one or the new one.
func TestReadsDuringRepair(t *testing.T) {
	img := testimg.Copy(t, "allfeatures")
	mnt := startMount(t, img)
	agfPath := filepath.Join(mnt, "ag/0/agf")
	old, err := os.ReadFile(agfPath)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	type seen struct {
		agf []byte
		err error
	}
	results := make(chan seen, 1<<16)
	for r := 0; r < 8; r++ {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(agfPath)
				results <- seen{b, err}
				if _, err := os.ReadFile(filepath.Join(mnt, "ag/0/bnobt/records")); err != nil {
					results <- seen{nil, err}
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	if err := echo(filepath.Join(mnt, "ag/0/repair"), "bnobt force"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	time.Sleep(200 * time.Millisecond)
	close(results)
	newAGF, err := os.ReadFile(agfPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(newAGF) == string(old) {
		t.Fatal("the forced rebuild did not change the AGF")
	}
	n := 0
	for s := range results {
		n++
		if s.err != nil {
			t.Fatalf("a reader failed during the repair: %v", s.err)
		}
		if s.agf != nil && string(s.agf) != string(old) && string(s.agf) != string(newAGF) {
			t.Fatalf("a reader saw an AGF that is neither the old nor the new one:\n%s", s.agf)
		}
	}
	t.Logf("%d reads during the repair", n)
}

// TestEchoRepairAll: the two `repair all` control paths of a
// write-through mount. AG 3's inobt, AG 1's AGI and AG 0's refcountbt are
// damaged; `echo all > MNT/ag/3/repair` leaves AG 3 clean and the others
// as they were, `echo 'repair all' > MNT/ctl` then repairs every AG, and
// after the unmount xfs_repair -n, our check and the kernel agree.
func TestEchoRepairAll(t *testing.T) {
	img := testimg.Copy(t, "allfeatures")
	fuzz := [][]string{
		{"agi 3", "addr root", "fuzz -d recs[3].freecount sub"},
		{"agi 1", "fuzz -d freecount add"},
		{"agf 0", "addr refcntroot", "addr ptrs[1]", "fuzz -d recs[1].refcount add"},
	}
	for _, cmds := range fuzz {
		args := []string{"-x"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		if out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput(); err != nil {
			t.Fatalf("fuzz %v: %v %s", cmds, err, out)
		}
	}
	if clean, _ := judge.XfsRepairN(t, img); clean {
		t.Fatal("xfs_repair -n did not see the damage")
	}
	mnt := startMount(t, img)
	health := func(ag int) string {
		b, err := os.ReadFile(filepath.Join(mnt, "ag", strconv.Itoa(ag), "health"))
		if err != nil {
			t.Fatalf("ag/%d/health: %v", ag, err)
		}
		return string(b)
	}
	for _, ag := range []int{0, 1, 3} {
		if h := health(ag); !strings.Contains(h, "corrupt") {
			t.Fatalf("ag/%d/health before the repair: %s", ag, h)
		}
	}
	type agResult struct {
		AG        int              `json:"ag"`
		Rewritten []struct{}       `json:"rewritten"`
		After     []map[string]any `json:"findings_after"`
	}
	type repairReport struct {
		Repairs []agResult `json:"repairs"`
	}
	var one struct {
		OK     bool         `json:"ok"`
		Result repairReport `json:"result"`
	}
	if err := echo(filepath.Join(mnt, "ag/3/repair"), "all"); err != nil {
		t.Fatalf("echo all > ag/3/repair: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(mnt, "ctl"))
	if err := json.Unmarshal(b, &one); err != nil || !one.OK || len(one.Result.Repairs) != 1 ||
		one.Result.Repairs[0].AG != 3 || len(one.Result.Repairs[0].Rewritten) == 0 || len(one.Result.Repairs[0].After) != 0 {
		t.Fatalf("ctl after echo all > ag/3/repair: %v\n%s", err, b)
	}
	if h := health(3); !strings.Contains(h, "clean") {
		t.Fatalf("ag/3/health after echo all > ag/3/repair: %s", h)
	}
	for _, ag := range []int{0, 1} {
		if h := health(ag); !strings.Contains(h, "corrupt") {
			t.Fatalf("ag/%d/health after repairing AG 3 alone: %s", ag, h)
		}
	}
	var all struct {
		OK     bool         `json:"ok"`
		Result repairReport `json:"result"`
	}
	if err := echo(filepath.Join(mnt, "ctl"), "repair all"); err != nil {
		t.Fatalf("echo 'repair all' > ctl: %v", err)
	}
	b, _ = os.ReadFile(filepath.Join(mnt, "ctl"))
	if err := json.Unmarshal(b, &all); err != nil || !all.OK || len(all.Result.Repairs) == 0 {
		t.Fatalf("ctl after repair all: %v\n%s", err, b)
	}
	for _, r := range all.Result.Repairs {
		if len(r.After) != 0 {
			t.Fatalf("repair all: ag %d findings after: %v", r.AG, r.After)
		}
	}
	for ag := range 4 {
		if h := health(ag); !strings.Contains(h, "clean") {
			t.Fatalf("ag/%d/health after repair all: %s", ag, h)
		}
	}
	exec.Command("fusermount3", "-u", mnt).Run()
	waitFor(t, 10*time.Second, "unmount", func() bool { return !mounted(t, mnt) })
	if out, _, code := runCLI("check", img); code != exitOK {
		t.Fatalf("check after repair all: exit %d\n%s", code, out)
	}
	judge.RequireClean(t, img, "after echo 'repair all' > ctl")
	judge.KernelVerify(t, img, testimg.Hashes(t, "allfeatures"))
}

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// sbxDamaged is a copy of allfeatures with AG 0's bnobt damaged, and the
// names in its directory.
func sbxDamaged(t *testing.T) (img string, names []string) {
	t.Helper()
	testimg.Require(t, "root", "fuse", "xfsprogs")
	img = testimg.Copy(t, "allfeatures")
	if out, err := exec.Command("xfs_db", "-x", "-c", "agf 0", "-c", "addr bnoroot", "-c", "addr ptrs[1]", "-c", "fuzz -d recs[2].blockcount add", img).CombinedOutput(); err != nil {
		t.Fatalf("fuzz: %v %s", err, out)
	}
	return img, dirNames(t, filepath.Dir(img))
}

// sbxUntouched fails unless img still has sum and its directory names.
func sbxUntouched(t *testing.T, img string, sum [32]byte, names []string, when string) {
	t.Helper()
	if sha(t, img) != sum {
		t.Fatalf("%s: the image changed", when)
	}
	if got := dirNames(t, filepath.Dir(img)); !slices.Equal(got, names) {
		t.Fatalf("%s: files beside the image: %v, want %v", when, got, names)
	}
}

func sbxRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sbxCtl writes a line to a control file and wants it to succeed.
func sbxCtl(t *testing.T, mnt, file, line string) {
	t.Helper()
	if err := echo(filepath.Join(mnt, file), line); err != nil {
		t.Fatalf("echo %q > %s: %v\nctl: %s", line, file, err, sbxRead(t, filepath.Join(mnt, "ctl")))
	}
}

// sbxUnmount unmounts a mount started by startMountProc and waits for
// its process to end.
func sbxUnmount(t *testing.T, mnt string, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, 20*time.Second, "unmount", func() bool { return !mounted(t, mnt) })
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the mount process did not exit")
	}
}

// TestSandboxMountCommit: in sandbox mode, repairs (one AG's bnobt, then
// repair all, then a forced rebuild) leave the image file byte-identical
// and nothing beside it; views and MNT/image show the repaired state
// (xfs_repair -n MNT/image clean); commit applies it, and after unmount
// xfs_repair -n on the image is clean.
func TestSandboxMountCommit(t *testing.T) {
	img, names := sbxDamaged(t)
	sum := sha(t, img)
	mnt, cmd := startMountProc(t, img, "--sandbox")
	if clean, _ := judge.XfsRepairN(t, filepath.Join(mnt, "image")); clean {
		t.Fatal("xfs_repair -n MNT/image did not see the damage")
	}
	sbxCtl(t, mnt, "ag/0/repair", "bnobt")
	sbxUntouched(t, img, sum, names, "after repair bnobt")
	sbxCtl(t, mnt, "ctl", "repair all")
	sbxCtl(t, mnt, "ag/1/repair", "bnobt force")
	sbxUntouched(t, img, sum, names, "after repair all")
	if h := sbxRead(t, filepath.Join(mnt, "ag/0/health")); !strings.Contains(h, "clean") {
		t.Fatalf("ag/0/health shows no staged repair: %s", h)
	}
	if st := sbxRead(t, filepath.Join(mnt, "status")); !strings.Contains(st, "sandbox") {
		t.Fatalf("status says nothing of the sandbox: %s", st)
	}
	judge.RequireClean(t, filepath.Join(mnt, "image"), "MNT/image before commit")
	sbxUntouched(t, img, sum, names, "after xfs_repair -n MNT/image")
	sbxCtl(t, mnt, "ctl", "commit")
	var res struct {
		OK     bool `json:"ok"`
		Result struct {
			Bytes int64 `json:"committed_bytes"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(sbxRead(t, filepath.Join(mnt, "ctl"))), &res); err != nil || !res.OK || res.Result.Bytes == 0 {
		t.Fatalf("ctl after commit: %v %+v", err, res)
	}
	sbxUnmount(t, mnt, cmd)
	if got := dirNames(t, filepath.Dir(img)); !slices.Equal(got, names) {
		t.Fatalf("left beside the image after commit: %v", got)
	}
	judge.RequireClean(t, img, "after commit")
}

// TestSandboxDiscard: discard brings the original views back, and the
// image was never written.
func TestSandboxDiscard(t *testing.T) {
	img, names := sbxDamaged(t)
	sum := sha(t, img)
	mnt := startMount(t, img, "--sandbox")
	views := []string{"ag/0/agf", "ag/0/bnobt/records", "ag/0/health", "sb"}
	before := map[string]string{}
	for _, v := range views {
		before[v] = sbxRead(t, filepath.Join(mnt, v))
	}
	sbxCtl(t, mnt, "ag/0/repair", "bnobt")
	if sbxRead(t, filepath.Join(mnt, "ag/0/agf")) == before["ag/0/agf"] {
		t.Fatal("the AGF view does not show the staged repair")
	}
	sbxCtl(t, mnt, "ctl", "discard")
	for _, v := range views {
		if got := sbxRead(t, filepath.Join(mnt, v)); got != before[v] {
			t.Errorf("%s after discard differs from before the repair:\n%s\nwant\n%s", v, got, before[v])
		}
	}
	sbxUntouched(t, img, sum, names, "after discard")
}

// TestSandboxVerbsRefused: commit and discard get EINVAL outside sandbox
// mode (the reason in ctl, status and log) and EROFS on a read-only
// mount (whose control files the kernel itself keeps from writes).
func TestSandboxVerbsRefused(t *testing.T) {
	img := testimg.Copy(t, "defaults")
	mnt := startMount(t, img)
	for _, verb := range []string{"commit", "discard"} {
		if err := echo(filepath.Join(mnt, "ctl"), verb); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("%s outside sandbox mode: %v, want EINVAL", verb, err)
		}
		for _, f := range []string{"ctl", "status", "log"} {
			if s := sbxRead(t, filepath.Join(mnt, f)); !strings.Contains(s, "needs sandbox mode") {
				t.Errorf("%s after %s does not say why: %s", f, verb, s)
			}
		}
	}
	ro := testimg.Copy(t, "defaults")
	mnt = startMount(t, ro, "--read-only")
	if err := echo(filepath.Join(mnt, "ctl"), "commit"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("commit on a read-only mount: %v, want EROFS", err)
	}
}

// TestSandboxNamedOverlay: a named overlay keeps the staged state across
// unmount and mounts again with it; an overlay made over another image
// is refused by name.
func TestSandboxNamedOverlay(t *testing.T) {
	img, names := sbxDamaged(t)
	sum := sha(t, img)
	ovl := filepath.Join(t.TempDir(), "staged.ovl")
	mnt, cmd := startMountProc(t, img, "--sandbox", "--overlay", ovl)
	sbxCtl(t, mnt, "ag/0/repair", "bnobt")
	staged := sbxRead(t, filepath.Join(mnt, "ag/0/agf"))
	sbxUnmount(t, mnt, cmd)
	sbxUntouched(t, img, sum, names, "after unmount")

	mnt, cmd = startMountProc(t, img, "--sandbox", "--overlay", ovl)
	if got := sbxRead(t, filepath.Join(mnt, "ag/0/agf")); got != staged {
		t.Fatalf("remounted AGF differs from the staged one:\n%s\nwant\n%s", got, staged)
	}
	judge.RequireClean(t, filepath.Join(mnt, "image"), "MNT/image of the remounted overlay")
	sbxUnmount(t, mnt, cmd)

	other := testimg.Copy(t, "defaults")
	_, stderr, code := runCLI("mount", "--sandbox", "--overlay", ovl, other, t.TempDir())
	if code == 0 || !strings.Contains(stderr, ovl) || !strings.Contains(stderr, "another image") {
		t.Fatalf("an overlay over another image: exit %d, stderr %q", code, stderr)
	}
	sbxUntouched(t, img, sum, names, "at the end")
}

// TestPlanVerb: "plan" writes nothing and reports the structures the real
// repair then rewrites.
func TestPlanVerb(t *testing.T) {
	img, names := sbxDamaged(t)
	sum := sha(t, img)
	mnt := startMount(t, img)
	type rewrite struct{ Structure, Why string }
	sbxCtl(t, mnt, "ag/0/repair", "plan bnobt")
	var plan struct {
		Result struct {
			Plan    bool `json:"plan"`
			Repairs []struct {
				Rewritten []rewrite `json:"rewritten"`
				Alloc     int64     `json:"blocks_allocated"`
			} `json:"repairs"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(sbxRead(t, filepath.Join(mnt, "ctl"))), &plan); err != nil || !plan.Result.Plan || len(plan.Result.Repairs) != 1 {
		t.Fatalf("ctl after plan: %v %s", err, sbxRead(t, filepath.Join(mnt, "ctl")))
	}
	sbxUntouched(t, img, sum, names, "after plan")
	sbxCtl(t, mnt, "ag/0/repair", "bnobt")
	var done struct {
		Result struct {
			Plan    bool `json:"plan"`
			Repairs []struct {
				Rewritten []rewrite `json:"rewritten"`
				Alloc     int64     `json:"blocks_allocated"`
			} `json:"repairs"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(sbxRead(t, filepath.Join(mnt, "ctl"))), &done); err != nil || done.Result.Plan || len(done.Result.Repairs) != 1 {
		t.Fatalf("ctl after the repair: %v %s", err, sbxRead(t, filepath.Join(mnt, "ctl")))
	}
	p, d := plan.Result.Repairs[0], done.Result.Repairs[0]
	if !slices.Equal(p.Rewritten, d.Rewritten) || p.Alloc != d.Alloc || len(p.Rewritten) == 0 {
		t.Fatalf("the plan said %+v, the repair did %+v", p, d)
	}
}

// TestRepairDryRunAndOutput: repair --dry-run writes nothing and says it
// is a plan; --output leaves IMAGE byte-identical and writes a repaired
// NEW (xfs_repair -n clean), and a failed one leaves no NEW; an existing
// NEW, or IMAGE itself, is refused.
func TestRepairDryRunAndOutput(t *testing.T) {
	img, names := sbxDamaged(t)
	sum := sha(t, img)
	out, stderr, code := runCLI("repair", "--dry-run", "--json", img, "all")
	var plan struct {
		Plan    bool              `json:"plan"`
		Repairs []json.RawMessage `json:"repairs"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &plan) != nil || !plan.Plan || len(plan.Repairs) == 0 {
		t.Fatalf("repair --dry-run: exit %d\n%s\n%s", code, out, stderr)
	}
	sbxUntouched(t, img, sum, names, "after --dry-run")

	newImg := filepath.Join(t.TempDir(), "fixed.img")
	// A repair that fails after the copy is made (here a bad --ag and a
	// structure that does not exist) leaves no copy behind.
	for _, args := range [][]string{{"--ag", "999", img, "all"}, {img, "nosuchtree"}} {
		if _, stderr, code := runCLI(append([]string{"repair", "--output", newImg}, args...)...); code != exitUsage {
			t.Fatalf("repair --output %v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
		if _, err := os.Stat(newImg); !os.IsNotExist(err) {
			t.Fatalf("repair --output %v failed and left %s (stat: %v)", args, newImg, err)
		}
	}
	// A journal left beside NEW would be replayed over the new copy: refused.
	stale := newImg + ".xfsbox-journal"
	if err := os.WriteFile(stale, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI("repair", "--output", newImg, img, "all"); code != exitUsage || !strings.Contains(stderr, stale) {
		t.Fatalf("repair --output beside a stale journal: exit %d, want %d naming %s (%s)", code, exitUsage, stale, stderr)
	}
	if _, err := os.Stat(newImg); !os.IsNotExist(err) {
		t.Fatalf("repair --output beside a stale journal made %s (stat: %v)", newImg, err)
	}
	os.Remove(stale)
	if out, stderr, code := runCLI("repair", "--output", newImg, img, "all"); code != 0 {
		t.Fatalf("repair --output: exit %d\n%s\n%s", code, out, stderr)
	}
	sbxUntouched(t, img, sum, names, "after --output")
	judge.RequireClean(t, newImg, "the --output copy")
	for _, dst := range []string{newImg, img} {
		if _, stderr, code := runCLI("repair", "--output", dst, img, "all"); code != exitUsage {
			t.Errorf("--output %s: exit %d, want %d (%s)", dst, code, exitUsage, stderr)
		}
	}
	sbxUntouched(t, img, sum, names, "at the end")
}

package repair

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
)

// crashAt is a fault hook that fails at step, as a crash there would.
func crashAt(step string, crash error) store.FaultHook {
	return func(s string) error {
		if s == step {
			return crash
		}
		return nil
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// damagedCopy is a copy of allfeatures with AG 0's bnobt damaged.
func damagedCopy(t *testing.T) string {
	t.Helper()
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	if out, err := exec.Command("xfs_db", "-x", "-c", "agf 0", "-c", "addr bnoroot", "-c", "addr ptrs[1]", "-c", "fuzz -d recs[2].blockcount add", img).CombinedOutput(); err != nil {
		t.Fatalf("fuzz: %v %s", err, out)
	}
	return img
}

// TestSandboxRepairCommit: repairs in sandbox mode leave the image file
// and its directory untouched while the FS shows the repaired state;
// commit applies it (xfs_repair -n clean) and leaves nothing beside.
func TestSandboxRepairCommit(t *testing.T) {
	img := damagedCopy(t)
	before, names := testimg.FileSum(t, img), dirNames(t, filepath.Dir(img))
	fs, err := fsys.Open(img, fsys.OpenOptions{Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx := context.Background()
	if _, err := repairOne(ctx, fs, BnoBT, 0, RepairOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Repair(ctx, fs, All, fsys.AllAGs, RepairOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if testimg.FileSum(t, img) != before || !slices.Equal(dirNames(t, filepath.Dir(img)), names) {
		t.Fatal("a sandboxed repair wrote the image or beside it")
	}
	res, err := check.Check(ctx, fs, check.CheckOptions{})
	if err != nil || res.Findings.Corrupt() {
		t.Fatalf("the staged state is not clean: %v %v", err, res.Findings.List())
	}
	if _, err := fsys.Open(img, fsys.OpenOptions{Writable: true}); !errors.Is(err, store.ErrImageBusy) {
		t.Fatalf("a second writer during the sandbox: %v, want ErrImageBusy", err)
	}
	n, err := fs.CommitOverlay(nil)
	if err != nil || n == 0 {
		t.Fatalf("commit: %d bytes, %v", n, err)
	}
	if ext, _ := fs.Overlay().Stats(); ext != 0 {
		t.Fatalf("%d extents staged after commit", ext)
	}
	fs.Close()
	if !slices.Equal(dirNames(t, filepath.Dir(img)), names) {
		t.Fatalf("left beside the image: %v", dirNames(t, filepath.Dir(img)))
	}
	judge.RequireClean(t, img, "after the sandbox's commit")
}

// TestSandboxLargeCommit: a commit larger than a journal goes through the
// commit file; a crash in the middle of applying it is finished by the
// next open.
func TestSandboxLargeCommit(t *testing.T) {
	img := damagedCopy(t)
	names := dirNames(t, filepath.Dir(img))
	fs, err := fsys.Open(img, fsys.OpenOptions{Sandbox: true, JournalLimit: 8192})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Repair(context.Background(), fs, All, fsys.AllAGs, RepairOptions{Force: true}); err != nil {
		fs.Close()
		t.Fatal(err)
	}
	crash := errors.New("crash")
	_, err = fs.CommitOverlay(crashAt("image-write #3", crash))
	fs.Close()
	if !errors.Is(err, crash) {
		t.Fatalf("commit: %v, want the crash", err)
	}
	if _, err := os.Stat(img + store.CommitFileSuffix); err != nil {
		t.Fatalf("no commit file after the crash: %v", err)
	}
	fs, err = fsys.Open(img, fsys.OpenOptions{Sandbox: true})
	if err != nil {
		t.Fatal(err)
	}
	if fs.Recovered.Action != store.JournalReplayed {
		t.Fatalf("reopen: %s, want a replay", fs.Recovered)
	}
	fs.Close()
	if !slices.Equal(dirNames(t, filepath.Dir(img)), names) {
		t.Fatalf("left beside the image: %v", dirNames(t, filepath.Dir(img)))
	}
	judge.RequireClean(t, img, "after the replayed commit file")
}

// TestPlanWritesNothing: a plan on a read-only open reports what a
// repair rewrites, and the real repair then rewrites the same.
func TestPlanWritesNothing(t *testing.T) {
	img := damagedCopy(t)
	before, names := testimg.FileSum(t, img), dirNames(t, filepath.Dir(img))
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Plan(context.Background(), fs, BnoBT, fsys.OneAG(0), RepairOptions{})
	fs.Close()
	if err != nil || len(plan) != 1 || len(plan[0].Rewritten) == 0 || len(plan[0].After) != 0 {
		t.Fatalf("plan: %v %+v", err, plan)
	}
	if testimg.FileSum(t, img) != before || !slices.Equal(dirNames(t, filepath.Dir(img)), names) {
		t.Fatal("a plan wrote the image or beside it")
	}
	fs = openRW(t, img)
	defer fs.Close()
	res, err := repairOne(context.Background(), fs, BnoBT, 0, RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Rewritten, plan[0].Rewritten) || res.BlocksAllocated != plan[0].BlocksAllocated || res.BlocksFreed != plan[0].BlocksFreed {
		t.Fatalf("the plan said %+v, the repair did %+v", plan[0], res)
	}
}

// TestSandboxCommitCrashNamed: a crash after the journal of a named
// overlay's commit became durable: the next open replays the journal,
// the overlay (ending in APLY) still opens with the staged state, and
// committing it again finishes and empties it.
func TestSandboxCommitCrashNamed(t *testing.T) {
	img := damagedCopy(t)
	ovl := filepath.Join(t.TempDir(), "x.ovl")
	fs, err := fsys.Open(img, fsys.OpenOptions{Sandbox: true, Overlay: ovl})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repairOne(context.Background(), fs, BnoBT, 0, RepairOptions{}); err != nil {
		fs.Close()
		t.Fatal(err)
	}
	crash := errors.New("crash")
	_, err = fs.CommitOverlay(crashAt("image-write #1", crash))
	fs.Close()
	if !errors.Is(err, crash) {
		t.Fatalf("commit: %v, want the crash", err)
	}
	fs, err = fsys.Open(img, fsys.OpenOptions{Sandbox: true, Overlay: ovl})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if fs.Recovered.Action != store.JournalReplayed || !fs.Overlay().Applying {
		t.Fatalf("reopen: %s, applying %v", fs.Recovered, fs.Overlay().Applying)
	}
	if _, err := fs.CommitOverlay(nil); err != nil {
		t.Fatal(err)
	}
	if ext, _ := fs.Overlay().Stats(); ext != 0 {
		t.Fatalf("%d extents left after the second commit", ext)
	}
	judge.RequireClean(t, img, "after the finished commit")
}

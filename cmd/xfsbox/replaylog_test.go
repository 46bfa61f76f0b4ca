package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// replayedByKernel is what the kernel shows of a dirty image once it has
// replayed its log: a copy mounted read-write (the mount replays) and
// unmounted, then mounted read-only (no access time changes) and
// snapshotted.
func replayedByKernel(t *testing.T, dirty string) *judge.Tree {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "kernel.img")
	if out, err := exec.Command("cp", "--sparse=always", dirty, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	_, umount := testimg.LoopMount(t, cp, "loop")
	umount()
	mnt, umount := testimg.LoopMount(t, cp, "loop,ro")
	defer umount()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tree, err := judge.SnapshotContext(ctx, mnt)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// copyOf copies img into a new directory of its own.
func copyOf(t *testing.T, img string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "disk.img")
	if out, err := exec.Command("cp", "--sparse=always", img, cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return cp
}

// filesTree snapshots MNT/files/ and holds it to the kernel's tree.
func filesTree(t *testing.T, mnt string, want *judge.Tree, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := judge.SnapshotContext(ctx, filepath.Join(mnt, "files"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := judge.Diff(want, got, judge.DiffOptions{}); len(diff) > 0 {
		t.Fatalf("%s: files/ differs from the kernel's replay:\n%s", when, strings.Join(diff, "\n"))
	}
}

// TestDirtyLogCommands: a dirty image (the kernel's workload, shut
// down) is refused for repair by name; repair --replay-log replays it
// (into a copy with --output, nothing with --dry-run); a read-only mount
// shows the replayed files as the kernel's replay does and writes
// nothing, its journal/ still dirty; a sandbox mount shows them too, its
// journal/ clean, and its commit leaves an image xfs_repair -n and
// xfs_logprint find clean.
func TestDirtyLogCommands(t *testing.T) {
	testimg.Require(t, "root", "fuse", "loop", "xfsprogs")
	dirty := testimg.DirtyLog(t, "allfeatures", "full", "", true)
	want := replayedByKernel(t, dirty)

	t.Run("refused without --replay-log", func(t *testing.T) {
		img := copyOf(t, dirty)
		sum, names := sha(t, img), dirNames(t, filepath.Dir(img))
		_, stderr, code := runCLI("repair", img, "bnobt")
		if code != exitRefused || !strings.Contains(stderr, "log is dirty") || !strings.Contains(stderr, "--replay-log") {
			t.Fatalf("repair of a dirty image: exit %d, %s", code, stderr)
		}
		sbxUntouched(t, img, sum, names, "a refused repair")
	})

	t.Run("repair --replay-log", func(t *testing.T) {
		img := copyOf(t, dirty)
		sum, names := sha(t, img), dirNames(t, filepath.Dir(img))
		if _, stderr, code := runCLI("repair", "--replay-log", "--dry-run", img, "all"); code != exitOK {
			t.Fatalf("repair --replay-log --dry-run: exit %d, %s", code, stderr)
		}
		sbxUntouched(t, img, sum, names, "a dry run")
		out := filepath.Join(t.TempDir(), "fixed.img")
		if _, stderr, code := runCLI("--log-level", "info", "repair", "--replay-log", "--output", out, img, "all"); code != exitOK || !strings.Contains(stderr, "log replayed") {
			t.Fatalf("repair --replay-log --output: exit %d, %s", code, stderr)
		}
		sbxUntouched(t, img, sum, names, "a repair into a copy")
		judge.RequireClean(t, out, "repair --replay-log --output")
		if _, stderr, code := runCLI("repair", "--replay-log", img, "bnobt"); code != exitOK {
			t.Fatalf("repair --replay-log in place: exit %d, %s", code, stderr)
		}
		judge.RequireClean(t, img, "repair --replay-log")
		if got := dirNames(t, filepath.Dir(img)); !slices.Equal(got, names) {
			t.Fatalf("left beside the image: %v", got)
		}
		if lp, err := logprint.Read(img); err != nil || !lp.State.Clean {
			t.Fatalf("xfs_logprint after repair --replay-log: %+v %v", lp.State, err)
		}
	})

	// mountDirty mounts a copy of the dirty image in mode and holds its
	// files/ to the kernel's, its journal/summary to state.
	mountDirty := func(t *testing.T, mode, state string) (img string, sum [32]byte, names []string, mnt string, cmd *exec.Cmd) {
		img = copyOf(t, dirty)
		sum, names = sha(t, img), dirNames(t, filepath.Dir(img))
		mnt, cmd = startMountProc(t, img, mode)
		filesTree(t, mnt, want, mode)
		if s := sbxRead(t, filepath.Join(mnt, "journal/summary")); !strings.Contains(s, "state = "+state) {
			t.Errorf("journal/summary of a %s mount, want %s:\n%s", mode, state, s)
		}
		return img, sum, names, mnt, cmd
	}

	t.Run("mount --read-only", func(t *testing.T) {
		img, sum, names, mnt, cmd := mountDirty(t, "--read-only", "dirty") // the log as it is on disk
		sbxUnmount(t, mnt, cmd)
		sbxUntouched(t, img, sum, names, "a read-only mount")
	})

	t.Run("mount --sandbox", func(t *testing.T) {
		img, sum, names, mnt, cmd := mountDirty(t, "--sandbox", "clean") // replayed in the overlay
		judge.RequireClean(t, filepath.Join(mnt, "image"), "MNT/image of a sandbox mount")
		sbxUntouched(t, img, sum, names, "a sandbox mount before commit")
		sbxCtl(t, mnt, "ctl", "commit")
		sbxUnmount(t, mnt, cmd)
		judge.RequireClean(t, img, "sandbox commit")
		if lp, err := logprint.Read(img); err != nil || !lp.State.Clean {
			t.Fatalf("xfs_logprint after a sandbox commit: %+v %v", lp.State, err)
		}
		// A mount of the committed image has nothing to replay and shows
		// the same files.
		mnt2, umount := testimg.LoopMount(t, img, "loop,ro")
		got, err := judge.Snapshot(mnt2)
		umount()
		if err != nil {
			t.Fatal(err)
		}
		if diff := judge.Diff(want, got, judge.DiffOptions{}); len(diff) > 0 {
			t.Fatalf("the kernel's mount of the committed replay:\n%s", strings.Join(diff, "\n"))
		}
	})
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/judge"
)

// bnobtLeafCase damages a free-space record of AG ag's bnobt leaf: a
// real repair, not a forced one, then has something to do.
func bnobtLeafCase(profile string, ag int) campaign.Case {
	return campaign.Case{Profile: profile, AG: ag, Object: "bnobt-leaf", Field: "recs[2].blockcount", Verb: "add",
		Nav: []string{fmt.Sprintf("agf %d", ag), "addr bnoroot", "addr ptrs[1]"}}
}

// agfCase damages AG ag's AGF free-block counter.
func agfCase(profile string, ag int) campaign.Case {
	return campaign.Case{Profile: profile, AG: ag, Object: "agf", Field: "freeblks", Verb: "sub",
		Nav: []string{fmt.Sprintf("agf %d", ag)}}
}

// corrupt applies c to img and fails unless it changed the image.
func corrupt(t *testing.T, img string, c campaign.Case) {
	t.Helper()
	a, err := campaign.ApplyDetail(context.Background(), img, c)
	if err != nil || !a.Changed {
		t.Fatalf("corrupting %s with %s: changed %v, %v", img, c.Command(img), a != nil && a.Changed, err)
	}
}

// mountGated mounts a gated copy of profile's image (damaged by c when
// c is not nil) with the real binary and returns it ready.
func mountGated(t *testing.T, profile string, c *campaign.Case) (m *mountProc, backing string, gate *readGate) {
	t.Helper()
	img, backing, gate := gatedCopy(t, profile)
	if c != nil {
		corrupt(t, backing, *c)
	}
	m = startMountBin(t, buildBinary(t), img, t.TempDir())
	if ok, err := m.waitReady(20 * time.Second); !ok {
		t.Fatalf("mount: %v\n%s", err, m.stderr)
	}
	return m, backing, gate
}

// TestRepairBusy holds a repair in mid-flight (its reads of the image
// wait at a gate) and asks for more through ctl and the other AG repair
// files: each gets EBUSY at once, status says what runs, the log says
// who was refused. A second write to the same control file cannot
// reach xfsbox while the first one's write is in flight (the kernel
// holds the file's inode lock for the write, and a shell's O_TRUNC
// waits for it): it waits and runs after the first, never beside it.
// Once released the first repair completes, the queued one runs, and
// the image is clean.
func TestRepairBusy(t *testing.T) {
	m, backing, gate := mountGated(t, "allfeatures", nil)
	mnt := m.mnt
	gate.Hold()
	first := make(chan error, 1)
	go func() { first <- writeCtl(filepath.Join(mnt, "ag/0/repair"), "bnobt force", 2*time.Minute) }()
	waitFor(t, 20*time.Second, "the repair to block on the image", func() bool { return gate.Waiting() > 0 })
	status, _ := os.ReadFile(filepath.Join(mnt, "status"))
	if !strings.HasPrefix(string(status), "running: ") || !strings.Contains(string(status), "ag/0/repair") {
		t.Errorf("status while the repair runs: %q", status)
	}
	busy := []struct{ file, line string }{
		{"ag/1/repair", "bnobt force"},
		{"ag/2/repair", "inobt"},
		{"ctl", "repair ag=0 bnobt force"},
		{"ctl", "repair all"},
		{"ctl", "check"},
	}
	for _, c := range busy {
		err := writeCtl(filepath.Join(mnt, c.file), c.line, 10*time.Second)
		if !errors.Is(err, syscall.EBUSY) {
			t.Errorf("echo %q > %s while a repair runs: %v, want EBUSY", c.line, c.file, err)
		}
		// Refused at once, not after the running repair: the gate still
		// holds it (no clock: a loaded machine slows both alike).
		if gate.Waiting() == 0 {
			t.Errorf("echo %q > %s returned only once the running repair got past its gate", c.line, c.file)
		}
		if st, _ := os.ReadFile(filepath.Join(mnt, "status")); string(st) != string(status) {
			t.Errorf("status after a refused command: %q, want %q still", st, status)
		}
	}
	log, _ := os.ReadFile(filepath.Join(mnt, "log"))
	if n := strings.Count(string(log), "refused: "); n != len(busy) || !strings.Contains(string(log), "another operation is running (running: ag/0/repair: bnobt force") {
		t.Errorf("log names %d refused commands, want %d with the reason:\n%s", n, len(busy), log)
	}
	queued := make(chan error, 1)
	go func() { queued <- writeCtl(filepath.Join(mnt, "ag/0/repair"), "inobt force", 2*time.Minute) }()
	select {
	case err := <-queued:
		t.Errorf("a second write to ag/0/repair returned (%v) while the first one's repair runs", err)
	case err := <-first:
		t.Fatalf("the held repair ended while held: %v", err)
	case <-time.After(time.Second):
	}
	gate.Release()
	if err := <-first; err != nil {
		t.Fatalf("the first repair: %v", err)
	}
	if err := <-queued; err != nil && !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("the queued repair: %v", err)
	}
	log, _ = os.ReadFile(filepath.Join(mnt, "log"))
	if d, s := strings.Index(string(log), "done: bnobt force"), strings.Index(string(log), "start: inobt force"); d < 0 || (s >= 0 && s < d) {
		t.Errorf("the queued repair started before the first ended:\n%s", log)
	}
	if err := writeCtl(filepath.Join(mnt, "ag/1/repair"), "bnobt force", time.Minute); err != nil {
		t.Fatalf("a repair after the busy ones: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "ctl")); !strings.Contains(string(b), `"ok": true`) {
		t.Errorf("ctl after the last repair: %s", b)
	}
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		t.Fatalf("fusermount3 -u: %v %s", err, out)
	}
	if code, ok := m.wait(20 * time.Second); !ok || code != 0 {
		t.Fatalf("mount exited %d (exited %v): %s", code, ok, m.stderr)
	}
	judge.RequireClean(t, backing, "after the busy repairs")
	if codes, corrupt := ourCodes(t, backing); corrupt {
		t.Fatalf("our check after the busy repairs: %v", codes)
	}
}

// TestUnmountDuringRepair unmounts (fusermount3 -u, fusermount3 -u -z)
// or signals (SIGTERM) the mount while a real repair of a damaged
// bnobt is held at one of its reads of the image: early, in the
// middle, late (past its commit point). The repair must either finish
// or be cancelled before its commit point, never stop half-way: after
// the mount process has exited (by itself, no stale mount left), the
// image is byte for byte as before or checks clean, xfs_repair -n
// agrees, and no journal is left beside it.
func TestUnmountDuringRepair(t *testing.T) {
	c := bnobtLeafCase("allfeatures", 0)
	// How many reads of the image the repair makes, unheld.
	m, _, gate := mountGated(t, "allfeatures", &c)
	r0 := gate.Reads()
	if err := writeCtl(filepath.Join(m.mnt, "ag/0/repair"), "bnobt", 2*time.Minute); err != nil {
		t.Fatalf("calibration repair: %v", err)
	}
	reads := gate.Reads() - r0
	exec.Command("fusermount3", "-u", m.mnt).Run()
	t.Logf("the repair reads the image %d times", reads)
	if reads < 3 {
		t.Fatalf("the repair read the image only %d times: the gate cannot hold it", reads)
	}
	for _, how := range []string{"SIGTERM", "fusermount3 -u", "fusermount3 -u -z"} {
		for _, at := range []int64{0, reads / 2, reads - 1} {
			t.Run(fmt.Sprintf("%s/read%d", strings.ReplaceAll(how, " ", "_"), at), func(t *testing.T) {
				unmountDuringRepair(t, c, how, at)
			})
		}
	}
}

func unmountDuringRepair(t *testing.T, c campaign.Case, how string, at int64) {
	m, backing, gate := mountGated(t, "allfeatures", &c)
	before := sparseSum(t, backing)
	mnt := m.mnt
	gate.HoldAfter(at)
	repairErr := make(chan error, 1)
	go func() { repairErr <- writeCtl(filepath.Join(mnt, "ag/0/repair"), "bnobt", 2*time.Minute) }()
	waitFor(t, 20*time.Second, "the repair to block on the image", func() bool { return gate.Waiting() > 0 })
	alive := func(what string) {
		t.Helper()
		if code, exited := m.wait(300 * time.Millisecond); exited {
			t.Fatalf("the mount exited (%d) %s while a repair was held: %s", code, what, m.stderr)
		}
	}
	switch how {
	case "SIGTERM":
		m.cmd.Process.Signal(syscall.SIGTERM)
		alive("on SIGTERM")
	case "fusermount3 -u":
		// Refused while the repair's writer has the file open.
		out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput()
		t.Logf("fusermount3 -u during the repair: %v %s", err, strings.TrimSpace(string(out)))
		alive("on fusermount3 -u")
	case "fusermount3 -u -z":
		if out, err := exec.Command("fusermount3", "-u", "-z", mnt).CombinedOutput(); err != nil {
			t.Fatalf("fusermount3 -u -z: %v %s", err, out)
		}
		alive("on a lazy unmount")
	}
	gate.Release()
	var err error
	select {
	case err = <-repairErr:
	case <-time.After(2 * time.Minute):
		t.Fatal("the repair did not return after the gate opened")
	}
	t.Logf("the repair's write returned %v", err)
	if how == "fusermount3 -u" {
		if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
			t.Fatalf("fusermount3 -u after the repair: %v %s", err, out)
		}
	}
	code, exited := m.wait(30 * time.Second)
	if !exited || code != 0 {
		t.Fatalf("the mount process: exit %d (exited %v): %s", code, exited, m.stderr)
	}
	if isMounted(mnt) {
		t.Fatalf("%s is still mounted after the mount process exited", mnt)
	}
	if names := dirNames(t, filepath.Dir(backing)); len(names) != 1 {
		t.Errorf("beside the image after the repair: %v", names)
	}
	unchanged := sparseSum(t, backing) == before
	codes, ours := ourCodes(t, backing)
	clean, out := judge.XfsRepairN(t, backing)
	switch {
	case err != nil && !errors.Is(err, syscall.ECANCELED):
		t.Errorf("the repair failed with %v (want success, or ECANCELED on SIGTERM)", err)
	case errors.Is(err, syscall.ECANCELED) && !unchanged:
		t.Errorf("a cancelled repair changed the image (our check: %v; xfs_repair -n clean: %v)", codes, clean)
	case err == nil && (ours || !clean):
		t.Errorf("a completed repair left our check %v, xfs_repair -n clean %v:\n%s", codes, clean, out)
	case ours == clean:
		t.Errorf("our check (corrupt %v: %v) and xfs_repair -n (clean %v) disagree:\n%s", ours, codes, clean, out)
	}
	if how != "SIGTERM" && err != nil {
		t.Errorf("an unmount cancelled the repair: %v", err)
	}
	if how == "SIGTERM" && at == 0 && !errors.Is(err, syscall.ECANCELED) {
		t.Errorf("SIGTERM during a repair's first read: %v, want ECANCELED (it cancels a repair before its commit point)", err)
	}
}

// TestSigtermWithOpenFile: SIGTERM while a reader keeps a file of the
// tree open (and no command runs) unmounts lazily and exits 0 rather
// than leave a dead mount behind.
func TestSigtermWithOpenFile(t *testing.T) {
	m, _, _ := mountGated(t, "defaults", nil)
	f, err := os.Open(filepath.Join(m.mnt, "sb"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.cmd.Process.Signal(syscall.SIGTERM)
	code, exited := m.wait(40 * time.Second)
	if !exited || code != 0 {
		t.Fatalf("mount after SIGTERM with a file open: exit %d (exited %v): %s", code, exited, m.stderr)
	}
	if isMounted(m.mnt) {
		t.Fatalf("%s is still mounted", m.mnt)
	}
}

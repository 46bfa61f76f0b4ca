package main

import (
	"bytes"
	"errors"
	"fmt"
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

// memoryCgroup makes a child memory cgroup of the test's own (v2, or
// v1's memory controller) limited to limit bytes, removed in Cleanup
// once its processes are gone. It skips when the machine has no memory
// cgroup the test can make one in.
func memoryCgroup(t *testing.T, limit int64) (procs string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	var dir, limitFile string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		switch {
		case len(f) == 3 && strings.Contains(","+f[1]+",", ",memory,"):
			dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", f[2]), "memory.limit_in_bytes"
		case len(f) == 3 && f[0] == "0" && dir == "":
			if c, err := os.ReadFile("/sys/fs/cgroup/cgroup.subtree_control"); err == nil && strings.Contains(string(c), "memory") {
				dir, limitFile = filepath.Join("/sys/fs/cgroup", f[2]), "memory.max"
			}
		}
	}
	if dir == "" {
		t.Skip("no memory cgroup controller to make a cgroup with")
	}
	cg := filepath.Join(dir, fmt.Sprintf("xfsbox-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		for range 50 {
			if err := os.Remove(cg); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cgroup %s left behind", cg)
	})
	if err := os.WriteFile(filepath.Join(cg, limitFile), []byte(strconv.FormatInt(limit, 10)), 0); err != nil {
		t.Fatalf("limiting %s: %v", cg, err)
	}
	return filepath.Join(cg, "cgroup.procs")
}

// inCgroup is a command that joins the cgroup of procs, then runs
// argv.
func inCgroup(procs string, argv ...string) *exec.Cmd {
	script := `echo $$ > "$1" && shift && exec "$@"`
	return exec.Command("sh", append([]string{"-c", script, "sh", procs}, argv...)...)
}

// TestMemoryLimit: in a memory cgroup of 44 MiB, a repair whose memfd
// workspace and sort buffers would not fit is refused before it starts,
// with exit 3 and a message that names the memory and --scratch-dir,
// the image unchanged, and a neighbour in the same cgroup alive; with
// --scratch-dir the same repair runs there and leaves the image clean
// under xfs_repair -n. And xfsbox offers itself to the OOM killer
// first: a running xfsbox has oom_score_adj 1000.
func TestMemoryLimit(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs")
	// 44 MiB: what a memfd workspace's check asks for besides its
	// reservation (three sort buffers of 4 MiB and 32 MiB for the
	// program), so that any reservation is refused whatever the cgroup
	// uses already. (48 MiB refused the 1k image's repair by a few
	// hundred KiB of the process's own memory: when the log's reading
	// took less, the check passed, and the workspace of the re-check
	// after the commit was the one refused, a committed repair reported
	// as refused; that re-check now uses the repair's workspace.)
	procs := memoryCgroup(t, 44<<20)
	bin := buildBinary(t)
	neighbour := inCgroup(procs, "sleep", "120")
	if err := neighbour.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { neighbour.Process.Kill(); neighbour.Wait() })

	img := testimg.Copy(t, "1k")
	before := sha(t, img)
	var stderr bytes.Buffer
	cmd := inCgroup(procs, bin, "repair", "--force", img, "all")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitRefused {
		t.Fatalf("repair in 44 MiB: %v, want exit %d\n%s", err, exitRefused, stderr.String())
	}
	for _, want := range []string{"not enough memory", "--scratch-dir", "limit"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, stderr.String())
		}
	}
	if sha(t, img) != before {
		t.Error("the refused repair changed the image")
	}
	if err := neighbour.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the neighbour in the cgroup died: %v", err)
	}

	stderr.Reset()
	cmd = inCgroup(procs, bin, "repair", "--scratch-dir", t.TempDir(), "--force", img, "all")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("repair in 44 MiB with --scratch-dir: %v\n%s", err, stderr.String())
	}
	judge.RequireClean(t, img, "after a repair in a 44 MiB cgroup")
	if err := neighbour.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the neighbour in the cgroup died: %v", err)
	}

	// oom_score_adj, read from a running xfsbox (one waiting on a FIFO
	// it reads the image from never comes: a check of /dev/stdin).
	run := exec.Command(bin, "check", "/dev/stdin")
	w, err := run.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { w.Close(); run.Process.Kill(); run.Wait() }()
	adj, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", run.Process.Pid))
	for i := 0; i < 50 && err == nil && strings.TrimSpace(string(adj)) != "1000"; i++ {
		time.Sleep(20 * time.Millisecond)
		adj, err = os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", run.Process.Pid))
	}
	if err != nil || strings.TrimSpace(string(adj)) != "1000" {
		t.Errorf("a running xfsbox has oom_score_adj %q (%v), want 1000", adj, err)
	}
}

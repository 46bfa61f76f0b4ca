package main

// Helpers of the safety tests (kill, concurrency, hostile images): the
// real binary run bounded in time, a mount process that can be
// signalled, killed and cleaned up after, and the judges of an image
// after the fact.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
)

// binResult is one bounded run of the binary.
type binResult struct {
	stdout, stderr string
	code           int // exit code; -1 when killed by a signal or not started
	timedOut       bool
	elapsed        time.Duration
}

func (r binResult) String() string {
	s := fmt.Sprintf("exit %d after %v", r.code, r.elapsed.Round(time.Millisecond))
	if r.timedOut {
		s += " (timed out)"
	}
	if e := strings.TrimSpace(r.stderr); e != "" {
		if len(e) > 2000 {
			e = e[:2000] + "..."
		}
		s += ": " + e
	}
	return s
}

// runBin runs the binary with args, killed after timeout.
func runBin(bin string, timeout time.Duration, args ...string) binResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := binCommand(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := binResult{stdout: out.String(), stderr: errb.String(), code: exitOf(err), elapsed: time.Since(start)}
	r.timedOut = ctx.Err() != nil
	return r
}

// maxAddressSpace bounds the binary's memory in these tests (prlimit
// --as): a runaway allocation on a hostile image then ends in Go's
// "fatal error: out of memory", with a stack, rather than in the
// machine's OOM killer.
const maxAddressSpace = 8 << 30

// binCommand is exec.CommandContext(ctx, bin, args...) under
// prlimit --as=maxAddressSpace when prlimit is there (it execs: the
// pid is the binary's).
func binCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if p, err := exec.LookPath("prlimit"); err == nil {
		return exec.CommandContext(ctx, p, append([]string{fmt.Sprintf("--as=%d", maxAddressSpace), "--", bin}, args...)...)
	}
	return exec.CommandContext(ctx, bin, args...)
}

// documentedExit reports whether code is one of exit.go's codes that a
// command may end with on a hostile image: success, corruption found,
// refused, I/O error. 2 (usage) is excluded: it is also what a Go panic
// exits with.
func documentedExit(code int) bool {
	switch code {
	case exitOK, exitCorrupt, exitRefused, exitIO:
		return true
	}
	return false
}

// panicked reports whether stderr holds a Go panic or fatal error.
func panicked(stderr string) bool {
	return strings.Contains(stderr, "panic:") || strings.Contains(stderr, "fatal error:") ||
		strings.Contains(stderr, "goroutine 1 [")
}

// mountProc is `xfsbox mount` running in the background.
type mountProc struct {
	cmd    *exec.Cmd
	mnt    string
	stderr *bytes.Buffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's error, once done
}

// startMountBin starts `xfsbox mount ARGS... IMG MNT` and returns at
// once; waitReady waits for the tree. t.Cleanup kills the process if it
// is still running and lazily unmounts MNT.
func startMountBin(t *testing.T, bin, img, mnt string, args ...string) *mountProc {
	t.Helper()
	cmd := binCommand(context.Background(), bin, append(append([]string{"mount"}, args...), img, mnt)...)
	m := &mountProc{cmd: cmd, mnt: mnt, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.err = cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.kill()
		lazyUnmount(mnt)
	})
	return m
}

// waitReady waits until MNT/ctl answers (true) or the process exits
// (false).
func (m *mountProc) waitReady(d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-m.done:
			return false, nil
		default:
		}
		if _, err := os.Stat(filepath.Join(m.mnt, "ctl")); err == nil {
			return true, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, fmt.Errorf("the mount of %s did not answer within %v", m.mnt, d)
}

// wait waits for the process to exit, at most d.
func (m *mountProc) wait(d time.Duration) (code int, ok bool) {
	select {
	case <-m.done:
		return exitOf(m.err), true
	case <-time.After(d):
		return -1, false
	}
}

func (m *mountProc) kill() {
	select {
	case <-m.done:
		return
	default:
	}
	killServer(m.cmd.Process, m.done, m.mnt)
}

// killServer sends SIGKILL to a FUSE server serving mnt and waits for
// it to exit. A server killed while it has a file of its own mount open
// (go-fuse's poll hack, in the first milliseconds of a mount) cannot
// exit: closing that file waits for an answer from itself. Then, after
// 3 s, umount -f aborts the FUSE connection, as an administrator would;
// forced says so.
func killServer(p *os.Process, exited <-chan struct{}, mnt string) (forced bool, err error) {
	p.Signal(syscall.SIGKILL)
	select {
	case <-exited:
		return false, nil
	case <-time.After(3 * time.Second):
	}
	if mnt != "" {
		unix.Unmount(mnt, unix.MNT_FORCE)
	}
	select {
	case <-exited:
		return true, nil
	case <-time.After(30 * time.Second):
		return true, fmt.Errorf("pid %d did not exit within 30s of SIGKILL (and umount -f %s)", p.Pid, mnt)
	}
}

// lazyUnmount detaches a FUSE mount left behind by a dead server (or
// anything still mounted at mnt), the way a user would.
func lazyUnmount(mnt string) {
	if !isMounted(mnt) {
		return
	}
	if exec.Command("fusermount3", "-u", "-z", mnt).Run() != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
	}
}

// isMounted reads /proc/self/mountinfo for mnt.
func isMounted(mnt string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && strings.Contains(string(b), " "+mnt+" ")
}

// writeCtl writes one line to a control file, as echo does, with a
// bound: it returns the write's error, or an error saying it hung.
func writeCtl(path, line string, d time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- echo(path, line) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		return fmt.Errorf("echo %q > %s: %w after %v", line, path, errHung, d)
	}
}

var errHung = errors.New("hung")

// ourCodes runs our check (in process, read-only) and returns its
// finding codes (see campaign.OurCheck) and whether any is corrupt.
func ourCodes(t *testing.T, img string) (codes []string, corrupt bool) {
	t.Helper()
	corrupt, codes, err := campaign.OurCheck(context.Background(), img)
	if err != nil {
		t.Fatalf("our check of %s: %v", img, err)
	}
	return codes, corrupt
}

// newCodes are the codes of after that are not in before.
func newCodes(before, after []string) []string {
	have := map[string]bool{}
	for _, c := range before {
		have[strings.TrimSuffix(c, "[preen]")] = true
	}
	var out []string
	for _, c := range after {
		if strings.HasPrefix(c, "(+") || have[strings.TrimSuffix(c, "[preen]")] {
			continue
		}
		out = append(out, c)
	}
	return out
}

// reopen opens img read-write and closes it, as the next xfsbox run
// does: a complete journal is replayed, an incomplete one dropped.
func reopen(img string) (store.JournalOutcome, error) {
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
	if err != nil {
		return store.JournalOutcome{}, err
	}
	out := fs.Recovered
	return out, fs.Close()
}

// sparseSum is sha in hex.
func sparseSum(t *testing.T, path string) string {
	t.Helper()
	sum := sha(t, path)
	return hex.EncodeToString(sum[:])
}

// dirNames lists a directory's entries, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// fileHashes loop-mounts img read-only and compares the sha256 of every
// file listed in want (relative path -> hex) with what it reads.
func fileHashes(img string, want map[string]string) error {
	mnt, err := os.MkdirTemp("", "xfsbox-hash")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mount", "-o", "loop,ro,nouuid", img, mnt).CombinedOutput(); err != nil {
		return fmt.Errorf("kernel mount: %v: %s", err, out)
	}
	defer func() {
		if exec.Command("umount", mnt).Run() != nil {
			exec.Command("umount", "-l", mnt).Run()
		}
	}()
	// Four readers: most files are small, and opening them is the cost.
	jobs := make(chan [2]string)
	errc := make(chan error, 4)
	deadline := time.Now().Add(2 * time.Minute)
	for range 4 {
		go func() {
			var first error
			for j := range jobs {
				if first == nil {
					first = hashMatches(filepath.Join(mnt, j[0]), j[0], j[1])
				}
			}
			errc <- first
		}()
	}
	for rel, sum := range want {
		if time.Now().After(deadline) {
			err = errors.New("hashing the files took more than 2 minutes")
			break
		}
		jobs <- [2]string{rel, sum}
	}
	close(jobs)
	for range 4 {
		if e := <-errc; err == nil {
			err = e
		}
	}
	return err
}

// hashMatches compares the sha256 of the file at p with want.
func hashMatches(p, rel, want string) error {
	got, err := judge.HashFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	if got != want {
		return fmt.Errorf("%s: sha256 %s, want %s", rel, got, want)
	}
	return nil
}

// envInt reads a positive integer from the environment, else def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, s)
	}
	return n
}

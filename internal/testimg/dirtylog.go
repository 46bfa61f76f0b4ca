package testimg

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Dirty logs: images whose log holds transactions a mount would replay,
// made by the kernel (a loop mount, testdata/logwork.sh's workload, a
// shutdown, an unmount), for the tests of xfsbox's log reading.

// LogWork runs testdata/logwork.sh on the filesystem mounted at mnt
// (mode: light, full or intents; see the script), bounded in time.
func LogWork(t testing.TB, mnt, mode string, extra ...string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	args := append([]string{filepath.Join(root, "testdata", "logwork.sh"), mnt, mode}, extra...)
	if out, err := RunTimed(t, 5*time.Minute, "bash", args...); err != nil {
		t.Fatalf("logwork.sh %s: %v\n%s", mode, err, out)
	}
}

// Shutdown shuts the filesystem mounted at mnt down as a crash would
// leave it: with force, the log is forced first (xfs_io shutdown -f),
// otherwise what sits in memory is lost.
func Shutdown(t testing.TB, mnt string, force bool) {
	t.Helper()
	cmd := "shutdown"
	if force {
		cmd = "shutdown -f"
	}
	if out, err := RunTimed(t, time.Minute, "xfs_io", "-x", "-c", cmd, mnt); err != nil {
		t.Fatalf("xfs_io %s: %v\n%s", cmd, err, out)
	}
}

// DirtyLog returns a copy of profile's image whose log holds
// testdata/logwork.sh's workload in mode: mounted with opts ("" for the
// defaults), worked, shut down (Shutdown's force), unmounted. It needs
// root, xfsprogs and loop devices (Require).
func DirtyLog(t testing.TB, profile, mode, opts string, force bool) string {
	t.Helper()
	return DirtyLogAt(t, profile, mode, opts, force, 0)
}

// DirtyLogAt is DirtyLog shut down after stop steps of the workload
// (logwork.sh's STOP; 0 runs it all): a shutdown point.
func DirtyLogAt(t testing.TB, profile, mode, opts string, force bool, stop int) string {
	t.Helper()
	Require(t, "root", "xfsprogs", "loop")
	img := Copy(t, profile)
	mnt, umount := LoopMount(t, img, "loop"+opts)
	if mode != "unlinked" {
		LogWork(t, mnt, mode, strconv.Itoa(stop))
		Shutdown(t, mnt, force)
		umount()
		return img
	}
	// The holder of the removed file lives until after the shutdown.
	pidfile := filepath.Join(t.TempDir(), "holder.pid")
	LogWork(t, mnt, mode, strconv.Itoa(stop), pidfile)
	b, err := os.ReadFile(pidfile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil || pid <= 1 {
		t.Fatalf("logwork.sh unlinked: no holder pid (%v %v)", err, perr)
	}
	Shutdown(t, mnt, force)
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	umount()
	return img
}

var tailHeadRE = regexp.MustCompile(`log tail: (\d+) head: (\d+)`)

// WrappedLog makes, in dir, a filesystem with the smallest log mkfs
// allows whose records from the tail to the head cross the log's end:
// the log churned until its head is near the end (logwork.sh nearend),
// then logwork.sh's light workload and a shutdown. It tries up to five
// times. Put dir on tmpfs when there is one: every synchronous write
// forces the log.
func WrappedLog(t testing.TB, dir string) string {
	t.Helper()
	Require(t, "root", "xfsprogs", "loop")
	img := filepath.Join(dir, "wrapped.img")
	mkfs, err := LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 5; try++ {
		os.Remove(img)
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 256<<20); err != nil {
			t.Fatal(err)
		}
		// mkfs.xfs 6.1 refuses logs under 64 MiB unless it believes it
		// runs under fstests.
		cmd := exec.Command(mkfs, "-q", "-f", "-l", "size=1368b", img)
		cmd.Env = append(os.Environ(), "TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=xfs")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mkfs.xfs: %v\n%s", err, out)
		}
		mnt, umount := LoopMount(t, img, "loop")
		LogWork(t, mnt, "nearend", img)
		LogWork(t, mnt, "light")
		Shutdown(t, mnt, false)
		umount()
		out, _ := RunTimed(t, time.Minute, "xfs_logprint", "-t", img)
		m := tailHeadRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("xfs_logprint -t %s: no tail and head in\n%s", img, out)
		}
		tail, _ := strconv.Atoi(m[1])
		head, _ := strconv.Atoi(m[2])
		if tail > head {
			return img
		}
		t.Logf("testimg: try %d: tail %d head %d did not cross the log's end", try, tail, head)
	}
	t.Fatal(fmt.Errorf("testimg: no wrapped log in 5 tries"))
	return ""
}

// SparseFile makes an empty sparse file of size bytes at path, for
// mkfs.xfs.
func SparseFile(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TmpfsDir is a temporary directory on tmpfs (/dev/shm) when there is
// one, else t.TempDir(); it is removed in t.Cleanup. Images whose log
// churns belong there: every synchronous write forces the log, and
// flushes to tmpfs are cheap.
func TmpfsDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "xfsbox-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// FreshMount makes a new filesystem (mkfs.xfs -q, its defaults, size
// bytes) in a tmpfs directory and loop-mounts it read-write: the image's
// path, the mount point and the unmount (also run in t.Cleanup).
func FreshMount(t testing.TB, name string, size int64) (img, mnt string, umount func()) {
	t.Helper()
	Require(t, "root", "loop", "xfsprogs")
	img = filepath.Join(TmpfsDir(t), name)
	SparseFile(t, img, size)
	if out, err := RunTimed(t, time.Minute, "mkfs.xfs", "-q", img); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	mnt, umount = LoopMount(t, img, "rw")
	return img, mnt, umount
}

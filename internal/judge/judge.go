// Package judge runs the tools we did not write against an image: the
// reference checker (xfs_repair -n) and the kernel (mount, hash every
// file, write until full, delete half, unmount). A repair is correct
// only when they agree. Every mount is bounded in time and undone in
// t.Cleanup.
//
// The kernel is also the judge of our readers of files: Snapshot records
// what a mounted tree says of every path (statx to the nanosecond,
// symlink targets, xattrs, content hashes, directory entries),
// KernelTree takes that snapshot through a read-only loop mount of an
// image, and Diff lists how two snapshots differ (ours against the
// kernel's).
package judge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// XfsRepairN runs xfs_repair -n and reports whether it found the image
// clean, with its output.
func XfsRepairN(t testing.TB, img string) (clean bool, output string) {
	t.Helper()
	return xfsRepairN(img)
}

func xfsRepairN(img string) (clean bool, output string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"-n"}
	if oneAG(img) {
		args = append(args, "-o", "force_geometry")
	}
	out, err := exec.CommandContext(ctx, "xfs_repair", append(args, img)...).CombinedOutput()
	if ctx.Err() != nil {
		return false, "xfs_repair -n timed out"
	}
	return err == nil, string(out)
}

// RequireClean fails the test unless xfs_repair -n finds img clean.
func RequireClean(t testing.TB, img, when string) {
	t.Helper()
	if clean, out := XfsRepairN(t, img); !clean {
		t.Fatalf("%s: xfs_repair -n is not clean:\n%s", when, trim(out))
	}
}

func oneAG(img string) bool {
	f, err := os.Open(img)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [92]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return b[88] == 0 && b[89] == 0 && b[90] == 0 && b[91] == 1
}

func trim(s string) string {
	lines := strings.Split(s, "\n")
	var keep []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Phase") || strings.HasPrefix(l, "        - ") || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) > 40 {
		keep = append(keep[:40], "...")
	}
	return strings.Join(keep, "\n")
}

// KernelVerify loop-mounts img, checks every file's sha256 against
// hashes (relative path -> hex), runs the write workload (create files
// until ENOSPC, delete half of them) and unmounts; then xfs_repair -n
// must still be clean.
func KernelVerify(t testing.TB, img string, hashes map[string]string) {
	t.Helper()
	testimg.Require(t, "root", "loop", "xfsprogs")
	if err := Kernel(img, hashes); err != nil {
		t.Fatal(err)
	}
}

// Kernel is KernelVerify for callers without a testing.TB (the campaign's
// repair hook). Every mount is undone before it returns. Copies of one
// test image share a uuid and may be mounted at once by parallel
// workers, hence nouuid.
func Kernel(img string, hashes map[string]string) error {
	if err := KernelWorkload(img, hashes); err != nil {
		return err
	}
	if clean, out := xfsRepairN(img); !clean {
		return fmt.Errorf("after the kernel's write workload: xfs_repair -n is not clean:\n%s", trim(out))
	}
	return nil
}

// KernelWorkload is Kernel without the xfs_repair -n at the end, for
// filesystems xfs_repair cannot judge (the parent feature, which
// xfsprogs 6.1 refuses): mount, hashes, write workload, unmount.
func KernelWorkload(img string, hashes map[string]string) error {
	mnt, err := os.MkdirTemp("", "xfsbox-judge")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	run := func(timeout time.Duration, name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return nil
	}
	if err := run(time.Minute, "mount", "-o", "loop,nouuid", img, mnt); err != nil {
		return fmt.Errorf("kernel mount: %w", err)
	}
	mounted := true
	defer func() {
		if mounted {
			if unmount(run, mnt) != nil {
				exec.Command("umount", "-l", mnt).Run()
				waitLoopReleased(img)
			}
		}
	}()
	for rel, want := range hashes {
		got, err := HashFile(filepath.Join(mnt, rel))
		if err != nil {
			return fmt.Errorf("read %s after repair: %w", rel, err)
		}
		if got != want {
			return fmt.Errorf("%s: sha256 %s after repair, want %s", rel, got, want)
		}
	}
	if err := writeWorkload(filepath.Join(mnt, "xfsbox-workload")); err != nil {
		return fmt.Errorf("write workload: %w", err)
	}
	if err := unmount(run, mnt); err != nil {
		return fmt.Errorf("umount after the workload: %w", err)
	}
	mounted = false
	return nil
}

// unmount unmounts mnt, retrying while the kernel says it is busy (a
// transient state: something still holding the new mount for a moment,
// such as a udev probe of the loop device), for up to 20 seconds.
func unmount(run func(time.Duration, string, ...string) error, mnt string) error {
	var err error
	for try := 0; try < 20; try++ {
		if err = run(2*time.Minute, "umount", mnt); err == nil || !strings.Contains(err.Error(), "busy") {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

// waitLoopReleased waits (up to a minute) until no loop device is
// attached to img any more, so that a lazily unmounted filesystem has
// finished its last writes before anyone reuses the image.
func waitLoopReleased(img string) {
	for try := 0; try < 60; try++ {
		out, err := exec.Command("losetup", "-j", img).Output()
		if err != nil || len(strings.TrimSpace(string(out))) == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

// HashFile is the hex sha256 of the file at p.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeWorkload fills the filesystem until ENOSPC (bounded: at most
// 20000 files, 90 s) with files of mixed sizes, most preallocated with
// fallocate (the allocator's btree work without the data copying), every
// fourth written, then deletes every other file.
func writeWorkload(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	deadline := time.Now().Add(90 * time.Second)
	var names []string
	full := false
	for i := 0; i < 20000 && !full && time.Now().Before(deadline); i++ {
		name := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		size := []int64{4096, 65536, 4 << 20, 12345, 1 << 20}[i%5]
		f, err := os.Create(name)
		if err != nil {
			if isNoSpace(err) {
				// No room for an inode (a stripe-aligned or 64 KiB-block
				// filesystem runs out of room for a new chunk first).
				full = true
				break
			}
			return err
		}
		names = append(names, name)
		if i%4 == 0 {
			_, err = f.Write(buf[:min(int64(len(buf)), size)])
		} else {
			err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		}
		cerr := f.Close()
		if err == nil {
			err = cerr
		}
		if err != nil {
			if isNoSpace(err) {
				full = true
				break
			}
			return err
		}
	}
	if !full {
		return fmt.Errorf("stopped after %d files without reaching ENOSPC", len(names))
	}
	for i := 0; i < len(names); i += 2 {
		if err := os.Remove(names[i]); err != nil {
			return err
		}
	}
	return nil
}

func isNoSpace(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "no space") || errorsIs(err, syscall.ENOSPC))
}

func errorsIs(err error, target syscall.Errno) bool {
	for err != nil {
		if e, ok := err.(syscall.Errno); ok && e == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

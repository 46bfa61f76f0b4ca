package repair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

func TestLockImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f1, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()

	unlock, err := LockImage(f1, path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockImage(f2, path)
	if !errors.Is(err, ErrImageBusy) {
		t.Fatalf("second lock: %v", err)
	}
	t.Log(err)
	var le *LockError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("the error does not name this process (pid %d) as the holder: %v", os.Getpid(), err)
	}
	unlock()
	unlock2, err := LockImage(f2, path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestLockErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    LockError
		want string
	}{
		{LockError{Path: "i", PID: 1234, Comm: "xfsbox"}, "in use by another xfsbox (pid 1234)"},
		{LockError{Path: "i", PID: 77, Comm: "cat"}, "pid 77 (cat)"},
		{LockError{Path: "i"}, "not listed in /proc/locks"},
	} {
		if got := tc.e.Error(); !strings.Contains(got, tc.want) {
			t.Errorf("%q lacks %q", got, tc.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{`/mnt/a\040b`: "/mnt/a b", `/x`: "/x", `/y\134`: `/y\`, `/z\04`: `/z\04`} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// runTimed runs a command with a time bound and returns its combined output.
func runTimed(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if p, err := testimg.LookTool(name); err == nil {
		name = p
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// loopMount loop-mounts img with the given options and returns the mount
// point and a function that unmounts it (at most once; also registered
// with t.Cleanup).
func loopMount(t *testing.T, img, opts string) (mnt string, umount func()) {
	t.Helper()
	mnt = t.TempDir()
	// nouuid: copies of one test image share a uuid, and other tests
	// may have one mounted at the same time.
	if out, err := runTimed(t, time.Minute, "mount", "-o", opts+",nouuid", img, mnt); err != nil {
		t.Fatalf("mount -o %s %s: %v\n%s", opts, img, err, out)
	}
	done := false
	umount = func() {
		if done {
			return
		}
		done = true
		if out, err := runTimed(t, time.Minute, "umount", mnt); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	}
	t.Cleanup(umount)
	return mnt, umount
}

func TestMountedByKernel(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Copy(t, "defaults")
	if where, mounted, err := MountedByKernel(img); err != nil || mounted {
		t.Fatalf("before mounting: %q %v %v", where, mounted, err)
	}
	mnt, umount := loopMount(t, img, "loop,ro")
	where, mounted, err := MountedByKernel(img)
	if err != nil || !mounted {
		t.Fatalf("loop-mounted at %s: %q %v %v", mnt, where, mounted, err)
	}
	t.Log(where)
	if !strings.Contains(where, mnt) || !strings.Contains(where, "/dev/loop") {
		t.Fatalf("%q does not say where (%s) and through which loop device", where, mnt)
	}
	// The loop device itself, as a block device image, is mounted too.
	dev := where[strings.LastIndex(where, "/dev/loop"):]
	if w, m, err := MountedByKernel(dev); err != nil || !m || !strings.Contains(w, mnt) {
		t.Fatalf("block device %s: %q %v %v", dev, w, m, err)
	}
	// Through a symlink: the same inode.
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(img, link)
	if _, m, err := MountedByKernel(link); err != nil || !m {
		t.Fatalf("through a symlink: %v %v", m, err)
	}

	umount()
	// The loop device of "mount -o loop" is released as the unmount
	// completes, possibly a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for {
		where, mounted, err = MountedByKernel(img)
		if err != nil {
			t.Fatal(err)
		}
		if !mounted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still reported after umount: %s", where)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

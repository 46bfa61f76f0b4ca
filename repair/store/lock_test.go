package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

func TestMountedByKernel(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Copy(t, "defaults")
	if where, mounted, err := MountedByKernel(img); err != nil || mounted {
		t.Fatalf("before mounting: %q %v %v", where, mounted, err)
	}
	mnt, umount := testimg.LoopMount(t, img, "loop,ro")
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

func TestParseMountinfo(t *testing.T) {
	in := `22 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
36 22 7:3 /sub /mnt/a\040b rw,noatime master:1 shared:7 - xfs /dev/loop3 rw,attr2
40 22 0:50 / /mnt/x rw,nosuid,nodev - fuse.xfsbox xfsbox:/tmp/my\040disk.img rw,user_id=0
short line
41 22 bad / /y rw - tmpfs tmpfs rw
`
	got, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Dev: unix.Mkdev(8, 2), Root: "/", Point: "/", FSType: "ext4", Source: "/dev/sda2"},
		{Dev: unix.Mkdev(7, 3), Root: "/sub", Point: "/mnt/a b", FSType: "xfs", Source: "/dev/loop3"},
		{Dev: unix.Mkdev(0, 50), Root: "/", Point: "/mnt/x", FSType: "fuse.xfsbox", Source: "xfsbox:/tmp/my disk.img"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	mounts, err := Mounts()
	if err != nil || !slices.ContainsFunc(mounts, func(m Mount) bool { return m.Point == "/" }) {
		t.Fatalf("this namespace's mounts: %v %+v", err, mounts)
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// TestMountMatchesDump mounts an image, reads every file of the tree with
// ordinary reads and compares each with `xfsbox dump` of the same path.
func TestMountMatchesDump(t *testing.T) {
	img := testimg.Image(t, "allfeatures")
	mnt := mountTree(t, img)
	var files []string
	bounded(t, 2*time.Minute, "walking the mounted tree", func() { files = walkFiles(t, mnt) })
	if len(files) < 100 {
		t.Fatalf("only %d files in the tree", len(files))
	}
	for _, f := range files {
		switch filepath.Base(f) {
		case "ctl", "status", "log", "repair":
			continue // control files, not views: TestEchoRepair drives them
		case "image":
			// Not a view dump renders: the image's own bytes (staged
			// changes included in sandbox mode; here, none).
			if testimg.FileSum(t, filepath.Join(mnt, f)) != testimg.FileSum(t, img) {
				t.Errorf("%s differs from the image file", f)
			}
			continue
		}
		got, err := os.ReadFile(filepath.Join(mnt, f))
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		want, stderr, code := runCLI("dump", img, f)
		if code != 0 {
			t.Fatalf("dump %s: exit %d: %s", f, code, stderr)
		}
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: mount and dump differ (%d vs %d bytes)", f, len(got), len(want))
		}
	}
	t.Logf("compared %d files", len(files))
}

// TestMountAcceptance is the acceptance list on a mounted
// all-features image: cat agf equals xfs_db's agf print; the rmapbt
// record lines equal its record count; the bnobt's blockcounts sum to the
// AGF's freeblks.
func TestMountAcceptance(t *testing.T) {
	img := testimg.Image(t, "allfeatures")
	mnt := mountTree(t, img)

	got, err := os.ReadFile(filepath.Join(mnt, "ag/1/agf"))
	if err != nil {
		t.Fatal(err)
	}
	ours, ref := xfsdb.Parse(string(got)), xfsdb.Parse(xfsDB(t, img, "agf 1", "print"))
	if len(ref.Fields) < 20 {
		t.Fatalf("xfs_db printed %d agf fields", len(ref.Fields))
	}
	for _, f := range ref.Fields {
		if v, _ := ours.Get(f.Name); v != f.Value {
			t.Errorf("agf 1 %s: ours %q, xfs_db %q", f.Name, v, f.Value)
		}
	}

	recs, err := os.ReadFile(filepath.Join(mnt, "ag/0/rmapbt/records"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range lines(string(recs)) {
		if !strings.HasPrefix(l, "#") {
			n++
		}
	}
	dump := xfsDB(t, img, "agf 0", "addr rmaproot", "btdump")
	want := 0
	for _, l := range lines(dump) {
		if i := strings.Index(l, ":["); i > 0 && !strings.Contains(l, "=") {
			want++
		}
	}
	if n != want || n == 0 {
		t.Errorf("rmapbt records: %d lines, xfs_db btdump shows %d records", n, want)
	}

	bno, err := os.ReadFile(filepath.Join(mnt, "ag/0/bnobt/records"))
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, l := range lines(string(bno)) {
		f := strings.Fields(l)
		if strings.HasPrefix(l, "#") || len(f) != 2 {
			continue
		}
		c, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bnobt line %q: %v", l, err)
		}
		sum += c
	}
	freeblks, err := xfsdb.Parse(xfsDB(t, img, "agf 0", "print")).Uint("freeblks")
	if err != nil {
		t.Fatal(err)
	}
	if sum != freeblks || sum == 0 {
		t.Errorf("bnobt blockcounts sum to %d, agf freeblks = %d", sum, freeblks)
	}
}

// TestMountCommand runs the real binary: it refuses bad mount points by
// name, and SIGTERM and fusermount3 -u both unmount cleanly.
func TestMountCommand(t *testing.T) {
	testimg.Require(t, "root", "fuse")
	img := testimg.Image(t, "allfeatures")
	bin := buildBinary(t)

	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	for _, c := range []struct{ mnt, want string }{
		{filepath.Join(t.TempDir(), "missing"), "does not exist"},
		{notDir, "not a directory"},
		{"/proc", "already a mount point"},
	} {
		out, err := exec.Command(bin, "mount", img, c.mnt).CombinedOutput()
		if code := exitOf(err); code != exitUsage || !strings.Contains(string(out), c.want) {
			t.Errorf("mount on %s: exit %d, output %q; want exit %d naming %q", c.mnt, code, out, exitUsage, c.want)
		}
	}

	for _, how := range []string{"SIGTERM", "SIGINT", "fusermount3"} {
		t.Run(how, func(t *testing.T) {
			mnt := t.TempDir()
			cmd := exec.Command(bin, "mount", "--read-only", img, mnt)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cmd.Process.Kill()
				exec.Command("umount", "-l", mnt).Run()
			})
			waitFor(t, 10*time.Second, "mount to appear", func() bool {
				_, err := os.Stat(filepath.Join(mnt, "ag/0/agf"))
				return err == nil
			})
			if _, err := os.ReadFile(filepath.Join(mnt, "sb")); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "SIGTERM":
				cmd.Process.Signal(syscall.SIGTERM)
			case "SIGINT":
				cmd.Process.Signal(syscall.SIGINT)
			default:
				if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
					t.Fatalf("fusermount3 -u: %v: %s", err, out)
				}
			}
			errc := make(chan error, 1)
			go func() { errc <- cmd.Wait() }()
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("xfsbox mount exited with %v: %s", err, stderr.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatal("xfsbox mount did not exit after unmount")
			}
			if mounted(t, mnt) {
				t.Fatalf("%s still mounted", mnt)
			}
		})
	}
}

func mounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+dir+" ")
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exitOf(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

var builtBinary string

// buildBinary builds xfsbox once per test process.
func buildBinary(t *testing.T) string {
	t.Helper()
	if builtBinary != "" {
		return builtBinary
	}
	dir, err := os.MkdirTemp("", "xfsbox-bin")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xfsbox")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	builtBinary = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, bin := range []string{builtBinary, madeBinary} {
		if bin != "" {
			os.RemoveAll(filepath.Dir(bin))
		}
	}
	os.Exit(code)
}

var _ = fmt.Sprint

// TestStableInodeNumbers: a file of the mounted tree keeps its inode
// number when the kernel forgets it and looks it up again (dentries and
// inodes dropped), readdir's d_ino agrees with stat's, and two files
// have two numbers.
func TestStableInodeNumbers(t *testing.T) {
	testimg.Require(t, "root", "fuse")
	img := testimg.Image(t, "defaults")
	mnt := mountTree(t, img)
	paths := []string{"ag/0/agf", "ag/1/agi.json", "ag/0/bnobt/records", "ag/0", "ag/0/repair", "ctl", "image"}
	ino := func(p string) uint64 {
		var st syscall.Stat_t
		bounded(t, 30*time.Second, "stat "+p, func() {
			if err := syscall.Stat(filepath.Join(mnt, p), &st); err != nil {
				t.Fatal(err)
			}
		})
		return st.Ino
	}
	before := map[string]uint64{}
	seen := map[uint64]string{}
	for _, p := range paths {
		before[p] = ino(p)
		if q, dup := seen[before[p]]; dup {
			t.Fatalf("%s and %s share inode %d", p, q, before[p])
		}
		seen[before[p]] = p
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		t.Fatalf("dropping dentries and inodes: %v", err)
	}
	for _, p := range paths {
		if got := ino(p); got != before[p] {
			t.Errorf("%s: inode %d, was %d before the kernel forgot it", p, got, before[p])
		}
	}
	var ents []os.DirEntry
	bounded(t, 30*time.Second, "readdir ag/0", func() {
		var err error
		if ents, err = os.ReadDir(filepath.Join(mnt, "ag/0")); err != nil {
			t.Fatal(err)
		}
	})
	for _, e := range ents {
		if e.Name() != "agf" {
			continue
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Ino != before["ag/0/agf"] {
			t.Errorf("ag/0/agf: readdir+lstat inode %d, stat %d", st.Ino, before["ag/0/agf"])
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/fusefs"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"golang.org/x/sys/unix"
)

// runCLI runs xfsbox in-process and returns stdout, stderr, exit code.
func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// mountTree mounts img in-process and unmounts it in t.Cleanup.
func mountTree(t *testing.T, img string) string {
	t.Helper()
	testimg.Require(t, "root", "fuse")
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	srv, err := fusefs.Mount(mnt, view.NewTree(fs), fusefs.Options{ReadOnly: true})
	if err != nil {
		fs.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountServer(t, srv.Unmount, mnt)
		fs.Close()
	})
	return mnt
}

// unmountServer unmounts an in-process FUSE server, retrying while it
// is busy, within 10 s; then it detaches it lazily and fails the test.
func unmountServer(t *testing.T, unmount func() error, mnt string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50 && unmount() != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		exec.Command("umount", "-l", mnt).Run()
		t.Errorf("unmount of %s timed out", mnt)
	}
}

// bounded runs fn and fails the test if it takes longer than d.
func bounded(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

// sha hashes a file's data extents and where they are (holes are
// skipped, which makes a 1 GiB sparse image quick to hash, and the file
// is streamed, never held whole): any write changes it.
func sha(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "size %d\n", st.Size())
	fd := int(f.Fd())
	// The data/hole map below is the host filesystem's: settle it first
	// (delayed allocation, unwritten extents still being converted after
	// the tool that made the file), so that writeback finishing between
	// two hashes is not taken for a write of ours. TestBadInput's
	// realtime image "changed" once under make test's load, content
	// aside, with nothing of ours opening it for writing.
	if err := unix.Fsync(fd); err != nil {
		t.Fatalf("%s: fsync: %v", path, err)
	}
	for off := int64(0); off < st.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			t.Fatalf("%s: SEEK_DATA: %v", path, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatalf("%s: SEEK_HOLE: %v", path, err)
		}
		fmt.Fprintf(h, "data %d %d\n", data, hole-data)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	return [32]byte(h.Sum(nil))
}

func xfsDB(t *testing.T, img string, cmds ...string) string {
	t.Helper()
	args := []string{"-r"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	args = append(args, img)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "xfs_db", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xfs_db %v: %v\n%s", cmds, err, out)
	}
	return string(out)
}

func walkFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	inodeDirs := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch {
			case rel == "files":
				return filepath.SkipDir // the image's own files, not views (TestFilesMatchKernel)
			case rel == "deleted":
				// Recovered files, not views: xfsbox recover is its CLI
				// form (TestDeletedMount scores both on ground truth).
				return filepath.SkipDir
			case filepath.Dir(rel) == "inodes":
				// Eight views an inode: a few inodes stand for all
				// (TestInodeViewOracle judges them by the hundred).
				if inodeDirs++; inodeDirs > 6 {
					return filepath.SkipDir
				}
			}
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// inDir returns a function that writes a file of that name and bytes in
// dir, and returns its path.
func inDir(t *testing.T, dir string) func(name string, b []byte) string {
	return func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

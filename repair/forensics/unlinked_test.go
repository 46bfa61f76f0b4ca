package forensics_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"golang.org/x/sys/unix"
)

// TestUnlinkedOpenFiles: a file unlinked while a process holds it open,
// the system then going down (the kernel's freeze writes the AGI's
// unlinked list to disk, a shutdown keeps the last close from freeing
// the inode), is listed as unlinked with its name and its whole content,
// byte for byte what was written; the image is not changed.
func TestUnlinkedOpenFiles(t *testing.T) {
	img, mnt, umount := testimg.FreshMount(t, "unlinked.img", 512<<20)
	if err := os.MkdirAll(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(mnt, "d", "still-open.db")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("open and unlinked; "), 30000)
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"-f", "-u"} {
		if out, err := testimg.RunTimed(t, time.Minute, "xfs_freeze", op, mnt); err != nil {
			t.Fatalf("xfs_freeze %s: %v\n%s", op, err, out)
		}
	}
	testimg.Shutdown(t, mnt, true)
	f.Close()
	umount()

	before := testimg.FileSum(t, img)
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ex, err := forensics.Examine(context.Background(), fs, forensics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got *forensics.DeletedFile
	for i := range ex.Manifest.Files {
		if ex.Manifest.Files[i].Ino == st.Ino {
			got = &ex.Manifest.Files[i]
		}
	}
	if got == nil || !got.Unlinked {
		t.Fatalf("inode %d: not listed as unlinked (%+v)", st.Ino, got)
	}
	if got.Path != "/d/still-open.db" || got.Size == nil || *got.Size != uint64(len(content)) || !forensics.Recoverable(got) {
		t.Errorf("listed as %q, size %v, recoverable %v", got.Path, got.Size, forensics.Recoverable(got))
	}
	h := sha256.New()
	if _, err := io.Copy(h, ex.Reader(got)); err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(content); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Error("the unlinked file's recovered bytes differ from what was written")
	}
	if testimg.FileSum(t, img) != before {
		t.Error("the examination changed the image")
	}
}

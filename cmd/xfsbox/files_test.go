package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// TestFilesCLI judges ls, cat, stat and extract without FUSE: content
// against the hashes the kernel took when the image was made, names
// against the kernel's file list, stat against xfs_db's print of the
// inode; and their errors.
func TestFilesCLI(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Image(t, "allfeatures")
	hashes := testimg.Hashes(t, "allfeatures")

	for _, p := range []string{"ag0/hello.txt", "ag0/big.bin", "ag0/sparse.bin", "ag0/prealloc.bin", "ag0/punched", "ag0/shared.reflink"} {
		out, errOut, code := runCLI("cat", img, "/"+p)
		sum := sha256.Sum256([]byte(out))
		if code != 0 || hex.EncodeToString(sum[:]) != hashes[p] {
			t.Errorf("cat %s: exit %d (%s), sha256 %x, the kernel read %s", p, code, errOut, sum, hashes[p])
		}
	}

	out, _, code := runCLI("ls", img, "/ag0/bigdir")
	var want []string
	for p := range hashes {
		if name, ok := strings.CutPrefix(p, "ag0/bigdir/"); ok {
			want = append(want, name)
		}
	}
	got := slices.DeleteFunc(strings.Split(strings.TrimSpace(out), "\n"), func(s string) bool { return s == "." || s == ".." })
	slices.Sort(got)
	slices.Sort(want)
	if code != 0 || !slices.Equal(got, want) {
		t.Errorf("ls /ag0/bigdir: exit %d, %d names; the kernel's tree has %d", code, len(got), len(want))
	}
	out, _, code = runCLI("ls", "--json", "--long", img, "/ag0")
	var ls struct {
		Schema  string `json:"schema"`
		Entries []struct {
			Name string
			Ino  uint64
			Stat *struct{ Size uint64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || code != 0 || ls.Schema != "xfsbox.ls" || len(ls.Entries) < 5 {
		t.Fatalf("ls --json: exit %d, %v: %.200s", code, err, out)
	}

	o, err := xfsdb.Print(img, "path /ag0/small.bin")
	if err != nil {
		t.Fatal(err)
	}
	out, _, code = runCLI("stat", "--json", img, "/ag0/small.bin")
	var st struct {
		Ino                  uint64
		Mode                 string
		Nlink, UID, GID, Gen uint64 `json:"-"`
		Size                 uint64
		Generation           uint64
		Extents              uint64
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("stat --json: exit %d, %v", code, err)
	}
	for field, v := range map[string]uint64{"v3.inumber": st.Ino, "core.size": st.Size, "core.gen": st.Generation, "core.nextents": st.Extents} {
		if w, err := o.Uint(field); err != nil || w != v {
			t.Errorf("stat: %s is %d, xfs_db says %d (%v)", field, v, w, err)
		}
	}
	if mode, _ := o.Get("core.mode"); !strings.HasSuffix(mode, st.Mode[1:]) {
		t.Errorf("stat: mode %s, xfs_db says %s", st.Mode, mode)
	}
	// By inode number, the same answer.
	byIno, _, code := runCLI("stat", "--json", "--inode", img, strconv.FormatUint(st.Ino, 10))
	if code != 0 || !strings.Contains(byIno, `"size": `+strconv.FormatUint(st.Size, 10)) {
		t.Errorf("stat --inode: exit %d: %.300s", code, byIno)
	}

	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"cat", img, "/no/such/file"}, exitNotFound},
		{[]string{"cat", img, "/ag0"}, exitNotFound},
		{[]string{"cat", "--inode", img, "frog"}, exitUsage},
		{[]string{"stat", "--inode", img, "1"}, exitNotFound},
		{[]string{"ls", img, "/ag0/hello.txt/x"}, exitNotFound},
		{[]string{"extract", img, "/ag0", t.TempDir()}, exitUsage},
		{[]string{"ls"}, exitUsage},
	} {
		if _, errOut, code := runCLI(c.args...); code != c.code {
			t.Errorf("%v: exit %d (%s), want %d", c.args, code, strings.TrimSpace(errOut), c.code)
		}
	}
}

// TestExtract copies the whole tree out and compares it with the
// kernel's loop mount: every path, type, mode, owner, size, link count,
// mtime to the nanosecond, symlink target and content hash.
func TestExtract(t *testing.T) {
	testimg.Require(t, "xfsprogs", "root", "loop")
	img := testimg.Image(t, "allfeatures")
	dest := filepath.Join(t.TempDir(), "out")
	if _, errOut, code := runCLI("extract", img, "/", dest); code != 0 {
		// Extended attributes may not fit the host filesystem (tmpfs
		// limits user xattrs); everything else must be there.
		if code != exitCorrupt || strings.Contains(errOut, "level=error") && !onlyXattrErrors(errOut) {
			t.Fatalf("extract: exit %d: %s", code, errOut)
		}
	}
	mnt, umount := testimg.LoopMount(t, testimg.Copy(t, "allfeatures"), "ro")
	defer umount()
	listing := func(root string) string {
		out, err := exec.Command("sh", "-c", `cd "$1" && find . -mindepth 1 \( -type d -printf '%y %m %U %G - %n %T@ %p\n' \) -o \( ! -type d -printf '%y %m %U %G %s %n %T@ %p %l\n' \) | LC_ALL=C sort -k8`, "sh", root).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if a, b := listing(dest), listing(mnt); a != b {
		t.Fatalf("the extracted tree differs from the kernel's:\n%s", firstDiff(a, b))
	}
	sums := func(root string) string {
		out, err := exec.Command("sh", "-c", `cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`, "sh", root).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if sums(dest) != sums(mnt) {
		t.Fatal("the extracted files' content differs from the kernel's")
	}
	if _, err := os.Stat(filepath.Join(dest, "ag0", "sparse.bin")); err != nil {
		t.Fatal(err)
	}
}

func onlyXattrErrors(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "level=error") && !strings.Contains(l, ": xattr ") {
			return false
		}
	}
	return true
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "ours:   " + al[i] + "\nkernel: " + bl[i]
		}
	}
	return "lengths differ: " + strconv.Itoa(len(al)) + " and " + strconv.Itoa(len(bl)) + " lines"
}

// TestExtractLoop: a damaged image whose directory names its own
// ancestor (a loop) is extracted to the end: the loop is reported and
// not followed, the rest is copied, the exit status says something was
// left out; paths of an inode below the loop are found once each.
func TestExtractLoop(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	o, err := xfsdb.PrintMany(img, [][]string{{"path /ag0/tree", "print v3.inumber"}, {"path /ag0/tree/a/b", "print u3.sfdir3.list[0].name"}})
	if err != nil {
		t.Fatal(err)
	}
	tree, _ := o[0].Uint("v3.inumber")
	if name, _ := o[1].Get("u3.sfdir3.list[0].name"); name != `"c"` {
		t.Fatalf("/ag0/tree/a/b's first entry is %s, not c", name)
	}
	// /ag0/tree/a/b/c now names /ag0/tree: b/c -> tree -> a -> b -> c ...
	if out, err := exec.Command("xfs_db", "-x", "-c", "path /ag0/tree/a/b", "-c", "write u3.sfdir3.list[0].inumber.i4 "+strconv.FormatUint(tree, 10), img).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	dest := filepath.Join(t.TempDir(), "out")
	_, errOut, code := runCLI("extract", img, "/ag0/tree", dest)
	if code != exitCorrupt || !strings.Contains(errOut, "own ancestor") {
		t.Fatalf("extract of a loop: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dest, "x", "y", "file")); err != nil {
		t.Errorf("the rest of the tree was not extracted: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dest, "a", "b", "c")); !os.IsNotExist(err) {
		t.Errorf("b/c names an ancestor: it must not be copied (%v)", err)
	}
	// Two entries name it now, each found once.
	out, _, code := runCLI("dump", img, "inodes/"+strconv.FormatUint(tree, 10)+"/paths")
	if code != 0 || out != "/ag0/tree\n/ag0/tree/a/b/c\n" {
		t.Errorf("paths of the looped directory: exit %d: %q", code, out)
	}
}

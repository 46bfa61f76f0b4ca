package judge_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestSnapshotDiff snapshots a small tree in a temporary directory (no
// root needed), twice without a change (no difference but atimes, which
// reading the files changes) and after one change of each kind, which
// Diff must name.
func TestSnapshotDiff(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "d/e"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "d/file"), []byte("content\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "gone"), nil, 0o600))
	must(os.Link(filepath.Join(dir, "d/file"), filepath.Join(dir, "d/e/link")))
	must(os.Symlink("d/file", filepath.Join(dir, "sym")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	must(os.Chmod(filepath.Join(dir, "fifo"), 0o640)) // whatever the umask
	xattrs := unix.Setxattr(filepath.Join(dir, "d/file"), "user.judge", []byte("v1"), 0) == nil

	a, err := judge.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"/": "dir", "/d": "dir", "/d/e": "dir", "/d/file": "file", "/d/e/link": "file",
		"/gone": "file", "/sym": "symlink", "/fifo": "fifo"}
	for p, typ := range want {
		if e := a.Entries[p]; e == nil || e.Type != typ {
			t.Errorf("%s: %+v, want a %s", p, e, typ)
		}
	}
	if len(a.Entries) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(a.Entries), len(want), a.Paths())
	}
	f := a.Entries["/d/file"]
	sum := sha256.Sum256([]byte("content\n"))
	if f.Nlink != 2 || f.Size != 8 || a.Entries["/sym"].Target != "d/file" || f.SHA256 != hex.EncodeToString(sum[:]) ||
		a.Entries["/d/e/link"].SHA256 != f.SHA256 || a.Entries["/fifo"].Mode != unix.S_IFIFO|0o640 {
		t.Errorf("file %s, symlink %q", f.Describe(), a.Entries["/sym"].Target)
	}
	if xattrs && string(f.Xattrs["user.judge"]) != "v1" {
		t.Errorf("xattrs %q", f.Xattrs)
	}

	b, err := judge.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := judge.Diff(a, b, judge.DiffOptions{IgnoreAtime: true}); len(d) != 0 {
		t.Errorf("unchanged tree differs:\n%s", strings.Join(d, "\n"))
	}

	// One change of each kind.
	must(os.WriteFile(filepath.Join(dir, "d/file"), []byte("CONTENT\n"), 0o644))
	must(os.Chmod(filepath.Join(dir, "fifo"), 0o600))
	must(os.Remove(filepath.Join(dir, "gone")))
	must(os.WriteFile(filepath.Join(dir, "new"), nil, 0o644))
	must(os.Remove(filepath.Join(dir, "sym")))
	must(os.Symlink("d/e", filepath.Join(dir, "sym")))
	old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	must(os.Chtimes(filepath.Join(dir, "d/e"), old, old))
	if xattrs {
		must(unix.Setxattr(filepath.Join(dir, "d/file"), "user.judge", []byte("v2"), 0))
	}
	c, err := judge.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := judge.Diff(a, c, judge.DiffOptions{IgnoreAtime: true, Limit: -1})
	expect := []string{
		"/d/file: sha256 ", "/d/e/link: sha256 ", "/fifo: mode 010640 vs 010600", "/gone: only in a (file)",
		"/new: only in b (file)", `/sym: symlink target "d/file" vs "d/e"`,
		"/d/e: mtime 20", "/d/e: mtime " + a.Entries["/d/e"].Mtime.String() + " vs 2001-02-03T04:05:06.000000007Z",
		`/: 1 names only in a ["gone"], 1 only in b ["new"]`,
	}
	if xattrs {
		expect = append(expect, `/d/file: xattr user.judge = "v1" vs "v2"`)
	}
	for _, e := range expect {
		if !containsPrefix(d, e) {
			t.Errorf("no difference %q in:\n%s", e, strings.Join(d, "\n"))
		}
	}
	if short := judge.Diff(a, c, judge.DiffOptions{IgnoreAtime: true, Limit: 2}); len(short) != 3 || !strings.HasPrefix(short[2], "... and ") {
		t.Errorf("Limit 2: %q", short)
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestDiffLinks: with IgnoreIno, inode numbers may differ, but paths that
// are one file on one side must be one file on the other.
func TestDiffLinks(t *testing.T) {
	tree := func(inos map[string]uint64) *judge.Tree {
		tr := &judge.Tree{Entries: make(map[string]*judge.Entry)}
		for p, ino := range inos {
			tr.Entries[p] = &judge.Entry{Path: p, Ino: ino, Type: "file", Nlink: 1}
		}
		return tr
	}
	a := tree(map[string]uint64{"/x": 10, "/y": 10, "/z": 11})
	renumbered := tree(map[string]uint64{"/x": 20, "/y": 20, "/z": 21})
	split := tree(map[string]uint64{"/x": 20, "/y": 22, "/z": 21})
	if d := judge.Diff(a, renumbered, judge.DiffOptions{IgnoreIno: true}); len(d) != 0 {
		t.Errorf("renumbered inodes differ with IgnoreIno: %q", d)
	}
	if d := judge.Diff(a, renumbered, judge.DiffOptions{}); len(d) != 3 {
		t.Errorf("renumbered inodes without IgnoreIno: %q, want 3 ino lines", d)
	}
	d := judge.Diff(a, split, judge.DiffOptions{IgnoreIno: true})
	if !containsPrefix(d, `/x: hard links [/x /y] vs [/x]`) || !containsPrefix(d, `/y: hard links [/x /y] vs [/y]`) || len(d) != 2 {
		t.Errorf("split hard links: %q", d)
	}
}

// TestKernelTree: two kernel mounts of the allfeatures image give the
// same snapshot to the nanosecond; the snapshot holds every file type,
// the recipe's timestamps, ACLs and xattrs, and the content hashes the
// generator recorded while it was mounted.
func TestKernelTree(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	img := testimg.Image(t, "allfeatures")
	start := time.Now()
	a := judge.KernelTree(t, img)
	t.Logf("snapshot of %d entries in %v", len(a.Entries), time.Since(start).Round(time.Millisecond))
	b := judge.KernelTree(t, img)
	if d := judge.Diff(a, b, judge.DiffOptions{}); len(d) != 0 {
		t.Fatalf("two kernel mounts of one image differ:\n%s", strings.Join(d, "\n"))
	}

	types := make(map[string]int)
	btimes := 0
	for _, e := range a.Entries {
		types[e.Type]++
		if e.HasBtime {
			btimes++
		}
	}
	for _, typ := range []string{"file", "dir", "symlink", "chardev", "blockdev", "fifo", "socket"} {
		if types[typ] == 0 {
			t.Errorf("no %s in the snapshot (%v)", typ, types)
		}
	}
	if btimes != len(a.Entries) {
		t.Errorf("birth time on %d of %d entries", btimes, len(a.Entries))
	}
	ns := a.Entries["/ag0/fmt/times/ns"]
	if ns == nil || ns.Mtime.String() != "2021-03-04T05:06:07.123456789Z" || ns.Atime.String() != "2019-08-09T10:11:12.987654321Z" {
		t.Errorf("/ag0/fmt/times/ns: %+v", ns)
	}
	if e := a.Entries["/ag0/fmt/dirs/short/chrbig"]; e == nil || e.RdevMajor != 300 || e.RdevMinor != 70000 {
		t.Errorf("chrbig: %+v", e)
	}
	if e := a.Entries["/ag0/fmt/links/long"]; e == nil || len(e.Target) != 1023 || e.UID != 42 {
		t.Errorf("long symlink: %+v", e)
	}
	acl := a.Entries["/ag0/fmt/xattr/acldir"]
	if acl == nil || len(acl.Xattrs["system.posix_acl_access"]) == 0 || len(acl.Xattrs["system.posix_acl_default"]) == 0 {
		t.Errorf("acldir: %+v", acl)
	}
	if x := a.Entries["/ag0/fmt/xattr/sf"]; x == nil || string(x.Xattrs["trusted.b"]) != "two" || string(x.Xattrs["security.c"]) != "\x00\x03\xff" {
		t.Errorf("xattr/sf: %+v", x)
	}
	if x := a.Entries["/ag0/fmt/xattr/node"]; x == nil || len(x.Xattrs) < 100 {
		t.Errorf("xattr/node: %d xattrs", len(x.Xattrs))
	}
	hashes := testimg.Hashes(t, "allfeatures")
	for rel, sum := range hashes {
		if e := a.Entries["/"+rel]; e == nil || e.SHA256 != sum {
			t.Errorf("/%s: %+v, want sha256 %s (the generator's)", rel, e, sum)
			break
		}
	}
}

// TestKernelTreeCatchesChanges: the judge can fail. A copy of the image
// changed through a read-write mount (content, xattr, mode, owner,
// timestamp, a removal) differs from the original in each of them, and
// another profile's image differs too.
func TestKernelTreeCatchesChanges(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	orig := testimg.Image(t, "allfeatures")
	cp := testimg.Copy(t, "allfeatures")
	mnt, umount := testimg.LoopMount(t, cp, "rw")
	in := func(p string) string { return filepath.Join(mnt, p) }
	old := time.Date(2003, 4, 5, 6, 7, 8, 9, time.UTC)
	for _, err := range []error{
		os.WriteFile(in("ag0/small.bin"), []byte("changed"), 0o644),
		unix.Setxattr(in("ag0/fmt/xattr/sf"), "user.a", []byte("2"), 0),
		os.Chmod(in("ag0/fmt/modes/m0640"), 0o604),
		os.Lchown(in("ag0/fmt/links/short"), 7, 8),
		os.Chtimes(in("ag0/fmt/times/ns"), old, old),
		os.Remove(in("ag0/tree/x/y/file")),
	} {
		if err != nil && !errors.Is(err, syscall.EEXIST) {
			t.Fatal(err)
		}
	}
	umount()
	a := judge.KernelTree(t, orig)
	b := judge.KernelTree(t, cp)
	d := judge.Diff(a, b, judge.DiffOptions{Limit: -1})
	for _, e := range []string{
		"/ag0/small.bin: sha256 ", "/ag0/small.bin: size 100000 vs 7",
		`/ag0/fmt/xattr/sf: xattr user.a = "1" vs "2"`,
		"/ag0/fmt/modes/m0640: mode 0100640 vs 0100604",
		"/ag0/fmt/links/short: uid 0 vs 7", "/ag0/fmt/links/short: gid 0 vs 8",
		"/ag0/fmt/times/ns: mtime 2021-03-04T05:06:07.123456789Z vs 2003-04-05T06:07:08.000000009Z",
		"/ag0/fmt/times/ns: atime 2019-08-09T10:11:12.987654321Z vs 2003-04-05T06:07:08.000000009Z",
		"/ag0/tree/x/y/file: only in a (file)",
		`/ag0/tree/x/y: 1 names only in a ["file"], 0 only in b []`,
	} {
		if !containsPrefix(d, e) {
			t.Errorf("no difference %q in:\n%s", e, strings.Join(d, "\n"))
		}
	}
	// Everything else must be the same: a change shows where it was made
	// (and in the ctimes, and the directory's times, it touched).
	for _, l := range d {
		if !strings.HasPrefix(l, "/ag0/small.bin") && !strings.HasPrefix(l, "/ag0/fmt/") && !strings.HasPrefix(l, "/ag0/tree/x/y") {
			t.Errorf("unexpected difference: %s", l)
		}
	}

	other := judge.KernelTree(t, testimg.Image(t, "defaults"))
	if d := judge.Diff(a, other, judge.DiffOptions{}); len(d) == 0 {
		t.Errorf("allfeatures and defaults images: no difference")
	} else {
		t.Logf("allfeatures vs defaults: %d differences, first %s", len(d), d[0])
	}
}

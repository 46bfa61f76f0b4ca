package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/forensicgt"
	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/forensics"
)

// TestRecoverCLI: xfsbox recover on the ground truth's fresh image
// writes files whose manifest the truth scores with no false claim and
// at least 95% of the deleted regular files byte-exact; --hash proves the
// image unchanged; deleted --json lists the same files; a non-empty
// DIR is refused without touching it.
func TestRecoverCLI(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	tr := forensicgt.Cached(t, forensicgt.Spec{})
	img := tr.ImagePath()
	out := filepath.Join(t.TempDir(), "rec")
	stdout, stderr, code := runCLI("recover", "--hash", img, out)
	if code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m forensics.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.ImageSHA256Before == "" || m.ImageSHA256Before != m.ImageSHA256After {
		t.Errorf("image sha256 before %q, after %q", m.ImageSHA256Before, m.ImageSHA256After)
	}
	sc := tr.Score(&m, out)
	t.Logf("%s", sc.Report())
	if len(sc.FalseClaims) > 0 || sc.ByteExactPercent() < 95 {
		t.Errorf("recover: %d false claims, %.1f%% byte-exact", len(sc.FalseClaims), sc.ByteExactPercent())
	}

	stdout, stderr, code = runCLI("deleted", "--json", img)
	if code != 0 {
		t.Fatalf("deleted --json: exit %d\n%s", code, stderr)
	}
	var env struct {
		Schema string `json:"schema"`
		forensics.Manifest
	}
	if err := json.Unmarshal([]byte(stdout), &env); err != nil {
		t.Fatalf("deleted --json: %v", err)
	}
	if env.Schema != "xfsbox.deleted" || len(env.Files) != len(m.Files) {
		t.Errorf("deleted --json: schema %q, %d files; recover listed %d", env.Schema, len(env.Files), len(m.Files))
	}
	stdout, _, code = runCLI("deleted", img)
	if code != 0 || len(lines(stdout)) != len(m.Files)+1 || !strings.HasPrefix(stdout, "INODE") {
		t.Errorf("deleted: exit %d, %d lines for %d files", code, len(lines(stdout)), len(m.Files))
	}

	_, stderr, code = runCLI("recover", img, out)
	if code != 2 || !strings.Contains(stderr, "not empty") {
		t.Errorf("recover into a non-empty directory: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil {
		t.Errorf("the refused recover touched the earlier one: %v", err)
	}
}

// TestOwnerCLI: the owner of a live file's block is its inode, by the
// rmapbt and by the inode scan of a filesystem without one; a free block
// a deleted file held names that file as its last holder (from the log);
// bad blocks are refused by name.
func TestOwnerCLI(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	for _, rmap := range []bool{false, true} {
		t.Run(fmt.Sprintf("rmapbt=%v", rmap), func(t *testing.T) {
			tr := forensicgt.Cached(t, forensicgt.Spec{Rmapbt: rmap})
			img := tr.ImagePath()
			var live, gone, goneBtree *forensicgt.Entry
			for _, e := range tr.Entries {
				if e.Kind != forensicgt.Regular || len(e.Extents) == 0 || e.Extents[0].Unwritten {
					continue
				}
				if !e.Deleted && live == nil {
					live = e
				}
				if e.Deleted && len(e.Extents[0].Changed) == 0 {
					if gone == nil && e.ForkFormat != "btree" {
						gone = e
					}
					if goneBtree == nil && e.ForkFormat == "btree" {
						goneBtree = e
					}
				}
			}
			if live == nil || gone == nil || goneBtree == nil {
				t.Fatal("the truth lacks a live file, or a deleted extents-format or btree-format file, with a written extent")
			}
			stdout, stderr, code := runCLI("owner", "--json", img, strconv.FormatUint(live.Extents[0].StartBlock, 10), strconv.FormatUint(gone.Extents[0].StartBlock, 10),
				strconv.FormatUint(goneBtree.Extents[0].StartBlock, 10))
			if code != 0 {
				t.Fatalf("owner: exit %d\n%s", code, stderr)
			}
			var env struct {
				Blocks []forensics.Ownership `json:"blocks"`
			}
			if err := json.Unmarshal([]byte(stdout), &env); err != nil || len(env.Blocks) != 3 {
				t.Fatalf("owner --json: %v\n%s", err, stdout)
			}
			l, g, gb := env.Blocks[0], env.Blocks[1], env.Blocks[2]
			if !gb.Free || !strings.HasPrefix(gb.LastOwner, fmt.Sprintf("inode %d ", goneBtree.Ino)) {
				t.Errorf("deleted btree-format %s's block %d: free %v, last owner %q", goneBtree.Path, goneBtree.Extents[0].StartBlock, gb.Free, gb.LastOwner)
			}
			if l.Free || len(l.Owners) != 1 || !strings.HasPrefix(l.Owners[0], fmt.Sprintf("inode %d ", live.Ino)) {
				t.Errorf("%s's block %d: free %v, owners %q (%s)", live.Path, live.Extents[0].StartBlock, l.Free, l.Owners, l.Source)
			}
			if !g.Free || !strings.HasPrefix(g.LastOwner, fmt.Sprintf("inode %d ", gone.Ino)) {
				t.Errorf("deleted %s's block %d: free %v, last owner %q", gone.Path, gone.Extents[0].StartBlock, g.Free, g.LastOwner)
			}
			// The same block by daddr and by byte offset.
			agno, agbno := live.Extents[0].StartBlock>>tr.Geometry.AGBlkLog, live.Extents[0].StartBlock&(1<<tr.Geometry.AGBlkLog-1)
			lin := agno*uint64(tr.Geometry.AGBlocks) + agbno
			for _, a := range [][]string{{"--daddr", strconv.FormatUint(lin*uint64(tr.Geometry.BlockSize)/512, 10)}, {"--byte", strconv.FormatUint(lin*uint64(tr.Geometry.BlockSize)+100, 10)}} {
				stdout, stderr, code := runCLI("owner", a[0], img, a[1])
				if code != 0 || !strings.Contains(stdout, fmt.Sprintf("inode %d ", live.Ino)) {
					t.Errorf("owner %s %s: exit %d\n%s%s", a[0], a[1], code, stdout, stderr)
				}
			}
			// The same answer as a view (dump owner/N, and the mount's).
			want, _, _ := runCLI("owner", img, strconv.FormatUint(live.Extents[0].StartBlock, 10))
			if got, stderr, code := runCLI("dump", img, "owner/"+strconv.FormatUint(live.Extents[0].StartBlock, 10)); code != 0 || got != want {
				t.Errorf("dump owner/N: exit %d, %q (%s), owner printed %q", code, got, stderr, want)
			}
			for _, bad := range []string{"lots", "99999999999999"} {
				if _, stderr, code := runCLI("owner", img, bad); code == 0 || stderr == "" {
					t.Errorf("owner %s: exit %d, no message", bad, code)
				}
			}
		})
	}
}

// TestTimelineMatchesKernel: every live path of the timeline has the
// kernel's inode number, mode, owners, size and four times to the
// nanosecond (a loop mount of a copy is the judge); deleted files follow
// with their deletion times; the body file has a line per JSON line and
// TSK's eleven fields.
func TestTimelineMatchesKernel(t *testing.T) {
	testimg.Require(t, "root", "loop", "xfsprogs")
	tr := forensicgt.Cached(t, forensicgt.Spec{})
	img := tr.ImagePath()
	stdout, stderr, code := runCLI("timeline", "--json", img)
	if code != 0 {
		t.Fatalf("timeline --json: exit %d\n%s", code, stderr)
	}
	kernel := judge.KernelTree(t, img)
	seen, deleted := 0, 0
	js := lines(stdout)
	for _, l := range js {
		var e forensics.TimelineEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if e.Deleted {
			deleted++
			if te := tr.Lookup(e.Path); e.Path[0] == '/' && (te == nil || !te.Deleted) && tr.Lookup(e.Path) != nil {
				t.Errorf("%s listed deleted, the truth has it live", e.Path)
			}
			continue
		}
		k := kernel.Entries[e.Path]
		if k == nil {
			t.Errorf("%s: not on the kernel's mount", e.Path)
			continue
		}
		seen++
		same := func(ts time.Time, want judge.Timespec) bool {
			return ts.Unix() == want.Sec && uint32(ts.Nanosecond()) == want.Nsec
		}
		if e.Ino != k.Ino || uint32(e.Mode) != k.Mode || e.UID != k.UID || e.GID != k.GID || (k.Type == "file" && int64(e.Size) != k.Size) ||
			!same(e.Atime, k.Atime) || !same(e.Mtime, k.Mtime) || !same(e.Ctime, k.Ctime) || (k.HasBtime && !same(e.Crtime, k.Btime)) {
			t.Errorf("%s: timeline %+v, kernel %+v", e.Path, e, k)
		}
	}
	if seen != len(kernel.Entries) {
		t.Errorf("%d live paths in the timeline, the kernel's mount has %d", seen, len(kernel.Entries))
	}
	if deleted < len(tr.Deleted())*9/10 {
		t.Errorf("%d deleted files in the timeline, the truth deleted %d", deleted, len(tr.Deleted()))
	}
	body, _, code := runCLI("timeline", img)
	if code != 0 || len(lines(body)) != len(js) {
		t.Fatalf("timeline: exit %d, %d lines, JSON had %d", code, len(lines(body)), len(js))
	}
	for _, l := range lines(body)[:10] {
		if f := strings.Split(l, "|"); len(f) != 11 || !strings.Contains(f[7], ".") {
			t.Errorf("body line %q: %d fields", l, len(f))
		}
	}
}

// TestDeletedMount: cp -r of the mount's deleted/ is a recovery: every
// deleted regular file the truth has comes back at deleted/files/PATH
// with its true sha256 (at least 95% of them), and manifest.json sits
// beside them; writes are refused.
func TestDeletedMount(t *testing.T) {
	testimg.Require(t, "root", "fuse", "loop", "xfsprogs")
	tr := forensicgt.Cached(t, forensicgt.Spec{})
	mnt := mountTree(t, tr.ImagePath())
	dest := filepath.Join(t.TempDir(), "copy")
	bounded(t, 5*time.Minute, "cp -r deleted", func() {
		if out, err := testimg.RunTimed(t, 5*time.Minute, "cp", "-r", filepath.Join(mnt, "deleted"), dest); err != nil {
			t.Fatalf("cp -r: %v\n%s", err, out)
		}
	})
	b, err := os.ReadFile(filepath.Join(dest, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m forensics.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	sc := tr.Score(&m, dest)
	t.Logf("%s", sc.Report())
	if len(sc.FalseClaims) > 0 || sc.ByteExactPercent() < 95 {
		t.Errorf("deleted/: %d false claims, %.1f%% byte-exact", len(sc.FalseClaims), sc.ByteExactPercent())
	}
	var live *forensicgt.Entry
	for _, e := range tr.Live() {
		if e.Kind == forensicgt.Regular && len(e.Extents) > 0 && live == nil {
			live = e
		}
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "owner", strconv.FormatUint(live.Extents[0].StartBlock, 10))); err != nil || !strings.Contains(string(b), fmt.Sprintf(": inode %d ", live.Ino)) {
		t.Errorf("owner/%d of the mount: %q, %v; %s is inode %d", live.Extents[0].StartBlock, b, err, live.Path, live.Ino)
	}
	if f, err := os.OpenFile(filepath.Join(mnt, "deleted", "manifest.json"), os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Error("deleted/manifest.json opened for writing")
	}
}

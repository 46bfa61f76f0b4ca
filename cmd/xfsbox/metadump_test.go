package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// mdCtl is what ctl says of the last command.
type mdCtl struct {
	OK      bool   `json:"ok"`
	Errno   string `json:"errno"`
	Message string `json:"message"`
}

func readCtl(t *testing.T, mnt string) (mdCtl, string) {
	t.Helper()
	raw := sbxRead(t, filepath.Join(mnt, "ctl"))
	var c mdCtl
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("ctl: %v\n%s", err, raw)
	}
	return c, raw
}

// dataFiles are up to n regular files of the tree mounted at root whose
// first 64 KiB hold a non-zero byte (data written to disk, not a hole or
// an unwritten extent, which read as zeros without a disk read), as
// paths relative to root.
func dataFiles(t *testing.T, root string, n int) []string {
	t.Helper()
	var found []string
	buf := make([]byte, 64<<10)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || len(found) == n {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		k, _ := io.ReadFull(f, buf)
		if slices.ContainsFunc(buf[:k], func(b byte) bool { return b != 0 }) {
			rel, _ := filepath.Rel(root, p)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatalf("no file with data under %s", root)
	}
	return found
}

// TestMetadumpMount: `xfsbox mount MD MNT` of a metadump (xfs_metadump
// -o of the all-features image) mounts it read-only (a repair and a
// create get EROFS); files/ has the kernel's tree of the image the
// metadump was taken of (a loop mount, -o ro,nouuid): every path, its
// type, mode, owners, size, links, st_blocks, times, inode number,
// symlink target, extended attributes and directory entries; reading a
// file's data fails with EIO and the mount's log says why (not in the
// metadump); geometry says what the metadump is. An obfuscated
// metadump's geometry says its names are not the filesystem's.
func TestMetadumpMount(t *testing.T) {
	testimg.Require(t, "root", "fuse", "loop", "xfsprogs")
	img := testimg.Image(t, "allfeatures")
	md := testimg.Metadump(t, img, "-o")
	sum := sha(t, md)
	mnt := startMount(t, md)

	if err := echo(filepath.Join(mnt, "ag/0/repair"), "bnobt force"); !errors.Is(err, syscall.EROFS) {
		t.Errorf("a repair on the metadump's mount: %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "files", "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("creating files/new on the metadump's mount: %v, want EROFS", err)
	}

	kmnt, umount := testimg.LoopMount(t, testimg.Copy(t, "allfeatures"), "ro")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	want, err := judge.SnapshotMetadata(ctx, kmnt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := judge.SnapshotMetadata(ctx, filepath.Join(mnt, "files"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := judge.Diff(want, got, judge.DiffOptions{}); len(diff) > 0 {
		t.Fatalf("the metadump's files/ differs from the kernel's mount of the image:\n%s", strings.Join(diff, "\n"))
	}
	if len(want.Entries) < 100 {
		t.Fatalf("only %d paths in the kernel's tree", len(want.Entries))
	}
	withData := dataFiles(t, kmnt, 5)
	umount()
	for _, f := range withData {
		_, err := os.ReadFile(filepath.Join(mnt, "files", f))
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("reading files/%s from the metadump: %v, want EIO", f, err)
		}
	}
	if log := sbxRead(t, filepath.Join(mnt, "log")); !strings.Contains(log, "not in the metadump") {
		t.Errorf("the mount's log does not say why files/%s cannot be read:\n%s", withData[0], log)
	}
	geo := sbxRead(t, filepath.Join(mnt, "geometry"))
	for _, line := range []string{"metadump = metadump v1, not obfuscated", "contents = metadata only"} {
		if !strings.Contains(geo, line) {
			t.Errorf("geometry has no %q line:\n%s", line, geo)
		}
	}
	if strings.Contains(geo, "names =") {
		t.Errorf("geometry of a metadump taken with -o says its names are obfuscated:\n%s", geo)
	}
	t.Logf("%d paths agree; %d files' data read EIO", len(want.Entries), len(withData))

	obf := testimg.Metadump(t, img)
	omnt := startMount(t, obf)
	geo = sbxRead(t, filepath.Join(omnt, "geometry"))
	for _, line := range []string{"metadump = metadump v1, obfuscated", "names = obfuscated"} {
		if !strings.Contains(geo, line) {
			t.Errorf("geometry of an obfuscated metadump has no %q line:\n%s", line, geo)
		}
	}
	if sha(t, md) != sum {
		t.Error("the mount changed the metadump")
	}
}

// TestMetadumpSandbox: `xfsbox mount --sandbox MD MNT`: a forced rebuild
// of AG 0's bnobt runs in the overlay (ctl ok, the health views clean
// after it, the AGF's view changed); commit is refused with EROFS and a
// reason naming the metadump, in ctl and the log; the metadump file is
// byte for byte what it was, and nothing appears beside it.
func TestMetadumpSandbox(t *testing.T) {
	testimg.Require(t, "root", "fuse", "xfsprogs")
	md := testimg.Metadump(t, testimg.Image(t, "allfeatures"), "-o")
	sum, names := sha(t, md), dirNames(t, filepath.Dir(md))
	mnt, cmd := startMountProc(t, md, "--sandbox")
	agf := sbxRead(t, filepath.Join(mnt, "ag/0/agf"))
	sbxCtl(t, mnt, "ag/0/repair", "bnobt force")
	if c, raw := readCtl(t, mnt); !c.OK {
		t.Fatalf("ctl after the forced rebuild: %s", raw)
	}
	for _, h := range []string{"health", "ag/0/health"} {
		if s := sbxRead(t, filepath.Join(mnt, h)); !strings.Contains(s, "clean") || strings.Contains(s, "corrupt") {
			t.Errorf("%s after the forced rebuild: %s", h, s)
		}
	}
	if sbxRead(t, filepath.Join(mnt, "ag/0/agf")) == agf {
		t.Error("the AGF's view does not show the rebuilt bnobt (a forced rebuild moves its root)")
	}
	if st := sbxRead(t, filepath.Join(mnt, "status")); !strings.Contains(st, "sandbox") {
		t.Errorf("status says nothing of the sandbox: %s", st)
	}
	err := echo(filepath.Join(mnt, "ctl"), "commit")
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("commit on a metadump's sandbox: %v, want EROFS", err)
	}
	if c, raw := readCtl(t, mnt); c.OK || !strings.Contains(c.Message, "metadump") {
		t.Errorf("ctl after the refused commit does not say the metadump is why:\n%s", raw)
	}
	if log := sbxRead(t, filepath.Join(mnt, "log")); !strings.Contains(log, "metadump") {
		t.Errorf("the log does not say why commit was refused:\n%s", log)
	}
	if h := sbxRead(t, filepath.Join(mnt, "ag/0/health")); !strings.Contains(h, "clean") {
		t.Errorf("ag/0/health after the refused commit: %s", h)
	}
	sbxUnmount(t, mnt, cmd)
	sbxUntouched(t, md, sum, names, "after the sandbox")
}

// TestMetadumpRepairOutput: of a damaged image (AG 2's bnobt leaf, a
// record's length changed: xfs_repair -n and xfsbox check both flag it)
// xfs_metadump -o takes a metadump that xfsbox check flags the same way;
// `repair --output NEW MD all` writes NEW, which xfs_repair -n and
// xfsbox check find clean, and leaves MD byte for byte as it was; a
// gzip-compressed MD repairs the same way; `repair MD bnobt` in place
// is refused, naming the metadump and --output, and changes nothing.
func TestMetadumpRepairOutput(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Copy(t, "allfeatures")
	if out, err := exec.Command("xfs_db", "-x", "-c", "agf 2", "-c", "addr bnoroot", "-c", "fuzz -d recs[2].blockcount add", img).CombinedOutput(); err != nil {
		t.Fatalf("fuzz: %v %s", err, out)
	}
	if clean, _ := judge.XfsRepairN(t, img); clean {
		t.Fatal("xfs_repair -n did not see the damage")
	}
	if out, _, code := runCLI("check", img); code != exitCorrupt {
		t.Fatalf("check of the damaged image: exit %d, want %d\n%s", code, exitCorrupt, out)
	}
	md := testimg.Metadump(t, img, "-o")
	sum, names := sha(t, md), dirNames(t, filepath.Dir(md))
	if out, stderr, code := runCLI("check", md); code != exitCorrupt || !strings.Contains(out, "ag 2") {
		t.Fatalf("check of the damaged image's metadump: exit %d, want %d naming AG 2\n%s%s", code, exitCorrupt, out, stderr)
	}

	out, stderr, code := runCLI("repair", md, "bnobt")
	if code == 0 || !strings.Contains(stderr, "metadump") || !strings.Contains(stderr, "--output") {
		t.Errorf("repair in place of a metadump: exit %d, stderr %q; want a refusal naming the metadump and --output", code, stderr)
	}
	if out != "" {
		t.Errorf("the refused repair printed %q", out)
	}
	sbxUntouched(t, md, sum, names, "after the refused repair in place")

	gz := testimg.Compress(t, md, "gzip")
	names = dirNames(t, filepath.Dir(md))
	for _, src := range []string{md, gz} {
		fixed := filepath.Join(t.TempDir(), "fixed.img")
		if out, stderr, code := runCLI("repair", "--output", fixed, src, "all"); code != 0 {
			t.Fatalf("repair --output NEW %s all: exit %d\n%s\n%s", filepath.Base(src), code, out, stderr)
		}
		judge.RequireClean(t, fixed, "the repaired restore of "+filepath.Base(src))
		if out, stderr, code := runCLI("check", fixed); code != 0 || !strings.Contains(out, "clean") {
			t.Errorf("check of the repaired restore of %s: exit %d\n%s%s", filepath.Base(src), code, out, stderr)
		}
	}
	sbxUntouched(t, md, sum, names, "after repair --output")
}

// TestMetadumpBadInput: metadumps broken in ways a real file can be
// (cut in a metablock, cut after a full one, a first block that is not
// the superblock, a compressed file that holds no metadump, an empty
// compressed stream, a compressed metadump cut short) make check and
// dump fail quickly with exit 3 and an error naming the problem; no
// panic, nothing on stdout, the file unchanged.
func TestMetadumpBadInput(t *testing.T) {
	md, err := os.ReadFile(testimg.SmallMetadump(t, "-o"))
	if err != nil {
		t.Fatal(err)
	}
	const metablock = 64 * 512 // a full v1 metablock: its header and 63 blocks
	if len(md) < 2*metablock {
		t.Fatalf("the small image's metadump is only %d bytes", len(md))
	}
	write := inDir(t, t.TempDir())
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	notFirst := slices.Clone(md)
	notFirst[15] = 16 // the first index entry: sector 16, not 0
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rnd := make([]byte, 1<<20)
	for i := range rnd {
		rnd[i] = byte(i*7919 + i>>8*31)
	}
	gzMD := gz(md)
	cases := []struct{ name, path, want string }{
		{"cut in a metablock", write("cut.md", md[:metablock+512*10+100]), "runs past the end of the file"},
		{"cut after a full metablock", write("cutfull.md", md[:metablock]), "cut short"},
		{"first block not the superblock", write("first.md", notFirst), "not the primary superblock"},
		{"gzip of random bytes", write("random.gz", gz(rnd)), "compressed, but not a metadump"},
		{"gzip of a text file", write("text.gz", gz(text)), "compressed, but not a metadump"},
		{"empty gzip", write("empty.gz", gz(nil)), "gzip stream is empty"},
		{"gzip metadump cut short", write("cut.md.gz", gzMD[:len(gzMD)/2]), "the compressed stream is cut short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := sha(t, c.path)
			for _, args := range [][]string{{"check", c.path}, {"dump", c.path, "sb"}} {
				bounded(t, 20*time.Second, strings.Join(args, " "), func() {
					out, stderr, code := runCLI(args...)
					if code != exitRefused || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, c.path) {
						t.Errorf("%v: exit %d, stderr %q; want exit %d naming the file and %q", args, code, stderr, exitRefused, c.want)
					}
					if out != "" || strings.Contains(stderr, "panic") {
						t.Errorf("%v: stdout %q, stderr %q", args, out, stderr)
					}
				})
			}
			if sha(t, c.path) != before {
				t.Errorf("%s changed", c.path)
			}
		})
	}
}

package history

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"golang.org/x/sys/unix"
)

// Ground truth for the log's history: files written on a kernel mount,
// with what the kernel says of each (inode number, generation, size,
// extent map from xfs_io's bmap), some deleted, the filesystem unmounted
// cleanly.

// fsIocGetVersion is FS_IOC_GETVERSION, _IOR('v', 1, long) on 64-bit
// Linux: the inode's generation.
const fsIocGetVersion = 0x80087601

// truthFile is one file as the kernel showed it before the deletions.
type truthFile struct {
	name    string
	kind    string // "file", "dir", "symlink"
	ino     uint64
	gen     uint32
	size    int64
	extents []xfsformat.BmbtRec // from bmap -vp, in filesystem blocks
	deleted bool
	// emptied: truncated to zero while linked, before the deletion.
	emptied bool
}

// mkfsImage makes a sparse image of size bytes in dir with mkfs.xfs and
// the given options (a log under 64 MiB needs mkfs to think it runs under
// fstests).
func mkfsImage(t *testing.T, dir, name string, size int64, opts ...string) string {
	t.Helper()
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := filepath.Join(dir, name)
	testimg.SparseFile(t, img, size)
	mkfs, err := testimg.LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mkfs, append(append([]string{"-q", "-f"}, opts...), img)...)
	cmd.Env = append(os.Environ(), "TEST_DIR=/tmp", "TEST_DEV=/dev/null", "QA_CHECK_FS=xfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs %v: %v\n%s", opts, err, out)
	}
	return img
}

// run runs a command bounded in time and fails the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := testimg.RunTimed(t, 2*time.Minute, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// writer makes the files of a ground truth on a mounted filesystem.
type writer struct {
	t     *testing.T
	mnt   string
	files []*truthFile
}

func (w *writer) add(name, kind string) *truthFile {
	f := &truthFile{name: name, kind: kind}
	w.files = append(w.files, f)
	return f
}

// xfsIO runs xfs_io with commands on a file of the mount.
func (w *writer) xfsIO(name string, flags []string, cmds ...string) {
	w.t.Helper()
	args := append([]string{}, flags...)
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	run(w.t, "xfs_io", append(args, filepath.Join(w.mnt, name))...)
}

// regular writes a file with buffered writes of the given (offset,
// length) pieces, each piece its own xfs_io run when apart.
func (w *writer) regular(name string, pieces ...[2]int64) *truthFile {
	w.t.Helper()
	cmds := []string{}
	for _, p := range pieces {
		cmds = append(cmds, fmt.Sprintf("pwrite -q -S 0x%02x %d %d", len(w.files)&0xff, p[0], p[1]))
	}
	if len(cmds) == 0 {
		cmds = append(cmds, "truncate 0")
	}
	w.xfsIO(name, []string{"-f"}, append(cmds, "fsync")...)
	return w.add(name, "file")
}

// fragmented writes files by direct 4 KiB writes taken in turn, so that
// their extents interleave: n extents each. With sync, each write is
// followed by an fsync.
func (w *writer) fragmented(names []string, n int, sync bool) []*truthFile {
	w.t.Helper()
	files := make([]*os.File, len(names))
	for i, name := range names {
		f, err := os.OpenFile(filepath.Join(w.mnt, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_DIRECT, 0o600)
		if err != nil {
			w.t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		w.t.Fatal(err)
	}
	defer unix.Munmap(buf)
	for i := 0; i < n; i++ {
		for k, f := range files {
			for j := range buf {
				buf[j] = byte(i + j + k)
			}
			if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
				w.t.Fatal(err)
			}
			if !sync {
				continue
			}
			if err := f.Sync(); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	out := make([]*truthFile, len(names))
	for i, name := range names {
		out[i] = w.add(name, "file")
	}
	return out
}

// record fills in every file's inode number, generation, size and
// extent map, after a sync so that the log holds their last state.
func (w *writer) record(g *xfsformat.Geometry) {
	w.t.Helper()
	run(w.t, "sync", "-f", w.mnt)
	for _, f := range w.files {
		p := filepath.Join(w.mnt, f.name)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			w.t.Fatal(err)
		}
		f.ino, f.size = st.Ino, st.Size
		if f.kind != "file" {
			continue
		}
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			w.t.Fatal(err)
		}
		gen, err := unix.IoctlGetInt(fd, fsIocGetVersion)
		unix.Close(fd)
		if err != nil {
			w.t.Fatal(err)
		}
		f.gen = uint32(gen)
		out := run(w.t, "xfs_io", "-r", "-c", "bmap -vp", p)
		if f.extents, err = parseBmap(out, g); err != nil {
			w.t.Fatalf("%s: %v\n%s", f.name, err, out)
		}
	}
}

// bmapLine is one extent of xfs_io's bmap -vp: file range, block range,
// AG, AG range, total, flags (all in 512-byte units but the flags).
var bmapLine = regexp.MustCompile(`^\s*\d+: \[(\d+)\.\.(\d+)\]:\s+(?:hole|(\d+)\.\.(\d+)\s+(\d+) \((\d+)\.\.(\d+)\)\s+\d+\s+(\d+))`)

// parseBmap turns bmap -vp's extents into bmbt records.
func parseBmap(out string, g *xfsformat.Geometry) ([]xfsformat.BmbtRec, error) {
	per := uint64(g.BlockSize / 512)
	var recs []xfsformat.BmbtRec
	for _, line := range strings.Split(out, "\n") {
		m := bmapLine.FindStringSubmatch(line)
		if m == nil || m[3] == "" {
			continue
		}
		num := func(s string) uint64 { v, _ := strconv.ParseUint(s, 10, 64); return v }
		off, end, ag, agoff := num(m[1]), num(m[2]), num(m[5]), num(m[6])
		if off%per != 0 || (end+1)%per != 0 || agoff%per != 0 {
			return nil, fmt.Errorf("extent %q not in whole blocks", line)
		}
		flags, _ := strconv.ParseUint(m[8], 8, 32)
		recs = append(recs, xfsformat.BmbtRec{StartOff: off / per, StartBlock: ag<<g.AGBlkLog | agoff/per,
			BlockCount: uint32((end + 1 - off) / per), Unwritten: flags&0o10000 != 0})
	}
	return recs, nil
}

// groundTruth writes the standard set of files on mnt and records them:
// files of several sizes, one with a hole and a preallocated stretch,
// two of 8 and two of 30 interleaved extents (the latter in btree
// format), an empty one, directories, symlinks (inline and remote), and
// bulk small files of seeded random sizes.
// The files go under sub of the mount point ("" for its root).
func groundTruth(t *testing.T, mnt, sub string, g *xfsformat.Geometry, bulk int) *writer {
	mnt = filepath.Join(mnt, sub)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &writer{t: t, mnt: mnt}
	w.regular("tiny", [2]int64{0, 100})
	w.regular("small", [2]int64{0, 5000})
	w.regular("mid", [2]int64{0, 1 << 20})
	w.regular("sparse", [2]int64{0, 100 << 10}, [2]int64{1 << 20, 8 << 10})
	w.regular("grow", [2]int64{0, 64 << 10})
	run(t, "sync", "-f", mnt)
	w.regular("grow", [2]int64{64 << 10, 64 << 10})
	w.files = w.files[:len(w.files)-1]
	w.fragmented([]string{"frag8a", "frag8b"}, 8, true)
	w.fragmented([]string{"frag30a", "frag30b"}, 30, true)
	w.regular("empty")
	// Truncated to zero, then deleted; truncated and rewritten;
	// preallocated past a zero size.
	w.regular("emptied", [2]int64{0, 64 << 10})
	run(t, "sync", "-f", mnt)
	w.xfsIO("emptied", nil, "truncate 0", "fsync")
	w.files[len(w.files)-1].emptied = true
	w.regular("rewritten", [2]int64{0, 64 << 10})
	run(t, "sync", "-f", mnt)
	w.xfsIO("rewritten", nil, "truncate 0", "fsync", "pwrite -q 0 16k", "fsync")
	w.xfsIO("prealloc", []string{"-f"}, "falloc -k 0 64k", "fsync")
	w.add("prealloc", "file")
	// Files whose truncation at deletion takes many transactions.
	if err := os.Mkdir(filepath.Join(mnt, "dir3"), 0o755); err != nil {
		t.Fatal(err)
	}
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, fmt.Sprintf("dir3/many%02d", i))
	}
	w.fragmented(many, 20, false)
	w.fragmented([]string{"dir3/huge0", "dir3/huge1"}, 3000, false)
	for _, d := range []string{"dir1", "dir2"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
		w.add(d, "dir")
	}
	for _, l := range []struct{ name, target string }{{"lnk", "tiny"}, {"lnklong", strings.Repeat("x/", 300) + "end"}} {
		if err := os.Symlink(l.target, filepath.Join(mnt, l.name)); err != nil {
			t.Fatal(err)
		}
		w.add(l.name, "symlink")
	}
	rng := rand.New(rand.NewPCG(17, 1))
	for i := 0; i < bulk; i++ {
		name := fmt.Sprintf("dir2/bulk%03d", i)
		f, err := os.Create(filepath.Join(mnt, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(make([]byte, 1+rng.IntN(256<<10))); err != nil {
			t.Fatal(err)
		}
		f.Close()
		w.add(name, "file")
	}
	w.record(g)
	return w
}

// remove deletes the files whose names match and marks them deleted.
func (w *writer) remove(match func(f *truthFile) bool) {
	w.t.Helper()
	for _, f := range w.files {
		if !match(f) {
			continue
		}
		if err := os.Remove(filepath.Join(w.mnt, f.name)); err != nil {
			w.t.Fatal(err)
		}
		f.deleted = true
	}
}

// openRO opens an image read-only, closed in t.Cleanup.
func openRO(t *testing.T, img string) *fsys.FS {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

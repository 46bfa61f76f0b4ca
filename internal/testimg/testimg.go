// Package testimg gives tests the XFS images of the test matrix (built by
// testdata/mkimage.sh, the v4 ones by testdata/mkv4.sh, cached by the
// generator's content hash) and the
// small committed fixtures cut from them (testdata/fixtures). It also says
// whether the machine can run a test that needs root, xfsprogs, loop
// devices or FUSE: such a test skips when it cannot, naming what is
// missing, except under CI (CI=true) where that is a failure.
//
// It is a test helper and imports nothing but the standard library. A
// cached image is shared by every test on the machine: never write to the
// path Image returns; take a Copy.
package testimg

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Profiles are the images of the test matrix, in the order tests should run
// them. The bench, benchinodes, files, aged and v4 profiles are not in
// it: Image("bench") and Image("benchinodes") are for benchmarks (they
// take minutes to build), Image("files") for benchmarks and campaigns of
// the files/ tree (the full recipe plus a directory of a million entries
// and a 1 GiB file of about ten thousand extents; minutes to build and
// about 1 GiB in the cache), Image("aged") for comparisons with xfs_repair on a
// filesystem a random workload aged (its trees are not filled past one
// level by recipe) and the V4Profiles for v4 filesystems.
func Profiles() []string {
	return []string{"allfeatures", "defaults", "1k", "4ksector", "oneag", "manyag"}
}

// WildProfiles are the images of the "wild" matrix: filesystems made
// with the options found on users' disks rather than the recipe's
// (older mkfs defaults, sparse inodes off, inode sizes 512 to 2048,
// blocks of 2 and 64 KiB, 64 KiB directory blocks, 4096-byte sectors,
// stripe alignment, large extent counters, small and large logs). Each
// is populated by the same recipe, scaled down where the geometry would
// make it huge, so not every tree is two levels high. make test runs
// WildSample of them, make campaign all.
func WildProfiles() []string {
	return []string{"rhel7", "rhel8", "nosparse", "4knosparse", "isize1k", "isize2k", "2k",
		"64k", "64kisize2k", "dir64k", "stripe", "nrext64", "logsmall", "loglarge"}
}

// WildSample are the wild profiles make test covers: no sparse inodes
// (chunks on cluster boundaries), 64 KiB blocks (two chunks a block) and
// the RHEL 7 defaults. $XFSBOX_WILD_PROFILES ("all", or a
// comma-separated list) replaces them.
func WildSample() []string {
	switch s := os.Getenv("XFSBOX_WILD_PROFILES"); s {
	case "":
		return []string{"nosparse", "64k", "rhel7"}
	case "all":
		return WildProfiles()
	default:
		return strings.Split(s, ",")
	}
}

// V4Profiles are the v4 (crc=0) images: "v4" (4 KiB blocks, ftype=1)
// and "v4-1k" (1 KiB blocks, ftype=0, 4 KiB directory blocks). Built
// by testdata/mkv4.sh from a prototype file, never mounted (kernels
// without v4 support cannot), so building one needs xfsprogs only.
// Each has a file, directory, symlink and attribute fork of every
// format mkfs -p and xfs_db can make (the script's header says where)
// and an AG 0 inobt two levels high; .sha256 holds the hashes of the
// sources mkfs copied the files from.
func V4Profiles() []string {
	return []string{"v4", "v4-1k"}
}

// FixtureProfiles are the profiles with a committed fixture tarball.
func FixtureProfiles() []string {
	return []string{"allfeatures", "defaults", "1k", "4ksector"}
}

func knownProfile(p string) bool {
	for _, q := range append(Profiles(), WildProfiles()...) {
		if p == q {
			return true
		}
	}
	return p == "bench" || p == "benchinodes" || p == "files" || p == "aged" || p == "parent" || isV4(p) || isScale(p)
}

func isV4(p string) bool { return p == "v4" || p == "v4-1k" }

// ScaleProfiles are the images of make bench's scale rows, built by
// testdata/mkscale.sh (minutes each; only for benchmarks).
func ScaleProfiles() []string { return []string{"bench1m", "bench4m", "scale16ag", "sparse4t"} }

func isScale(p string) bool { return slices.Contains(ScaleProfiles(), p) }

// Require skips the test unless everything named is available: "root"
// (effective uid 0), "xfsprogs" (mkfs.xfs, xfs_db, xfs_repair, xfs_io,
// xfs_logprint), "loop" (loop devices usable: /dev/loop-control and
// losetup) and "fuse" (/dev/fuse and fusermount3 or fusermount). Under
// CI=true it fails instead of skipping.
func Require(t testing.TB, what ...string) {
	t.Helper()
	var missing []string
	for _, w := range what {
		if why := check(w); why != "" {
			missing = append(missing, why)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, "; ")
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing requirement is a failure, not a skip)", msg)
		return
	}
	t.Skip(msg)
}

// check returns "" when what is available, else why not.
func check(what string) string {
	switch what {
	case "root":
		if uid := os.Geteuid(); uid != 0 {
			return fmt.Sprintf("root (running as uid %d)", uid)
		}
	case "xfsprogs":
		var miss []string
		for _, tool := range []string{"mkfs.xfs", "xfs_db", "xfs_repair", "xfs_io", "xfs_logprint"} {
			if _, err := LookTool(tool); err != nil {
				miss = append(miss, tool)
			}
		}
		if len(miss) > 0 {
			return "xfsprogs (" + strings.Join(miss, ", ") + " not found)"
		}
	case "loop":
		if _, err := LookTool("losetup"); err != nil {
			return "loop devices (losetup not found)"
		}
		f, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
		if err != nil {
			return fmt.Sprintf("loop devices (%v)", err)
		}
		f.Close()
	case "fuse":
		f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
		if err != nil {
			return fmt.Sprintf("FUSE (%v)", err)
		}
		f.Close()
		if _, err := LookTool("fusermount3"); err != nil {
			if _, err := LookTool("fusermount"); err != nil {
				return "FUSE (fusermount3/fusermount not found)"
			}
		}
	default:
		return fmt.Sprintf("unknown requirement %q (testimg.Require knows root, xfsprogs, loop, fuse)", what)
	}
	return ""
}

// LookTool finds a program in PATH or, failing that, in the sbin
// directories where xfsprogs and util-linux install (a non-root PATH often
// lacks them).
func LookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// RepoRoot is the directory holding go.mod, found by walking up from the
// working directory (a test runs in its package's directory), else from
// this source file.
func RepoRoot() (string, error) {
	return repoRoot()
}

var repoRoot = sync.OnceValues(func() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/xfsbox/xfsbox") {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("testimg: repository root (go.mod of github.com/xfsbox/xfsbox) not found")
})

// CacheDir is $XFSBOX_IMAGE_CACHE, or else testdata/cache/ in the
// repository (git-ignored).
func CacheDir() (string, error) {
	if d := os.Getenv("XFSBOX_IMAGE_CACHE"); d != "" {
		return d, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "cache"), nil
}

// generator is the script that builds profile, and its content (which
// the cache key covers): testdata/mkv4.sh for the V4Profiles,
// testdata/mkscale.sh for the ScaleProfiles (its content followed by
// mkimage.sh's, which it calls for some), testdata/mkimage.sh for the
// others. Each key covers its own script only, so editing mkv4.sh or
// mkscale.sh leaves mkimage.sh's images cached.
func generator(profile string) (path string, content []byte, err error) {
	root, err := repoRoot()
	if err != nil {
		return "", nil, err
	}
	script := "mkimage.sh"
	switch {
	case isV4(profile):
		script = "mkv4.sh"
	case isScale(profile):
		script = "mkscale.sh"
	}
	path = filepath.Join(root, "testdata", script)
	if content, err = os.ReadFile(path); err != nil || !isScale(profile) {
		return path, content, err
	}
	mk, err := os.ReadFile(filepath.Join(root, "testdata", "mkimage.sh"))
	return path, append(content, mk...), err
}

// cacheName is "<profile>-<first 16 hex digits of sha256(script, profile)>".
func cacheName(script []byte, profile string) string {
	h := sha256.New()
	h.Write(script)
	h.Write([]byte{0})
	h.Write([]byte(profile))
	return profile + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Image returns the path of the cached image of profile (one of Profiles,
// WildProfiles, V4Profiles, ScaleProfiles, "bench", "benchinodes",
// "files" or "aged"), building it first if needed. The path is shared: read it, never write
// it (use Copy). Its file hashes are in path+".sha256".
//
// Building needs root, xfsprogs and loop devices (Require; a v4 image
// xfsprogs only); a cached image needs only xfsprogs, to be of any use. Builds are serialised per image
// with flock on a lock file beside it, so parallel test binaries build an
// image once; the generator writes to a temporary file and renames.
func Image(t testing.TB, profile string) string {
	t.Helper()
	Require(t, "xfsprogs")
	if !knownProfile(profile) {
		t.Fatalf("testimg: unknown profile %q (have %v, %v, %v, bench, benchinodes, files, aged)", profile, Profiles(), WildProfiles(), V4Profiles())
	}
	script, content, err := generator(profile)
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	dir, err := CacheDir()
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	name := cacheName(content, profile)
	img := filepath.Join(dir, name+".img")
	if !ready(img) {
		build(t, script, profile, dir, name)
	}
	HoldCache(t, dir, name)
	return img
}

// build runs the generator for profile into dir/name.img under the
// image's exclusive lock, unless another process built it meanwhile.
func build(t testing.TB, script, profile, dir, name string) {
	t.Helper()
	img := filepath.Join(dir, name+".img")
	if isV4(profile) {
		Require(t, "xfsprogs") // mkfs.xfs -p: no mount
	} else {
		Require(t, "root", "xfsprogs", "loop")
	}
	unlock, err := CacheLock(dir, name)
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	defer unlock()
	if ready(img) { // built by someone else while we waited
		return
	}
	start := time.Now()
	cmd := exec.Command("bash", script, profile, img)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testimg: %s %s %s: %v\n%s", script, profile, img, err, out)
	}
	if !ready(img) {
		t.Fatalf("testimg: %s did not produce %s and its .sha256\n%s", script, img, out)
	}
	os.Chmod(img, 0o444) // read-only by convention (root ignores it)
	t.Logf("testimg: built %s image in %v: %s", profile, time.Since(start).Round(time.Millisecond), img)
	RemoveStale(dir, profile, name)
}

// CacheLock takes the exclusive lock under which the cache entry name of
// dir (its files dir/name.*) is built, making dir if needed; unlock
// releases it. Image builds its images under the same lock, so that
// parallel test binaries build an entry once.
func CacheLock(dir, name string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(lock, syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	return func() {
		syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
		lock.Close()
	}, nil
}

// held keeps, for the life of the process, a shared lock on the lock file
// of every image Image returned, so that a test binary built from another
// version of the generator (RemoveStale) cannot delete an image this one
// still copies from (a campaign restores its image for every case).
var held sync.Map // lock file path -> *os.File

// HoldCache takes, for the life of the process, a shared lock on the
// cache entry name of dir, as Image does for the images it returns, so
// that RemoveStale in another process leaves the entry alone.
func HoldCache(t testing.TB, dir, name string) {
	t.Helper()
	path := filepath.Join(dir, name+".lock")
	if _, ok := held.Load(path); ok {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	if err := flock(f, syscall.LOCK_SH); err != nil {
		f.Close()
		t.Fatalf("testimg: locking %s: %v", path, err)
	}
	if _, loaded := held.LoadOrStore(path, f); loaded {
		f.Close()
	}
}

func ready(img string) bool {
	if st, err := os.Stat(img + ".sha256"); err != nil || !st.Mode().IsRegular() {
		return false
	}
	st, err := os.Stat(img)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// RemoveStale deletes the cache entries of dir named profile-HASH other
// than keep (images of this profile built by other versions of the
// generator: a different hash), every file dir/ENTRY.* of each, when no
// one holds their lock (a process that uses one holds it shared:
// HoldCache).
func RemoveStale(dir, profile, keep string) {
	locks, _ := filepath.Glob(filepath.Join(dir, profile+"-*.lock"))
	for _, l := range locks {
		name := strings.TrimSuffix(filepath.Base(l), ".lock")
		if name == keep || len(name) != len(keep) {
			continue
		}
		f, err := os.OpenFile(l, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			files, _ := filepath.Glob(filepath.Join(dir, name) + ".*")
			for _, p := range files {
				if p != l {
					os.Remove(p)
				}
			}
			os.Remove(l)
		}
		f.Close()
	}
}

// Copy returns a fresh, writable copy of profile's image in t.TempDir(),
// copied sparse (and reflinked where the filesystem can), with its
// .sha256 beside it.
func Copy(t testing.TB, profile string) string {
	t.Helper()
	src := Image(t, profile)
	dst := filepath.Join(t.TempDir(), profile+".img")
	out, err := exec.Command("cp", "--sparse=always", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		t.Fatalf("testimg: copying %s: %v\n%s", src, err, out)
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(src + ".sha256"); err == nil {
		os.WriteFile(dst+".sha256", b, 0o644)
	}
	return dst
}

// Hashes returns path -> sha256 (hex) of every regular file of profile's
// image, as computed while it was mounted; paths are relative to the
// filesystem root, without a leading "./" ("ag0/hello.txt").
func Hashes(t testing.TB, profile string) map[string]string {
	t.Helper()
	img := Image(t, profile)
	m, err := ReadHashes(img + ".sha256")
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	return m
}

// ReadHashes parses a sha256sum file.
func ReadHashes(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := make(map[string]string)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		if !ok || len(sum) != 64 || len(name) < 2 || (name[0] != ' ' && name[0] != '*') {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line: %q", path, n, line)
		}
		m[name[1:]] = sum
	}
	return m, sc.Err()
}

// Fixture extracts testdata/fixtures/<profile>.tar.gz into t.TempDir() and
// returns that directory. It needs no root. Layout: geometry.txt (xfs_db
// sb 0 print); agN/{sb,agf,agi,agfl}.bin, one sector each, for AG 0 and
// AG 1, with agN/<name>.txt beside each (xfs_db print); ag0/<type>/<agbno>.bin,
// one filesystem block of AG 0's btree <type> (bnobt, cntbt, inobt,
// finobt, rmapbt, refcntbt), with <agbno>.txt beside it; README.txt says
// which blocks were kept.
func Fixture(t testing.TB, profile string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	tarball := filepath.Join(root, "testdata", "fixtures", profile+".tar.gz")
	dir := t.TempDir()
	if err := extract(tarball, dir); err != nil {
		t.Fatalf("testimg: fixture %s: %v", profile, err)
	}
	return dir
}

func extract(tarball, dir string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("unsafe path %q in archive", h.Name)
		}
		dst := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, io.LimitReader(tr, h.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			// Fixtures hold only files and directories.
		}
	}
}

// SmallImage is testdata/fixtures/small.img.gz (made by
// testdata/mksmall.sh) uncompressed into memory: a whole 32 MiB XFS
// image with every v5 metadata feature, two AGs and a few files, for
// tests that need no root, xfsprogs or image file.
func SmallImage(t testing.TB) []byte {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	f, err := os.Open(filepath.Join(root, "testdata", "fixtures", "small.img.gz"))
	if err != nil {
		t.Fatalf("testimg: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("testimg: small image: %v", err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		t.Fatalf("testimg: small image: %v", err)
	}
	return b
}

// FileSum is the sha256 of the file at p (an image, before and after
// something that must not change it).
func FileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// RunTimed runs a command with a time bound and returns its combined output.
func RunTimed(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if p, err := LookTool(name); err == nil {
		name = p
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// LoopMount loop-mounts img with the given options and returns the mount
// point and a function that unmounts it (at most once; also registered
// with t.Cleanup).
func LoopMount(t testing.TB, img, opts string) (mnt string, umount func()) {
	t.Helper()
	mnt = t.TempDir()
	// nouuid: copies of one test image share a uuid, and other tests
	// may have one mounted at the same time.
	if out, err := RunTimed(t, time.Minute, "mount", "-o", opts+",nouuid", img, mnt); err != nil {
		t.Fatalf("mount -o %s %s: %v\n%s", opts, img, err, out)
	}
	done := false
	umount = func() {
		if done {
			return
		}
		done = true
		if out, err := RunTimed(t, time.Minute, "umount", mnt); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	}
	t.Cleanup(umount)
	return mnt, umount
}

package judge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// Timespec is a timestamp as the kernel gives it.
type Timespec struct {
	Sec  int64
	Nsec uint32
}

func (ts Timespec) String() string {
	return time.Unix(ts.Sec, int64(ts.Nsec)).UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// Entry is what the kernel says of one path of a mounted tree: statx
// (without following a symlink), the symlink's target, every extended
// attribute, the content's sha256 and a directory's entry names.
type Entry struct {
	Path  string // "/" for the root, "/a/b" below it
	Ino   uint64
	Type  string // file, dir, symlink, chardev, blockdev, fifo, socket
	Mode  uint32 // st_mode: type and permission bits
	UID   uint32
	GID   uint32
	Size  int64
	Nlink uint32
	// Blocks is st_blocks (512-byte units allocated).
	Blocks uint64
	Atime  Timespec
	Mtime  Timespec
	Ctime  Timespec
	// Btime is the birth time; HasBtime says whether statx returned one.
	Btime    Timespec
	HasBtime bool
	// RdevMajor and RdevMinor are a device node's numbers.
	RdevMajor uint32
	RdevMinor uint32
	Target    string            // symlink target
	Xattrs    map[string][]byte // every name llistxattr lists, with its value
	SHA256    string            // regular files: hex sha256 of the content
	Names     []string          // directories: entry names, sorted, without . and ..
}

// Tree is a snapshot of every entry reachable from a root, by path.
type Tree struct {
	Root    string
	Entries map[string]*Entry
}

// Paths are the tree's paths, sorted.
func (t *Tree) Paths() []string {
	ps := make([]string, 0, len(t.Entries))
	for p := range t.Entries {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Snapshot walks the tree mounted at root and records every entry
// reachable from it (symlinks are not followed). A hard-linked file is
// read once.
func Snapshot(root string) (*Tree, error) {
	return SnapshotContext(context.Background(), root)
}

// SnapshotContext is Snapshot that gives up with ctx's error once ctx is
// done (checked between entries and while reading a file).
func SnapshotContext(ctx context.Context, root string) (*Tree, error) {
	return snapshot(ctx, root, true)
}

// SnapshotMetadata is SnapshotContext without the contents: no regular
// file is read (SHA256 stays empty), for a tree whose files' data is
// not there to read (a metadump's).
func SnapshotMetadata(ctx context.Context, root string) (*Tree, error) {
	return snapshot(ctx, root, false)
}

func snapshot(ctx context.Context, root string, contents bool) (*Tree, error) {
	w := &walker{ctx: ctx, root: root, contents: contents, sums: make(map[uint64]string), tree: &Tree{Root: root, Entries: make(map[string]*Entry)}}
	if err := w.walk("/"); err != nil {
		return nil, err
	}
	return w.tree, nil
}

type walker struct {
	ctx      context.Context
	root     string
	contents bool              // hash regular files
	sums     map[uint64]string // inode -> content sha256 (hard links are read once)
	buf      []byte            // read buffer, shared by every file
	tree     *Tree
}

func (w *walker) walk(rel string) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("snapshot of %s stopped at %s: %w", w.root, rel, err)
	}
	e, err := w.entry(rel)
	if err != nil {
		return err
	}
	w.tree.Entries[rel] = e
	for _, name := range e.Names {
		if err := w.walk(path.Join(rel, name)); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) entry(rel string) (*Entry, error) {
	full := filepath.Join(w.root, filepath.FromSlash(rel))
	var st unix.Statx_t
	mask := unix.STATX_BASIC_STATS | unix.STATX_BTIME
	if err := unix.Statx(unix.AT_FDCWD, full, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, mask, &st); err != nil {
		return nil, fmt.Errorf("statx %s: %w", full, err)
	}
	e := &Entry{
		Path: rel, Ino: st.Ino, Mode: uint32(st.Mode), UID: st.Uid, GID: st.Gid,
		Size: int64(st.Size), Nlink: st.Nlink, Blocks: st.Blocks,
		Atime: ts(st.Atime), Mtime: ts(st.Mtime), Ctime: ts(st.Ctime),
		RdevMajor: st.Rdev_major, RdevMinor: st.Rdev_minor,
	}
	if st.Mask&unix.STATX_BTIME != 0 {
		e.Btime, e.HasBtime = ts(st.Btime), true
	}
	e.Type = fileType(uint32(st.Mode))
	var err error
	if e.Xattrs, err = xattrs(full); err != nil {
		return nil, err
	}
	switch e.Type {
	case "symlink":
		if e.Target, err = os.Readlink(full); err != nil {
			return nil, err
		}
	case "dir":
		if e.Names, err = dirNames(full); err != nil {
			return nil, err
		}
	case "file":
		if !w.contents {
			break
		}
		sum, ok := w.sums[e.Ino]
		if !ok || e.Nlink < 2 {
			if sum, err = w.hash(full); err != nil {
				return nil, err
			}
			if e.Nlink > 1 {
				w.sums[e.Ino] = sum
			}
		}
		e.SHA256 = sum
	}
	return e, nil
}

func ts(t unix.StatxTimestamp) Timespec { return Timespec{Sec: t.Sec, Nsec: t.Nsec} }

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "file"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFCHR:
		return "chardev"
	case unix.S_IFBLK:
		return "blockdev"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("type%#o", mode&unix.S_IFMT)
}

// hash reads a regular file (O_NOFOLLOW: a path that became a symlink is
// an error, not a detour) in pieces, so that ctx can stop a long read.
func (w *walker) hash(full string) (string, error) {
	f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if w.buf == nil {
		w.buf = make([]byte, 1<<20)
	}
	buf := w.buf
	for {
		if err := w.ctx.Err(); err != nil {
			return "", fmt.Errorf("reading %s: %w", full, err)
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

func dirNames(full string) ([]string, error) {
	d, err := os.Open(full)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("readdir %s: %w", full, err)
	}
	slices.Sort(names)
	return names, nil
}

// xattrsTooMany stands for the names of a file whose list is too long
// for llistxattr (E2BIG).
const xattrsTooMany = "(llistxattr: E2BIG)"

// xattrs reads every extended attribute of full without following a
// symlink, retrying when one grows between the size query and the read.
func xattrs(full string) (map[string][]byte, error) {
	list, err := sized(func(b []byte) (int, error) { return unix.Llistxattr(full, b) })
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if errors.Is(err, unix.E2BIG) {
		// More names than one list may hold (XATTR_LIST_MAX, 64 KiB):
		// the kernel cannot list them, so neither side of a comparison
		// can; say so the same way on both.
		return map[string][]byte{xattrsTooMany: nil}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", full, err)
	}
	var m map[string][]byte
	for name := range bytes.SplitSeq(list, []byte{0}) {
		if len(name) == 0 {
			continue
		}
		v, err := sized(func(b []byte) (int, error) { return unix.Lgetxattr(full, string(name), b) })
		if err != nil {
			return nil, fmt.Errorf("lgetxattr %s %s: %w", full, name, err)
		}
		if m == nil {
			m = make(map[string][]byte)
		}
		m[string(name)] = v
	}
	return m, nil
}

// sized calls get with a nil buffer for the size, then with a buffer of
// that size; ERANGE (the value grew meanwhile) starts over, a few times.
func sized(get func([]byte) (int, error)) ([]byte, error) {
	for try := 0; ; try++ {
		n, err := get(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		b := make([]byte, n)
		n, err = get(b)
		if errors.Is(err, unix.ERANGE) && try < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return b[:n], nil
	}
}

// DiffOptions say what Diff leaves out.
type DiffOptions struct {
	// IgnoreAtime: access times (reading through FUSE may change them).
	IgnoreAtime bool
	// IgnoreIno: inode numbers. Hard links are still compared: paths
	// that share an inode on one side must share one on the other.
	IgnoreIno bool
	// IgnoreBlocks: st_blocks.
	IgnoreBlocks bool
	// IgnoreBtime: birth times (a FUSE kernel or library without statx
	// support gives none).
	IgnoreBtime bool
	// Limit is the most differences returned, followed by a line that
	// says how many more there were: 0 means 200, negative means all.
	Limit int
}

// Diff lists, one readable line each, how tree b differs from tree a:
// paths only in one, and every field, xattr, content hash, symlink
// target and directory entry name that differs. Empty means the same.
func Diff(a, b *Tree, opts DiffOptions) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, p := range a.Paths() {
		ea := a.Entries[p]
		eb, ok := b.Entries[p]
		if !ok {
			add("%s: only in a (%s)", p, ea.Type)
			continue
		}
		diffEntry(ea, eb, opts, add)
	}
	for _, p := range b.Paths() {
		if _, ok := a.Entries[p]; !ok {
			add("%s: only in b (%s)", p, b.Entries[p].Type)
		}
	}
	if opts.IgnoreIno {
		diffLinks(a, b, add)
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 200
	}
	if limit > 0 && len(out) > limit {
		more := len(out) - limit
		out = append(out[:limit], fmt.Sprintf("... and %d more differences", more))
	}
	return out
}

func diffEntry(a, b *Entry, opts DiffOptions, add func(string, ...any)) {
	p := a.Path
	field := func(name string, x, y any) {
		if x != y {
			add("%s: %s %v vs %v", p, name, x, y)
		}
	}
	field("type", a.Type, b.Type)
	if !opts.IgnoreIno {
		field("ino", a.Ino, b.Ino)
	}
	field("mode", fmt.Sprintf("%#o", a.Mode), fmt.Sprintf("%#o", b.Mode))
	field("uid", a.UID, b.UID)
	field("gid", a.GID, b.GID)
	field("size", a.Size, b.Size)
	field("nlink", a.Nlink, b.Nlink)
	if !opts.IgnoreBlocks {
		field("blocks", a.Blocks, b.Blocks)
	}
	if !opts.IgnoreAtime {
		field("atime", a.Atime, b.Atime)
	}
	field("mtime", a.Mtime, b.Mtime)
	field("ctime", a.Ctime, b.Ctime)
	if !opts.IgnoreBtime {
		field("btime", btime(a), btime(b))
	}
	field("rdev", fmt.Sprintf("%d:%d", a.RdevMajor, a.RdevMinor), fmt.Sprintf("%d:%d", b.RdevMajor, b.RdevMinor))
	field("symlink target", strconv.Quote(a.Target), strconv.Quote(b.Target))
	field("sha256", a.SHA256, b.SHA256)
	for _, name := range sortedKeys(a.Xattrs) {
		vb, ok := b.Xattrs[name]
		switch {
		case !ok:
			add("%s: xattr %s only in a", p, name)
		case !bytes.Equal(a.Xattrs[name], vb):
			add("%s: xattr %s = %s vs %s", p, name, showValue(a.Xattrs[name]), showValue(vb))
		}
	}
	for _, name := range sortedKeys(b.Xattrs) {
		if _, ok := a.Xattrs[name]; !ok {
			add("%s: xattr %s only in b", p, name)
		}
	}
	if onlyA, onlyB := setDiff(a.Names, b.Names); len(onlyA)+len(onlyB) > 0 {
		add("%s: %d names only in a %s, %d only in b %s", p, len(onlyA), few(onlyA), len(onlyB), few(onlyB))
	}
}

func btime(e *Entry) string {
	if !e.HasBtime {
		return "none"
	}
	return e.Btime.String()
}

// diffLinks compares the hard-link groups: for every path, the other
// paths with the same inode number, on each side.
func diffLinks(a, b *Tree, add func(string, ...any)) {
	ga, gb := linkGroups(a), linkGroups(b)
	for _, p := range a.Paths() {
		if _, ok := b.Entries[p]; !ok {
			continue
		}
		x, y := ga[p], gb[p]
		if !slices.Equal(x, y) {
			add("%s: hard links %v vs %v", p, x, y)
		}
	}
}

// linkGroups maps each non-directory path to the sorted paths sharing
// its inode (itself included).
func linkGroups(t *Tree) map[string][]string {
	byIno := make(map[uint64][]string)
	for p, e := range t.Entries {
		if e.Type != "dir" {
			byIno[e.Ino] = append(byIno[e.Ino], p)
		}
	}
	m := make(map[string][]string, len(t.Entries))
	for _, ps := range byIno {
		slices.Sort(ps)
		for _, p := range ps {
			m[p] = ps
		}
	}
	return m
}

func sortedKeys(m map[string][]byte) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// setDiff returns the names only in a and only in b (both sorted).
func setDiff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

// few shows at most five names.
func few(names []string) string {
	if len(names) > 5 {
		return fmt.Sprintf("%q...", names[:5])
	}
	return fmt.Sprintf("%q", names)
}

// showValue is an xattr value, quoted when it is text, else hex; long
// values are cut, with their length.
func showValue(v []byte) string {
	const max = 32
	s := v
	if len(s) > max {
		s = s[:max]
	}
	text := true
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			text = false
			break
		}
	}
	out := "0x" + hex.EncodeToString(s)
	if text {
		out = strconv.Quote(string(s))
	}
	if len(v) > max {
		out += fmt.Sprintf("... (%d bytes)", len(v))
	}
	return out
}

// KernelTree is the kernel's view of img: a copy loop-mounted read-only
// (-o ro,nouuid), snapshotted and unmounted (in t.Cleanup too, should the
// test stop first). The snapshot is bounded by 10 minutes, the mount and
// the unmount by one each.
func KernelTree(t testing.TB, img string) *Tree {
	t.Helper()
	mnt, umount := kernelMount(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tree, err := SnapshotContext(ctx, mnt)
	umount()
	if err != nil {
		t.Fatalf("kernel tree of %s: %v", img, err)
	}
	return tree
}

// kernelMount loop-mounts a copy of img read-only (-o ro,nouuid): the
// image stays as it was whatever the kernel does at mount.
func kernelMount(t testing.TB, img string) (mnt string, umount func()) {
	t.Helper()
	testimg.Require(t, "root", "loop")
	cp := filepath.Join(t.TempDir(), filepath.Base(img))
	if out, err := exec.Command("cp", "--sparse=always", "--reflink=auto", img, cp).CombinedOutput(); err != nil {
		t.Fatalf("copying %s: %v\n%s", img, err, out)
	}
	return testimg.LoopMount(t, cp, "ro")
}

// Describe is one entry in a line, for logs: type, mode, owner, size,
// links and, where there is one, the target, the hash or the number of
// names and xattrs.
func (e *Entry) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s ino %d mode %#o %d:%d size %d nlink %d", e.Path, e.Type, e.Ino, e.Mode, e.UID, e.GID, e.Size, e.Nlink)
	switch {
	case e.Type == "symlink":
		fmt.Fprintf(&b, " -> %q", e.Target)
	case e.Type == "file":
		fmt.Fprintf(&b, " sha256 %.16s", e.SHA256)
	case e.Type == "dir":
		fmt.Fprintf(&b, " %d names", len(e.Names))
	}
	if len(e.Xattrs) > 0 {
		fmt.Fprintf(&b, " %d xattrs", len(e.Xattrs))
	}
	return b.String()
}

package campaign_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/campaign"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// readDeadline is how long reading everything of one damaged object may
// take before the test calls it a hang (a sound read takes milliseconds).
const readDeadline = 30 * time.Second

// TestReadLayerDamage corrupts, one field at a time with xfs_db's fuzz
// verbs (the campaign's way), an object of every format above the AG
// (inode cores of each kind, every directory and attribute block
// format, a remote value, bmbt blocks, a remote symlink), and reads
// everything of it through the read layer and the inodes/ views: the
// inode, its entries and lookups, its data, link target, attributes and
// paths, and the tree around it. Errors are expected; a panic, or a read
// that does not end, fails the test. A sample of each object and verb
// here; every case in `make campaign` (TestReadLayerDamageFull).
func TestReadLayerDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("the damage sample takes a minute (not in -short)")
	}
	testimg.Require(t, "xfsprogs")
	for _, prof := range []string{"allfeatures", "1k"} {
		t.Run(prof, func(t *testing.T) {
			readLayerDamage(t, prof, func(cases []campaign.Case) []campaign.Case {
				return campaign.Sample(cases, 1, sampleSeed)
			})
		})
	}
}

func readLayerDamage(t *testing.T, prof string, pick func([]campaign.Case) []campaign.Case) {
	img := testimg.Copy(t, prof)
	ctx := context.Background()
	plan, err := campaign.EnumerateFiles(ctx, img, prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Notes) > 0 {
		t.Fatalf("objects missing from the image: %v", plan.Notes)
	}
	// Each object's inode, by number, before any damage.
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inos := map[string]uint64{}
	for _, o := range plan.Objects {
		p := strings.TrimPrefix(o.Nav[0], "path ")
		in, err := fs.Resolve(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		inos[o.Name] = in.Ino
	}
	fs.Close()

	// The judge reads without an error what is sound: else a damaged
	// case that fails early would pass by reading nothing.
	for _, o := range plan.Objects {
		if n, bad := readEverything(img, inos[o.Name], strings.TrimPrefix(o.Nav[0], "path ")); n != 0 || bad != "" {
			t.Fatalf("%s, undamaged: %d reads failed %s", o.Name, n, bad)
		}
	}
	cases := pick(plan.Cases)
	t.Logf("%d objects, %d cases in all, running %d", len(plan.Objects), len(plan.Cases), len(cases))
	var failed, readErrs, rejected int
	for _, c := range cases {
		restore, _, err := campaign.Apply(ctx, img, c)
		if errors.Is(err, campaign.ErrRejected) {
			rejected++
		} else if err != nil {
			t.Fatalf("%s: %v", c, err)
		} else {
			n, bad := readEverything(img, inos[c.Object], strings.TrimPrefix(c.Nav[0], "path "))
			readErrs += n
			if bad != "" {
				failed++
				t.Errorf("%s: %s\n  reproduce: %s", c, bad, c.Command("IMAGE"))
			}
		}
		if restore != nil {
			if err := restore(); err != nil {
				t.Fatalf("%s: restore: %v", c, err)
			}
		}
		if failed >= 10 {
			t.Fatal("stopping after 10 failures")
		}
	}
	t.Logf("%d cases: %d reads ended in an error (as they may), %d refused by xfs_db, %d panics or hangs",
		len(cases), readErrs, rejected, failed)
}

// readEverything reads, on a fresh open of img, everything of inode ino
// (found at path p before the damage) and of the tree from p's parent,
// in a goroutine bounded by readDeadline. It returns how many reads
// ended in an error, and what went wrong if one panicked or hung.
func readEverything(img string, ino uint64, p string) (errs int, bad string) {
	type result struct {
		errs  int
		panic string
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), readDeadline)
	defer cancel()
	go func() {
		var r result
		defer func() {
			if v := recover(); v != nil {
				r.panic = fmt.Sprintf("panic: %v\n%s", v, debug.Stack())
			}
			done <- r
		}()
		fs, err := fsys.Open(img, fsys.OpenOptions{})
		if err != nil {
			r.errs++
			return
		}
		defer fs.Close()
		rd := &reader{ctx: ctx, fs: fs}
		rd.inode(ino, 0)
		rd.path(p)
		rd.path(path.Dir(p))
		tree := view.NewTree(fs)
		base := fmt.Sprintf("inodes/%d", ino)
		if names, err := tree.List(ctx, base); err == nil {
			for _, e := range names {
				rd.view(tree, base+"/"+e.Name, e.Dir)
			}
		} else {
			rd.errs++
		}
		r.errs = rd.errs
	}()
	select {
	case r := <-done:
		return r.errs, r.panic
	case <-time.After(readDeadline + 5*time.Second):
		return 0, fmt.Sprintf("reading inode %d did not end in %v (a hang)", ino, readDeadline)
	}
}

// reader reads what the mount and the CLI would, counting errors.
type reader struct {
	ctx  context.Context
	fs   *fsys.FS
	errs int
}

func (r *reader) err(err error) bool {
	if err != nil {
		r.errs++
		return true
	}
	return r.ctx.Err() != nil
}

// maxRead bounds the data read of one file (a fuzzed size can say
// exabytes): the start, the middle and the end are read.
const maxRead = 1 << 20

// inode reads inode ino whole: its data, target, entries (and each
// entry's inode, one level down), attributes and paths.
func (r *reader) inode(ino uint64, depth int) {
	if _, err := r.fs.ReadInode(ino); r.err(err) {
		return
	}
	in, err := r.fs.Inode(ino)
	if r.err(err) {
		return
	}
	buf := make([]byte, maxRead)
	for _, off := range []uint64{0, in.Size / 2, max(in.Size, maxRead) - maxRead} {
		if _, err := r.fs.ReadFileAt(in, buf, int64(min(off, 1<<62))); err != nil && err != io.EOF && !errors.Is(err, fsys.ErrNotRegular) {
			r.errs++
		}
	}
	if in.FileType() == 0o120000 {
		_, err := r.fs.Readlink(in)
		r.err(err)
	}
	r.err(r.fs.Xattrs(in, true, func(x fsys.Xattr) error {
		_, err := r.fs.Xattr(in, x.Name)
		r.err(err)
		return r.ctx.Err()
	}))
	_, err = r.fs.Paths(r.ctx, ino)
	r.err(err)
	if in.FileType() != 0o040000 {
		return
	}
	var names [][]byte
	var children []uint64
	r.err(r.fs.ReadDir(in, 0, func(e dir.Entry) error {
		if len(names) < 64 {
			names = append(names, append([]byte(nil), e.Name...))
			children = append(children, e.Ino)
		}
		return r.ctx.Err()
	}))
	for _, n := range names {
		_, err := r.fs.Lookup(in, n)
		r.err(err)
	}
	if _, err := r.fs.Lookup(in, []byte("no-such-name")); !errors.Is(err, fsys.ErrNoEntry) {
		r.errs++
	}
	if depth == 0 {
		for _, c := range children {
			r.inode(c, depth+1)
		}
	}
}

// path resolves p and reads what it names.
func (r *reader) path(p string) {
	in, err := r.fs.Resolve(p)
	if r.err(err) {
		return
	}
	r.inode(in.Ino, 0)
}

// view renders a view of inodes/ (and one level of its directories).
func (r *reader) view(tree *view.Tree, p string, isDir bool) {
	if isDir {
		names, err := tree.List(r.ctx, p)
		if r.err(err) {
			return
		}
		for _, e := range names[:min(len(names), 16)] {
			if !e.Dir {
				r.view(tree, p+"/"+e.Name, false)
			}
		}
		return
	}
	f, err := tree.Open(r.ctx, p)
	if r.err(err) {
		return
	}
	// A fuzzed size can make inodes/N/data exabytes of zeroes, which is
	// what the file says, not a hang: the first bytes are enough.
	if err := f.Render(r.ctx, &limitWriter{left: maxRead}); !errors.Is(err, errEnough) {
		r.err(err)
	}
}

// limitWriter takes left bytes, then ends the render with errEnough.
type limitWriter struct{ left int }

var errEnough = errors.New("enough read")

func (w *limitWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		w.left = 0
		return 0, errEnough
	}
	w.left -= len(p)
	return len(p), nil
}

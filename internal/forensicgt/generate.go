package forensicgt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ImageFile is the name of the generated image in Generate's directory.
const ImageFile = "image.img"

// Generate makes, in dir, the image of spec (ImageFile) and its truth
// (TruthFile), and returns the truth. It needs root, loop devices and
// xfsprogs. Every mount it makes is undone before it returns, whatever
// happens; without a deadline in ctx it gives itself 15 minutes. Put dir
// on tmpfs where there is one: the wrapped variant forces the log
// thousands of times.
func Generate(ctx context.Context, dir string, spec Spec) (*Truth, error) {
	start := time.Now()
	spec, err := spec.Normalize()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := &generator{ctx: ctx, dir: dir, img: filepath.Join(dir, ImageFile), truth: &Truth{Spec: spec, Image: ImageFile, Dir: dir}}
	defer g.m.unmount()
	if err := g.run(); err != nil {
		return nil, fmt.Errorf("forensicgt: generating %s: %w", spec, err)
	}
	g.truth.Seconds = time.Since(start).Seconds()
	if err := g.truth.Save(filepath.Join(dir, TruthFile)); err != nil {
		return nil, err
	}
	return g.truth, nil
}

type generator struct {
	ctx   context.Context
	dir   string
	img   string
	truth *Truth
	m     *mount
	plans []*planned
	// byPath: the entries by path, the latest one of each path.
	byPath map[string]*Entry
	// before: the bytes a deleted file's extents held on disk before
	// the deletions, by entry.
	before map[*Entry][][]byte
}

func (g *generator) run() error {
	t := g.truth
	s := t.Spec
	if err := os.WriteFile(g.img, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(g.img, s.ImageSize); err != nil {
		return err
	}
	var err error
	if t.MkfsArgs, err = mkfs(g.ctx, g.img, s); err != nil {
		return err
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		t.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	g.plans = plan(s)
	g.byPath = map[string]*Entry{}

	// The tree, written and read back through the kernel.
	if err := g.mount(); err != nil {
		return err
	}
	for i := 0; i < len(g.plans); i++ {
		p := g.plans[i]
		if p.frag {
			n := 1
			for i+n < len(g.plans) && g.plans[i+n].frag && path.Dir(g.plans[i+n].path) == path.Dir(p.path) {
				n++
			}
			if err := g.writeFragmented(g.plans[i : i+n]); err != nil {
				return err
			}
			i += n - 1
			continue
		}
		if err := g.make(p); err != nil {
			return err
		}
	}
	if err := g.m.syncfs(); err != nil {
		return err
	}
	if err := g.readBack(t.Entries); err != nil {
		return err
	}
	if err := g.m.unmount(); err != nil {
		return err
	}

	// What xfs_db says of it.
	if t.Geometry, err = readGeometry(g.img); err != nil {
		return err
	}
	t.Log.Blocks = t.Geometry.LogBlocks
	if err := g.inspect(t.Entries, true); err != nil {
		return err
	}
	if err := g.keepBefore(); err != nil {
		return err
	}

	// The deletions, then the variant's work.
	if err := g.mount(); err != nil {
		return err
	}
	if err := g.deleteAll(); err != nil {
		return err
	}
	if err := g.m.settle(g.ctx); err != nil {
		return err
	}
	if t.Log.HeadAfterDeletions, err = g.m.headLSN(); err != nil {
		return err
	}
	switch s.Variant {
	case Wrapped:
		err = g.churn()
	case Aged:
		err = g.age()
	}
	if err != nil {
		return err
	}
	if err := g.m.settle(g.ctx); err != nil {
		return err
	}
	if t.Log.HeadAtEnd, err = g.m.headLSN(); err != nil {
		return err
	}
	t.Log.Wrapped = passed(t.Log.HeadAtEnd, t.Log.HeadAfterDeletions, t.Log.Blocks*t.Geometry.BlockSize/512)
	if err := g.m.unmount(); err != nil {
		return err
	}

	// What the final image holds.
	return g.finish()
}

func (g *generator) mount() error {
	m, err := mountImage(g.ctx, g.img, g.dir)
	if err != nil {
		return err
	}
	g.m = m
	return nil
}

// host is the path of an entry on the mount.
func (g *generator) host(p string) string { return filepath.Join(g.m.dir, filepath.FromSlash(p)) }

// add records a new entry for p.
func (g *generator) add(p *planned, phase string) *Entry {
	e := &Entry{Path: p.path, Kind: p.kind, Size: p.size, Target: p.target, Written: p.written, Group: p.group, Phase: phase}
	if p.path != "/" {
		e.Parent = path.Dir(p.path)
	}
	if p.kind == Symlink {
		e.Size = int64(len(p.target))
	}
	g.truth.Entries = append(g.truth.Entries, e)
	g.byPath[p.path] = e
	return e
}

// make creates one entry.
func (g *generator) make(p *planned) error {
	if err := g.ctx.Err(); err != nil {
		return err
	}
	e := g.add(p, "")
	h := g.host(p.path)
	switch p.kind {
	case Directory:
		if p.path == "/" {
			return nil
		}
		return os.Mkdir(h, 0o755)
	case Symlink:
		return os.Symlink(p.target, h)
	}
	f, err := os.OpenFile(h, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	err = g.fill(f, e, p)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.path, err)
	}
	for _, x := range p.xattrs {
		v := Content(g.truth.Spec.Seed, p.path+"#xattr:"+x.name, int64(x.size))
		if err := unix.Setxattr(h, x.name, v, 0); err != nil {
			return fmt.Errorf("%s: setxattr %s: %w", p.path, x.name, err)
		}
		e.Xattrs = append(e.Xattrs, Xattr{Name: x.name, Size: x.size, SHA256: sum(v)})
	}
	return nil
}

// fill writes a regular file's content: its preallocations, then its
// written ranges (all of it when none are given), then its size.
func (g *generator) fill(f *os.File, e *Entry, p *planned) error {
	for _, r := range p.prealloc {
		mode := uint32(0)
		if p.keepSize {
			mode = unix.FALLOC_FL_KEEP_SIZE
		}
		if err := unix.Fallocate(int(f.Fd()), mode, r.Off, r.Len); err != nil {
			return fmt.Errorf("fallocate: %w", err)
		}
	}
	data := Content(g.truth.Spec.Seed, e.Path, e.Size)
	ranges := p.written
	if ranges == nil {
		ranges = []Range{{0, e.Size}}
	}
	for _, r := range ranges {
		if _, err := f.WriteAt(data[r.Off:r.Off+r.Len], r.Off); err != nil {
			return err
		}
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != e.Size {
		return f.Truncate(e.Size)
	}
	return nil
}

// writeFragmented writes a group of files block by block in turn with
// O_DIRECT, which allocates each block when it is written (no delayed
// allocation, no speculative preallocation): the files' blocks
// interleave and each block is an extent of its own.
func (g *generator) writeFragmented(ps []*planned) error {
	bs := g.truth.Spec.BlockSize
	buf, err := unix.Mmap(-1, 0, bs, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(buf)
	type open struct {
		fd   int
		e    *Entry
		data []byte
	}
	var files []open
	defer func() {
		for _, o := range files {
			unix.Close(o.fd)
		}
	}()
	most := 0
	for _, p := range ps {
		e := g.add(p, "")
		fd, err := unix.Open(g.host(p.path), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("%s: %w", p.path, err)
		}
		files = append(files, open{fd, e, Content(g.truth.Spec.Seed, p.path, p.size)})
		most = max(most, (len(files[len(files)-1].data)+bs-1)/bs)
	}
	for blk := range most {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		for _, o := range files {
			off := blk * bs
			if off >= len(o.data) {
				continue
			}
			clear(buf)
			copy(buf, o.data[off:])
			if _, err := unix.Pwrite(o.fd, buf, int64(off)); err != nil {
				return fmt.Errorf("%s: O_DIRECT write of block %d: %w", o.e.Path, blk, err)
			}
		}
	}
	for _, o := range files {
		if err := unix.Ftruncate(o.fd, o.e.Size); err != nil {
			return fmt.Errorf("%s: %w", o.e.Path, err)
		}
	}
	return nil
}

// readBack records each entry's inode number, and reads each regular
// file and symlink back through the kernel: the truth's sha256 is what
// the kernel returned, and it must be what was written.
func (g *generator) readBack(entries []*Entry) error {
	for _, e := range entries {
		h := g.host(e.Path)
		st, err := os.Lstat(h)
		if err != nil {
			return err
		}
		e.Ino = st.Sys().(*syscall.Stat_t).Ino
		switch e.Kind {
		case Regular:
			b, err := os.ReadFile(h)
			if err != nil {
				return err
			}
			e.SHA256 = sum(b)
			if want := g.truth.Bytes(e); !bytes.Equal(b, want) {
				return fmt.Errorf("%s: read back %d bytes (sha256 %s), wrote %d (sha256 %s)", e.Path, len(b), e.SHA256, len(want), sum(want))
			}
		case Symlink:
			target, err := os.Readlink(h)
			if err != nil {
				return err
			}
			if target != e.Target {
				return fmt.Errorf("%s: target read back %q, wrote %q", e.Path, target, e.Target)
			}
		}
	}
	return nil
}

// inspect fills in what xfs_db says of entries (the image unmounted):
// generation, mode, fork format, size and extents, and each directory's
// format, which must be the one it was made to have (before: the
// formats before the deletions; otherwise DirFormatAfter).
func (g *generator) inspect(entries []*Entry, before bool) error {
	inos := make([]uint64, len(entries))
	for i, e := range entries {
		inos[i] = e.Ino
	}
	infos, err := inspectInodes(g.img, inos)
	if err != nil {
		return err
	}
	want := map[string]DirFormat{}
	for _, p := range g.plans {
		want[p.path] = p.want
	}
	for _, e := range entries {
		info := infos[e.Ino]
		if e.Kind == Directory {
			f, ev, err := dirFormat(g.img, g.truth.Geometry, e.Ino, info)
			if err != nil {
				return err
			}
			if w := want[e.Path]; before && w != "" && w != f {
				return fmt.Errorf("%s was made to be a %s directory, and xfs_db shows a %s one (%s): the plan needs other entry counts for this geometry", e.Path, w, f, ev)
			}
			if !before {
				e.DirFormatAfter = f
				continue
			}
			e.DirFormat, e.DirEvidence = f, ev
		}
		if !before && e.Phase == "" {
			continue
		}
		e.Gen, e.Mode, e.ForkFormat, e.NExtents, e.Extents = info.gen, info.mode, info.format, info.nextents, info.extents
		if e.Kind != Directory && info.size != e.Size {
			return fmt.Errorf("%s: xfs_db core.size %d, the kernel wrote %d", e.Path, info.size, e.Size)
		}
		if e.Kind == Directory {
			e.Size = info.size
		}
	}
	for _, e := range entries {
		if p := g.byPath[e.Parent]; p != nil && e.Parent != "" && e.ParentFormat == "" {
			e.ParentFormat = p.DirFormat
		}
	}
	return nil
}

// keepBefore reads, before the deletions, the on-disk bytes of the
// extents of every regular file that will be deleted.
func (g *generator) keepBefore() error {
	f, err := os.Open(g.img)
	if err != nil {
		return err
	}
	defer f.Close()
	singles, _ := chooseDeletions(g.truth.Spec, g.plans)
	doomed := map[string]bool{}
	for _, p := range singles {
		doomed[p] = true
	}
	for _, p := range g.plans {
		if p.doomed {
			doomed[p.path] = true
		}
	}
	g.before = map[*Entry][][]byte{}
	for _, e := range g.truth.Entries {
		if e.Kind != Regular || !doomed[e.Path] {
			continue
		}
		for _, x := range e.Extents {
			b, err := readBlocks(f, g.truth.Geometry, x.StartBlock, x.Blocks)
			if err != nil {
				return fmt.Errorf("%s: reading extent at block %d: %w", e.Path, x.StartBlock, err)
			}
			g.before[e] = append(g.before[e], b)
		}
	}
	return nil
}

// deleteAll removes the chosen single entries, then the doomed subtrees
// (children before their directory, in name order), recording the order.
func (g *generator) deleteAll() error {
	singles, subtrees := chooseDeletions(g.truth.Spec, g.plans)
	order := 0
	remove := func(p string) error {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		e := g.byPath[p]
		order++
		e.Deleted, e.DeleteOrder, e.DeletedAt = true, order, time.Now().Format(time.RFC3339Nano)
		return os.Remove(g.host(p))
	}
	for _, p := range singles {
		if err := remove(p); err != nil {
			return err
		}
	}
	children := map[string][]string{}
	for _, e := range g.truth.Entries {
		if e.Parent != "" {
			children[e.Parent] = append(children[e.Parent], e.Path)
		}
	}
	var removeTree func(p string) error
	removeTree = func(p string) error {
		kids := slices.Clone(children[p])
		slices.Sort(kids)
		for _, k := range kids {
			if g.byPath[k].Kind == Directory {
				if err := removeTree(k); err != nil {
					return err
				}
			} else if err := remove(k); err != nil {
				return err
			}
		}
		return remove(p)
	}
	for _, p := range subtrees {
		if err := removeTree(p); err != nil {
			return err
		}
	}
	return nil
}

// passed says head has gone at least size basic blocks past from.
func passed(head, from LSN, size uint32) bool {
	abs := func(l LSN) uint64 { return uint64(l.Cycle)*uint64(size) + uint64(l.Block) }
	return size > 0 && abs(head) >= abs(from)+uint64(size)
}

// churn forces metadata changes of the churn files (mode flips, each
// fsynced: an inode item and a log force apiece) until the log head has
// gone a whole log past where the deletions ended. It allocates nothing,
// so no freed inode or block is reused.
func (g *generator) churn() error {
	t := g.truth
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, e := range t.Entries {
		if e.Group == "churn" && e.Kind == Regular && !e.Deleted {
			f, err := os.Open(g.host(e.Path))
			if err != nil {
				return err
			}
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return errors.New("no churn files")
	}
	size := t.Log.Blocks * t.Geometry.BlockSize / 512
	// A forced change takes at least one basic block of log: bound the
	// loop at ten times the changes a wrap could need.
	limit := 10*int(size) + 1000
	for i := 0; ; i++ {
		if i%64 == 0 {
			if err := g.ctx.Err(); err != nil {
				return err
			}
			head, err := g.m.headLSN()
			if err != nil {
				return err
			}
			if passed(head, t.Log.HeadAfterDeletions, size+64) {
				t.Log.Churns = i
				return nil
			}
			if i > limit {
				return fmt.Errorf("the log did not wrap after %d forced changes (head %s, deletions ended at %s, %d basic blocks)", i, head, t.Log.HeadAfterDeletions, size)
			}
		}
		f := files[i%len(files)]
		mode := os.FileMode(0o644)
		if (i/len(files))%2 == 0 {
			mode = 0o600
		}
		if err := f.Chmod(mode); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
}

// age writes new files into the surviving directories the deleted files
// were in, sized like the deleted files in turn, until they hold
// ReuseFraction of the deleted bytes. The allocator puts a file's data
// near its inode, so they land in part on freed space.
func (g *generator) age() error {
	t := g.truth
	var freed int64
	var sizes []int64
	for _, e := range t.Deleted() {
		if e.Kind == Regular && e.Size > 0 {
			freed += e.Size
			sizes = append(sizes, e.Size)
		}
	}
	target := int64(float64(freed) * t.Spec.ReuseFraction)
	dirs := []string{"/block", "/leaf", "/node", "/frag", "/sparse", "/xattr"}
	var made []*Entry
	for i := 0; t.AgedBytes < target && len(sizes) > 0; i++ {
		p := &planned{path: fmt.Sprintf("%s/aged-%04d", dirs[i%len(dirs)], i), kind: Regular, group: "aged", size: sizes[i%len(sizes)]}
		if err := g.make(p); err != nil {
			return err
		}
		e := g.byPath[p.path]
		e.Phase = "aged"
		made = append(made, e)
		t.AgedBytes += p.size
	}
	if err := g.m.syncfs(); err != nil {
		return err
	}
	return g.readBack(made)
}

// finish inspects the final image: the new files' inodes and extents,
// the surviving directories' formats, what became of the deleted files'
// blocks, and what the log holds of the deleted inodes.
func (g *generator) finish() error {
	t := g.truth
	var live, aged []*Entry
	for _, e := range t.Entries {
		if e.Deleted {
			continue
		}
		if e.Phase == "aged" {
			aged = append(aged, e)
		}
		if e.Kind == Directory || e.Phase == "aged" {
			live = append(live, e)
		}
	}
	if err := g.inspect(live, false); err != nil {
		return err
	}
	f, err := os.Open(g.img)
	if err != nil {
		return err
	}
	defer f.Close()
	bs := uint64(t.Geometry.BlockSize)
	for e, before := range g.before {
		for i := range e.Extents {
			x := &e.Extents[i]
			now, err := readBlocks(f, t.Geometry, x.StartBlock, x.Blocks)
			if err != nil {
				return err
			}
			for b := range x.Blocks {
				if bytes.Equal(now[b*bs:(b+1)*bs], before[i][b*bs:(b+1)*bs]) {
					continue
				}
				t.ChangedBlocks++
				if n := len(x.Changed); n > 0 && x.Changed[n-1].Start+x.Changed[n-1].Blocks == x.StartBlock+b {
					x.Changed[n-1].Blocks++
				} else {
					x.Changed = append(x.Changed, BlockRange{x.StartBlock + b, 1})
				}
			}
			for _, a := range aged {
				for _, y := range a.Extents {
					if y.StartBlock < x.StartBlock+x.Blocks && x.StartBlock < y.StartBlock+y.Blocks && !slices.Contains(x.ReusedBy, a.Path) {
						x.ReusedBy = append(x.ReusedBy, a.Path)
					}
				}
			}
		}
	}
	inodes, err := readLog(g.img, &t.Log)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		if !e.Deleted {
			continue
		}
		li := inodes[e.Ino]
		seen := &LogSeen{}
		if li != nil {
			seen.Items, seen.Freed = li.items, li.freed
			seen.Sized = e.Kind != Directory && li.sizes[e.Size]
			seen.Mapped = li.mapped
		}
		e.Log = seen
		if seen.Items > 0 {
			t.Log.DeletedInLog++
		}
		if seen.Freed {
			t.Log.DeletedFreedInLog++
		}
		if seen.Sized && e.Kind == Regular {
			t.Log.DeletedSizedInLog++
		}
		if seen.Mapped && e.Kind == Regular && len(e.Extents) > 0 {
			t.Log.DeletedMappedInLog++
		}
	}
	return nil
}

// sortByOrder sorts deleted entries by their deletion order.
func sortByOrder(es []*Entry) {
	slices.SortFunc(es, func(a, b *Entry) int { return a.DeleteOrder - b.DeleteOrder })
}

// syncfsFd is syncfs(2) on f's filesystem.
func syncfsFd(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

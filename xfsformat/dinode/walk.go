package dinode

import (
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// BlockReader returns one filesystem block (sb blocksize bytes) by its
// filesystem block number. Map.Walk is done with each block's bytes
// before it reads the next (it copies a node's keys and pointers before
// descending), so a reader for Walk alone may hand back the same buffer
// every time.
type BlockReader func(fsb uint64) ([]byte, error)

// ErrStop, returned by a Walk callback, ends the walk without an error.
var ErrStop = errors.New("dinode: stop walking")

// Map reads one fork's extent map: the records of an extents-format
// fork, or the leaves of a btree-format fork's bmbt read through Read.
type Map struct {
	FS   *FS
	Core *Core
	Attr bool
	Read BlockReader
	// Lenient skips what a damaged but readable map fails: CRCs, block
	// identity (blkno, uuid, owner), sibling pointers, extent ranges and
	// the extent count. What would make the walk wrong or endless (a
	// bad magic number, levels that do not step down by one, keys or
	// extents out of order, a block reached twice) still ends it.
	Lenient bool
	// Known, when not nil, is the fork's whole extent list as a full
	// Walk of this same fork returned it (a caller's cache): Walk
	// serves from it, finding from by binary search, and reads nothing.
	Known []xfsformat.BmbtRec
}

// NewMap is the map of the data fork (attr false) or the attr fork.
func NewMap(fs *FS, c *Core, attr bool, read BlockReader) *Map {
	return &Map{FS: fs, Core: c, Attr: attr, Read: read}
}

// Walk calls fn with every extent of the fork that ends after file
// block from, in file-offset order, until fn returns an error (ErrStop
// ends the walk with none). A btree fork is walked from the root down
// to the leaf that maps from, then leaf by leaf, holding one block per
// level: millions of extents need no more memory than a few. Local and
// device forks have no extents.
func (m *Map) Walk(from uint64, fn func(xfsformat.BmbtRec) error) error {
	if m.Known != nil {
		return walkKnown(m.Known, from, fn)
	}
	w := &walker{m: m, from: from, fn: fn, field: forkName(m.Attr)}
	var err error
	switch f := m.Core.ForkFormat(m.Attr); f {
	case xfsformat.FmtDev, xfsformat.FmtLocal:
		return nil
	case xfsformat.FmtExtents:
		err = w.extents()
	case xfsformat.FmtBtree:
		err = w.btree()
	default:
		return m.Core.err(xfsformat.ErrRange, fmtField(m.Attr), strconv.Itoa(int(f)), "fork format has no extent map")
	}
	if errors.Is(err, ErrStop) {
		return nil
	}
	if err == nil && from == 0 && !m.Lenient && w.count != m.Core.ForkExtents(m.Attr) {
		return m.Core.err(xfsformat.ErrRange, extentsField(m.Attr), strconv.FormatUint(m.Core.ForkExtents(m.Attr), 10),
			"the fork maps %d extents", w.count)
	}
	return err
}

// walkKnown is Walk over a list already walked (and checked) whole.
func walkKnown(exts []xfsformat.BmbtRec, from uint64, fn func(xfsformat.BmbtRec) error) error {
	i := sort.Search(len(exts), func(i int) bool { return exts[i].StartOff+uint64(exts[i].BlockCount) > from })
	for _, r := range exts[i:] {
		if err := fn(r); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// All is Walk as an iterator: each extent, or one error that ends it.
func (m *Map) All(from uint64) iter.Seq2[xfsformat.BmbtRec, error] {
	return func(yield func(xfsformat.BmbtRec, error) bool) {
		err := m.Walk(from, func(r xfsformat.BmbtRec) error {
			if !yield(r, nil) {
				return ErrStop
			}
			return nil
		})
		if err != nil {
			yield(xfsformat.BmbtRec{}, err)
		}
	}
}

// Extents collects the whole map. A damaged count cannot make it
// allocate: the list grows with the extents actually found.
func (m *Map) Extents() ([]xfsformat.BmbtRec, error) {
	var out []xfsformat.BmbtRec
	err := m.Walk(0, func(r xfsformat.BmbtRec) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func fmtField(attr bool) string {
	if attr {
		return "core.aformat"
	}
	return "core.format"
}

// mkErr makes the error for a field of the inode or of a bmbt block.
type mkErr func(kind error, field, value, format string, args ...any) error

// walker is one walk's state.
type walker struct {
	m     *Map
	from  uint64
	fn    func(xfsformat.BmbtRec) error
	field string // "u3" or "a"
	count uint64 // extents passed to fn
	// next is where the next extent may start (the end of the last one).
	next    uint64
	started bool
	// visited holds every bmbt block read, so that no block is read twice.
	visited map[uint64]bool
	// prev is the last block read at each level (0: none yet), for the
	// sibling pointers.
	prev    []*xfsformat.BmbtBlock
	prevFSB []uint64
}

// record passes one extent on, after the order and range checks.
func (w *walker) record(name fieldName, r xfsformat.BmbtRec, mk mkErr) error {
	if w.started && r.StartOff < w.next {
		return mk(xfsformat.ErrRange, name.String(), recText(r), "extent at file block %d overlaps or precedes the previous one (ending at %d)", r.StartOff, w.next)
	}
	if !w.m.Lenient {
		if p := ExtentProblem(w.m.FS, w.m.Core.IsRealtime(), w.m.Attr, r); p != "" {
			return mk(xfsformat.ErrRange, name.String(), recText(r), "%s", p)
		}
	}
	w.started = true
	w.next = r.StartOff + uint64(r.BlockCount)
	if w.next <= w.from {
		return nil
	}
	w.count++
	return w.fn(r)
}

func (w *walker) extents() error {
	n, err := w.m.Core.ExtentCount(w.m.Attr)
	if err != nil && !w.m.Lenient {
		return err
	}
	for i := range n {
		if err := w.record(fieldName{w.field + ".bmx", i}, w.m.Core.Extent(w.m.Attr, i), w.coreErr); err != nil {
			return err
		}
	}
	return nil
}

// fieldName names a field of a record or key by its array and index
// (index < 0: the name alone), made into a string only for an error:
// a walk passes hundreds of names for every one it reports.
type fieldName struct {
	base string
	i    int
}

func (f fieldName) String() string {
	if f.i < 0 {
		return f.base
	}
	return f.base + "[" + strconv.Itoa(f.i) + "]"
}

// coreErr makes a FormatError about the inode's own fields.
func (w *walker) coreErr(kind error, field, value, format string, args ...any) error {
	return w.m.Core.err(kind, field, value, format, args...)
}

func (w *walker) btree() error {
	c, g := w.m.Core, w.m.FS.Geo
	root, err := DecodeRoot(c.Fork(w.m.Attr))
	if err != nil {
		return err
	}
	// The kernel's bound (xfs_iformat_btree): the height for the
	// filesystem's largest extent count.
	maxLevels := xfsformat.BmbtMaxLevels(g, w.m.Attr, w.m.FS.Nrext64)
	switch {
	case root.Level == 0 || int(root.Level) > maxLevels:
		return c.err(xfsformat.ErrRange, w.field+".bmbt.level", strconv.Itoa(int(root.Level)),
			"bmbt root level must be 1 to %d", maxLevels)
	case root.NumRecs == 0 || int(root.NumRecs) > root.MaxRecs:
		return c.err(xfsformat.ErrRange, w.field+".bmbt.numrecs", strconv.Itoa(int(root.NumRecs)),
			"bmbt root must hold 1 to %d records", root.MaxRecs)
	}
	w.visited = map[uint64]bool{}
	w.prev = make([]*xfsformat.BmbtBlock, root.Level)
	w.prevFSB = make([]uint64, root.Level)
	// A walk from the middle goes down the pointers that cover from:
	// the subtrees before them are skipped, not read.
	err = w.node(int(root.Level), root.Keys, root.Ptrs, 0, xfsformat.MaxFileOff+1, w.coreErr, w.field+".bmbt.")
	if err != nil || w.from != 0 || w.m.Lenient {
		return err
	}
	// The blocks at the ends of each level have no sibling outward.
	for lvl, b := range w.prev {
		if b != nil && b.Hdr.RightSib != xfsformat.NullFSBlock {
			return w.blockErr(w.prevFSB[lvl], xfsformat.ErrRange, "rightsib", strconv.FormatUint(b.Hdr.RightSib, 10),
				"last bmbt block of level %d has a right sibling", lvl)
		}
	}
	return nil
}

// node walks the children of a node at level (the root, or a block)
// whose keys and pointers are given, every key within [lo, hi).
func (w *walker) node(level int, keys, ptrs []uint64, lo, hi uint64, mk mkErr, prefix string) error {
	start := 0
	for i := range keys {
		if i > 0 && keys[i] <= keys[i-1] {
			return mk(xfsformat.ErrRange, prefix+"keys["+strconv.Itoa(i+1)+"]", strconv.FormatUint(keys[i], 10),
				"key not above the one before (%d)", keys[i-1])
		}
		if keys[i] < lo || keys[i] >= hi {
			return mk(xfsformat.ErrRange, prefix+"keys["+strconv.Itoa(i+1)+"]", strconv.FormatUint(keys[i], 10),
				"key outside its parent's range [%d, %d)", lo, hi)
		}
		if keys[i] <= w.from {
			start = i
		}
	}
	for i := start; i < len(keys); i++ {
		khi := hi
		if i+1 < len(keys) {
			khi = keys[i+1]
		}
		if err := w.child(level-1, ptrs[i], keys[i], khi, mk, fieldName{prefix + "ptrs", i + 1}); err != nil {
			return err
		}
	}
	return nil
}

// child reads and walks the block fsb, which its parent says is at
// level and maps file offsets in [lo, hi).
func (w *walker) child(level int, fsb, lo, hi uint64, mk mkErr, ptr fieldName) error {
	g := w.m.FS.Geo
	if _, _, ok := xfsformat.CheckFSBExtent(g, fsb, 1); !ok {
		return mk(xfsformat.ErrRange, ptr.String(), strconv.FormatUint(fsb, 10), "bmbt pointer is not a block of the filesystem")
	}
	if w.visited[fsb] {
		return mk(xfsformat.ErrRange, ptr.String(), strconv.FormatUint(fsb, 10), "bmbt block reached twice (a loop)")
	}
	w.visited[fsb] = true
	buf, err := w.m.Read(fsb)
	if err != nil {
		return fmt.Errorf("inode %d: reading bmbt block %d: %w", w.m.Core.Ino, fsb, err)
	}
	if len(buf) != int(g.BlockSize) {
		return w.blockErr(fsb, xfsformat.ErrShort, "", "", "read %d bytes, a block is %d", len(buf), g.BlockSize)
	}
	b, err := xfsformat.NewBmbtBlockOf(buf, g)
	if err != nil {
		return err
	}
	if b.Hdr.Magic != g.BmbtMagic() {
		return w.blockErr(fsb, xfsformat.ErrMagic, "magic", hexText(uint64(b.Hdr.Magic)), "not a bmbt block")
	}
	if int(b.Hdr.Level) != level {
		return w.blockErr(fsb, xfsformat.ErrRange, "level", strconv.Itoa(int(b.Hdr.Level)), "level %d under a block of level %d", b.Hdr.Level, level+1)
	}
	if int(b.Hdr.NumRecs) > b.MaxRecs() {
		return w.blockErr(fsb, xfsformat.ErrRange, "numrecs", strconv.Itoa(int(b.Hdr.NumRecs)), "more records than the block holds (%d)", b.MaxRecs())
	}
	if !w.m.Lenient {
		if errs := xfsformat.VerifyBmbtBlock(b, g, fsb, w.m.Core.Ino); len(errs) > 0 {
			return errs[0]
		}
		if p := w.prev[level]; p != nil && (p.Hdr.RightSib != fsb || b.Hdr.LeftSib != w.prevFSB[level]) {
			return w.blockErr(fsb, xfsformat.ErrRange, "leftsib", strconv.FormatUint(b.Hdr.LeftSib, 10),
				"siblings disagree with the tree: block %d's right sibling is %d, this block's left sibling %d", w.prevFSB[level], p.Hdr.RightSib, b.Hdr.LeftSib)
		}
		if w.prev[level] == nil && w.from == 0 && b.Hdr.LeftSib != xfsformat.NullFSBlock {
			return w.blockErr(fsb, xfsformat.ErrRange, "leftsib", strconv.FormatUint(b.Hdr.LeftSib, 10), "first bmbt block of level %d has a left sibling", level)
		}
	}
	w.prev[level], w.prevFSB[level] = b, fsb
	bmk := func(kind error, field, value, format string, args ...any) error {
		return w.blockErr(fsb, kind, field, value, format, args...)
	}
	n := b.NumRecs()
	if level > 0 {
		keys, ptrs := make([]uint64, n), make([]uint64, n)
		for i := range n {
			keys[i], ptrs[i] = b.Key(i), b.Ptr(i)
		}
		return w.node(level, keys, ptrs, lo, hi, bmk, "")
	}
	first := 0
	if !w.started && w.from > 0 {
		// A walk from the middle starts at the leaf that maps from:
		// the records that end before it are passed over unchecked
		// (a walk from the start checks them), the last of them
		// still the bound the next must start after.
		for first < n {
			r := b.Rec(first)
			if r.StartOff < lo || r.StartOff+uint64(r.BlockCount) > w.from {
				break
			}
			w.started, w.next = true, r.StartOff+uint64(r.BlockCount)
			first++
		}
	}
	for i := first; i < n; i++ {
		r := b.Rec(i)
		name := fieldName{"recs", i + 1}
		if r.StartOff < lo || r.StartOff >= hi {
			return bmk(xfsformat.ErrRange, name.String(), recText(r), "extent outside its parent key's range [%d, %d)", lo, hi)
		}
		if err := w.record(name, r, bmk); err != nil {
			return err
		}
	}
	return nil
}

// blockErr makes a FormatError about bmbt block fsb of this inode.
func (w *walker) blockErr(fsb uint64, kind error, field, value, format string, args ...any) error {
	agno, agbno := w.m.FS.Geo.SplitFSB(fsb)
	return &xfsformat.FormatError{Struct: "bmbt", AG: int64(agno), Block: int64(agbno), Field: field, Value: value,
		Msg: "inode " + strconv.FormatUint(w.m.Core.Ino, 10) + ": " + fmt.Sprintf(format, args...), Kind: kind}
}

package check

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"strconv"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// CmpRmapRecs orders rmap records by (startblock, owner, offset with
// flags, blockcount): the rmapbt's key order, total on whole records.
// Used space (AG.Used) is sorted so, and so are the rmapbt's records a
// rebuild writes. Arrays of them sort by RmapSortKey, the same order.
func CmpRmapRecs(a, b []byte) int {
	if c := cmp.Compare(binary.BigEndian.Uint32(a[0:]), binary.BigEndian.Uint32(b[0:])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(a[16:]), binary.BigEndian.Uint64(b[16:])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint32(a[4:]), binary.BigEndian.Uint32(b[4:]))
}

// RmapSortKey orders staged rmap records as CmpRmapRecs does.
var RmapSortKey = []workspace.Span{{Off: 0, Len: 4}, {Off: 8, Len: 16}, {Off: 4, Len: 4}}

func cmpAllocByStart(a, b []byte) int {
	if c := cmp.Compare(binary.BigEndian.Uint32(a[0:]), binary.BigEndian.Uint32(b[0:])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint32(a[4:]), binary.BigEndian.Uint32(b[4:]))
}

// crossReference compares the AG's structures with each other and with
// what is in use: free space against used space, bnobt against cntbt,
// rmapbt against every owner seen, refcountbt against the shared file
// mappings, finobt against inobt, and the AG header counters.
func (c *AG) crossReference(ctx context.Context) error {
	if err := c.used.SortBy(ctx, RmapSortKey...); err != nil {
		return err
	}
	if tr := c.trees[xfsformat.Bnobt]; tr != nil && tr.recs != nil {
		if err := tr.recs.SortKey(ctx, xfsformat.AllocRecLen); err != nil {
			return err
		}
	}
	run := func(ctx context.Context, steps ...func(context.Context) error) error {
		for _, step := range steps {
			if err := step(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch c.mode {
	case CollectFull:
		// The rmapbt comparison (the longest: both sides normalised and
		// merged) and the rest may run side by side: they read the
		// sorted arrays (which settled arrays allow), each sorts only
		// arrays of its own, and their findings go to the locked set.
		err = c.sideBySide(ctx, func(ctx context.Context) error { return run(ctx, c.xrefRmap) },
			func(ctx context.Context) error {
				return run(ctx, c.xrefFreeSpace, c.xrefAllocTrees, c.xrefUsedSpace, c.xrefInodeTrees)
			})
	case CollectLight:
		err = run(ctx, c.xrefFreeSpace, c.xrefAllocTrees)
	case CollectRmap:
		err = run(ctx, c.xrefRmapSource, c.xrefAllocTrees)
	}
	if err != nil {
		return err
	}
	if err := c.xrefSBInodes(ctx); err != nil { // cheap: one pass over the inobt's records
		return err
	}
	c.xrefCounters()
	return nil
}

// sideBySide runs a, and b beside it once a slot of c.slots is free
// (or after a, without slots): the slots, one a core and shared by the
// AGs, keep as many sorts running at once as the workspace's memory
// check counts, so an AG whose neighbours are done (the one large AG
// of two) takes the idle core, and AGs busy side by side stay one
// sort each. a holds the AG's own slot and gives it up when done.
func (c *AG) sideBySide(ctx context.Context, a, b func(context.Context) error) error {
	if c.slots == nil {
		if err := a(ctx); err != nil {
			return err
		}
		return b(ctx)
	}
	c.slots <- struct{}{} // this AG's own
	return fsys.ForEach(ctx, []func(context.Context) error{
		func(ctx context.Context) error {
			defer func() { <-c.slots }()
			return a(ctx)
		},
		func(ctx context.Context) error {
			select {
			case c.slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			defer func() { <-c.slots }()
			return b(ctx)
		},
	}, func(ctx context.Context, step func(context.Context) error) error { return step(ctx) })
}

// xrefAllocTrees: the bnobt and the cntbt hold the same extents.
func (c *AG) xrefAllocTrees(ctx context.Context) error {
	bno, cnt := c.trees[xfsformat.Bnobt], c.trees[xfsformat.Cntbt]
	if bno == nil || cnt == nil || !bno.walked || !cnt.walked {
		return nil
	}
	// Equal as multisets (order-independent hashes, taken as the walks
	// read them) is the common case and needs neither tree's records;
	// only a difference is worth staging and sorting to name.
	if bno.hash == cnt.hash && bno.records == cnt.records {
		return nil
	}
	bnoRecs, err := c.records(ctx, xfsformat.Bnobt)
	if err != nil {
		return err
	}
	cntRecs, err := c.records(ctx, xfsformat.Cntbt)
	if err != nil {
		return err
	}
	for _, a := range []*workspace.Array{bnoRecs, cntRecs} {
		if err := a.SortKey(ctx, xfsformat.AllocRecLen); err != nil {
			return err
		}
	}
	// One difference shifts everything after it: only the first is named.
	b, k, differ := firstDifference(bnoRecs.All(ctx, &err), cntRecs.All(ctx, &err))
	if !differ {
		return err
	}
	switch {
	case k == nil || (b != nil && cmpAllocByStart(b, k) < 0):
		r := xfsformat.DecodeAllocRec(b)
		c.addNoBlock("cntbt.xref", XrefMismatch, "free extent [%d,%d] is in the bnobt but not the cntbt", r.StartBlock, r.BlockCount)
	default:
		r := xfsformat.DecodeAllocRec(k)
		c.addNoBlock("bnobt.xref", XrefMismatch, "free extent [%d,%d] is in the cntbt but not the bnobt", r.StartBlock, r.BlockCount)
	}
	return err
}

// firstDifference walks two sequences of records in step and returns
// copies of the first two that differ, nil for a sequence that ran out;
// differ is false when both hold the same records in the same order.
func firstDifference(a, b iter.Seq[[]byte]) (x, y []byte, differ bool) {
	nextA, stopA := iter.Pull(a)
	defer stopA()
	nextB, stopB := iter.Pull(b)
	defer stopB()
	for {
		ra, okA := nextA()
		rb, okB := nextB()
		if !okA && !okB {
			return nil, nil, false
		}
		if !okA || !okB || !bytes.Equal(ra, rb) {
			return bytes.Clone(ra), bytes.Clone(rb), true
		}
	}
}

// Extent is a half-open block range [Start, End) of an AG.
type Extent struct{ Start, End uint64 }

// UsedUnion yields the union of sorted rmap records (used space) as
// disjoint extents in order: what the cross-reference compares with free
// space, and what a free-space rebuild takes the complement of.
func UsedUnion(recs iter.Seq[[]byte]) iter.Seq[Extent] {
	return func(yield func(Extent) bool) {
		var m ExtentMerger
		for rec := range recs {
			if e, ok := m.Add(rec); ok && !yield(e) {
				return
			}
		}
		if e, ok := m.End(); ok {
			yield(e)
		}
	}
}

// unionCursor is UsedUnion pulled from a cursor over sorted rmap
// records: each call returns the next disjoint extent.
func unionCursor(c *workspace.Cursor) func() (Extent, bool) {
	var m ExtentMerger
	return func() (Extent, bool) {
		for {
			rec, ok := c.Next()
			if !ok {
				return m.End()
			}
			if e, ok := m.Add(rec); ok {
				return e, true
			}
		}
	}
}

// ExtentMerger merges sorted rmap records into disjoint extents, one
// record at a time: UsedUnion (pushed), unionCursor (pulled), and the
// free-space rebuild's one pass over its used space, which takes
// several unions at once.
type ExtentMerger struct {
	cur  Extent
	have bool
}

// Add merges rec in; it returns the extent rec closed, if it closed one.
func (m *ExtentMerger) Add(rec []byte) (Extent, bool) {
	r := xfsformat.DecodeRmapRec(rec)
	e := Extent{uint64(r.StartBlock), uint64(r.StartBlock) + uint64(r.BlockCount)}
	if m.have && e.Start <= m.cur.End {
		m.cur.End = max(m.cur.End, e.End)
		return Extent{}, false
	}
	out, closed := m.cur, m.have
	m.cur, m.have = e, true
	return out, closed
}

// End returns the last extent, once.
func (m *ExtentMerger) End() (Extent, bool) {
	out, had := m.cur, m.have
	m.have = false
	return out, had
}

// xrefFreeSpace compares free space (bnobt) with used space (the union of
// every owner seen): they must not overlap, and together they must cover
// the whole AG.
func (c *AG) xrefFreeSpace(ctx context.Context) error {
	_, err := c.xrefFreeSpaceWith(ctx, c.used)
	return err
}

// xrefFreeSpaceWith is xrefFreeSpace against the used space of the
// sorted rmap records in used; it returns how many problems it found.
func (c *AG) xrefFreeSpaceWith(ctx context.Context, used *workspace.Array) (int, error) {
	x := c.newSpaceXref(ctx, c.findings.Add)
	if x == nil {
		return 0, nil
	}
	if err := used.Iterate(ctx, func(_ int64, rec []byte) error { x.addUsed(rec); return nil }); err != nil {
		return 0, err
	}
	return x.finish()
}

// spaceXref is xrefFreeSpace one used record at a time: the records
// pushed (addUsed, sorted) merge into used extents, walked in step with
// the bnobt's free extents (read by a cursor), each pair checked for
// overlaps and gaps; findings go to report.
type spaceXref struct {
	c              *AG
	fc             *workspace.Cursor
	f              Extent // the next free extent, if okF
	okF            bool
	used           ExtentMerger
	covered        uint64 // [0, covered) is accounted for
	overlaps, gaps int
	report         func(Finding)
}

// newSpaceXref starts the comparison with the bnobt's records; nil
// when there are none to compare with.
func (c *AG) newSpaceXref(ctx context.Context, report func(Finding)) *spaceXref {
	bno := c.trees[xfsformat.Bnobt]
	if bno == nil || bno.recs == nil {
		return nil
	}
	// A cursor, not iter.Pull: a coroutine switch per record was a sixth
	// of the whole check on an AG of two million free extents.
	x := &spaceXref{c: c, fc: workspace.NewCursor(ctx, bno.recs), report: report}
	x.nextFree()
	return x
}

func (x *spaceXref) nextFree() {
	rec, ok := x.fc.Next()
	if x.okF = ok; ok {
		r := xfsformat.DecodeAllocRec(rec)
		x.f = Extent{uint64(r.StartBlock), uint64(r.StartBlock) + uint64(r.BlockCount)}
	}
}

// addUsed takes the next used record.
func (x *spaceXref) addUsed(rec []byte) {
	if u, ok := x.used.Add(rec); ok {
		x.usedExtent(u)
	}
}

// usedExtent accounts for the free extents before u, then u.
func (x *spaceXref) usedExtent(u Extent) {
	for x.okF && x.f.Start < u.Start {
		x.step(x.f)
		x.nextFree()
	}
	x.step(u)
}

func (x *spaceXref) step(e Extent) {
	c := x.c
	if e.Start > x.covered {
		if x.gaps++; x.gaps <= 10 {
			x.report(c.noBlock("space.unaccounted", XrefMismatch, "blocks [%d,%d] are neither free nor used by anything", x.covered, e.Start-x.covered))
		}
	} else if e.Start < x.covered {
		// Used extents are disjoint among themselves (a union) and
		// free-free overlaps are bnobt.order findings, so an overlap
		// here is free space that is in use.
		if x.overlaps++; x.overlaps <= 10 {
			x.report(c.noBlock("bnobt.used", Corrupt, "blocks [%d,%d] are both free and in use", e.Start, min(e.End, x.covered)-e.Start))
		}
	}
	x.covered = max(x.covered, e.End)
}

// finish accounts for what is left and the AG's end; it returns how
// many problems the comparison found.
func (x *spaceXref) finish() (int, error) {
	if u, ok := x.used.End(); ok {
		x.usedExtent(u)
	}
	for x.okF {
		x.step(x.f)
		x.nextFree()
	}
	c := x.c
	problems := x.overlaps + x.gaps
	agLen := uint64(c.fs.Geo.AGLength(c.agno))
	if x.covered < agLen {
		problems++
		x.report(c.noBlock("space.unaccounted", XrefMismatch, "blocks [%d,%d] at the end of the AG are neither free nor used", x.covered, agLen-x.covered))
	}
	if x.covered > agLen {
		problems++
		x.report(c.noBlock("space.beyond", Corrupt, "space is recorded up to block %d, past the AG's end %d", x.covered, agLen))
	}
	return problems, x.fc.Err()
}

// isFileData reports whether an rmap record maps file data (the blocks
// reflink may share): an inode owner, data fork, not a bmbt block.
func isFileData(r xfsformat.RmapRec) bool {
	return r.IsInodeOwner() && r.Offset&(xfsformat.RmapOffAttrFork|xfsformat.RmapOffBmbtBlock) == 0
}

func ownerText(r xfsformat.RmapRec) string {
	switch int64(r.Owner) {
	case xfsformat.OwnFS:
		return "the AG headers"
	case xfsformat.OwnLog:
		return "the log"
	case xfsformat.OwnAG:
		return "free-space metadata (bnobt/cntbt/rmapbt/AGFL)"
	case xfsformat.OwnInobt:
		return "the inode btrees"
	case xfsformat.OwnInodes:
		return "inode chunks"
	case xfsformat.OwnRefc:
		return "the refcount btree"
	case xfsformat.OwnCow:
		return "CoW staging"
	}
	what := "data"
	if r.Offset&xfsformat.RmapOffAttrFork != 0 {
		what = "attr"
	}
	if r.Offset&xfsformat.RmapOffBmbtBlock != 0 {
		what += " bmbt block"
	}
	return "inode " + u64s(r.Owner) + " " + what
}

// refcountHeap is a min-heap of extent ends.
type refcountHeap []uint64

func (h refcountHeap) Len() int           { return len(h) }
func (h refcountHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h refcountHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *refcountHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *refcountHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// refcountSweep turns file-data mappings, fed in order of start block,
// into refcount records (runs of blocks mapped 2 or more times, equal
// counts merged) appended to out: the sweep the kernel's refcountbt
// repair does over the rmap records.
type refcountSweep struct {
	out  *workspace.Array
	h    refcountHeap // ends of the mappings covering pos
	pos  uint64
	last xfsformat.RefcountRec
	err  error
}

func (s *refcountSweep) emit(from, to uint64, n int) {
	if to <= from || n < 2 {
		return
	}
	if s.last.BlockCount > 0 && uint64(s.last.StartBlock)+uint64(s.last.BlockCount) == from && s.last.RefCount == uint32(n) &&
		uint64(s.last.BlockCount)+(to-from) < 1<<31 {
		s.last.BlockCount += uint32(to - from)
		return
	}
	s.flush()
	s.last = xfsformat.RefcountRec{StartBlock: uint32(from), BlockCount: uint32(to - from), RefCount: uint32(n)}
}

func (s *refcountSweep) flush() {
	if s.last.BlockCount == 0 {
		return
	}
	var b [xfsformat.RefcountRecLen]byte
	s.last.Encode(b[:])
	if err := s.out.Append(b[:]); err != nil && s.err == nil {
		s.err = err
	}
	s.last = xfsformat.RefcountRec{}
}

func (s *refcountSweep) advance(to uint64) {
	for s.h.Len() > 0 && s.h[0] <= to {
		m := s.h[0]
		s.emit(s.pos, m, s.h.Len())
		s.pos = max(s.pos, m)
		for s.h.Len() > 0 && s.h[0] == m {
			heap.Pop(&s.h)
		}
	}
	if s.h.Len() > 0 {
		s.emit(s.pos, to, s.h.Len())
	}
	s.pos = max(s.pos, to)
}

// add feeds one mapping; only written file data counts (not attr forks,
// bmbt blocks or unwritten extents).
func (s *refcountSweep) add(r xfsformat.RmapRec) {
	if !isFileData(r) || r.Offset&xfsformat.RmapOffUnwritten != 0 {
		return
	}
	s.advance(uint64(r.StartBlock))
	heap.Push(&s.h, uint64(r.StartBlock)+uint64(r.BlockCount))
}

// finish drains the sweep; the error is the first append's.
func (s *refcountSweep) finish() error {
	s.advance(^uint64(0) >> 1)
	s.flush()
	return s.err
}

// ComputeRefcounts sweeps sorted used-space records (rmap records) into
// refcount records appended to out: what the cross-reference compares
// the refcountbt with, and what a refcountbt rebuild writes.
func ComputeRefcounts(ctx context.Context, used, out *workspace.Array) error {
	s := &refcountSweep{out: out}
	if err := used.Iterate(ctx, func(_ int64, rec []byte) error {
		s.add(xfsformat.DecodeRmapRec(rec))
		return s.err
	}); err != nil {
		return err
	}
	return s.finish()
}

// xrefUsedSpace finds blocks claimed by two owners (only file data may
// be shared, and only with reflink) and, on reflink filesystems, compares
// the refcountbt's shared domain with the overlaps of file data.
func (c *AG) xrefUsedSpace(ctx context.Context) error {
	x, err := c.newUsedXref(c.findings.Add)
	if err != nil {
		return err
	}
	defer x.release()
	if err := c.used.Iterate(ctx, func(_ int64, rec []byte) error {
		x.add(xfsformat.DecodeRmapRec(rec))
		return x.refc.err
	}); err != nil {
		return err
	}
	return x.finish(ctx)
}

// usedXref is xrefUsedSpace one used record at a time (sorted): the
// cross-links among them, reported as they are found, and on reflink
// filesystems the refcount sweep whose result finish compares with the
// refcountbt.
type usedXref struct {
	c                 *AG
	report            func(Finding)
	reflink           bool
	dataEnd, otherEnd uint64
	dataRec, otherRec xfsformat.RmapRec
	reported          int
	refc              refcountSweep // with reflink: its out is the overlaps computed
}

func (c *AG) newUsedXref(report func(Finding)) (*usedXref, error) {
	x := &usedXref{c: c, report: report, reflink: c.fs.Geo.Reflink}
	if x.reflink {
		var err error
		if x.refc.out, err = c.ws.NewArray(xfsformat.RefcountRecLen); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (x *usedXref) crosslink(a, b xfsformat.RmapRec) {
	if x.reported++; x.reported <= 10 {
		x.report(x.c.noBlock("space.crosslink", Corrupt, "blocks [%d,%d] of %s are also used by %s [%d,%d]",
			a.StartBlock, a.BlockCount, ownerText(a), ownerText(b), b.StartBlock, b.BlockCount))
	}
}

// add takes the next used record.
func (x *usedXref) add(r xfsformat.RmapRec) {
	start, end := uint64(r.StartBlock), uint64(r.StartBlock)+uint64(r.BlockCount)
	data := isFileData(r)
	if start < x.otherEnd {
		x.crosslink(r, x.otherRec)
	} else if start < x.dataEnd && (!data || !x.reflink) {
		x.crosslink(r, x.dataRec)
	}
	if data {
		if end > x.dataEnd {
			x.dataEnd, x.dataRec = end, r
		}
	} else if end > x.otherEnd {
		x.otherEnd, x.otherRec = end, r
	}
	if x.reflink {
		x.refc.add(r)
	}
}

// finish compares the refcountbt with the overlaps swept, with reflink.
func (x *usedXref) finish(ctx context.Context) error {
	if !x.reflink {
		return nil
	}
	if err := x.refc.finish(); err != nil {
		return err
	}
	return x.c.compareRefcounts(ctx, x.refc.out)
}

func (x *usedXref) release() {
	if x.refc.out != nil {
		x.refc.out.Release()
	}
}

// compareRefcounts compares the refcountbt's shared domain, with runs of
// equal counts merged, against the computed overlaps.
func (c *AG) compareRefcounts(ctx context.Context, computed *workspace.Array) error {
	tr := c.trees[xfsformat.Refcountbt]
	if tr == nil || tr.recs == nil {
		return nil
	}
	var err error
	onDisk := func(yield func(xfsformat.RefcountRec) bool) {
		var cur xfsformat.RefcountRec
		for rec := range tr.recs.All(ctx, &err) {
			r := xfsformat.DecodeRefcountRec(rec)
			if r.Cow {
				continue
			}
			if cur.BlockCount > 0 && cur.StartBlock+cur.BlockCount == r.StartBlock && cur.RefCount == r.RefCount {
				cur.BlockCount += r.BlockCount
				continue
			}
			if cur.BlockCount > 0 && !yield(cur) {
				return
			}
			cur = r
		}
		if cur.BlockCount > 0 {
			yield(cur)
		}
	}
	nextD, stopD := iter.Pull(onDisk)
	defer stopD()
	nextC, stopC := iter.Pull(computed.All(ctx, &err))
	defer stopC()
	d, okD := nextD()
	cb, okC := nextC()
	reported := 0
	for okD || okC {
		var k xfsformat.RefcountRec
		if okC {
			k = xfsformat.DecodeRefcountRec(cb)
		}
		if okD && okC && d == k {
			d, okD = nextD()
			cb, okC = nextC()
			continue
		}
		if reported++; reported > 10 {
			break
		}
		if !okC || (okD && d.StartBlock < k.StartBlock) || (okD && d.StartBlock == k.StartBlock && d.BlockCount <= k.BlockCount) {
			c.addNoBlock("refcountbt.xref", XrefMismatch, "record [%d,%d] refcount %d does not match the file mappings", d.StartBlock, d.BlockCount, d.RefCount)
			d, okD = nextD()
		} else {
			c.addNoBlock("refcountbt.missing", XrefMismatch, "blocks [%d,%d] are shared %d times but the refcountbt does not say so", k.StartBlock, k.BlockCount, k.RefCount)
			cb, okC = nextC()
		}
	}
	return err
}

// NormalizeRmaps returns a sorted copy, in ws, of sorted rmap records
// with mergeable neighbours merged the way the kernel merges them: same
// owner and flags, contiguous blocks and (for file data) contiguous
// offsets. The cross-reference compares rmap records so, and the
// free-space rebuild writes the rmapbt's records so.
func NormalizeRmaps(ctx context.Context, ws *workspace.Workspace, in *workspace.Array) (*workspace.Array, error) {
	out, err := ws.NewArray(xfsformat.RmapRecLen)
	if err != nil {
		return nil, err
	}
	n := NewRmapNormalizer(out.Append)
	if err := in.Iterate(ctx, func(_ int64, rec []byte) error { return n.Add(rec) }); err != nil {
		return nil, err
	}
	if err := n.Finish(); err != nil {
		return nil, err
	}
	if n.Sorted() {
		return out, nil
	}
	return out, out.SortBy(ctx, RmapSortKey...)
}

// RmapNormalizer is NormalizeRmaps one record at a time: Add the sorted
// records, then Finish; each merged record goes to emit as soon as no
// later record can extend it. Its output is in order unless a merge
// reordered it (Sorted says), which NormalizeRmaps mends with a sort.
type RmapNormalizer struct {
	emit func(rec []byte) error
	// pending holds merged records that a later record might still
	// extend: only those overlapping the current position, so the list
	// stays as short as the deepest sharing (one, without reflink).
	pending          []xfsformat.RmapRec
	buf, last        [xfsformat.RmapRecLen]byte
	emitted, unorder bool
}

// NewRmapNormalizer returns a normalizer that hands its records to emit
// (valid during the call).
func NewRmapNormalizer(emit func(rec []byte) error) *RmapNormalizer {
	return &RmapNormalizer{emit: emit}
}

// Sorted reports whether every record emitted so far came in order.
func (n *RmapNormalizer) Sorted() bool { return !n.unorder }

func (n *RmapNormalizer) flush(r xfsformat.RmapRec) error {
	r.Encode(n.buf[:])
	if n.emitted && CmpRmapRecs(n.last[:], n.buf[:]) > 0 {
		n.unorder = true
	}
	n.last, n.emitted = n.buf, true
	return n.emit(n.buf[:])
}

// Add takes the next record.
func (n *RmapNormalizer) Add(rec []byte) error {
	r := xfsformat.DecodeRmapRec(rec)
	flags := r.Offset &^ xfsformat.RmapOffMask
	ignoreOff := !r.IsInodeOwner() || flags&xfsformat.RmapOffBmbtBlock != 0
	// Emit, in order, pending records that end before this one starts.
	keep := n.pending[:0]
	merged := false
	for _, p := range n.pending {
		if !merged && p.Owner == r.Owner && p.Offset&^xfsformat.RmapOffMask == flags &&
			p.StartBlock+p.BlockCount == r.StartBlock &&
			(ignoreOff || p.FileOffset()+uint64(p.BlockCount) == r.FileOffset()) &&
			uint64(p.BlockCount)+uint64(r.BlockCount) < 1<<32 {
			p.BlockCount += r.BlockCount
			merged = true
		}
		if p.StartBlock+p.BlockCount < r.StartBlock {
			if err := n.flush(p); err != nil {
				return err
			}
			continue
		}
		keep = append(keep, p)
	}
	n.pending = keep
	if !merged {
		n.pending = append(n.pending, r)
	}
	return nil
}

// Finish emits what is pending.
func (n *RmapNormalizer) Finish() error {
	slices.SortFunc(n.pending, func(a, b xfsformat.RmapRec) int {
		var x, y [xfsformat.RmapRecLen]byte
		a.Encode(x[:])
		b.Encode(y[:])
		return CmpRmapRecs(x[:], y[:])
	})
	for _, p := range n.pending {
		if err := n.flush(p); err != nil {
			return err
		}
	}
	n.pending = n.pending[:0]
	return nil
}

// normalizedCursor pulls NormalizeRmaps' records of a sorted array
// without staging them: the comparison's usual path, when the
// normalised records come out in order.
type normalizedCursor struct {
	c     *workspace.Cursor
	n     *RmapNormalizer
	queue [][xfsformat.RmapRecLen]byte
	head  int
	cur   [xfsformat.RmapRecLen]byte
	done  bool
	err   error
	// unordered, shared by the two cursors of a comparison, ends both
	// as soon as either's records come out of order: the comparison
	// starts again from sorted copies, and reading on is wasted.
	unordered *bool
}

func newNormalizedCursor(ctx context.Context, a *workspace.Array, unordered *bool) *normalizedCursor {
	nc := &normalizedCursor{c: workspace.NewCursor(ctx, a), unordered: unordered}
	nc.n = NewRmapNormalizer(func(rec []byte) error {
		nc.queue = append(nc.queue, [xfsformat.RmapRecLen]byte(rec))
		return nil
	})
	return nc
}

// Next returns the next normalised record, valid until the next call.
func (nc *normalizedCursor) Next() ([]byte, bool) {
	if !nc.n.Sorted() {
		*nc.unordered = true
	}
	if *nc.unordered {
		return nil, false
	}
	for nc.head == len(nc.queue) {
		nc.queue, nc.head = nc.queue[:0], 0
		if nc.done {
			return nil, false
		}
		if rec, ok := nc.c.Next(); ok {
			nc.n.Add(rec) // emits into the queue: never fails
			continue
		}
		nc.done, nc.err = true, nc.c.Err()
		nc.n.Finish()
	}
	nc.cur = nc.queue[nc.head]
	nc.head++
	return nc.cur[:], true
}

// xrefRmap compares the rmapbt with every owner the check saw.
func (c *AG) xrefRmap(ctx context.Context) error {
	tr := c.trees[xfsformat.Rmapbt]
	if tr == nil || tr.recs == nil {
		return nil
	}
	if err := tr.recs.SortBy(ctx, RmapSortKey...); err != nil {
		return err
	}
	_, err := c.compareRmaps(ctx, c.used, tr.recs)
	return err
}

// compareRmaps reports the differences between the rmap records the
// check saw in use (want) and those of the rmapbt (have), both sorted,
// after merging neighbours the kernel would merge; it returns how many
// it found.
func (c *AG) compareRmaps(ctx context.Context, wantRecs, haveRecs *workspace.Array) (int, error) {
	// Normalised as they are read, the usual case; staged and sorted
	// only when a merge put them out of order (seen at the end: the
	// findings of the streamed pass are held until then).
	var unordered bool
	wc, hc := newNormalizedCursor(ctx, wantRecs, &unordered), newNormalizedCursor(ctx, haveRecs, &unordered)
	var held []Finding
	n := c.diffRmaps(wc.Next, hc.Next, func(f Finding) { held = append(held, f) })
	if err := cmp.Or(wc.err, hc.err); err != nil {
		return 0, err
	}
	if !unordered && wc.n.Sorted() && hc.n.Sorted() {
		for _, f := range held {
			c.findings.Add(f)
		}
		return n, nil
	}
	want, err := NormalizeRmaps(ctx, c.ws, wantRecs)
	if err != nil {
		return 0, err
	}
	defer want.Release()
	have, err := NormalizeRmaps(ctx, c.ws, haveRecs)
	if err != nil {
		return 0, err
	}
	defer have.Release()
	wcs, hcs := workspace.NewCursor(ctx, want), workspace.NewCursor(ctx, have)
	n = c.diffRmaps(wcs.Next, hcs.Next, c.findings.Add)
	return n, cmp.Or(wcs.Err(), hcs.Err())
}

// diffRmaps merge-joins two sorted streams of normalised rmap records,
// what is in use (want) and what the rmapbt says (have), handing the
// first ten of each kind of difference to report; it returns how many
// differences it found.
func (c *AG) diffRmaps(nextW, nextH func() ([]byte, bool), report func(Finding)) int {
	finding := func(code, format string, args ...any) Finding {
		return Finding{Code: code, Severity: XrefMismatch, AG: int64(c.agno), Structure: "rmapbt", Block: -1, Message: fmt.Sprintf(format, args...)}
	}
	w, okW := nextW()
	h, okH := nextH()
	missing, extra := 0, 0
	for okW || okH {
		d := 0
		switch {
		case !okW:
			d = 1
		case !okH:
			d = -1
		default:
			d = CmpRmapRecs(w, h)
		}
		switch {
		case d == 0:
			w, okW = nextW()
			h, okH = nextH()
		case d < 0:
			r := xfsformat.DecodeRmapRec(w)
			if missing++; missing <= 10 {
				report(finding("rmapbt.missing", "no rmap record for blocks [%d,%d] of %s (offset %d)", r.StartBlock, r.BlockCount, ownerText(r), r.FileOffset()))
			}
			w, okW = nextW()
		default:
			r := xfsformat.DecodeRmapRec(h)
			if extra++; extra <= 10 {
				report(finding("rmapbt.extra", "rmap record [%d,%d] of %s (offset %d) matches nothing in use", r.StartBlock, r.BlockCount, ownerText(r), r.FileOffset()))
			}
			h, okH = nextH()
		}
	}
	return missing + extra
}

// xrefInodeTrees: the finobt holds exactly the inobt's chunks that have a
// free inode.
func (c *AG) xrefInodeTrees(ctx context.Context) error {
	ino, fino := c.trees[xfsformat.Inobt], c.trees[xfsformat.Finobt]
	if ino == nil || fino == nil || ino.recs == nil || fino.recs == nil {
		return nil
	}
	sparse := c.fs.Geo.SparseInodes
	var err error
	withFree := func(yield func([]byte) bool) {
		for rec := range ino.recs.All(ctx, &err) {
			if xfsformat.DecodeInobtRec(rec, sparse).FreeCount > 0 && !yield(rec) {
				return
			}
		}
	}
	// One difference shifts the rest; one finding is enough.
	i, f, differ := firstDifference(withFree, fino.recs.All(ctx, &err))
	if !differ {
		return err
	}
	var r xfsformat.InobtRec
	switch {
	case f == nil || (i != nil && binary.BigEndian.Uint32(i) < binary.BigEndian.Uint32(f)):
		r = xfsformat.DecodeInobtRec(i, sparse)
		c.addNoBlock("finobt.missing", XrefMismatch, "chunk %d has %d free inodes but is not in the finobt", r.StartIno, r.FreeCount)
	case i == nil || binary.BigEndian.Uint32(f) < binary.BigEndian.Uint32(i):
		r = xfsformat.DecodeInobtRec(f, sparse)
		c.addNoBlock("finobt.extra", XrefMismatch, "finobt chunk %d is not an inobt chunk with free inodes", r.StartIno)
	default:
		r = xfsformat.DecodeInobtRec(f, sparse)
		c.addNoBlock("finobt.xref", XrefMismatch, "finobt record for chunk %d differs from the inobt's", r.StartIno)
	}
	return err
}

// xrefSBInodes: the inodes the superblock names (the root directory,
// the realtime bitmap and summary, the quota inodes) that live in this AG
// must be allocated inodes of a chunk the inobt lists. An inobt that lost
// a chunk (an emptied leaf is well-formed) takes them with it, and
// nothing else in the AG's metadata shows it: xfs_repair says "root
// inode chunk not found".
func (c *AG) xrefSBInodes(ctx context.Context) error {
	tr := c.trees[xfsformat.Inobt]
	if tr == nil || tr.recs == nil || c.fs.SB == nil {
		return nil
	}
	sb := c.fs.SB
	type sbInode struct {
		name  string
		agino uint32
		found bool
	}
	var want []*sbInode
	for _, n := range []struct {
		name string
		ino  uint64
	}{{"root directory", sb.RootIno}, {"realtime bitmap", sb.RBMIno}, {"realtime summary", sb.RSumIno},
		{"user quota", sb.UQuotIno}, {"group quota", sb.GQuotIno}, {"project quota", sb.PQuotIno}} {
		if n.ino == 0 || n.ino == xfsformat.NullFSIno || !c.validIno(n.ino) {
			continue
		}
		if agno, agino := c.fs.Geo.SplitIno(n.ino); agno == c.agno {
			want = append(want, &sbInode{name: n.name + " inode " + strconv.FormatUint(n.ino, 10), agino: agino})
		}
	}
	if len(want) == 0 {
		return nil
	}
	sparse := c.fs.Geo.SparseInodes
	err := tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
		r := xfsformat.DecodeInobtRec(rec, sparse)
		for _, w := range want {
			if w.found || w.agino < r.StartIno || w.agino-r.StartIno >= xfsformat.InodesPerChunk {
				continue
			}
			w.found = true
			i := w.agino - r.StartIno
			switch {
			case r.HoleMask&(1<<(i/4)) != 0:
				c.addNoBlock("inobt.sb_inode", XrefMismatch, "the superblock's %s is in a sparse hole of chunk %d", w.name, r.StartIno)
			case r.Free&(1<<i) != 0:
				c.addNoBlock("inobt.sb_inode", XrefMismatch, "the superblock's %s is free in chunk %d", w.name, r.StartIno)
			}
		}
		return nil
	})
	for _, w := range want {
		if err == nil && !w.found {
			c.addNoBlock("inobt.sb_inode", XrefMismatch, "the superblock's %s is in no chunk the inobt lists", w.name)
		}
	}
	return err
}

// xrefCounters compares the AG headers' counters with what the trees
// hold.
func (c *AG) xrefCounters() {
	ctx := context.Background()
	g := c.fs.Geo
	blocks := func(t xfsformat.BtreeType) (int64, bool) {
		if tr := c.trees[t]; tr != nil && tr.walked {
			return tr.blocks, true
		}
		return 0, false
	}
	if c.agfOK {
		if tr := c.trees[xfsformat.Bnobt]; tr != nil && tr.walked {
			sum, longest := tr.freeSum, tr.longest
			c.freeBlocks = sum
			if uint64(c.agf.FreeBlks) != sum {
				c.add("agf.freeblks", XrefMismatch, 1, "freeblks %d, but the bnobt holds %d free blocks", c.agf.FreeBlks, sum)
			}
			if uint64(c.agf.Longest) != longest {
				c.add("agf.longest", XrefMismatch, 1, "longest %d, but the longest free extent is %d", c.agf.Longest, longest)
			}
		}
		bno, ok1 := blocks(xfsformat.Bnobt)
		cnt, ok2 := blocks(xfsformat.Cntbt)
		if ok1 && ok2 {
			want := bno - 1 + cnt - 1
			if rm, ok := blocks(xfsformat.Rmapbt); ok && g.Rmapbt {
				want += rm - 1
			}
			c.btreeBlocks = uint64(max(want, 0))
			if int64(c.agf.BtreeBlks) != want {
				c.add("agf.btreeblks", XrefMismatch, 1, "btreeblks %d, but the free-space and rmap btrees have %d blocks besides their roots", c.agf.BtreeBlks, want)
			}
		}
		if rm, ok := blocks(xfsformat.Rmapbt); ok && g.Rmapbt && int64(c.agf.RmapBlocks) != rm {
			c.add("agf.rmapblocks", XrefMismatch, 1, "rmapblocks %d, but the rmapbt has %d blocks", c.agf.RmapBlocks, rm)
		}
		if rc, ok := blocks(xfsformat.Refcountbt); ok && g.Reflink && int64(c.agf.RefcntBlocks) != rc {
			c.add("agf.refcntblocks", XrefMismatch, 1, "refcntblocks %d, but the refcountbt has %d blocks", c.agf.RefcntBlocks, rc)
		}
	}
	if c.agiOK {
		if tr := c.trees[xfsformat.Inobt]; tr != nil && tr.walked {
			var count, free uint64
			tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
				r := xfsformat.DecodeInobtRec(rec, g.SparseInodes)
				count += uint64(r.Count)
				free += uint64(r.FreeCount)
				return nil
			})
			c.inodeCount, c.inodeFree = count, free
			if uint64(c.agi.Count) != count {
				c.add("agi.count", XrefMismatch, 2, "count %d, but the inobt's chunks hold %d inodes", c.agi.Count, count)
			}
			if uint64(c.agi.FreeCount) != free {
				c.add("agi.freecount", XrefMismatch, 2, "freecount %d, but the inobt's chunks have %d free inodes", c.agi.FreeCount, free)
			}
		}
		if g.InobtCount {
			if n, ok := blocks(xfsformat.Inobt); ok && int64(c.agi.IBlocks) != n {
				c.add("agi.ino_blocks", XrefMismatch, 2, "ino_blocks %d, but the inobt has %d blocks", c.agi.IBlocks, n)
			}
			if n, ok := blocks(xfsformat.Finobt); ok && g.Finobt && int64(c.agi.FBlocks) != n {
				c.add("agi.fino_blocks", XrefMismatch, 2, "fino_blocks %d, but the finobt has %d blocks", c.agi.FBlocks, n)
			}
		}
	}
}

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }

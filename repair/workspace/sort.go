//go:build linux

package workspace

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

const (
	// maxFanIn caps how many runs one merge combines.
	maxFanIn = 256

	// ioPiece is the largest transfer made between context checks when
	// Sort reads a run into memory.
	ioPiece = 4 << 20
)

// run is a sorted range [start, end) of record indices.
type run struct{ start, end int64 }

// Sort sorts the array by cmp, which returns a negative number when a
// sorts before b, a positive one when after and zero when they are equal
// (like bytes.Compare). The sort is not stable. cmp is called only from
// the calling goroutine and must not retain its arguments.
//
// Sort is an external merge sort: it sorts chunks of at most
// Options.SortMemory bytes in memory with pattern-defeating quicksort,
// writes each back in place as a sorted run, and merges the runs with a
// heap into fresh space of the workspace, releasing the space of the runs
// as they are consumed, so the file grows by little more than the merge
// buffers. The Go heap it uses is bounded by SortMemory.
//
// If ctx is done, Sort returns promptly with an error wrapping ctx.Err().
// After a failed Sort the array either holds the same records in an
// unspecified order, or, if the failure hit the merge after it had begun
// reusing space, is unusable and returns the error from every call.
func (a *Array) Sort(ctx context.Context, cmp func(a, b []byte) int) error {
	if cmp == nil {
		return fmt.Errorf("%w: nil comparison function", ErrInvalid)
	}
	if err := a.usable(); err != nil {
		return err
	}
	a.sortedBy = nil
	return a.sort(ctx, cmp, 1, func(s *recSorter, b, _ []byte) error { return s.sort(b) })
}

// SortKey sorts the array by the first keyLen bytes of each record,
// compared as bytes.Compare compares them (big-endian numbers sort as
// numbers); records with equal keys end in an unspecified order. It is
// Sort with that comparison, but each in-memory chunk is sorted by an
// LSD radix sort (a pass per key byte, bytes equal in every record of
// the chunk skipped), which costs a few passes over the chunk instead
// of n log n comparisons through a function value. Its chunks are half
// as large as Sort's (the radix sort needs a second buffer), so the Go
// heap stays bounded by Options.SortMemory.
func (a *Array) SortKey(ctx context.Context, keyLen int) error {
	return a.SortBy(ctx, Span{0, keyLen})
}

// Span is a byte range of a record: Len bytes from Off.
type Span struct{ Off, Len int }

// SortBy is SortKey with a key made of the spans, compared in the order
// given, each bytewise (so big-endian fields compare as numbers): the
// records of check.CmpRmapRecs, say, are {0,4} {8,16} {4,4}.
func (a *Array) SortBy(ctx context.Context, key ...Span) error {
	var pos []int // the key's bytes, most significant first
	for _, s := range key {
		if s.Len < 1 || s.Off < 0 || s.Off+s.Len > a.r {
			return fmt.Errorf("%w: key bytes %d-%d in records of %d", ErrInvalid, s.Off, s.Off+s.Len, a.r)
		}
		for i := range s.Len {
			pos = append(pos, s.Off+i)
		}
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: an empty key", ErrInvalid)
	}
	if slices.Equal(a.sortedBy, key) {
		return a.settle() // in order already: nothing to read
	}
	if err := a.sort(ctx, spanCompare(key), 2, func(s *recSorter, b, tmp []byte) error {
		return radixSort(ctx, b, tmp[:len(b)], a.r, pos)
	}); err != nil {
		return err
	}
	a.sortedBy = slices.Clone(key)
	return nil
}

// MarkSorted tells the array its records are in the order of key, as
// SortBy would leave them: its caller compared each record with the
// one before in that order (CompareBy(key...)'s) as it appended them (a
// btree walk checking its records' order). A SortBy of that key then
// reads nothing.
func (a *Array) MarkSorted(key ...Span) {
	if a != nil {
		a.sortedBy = slices.Clone(key)
	}
}

// SortedBy says whether the records are known to be in the order of
// key (SortBy's last, or MarkSorted's): a SortBy of key then reads
// nothing and changes nothing, so readers may share the array with it.
func (a *Array) SortedBy(key ...Span) bool {
	return a != nil && a.sortedBy != nil && slices.Equal(a.sortedBy, key)
}

// CompareBy is the comparison SortBy orders records of key by.
func CompareBy(key ...Span) func(x, y []byte) int { return spanCompare(key) }

// spanCompare is the comparison of SortBy's key, as bytes.Compare of each
// span in turn would make it, but loading each span as big-endian words
// of up to 8 bytes: the order check of input already sorted and the
// merge call it once or more a record, where bytes.Compare through a
// slice of spans cost several times the rest of their work.
func spanCompare(key []Span) func(x, y []byte) int {
	type word struct{ off, len int }
	var words []word
	for _, s := range key {
		for o := 0; o < s.Len; o += 8 {
			words = append(words, word{s.Off + o, min(8, s.Len-o)})
		}
	}
	load := func(b []byte, w word) uint64 {
		switch w.len {
		case 8:
			return binary.BigEndian.Uint64(b[w.off:])
		case 4:
			return uint64(binary.BigEndian.Uint32(b[w.off:]))
		}
		var v uint64
		for _, c := range b[w.off : w.off+w.len] {
			v = v<<8 | uint64(c)
		}
		return v
	}
	if len(words) == 1 {
		w := words[0]
		return func(x, y []byte) int { return cmp.Compare(load(x, w), load(y, w)) }
	}
	return func(x, y []byte) int {
		for _, w := range words {
			if c := cmp.Compare(load(x, w), load(y, w)); c != 0 {
				return c
			}
		}
		return 0
	}
}

// sort is Sort and SortKey: chunks of the sort memory divided by
// buffers (the buffers sortChunk needs), each sorted by sortChunk, then
// merged by cmp.
func (a *Array) sort(ctx context.Context, cmp func(a, b []byte) int, buffers int64, sortChunk func(s *recSorter, b, tmp []byte) error) error {
	if err := a.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("workspace: sort: %w", err)
	}
	if err := a.settle(); err != nil {
		return err
	}
	n := a.n
	if n < 2 {
		return nil
	}
	r := int64(a.r)
	mem := max(a.ws.sortMem/buffers, 8*r)
	chunk := mem / r
	buf := a.ws.sortBuffer(min(chunk, n) * r)
	defer a.ws.doneWithSortBuffer(buf)
	var tmp []byte
	if buffers > 1 {
		tmp = a.ws.sortBuffer(int64(len(buf)))
		defer a.ws.doneWithSortBuffer(tmp)
	}

	// Phase 1: sort chunks in memory and write them back as runs.
	s := newRecSorter(ctx, a.r, cmp)
	var runs []run
	ordered := true     // every run so far starts at or after the previous one's end
	var prevLast []byte // last record of the previous run
	for start := int64(0); start < n; start += chunk {
		cnt := min(chunk, n-start)
		b := buf[:cnt*r]
		// Read in pieces so that cancellation is seen while a large
		// buffer is being filled (and, on first use, faulted in).
		for o := 0; o < len(b); o += ioPiece {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("workspace: sort cancelled while reading run at record %d: %w", start, err)
			}
			if err := a.rg.readAt(b[o:min(o+ioPiece, len(b))], start*r+int64(o)); err != nil {
				return fmt.Errorf("workspace: sort: reading run at record %d: %w", start, err)
			}
		}
		// Input that is already in order (records a walk produced in
		// key order, the usual case) is checked in one pass and neither
		// sorted nor written back.
		if !chunkSorted(b, a.r, cmp) {
			if err := sortChunk(s, b, tmp); err != nil {
				return fmt.Errorf("workspace: sort cancelled while sorting run at record %d: %w", start, err)
			}
			if err := a.rg.writeAt(b, start*r); err != nil {
				a.err = fmt.Errorf("workspace: sort: writing run at record %d failed, array unusable: %w", start, err)
				a.rg.release()
				return a.err
			}
		}
		if len(runs) > 0 && cmp(prevLast, b[:r]) > 0 {
			ordered = false
		}
		prevLast = append(prevLast[:0], b[len(b)-int(r):]...)
		runs = append(runs, run{start, start + cnt})
	}
	if ordered {
		return nil // the runs follow one another: no merge needed
	}

	// Phase 2: merge runs, maxFanIn or fewer at a time, until one is left.
	out := max(r, int64(len(buf))/8/r*r)
	minRunBuf := max(r, min(256<<10, int64(len(buf))/16)/r*r)
	fanIn := int((int64(len(buf)) - out) / minRunBuf)
	fanIn = max(2, min(fanIn, maxFanIn))
	for len(runs) > 1 {
		next, err := a.mergePass(ctx, cmp, runs, buf, fanIn)
		if err != nil {
			return err
		}
		runs = next
	}
	return nil
}

// runReader streams one run from the source region.
type runReader struct {
	cur, end int64  // next record to read from the file; end of run
	buf      []byte // this run's share of the sort buffer
	pos, lim int    // current record and end of valid data in buf
	relNext  int64  // first source segment not yet given up by this run
	relLast  int64  // last source segment overlapping this run
}

// merger holds the state of one merge pass.
type merger struct {
	a     *Array
	ctx   context.Context
	cmp   func(a, b []byte) int
	r     int
	src   *region
	dst   region
	refs  []int32 // per source segment: runs still reading from it
	lost  bool    // some source segment was released
	outN  int64   // records written to dst
	count int64   // records merged, for context polling
}

// mergePass merges groups of up to fanIn runs from a.rg into a new region
// and makes that the array's region.
func (a *Array) mergePass(ctx context.Context, cmp func(a, b []byte) int, runs []run, buf []byte, fanIn int) ([]run, error) {
	r := int64(a.r)
	S := a.ws.segSize
	m := &merger{a: a, ctx: ctx, cmp: cmp, r: a.r, src: &a.rg, dst: region{ws: a.ws}}
	m.refs = make([]int32, len(a.rg.segs))
	for _, rn := range runs {
		for sg := rn.start * r / S; sg <= (rn.end*r-1)/S; sg++ {
			m.refs[sg]++
		}
	}
	var next []run
	for g := 0; g < len(runs); g += fanIn {
		group := runs[g:min(g+fanIn, len(runs))]
		start := m.outN
		if err := m.mergeGroup(group, buf); err != nil {
			m.dst.release()
			if m.lost {
				a.err = fmt.Errorf("workspace: sort aborted during merge, array contents lost: %w", err)
				a.rg.release()
				return nil, a.err
			}
			return nil, err
		}
		next = append(next, run{start, m.outN})
	}
	a.rg.release()
	a.rg = m.dst
	return next, nil
}

func (m *merger) refill(rd *runReader) error {
	r := int64(m.r)
	cnt := min(int64(len(rd.buf))/r, rd.end-rd.cur)
	if err := m.src.readAt(rd.buf[:cnt*r], rd.cur*r); err != nil {
		return fmt.Errorf("workspace: sort: reading run at record %d: %w", rd.cur, err)
	}
	rd.cur += cnt
	rd.pos, rd.lim = 0, int(cnt*r)
	// Give up source segments this run has read completely; once no run
	// needs a segment it can hold merge output.
	S := m.a.ws.segSize
	done, end := rd.cur*r, rd.end*r
	for rd.relNext <= rd.relLast && done >= min(end, (rd.relNext+1)*S) {
		m.refs[rd.relNext]--
		if m.refs[rd.relNext] == 0 {
			m.src.releaseSeg(int(rd.relNext))
			m.lost = true
		}
		rd.relNext++
	}
	return nil
}

func (m *merger) poll() error {
	m.count++
	if m.count%ctxEvery == 0 {
		if err := m.ctx.Err(); err != nil {
			return fmt.Errorf("workspace: sort cancelled while merging: %w", err)
		}
	}
	return nil
}

// mergeGroup merges the runs of group, appending them to m.dst.
func (m *merger) mergeGroup(group []run, buf []byte) error {
	r := m.r
	k := len(group)
	outCap := max(r, len(buf)/8/r*r)
	per := (len(buf) - outCap) / k / r * r
	if per < r {
		return errors.New("workspace: sort: internal error: merge buffer too small")
	}
	out := buf[:0:outCap]
	S := m.a.ws.segSize
	rds := make([]runReader, k)
	h := make([]int32, 0, k)
	for i, rn := range group {
		off := outCap + i*per
		rds[i] = runReader{
			cur: rn.start, end: rn.end,
			buf:     buf[off : off+per : off+per],
			relNext: rn.start * int64(r) / S,
			relLast: (rn.end*int64(r) - 1) / S,
		}
		if err := m.refill(&rds[i]); err != nil {
			return err
		}
		h = append(h, int32(i))
	}

	cmp := m.cmp
	rec := func(i int32) []byte {
		rd := &rds[i]
		return rd.buf[rd.pos : rd.pos+r : rd.pos+r]
	}
	less := func(x, y int32) bool {
		if c := cmp(rec(x), rec(y)); c != 0 {
			return c < 0
		}
		return x < y
	}
	siftDown := func(i int) {
		n := len(h)
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && less(h[c+1], h[c]) {
				c++
			}
			if !less(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	flushOut := func() error {
		if len(out) == 0 {
			return nil
		}
		if err := m.dst.writeAt(out, m.outN*int64(r)); err != nil {
			return fmt.Errorf("workspace: sort: writing merge output at record %d: %w", m.outN, err)
		}
		m.outN += int64(len(out) / r)
		out = out[:0]
		return nil
	}

	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(i)
	}
	for len(h) > 1 {
		if err := m.poll(); err != nil {
			return err
		}
		rd := &rds[h[0]]
		out = append(out, rd.buf[rd.pos:rd.pos+r]...)
		if len(out) == cap(out) {
			if err := flushOut(); err != nil {
				return err
			}
		}
		rd.pos += r
		if rd.pos == rd.lim {
			if rd.cur < rd.end {
				if err := m.refill(rd); err != nil {
					return err
				}
			} else {
				last := len(h) - 1
				h[0] = h[last]
				h = h[:last]
			}
		}
		siftDown(0)
	}

	// One run left: copy the rest of it through in bulk.
	if len(h) == 1 {
		rd := &rds[h[0]]
		for {
			for rd.pos < rd.lim {
				if err := m.ctx.Err(); err != nil {
					return fmt.Errorf("workspace: sort cancelled while merging: %w", err)
				}
				n := min(cap(out)-len(out), rd.lim-rd.pos)
				out = append(out, rd.buf[rd.pos:rd.pos+n]...)
				rd.pos += n
				if len(out) == cap(out) {
					if err := flushOut(); err != nil {
						return err
					}
				}
			}
			if rd.cur >= rd.end {
				break
			}
			if err := m.refill(rd); err != nil {
				return err
			}
		}
	}
	return flushOut()
}

// chunkSorted reports whether the records of b (r bytes each) are in
// non-decreasing order by cmp.
func chunkSorted(b []byte, r int, cmp func(a, b []byte) int) bool {
	for o := r; o < len(b); o += r {
		if cmp(b[o-r:o:o], b[o:o+r:o+r]) > 0 {
			return false
		}
	}
	return true
}

// radixSort sorts buf, records of r bytes, by the bytes at positions
// key (most significant first), least significant byte first, through
// tmp (as long as buf); a byte position equal in every record is
// skipped. One pass over buf counts every key byte's values, so each
// byte that sorts costs one scatter pass and no count of its own. The
// context is polled once a pass.
func radixSort(ctx context.Context, buf, tmp []byte, r int, key []int) error {
	n := len(buf) / r
	if n < 2 {
		return nil
	}
	counts := make([][256]int, len(key))
	for o := 0; o+r <= len(buf); o += r {
		rec := buf[o : o+r]
		for k, pos := range key {
			counts[k][rec[pos]]++
		}
	}
	src, dst := buf, tmp
	for k := len(key) - 1; k >= 0; k-- {
		pos, count := key[k], &counts[k]
		if count[buf[pos]] == n { // the same byte in every record
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sum := 0
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		scatter(dst, src, r, pos, count)
		src, dst = dst, src
	}
	if &src[0] != &buf[0] {
		copy(buf, src)
	}
	return nil
}

// scatter moves each record of src to dst at the next slot of its byte
// at pos (offsets in records, advanced as they are taken). Records of
// the common sizes move as fixed-size arrays, without a call to
// memmove each.
func scatter(dst, src []byte, r, pos int, next *[256]int) {
	switch r {
	case 8:
		scatterN[[8]byte](dst, src, pos, next)
	case 16:
		scatterN[[16]byte](dst, src, pos, next)
	case 24:
		scatterN[[24]byte](dst, src, pos, next)
	case 32:
		scatterN[[32]byte](dst, src, pos, next)
	default:
		for o := 0; o+r <= len(src); o += r {
			b := src[o+pos]
			d := next[b] * r
			copy(dst[d:d+r], src[o:o+r])
			next[b]++
		}
	}
}

// scatterN is scatter for records of exactly len(T) bytes.
func scatterN[T [8]byte | [16]byte | [24]byte | [32]byte](dst, src []byte, pos int, next *[256]int) {
	var zero T
	r := len(zero)
	d := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)/r)
	s := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(src))), len(src)/r)
	for i := range s {
		b := s[i][pos]
		d[next[b]] = s[i]
		next[b]++
	}
}

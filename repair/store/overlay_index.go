package store

import (
	"slices"
	"sort"
)

// span says that image bytes [start, end) are staged at pos in the
// overlay's file.
type span struct{ start, end, pos int64 }

// indexChunk is the stretch of the image one list of spans covers: a
// write touches only the lists of the chunks it overlaps, so staging
// stays cheap however many writes the overlay holds.
const indexChunk = 1 << 20

// spanIndex maps image bytes to where the overlay staged them: per chunk
// of the image, sorted spans that do not overlap (a later write cuts the
// earlier spans it covers).
type spanIndex struct {
	chunks map[int64][]span
	n      int
	bytes  int64
}

func (x *spanIndex) stats() (int, int64) { return x.n, x.bytes }

// insert records that [start, end) is now staged at pos.
func (x *spanIndex) insert(start, end, pos int64) {
	if x.chunks == nil {
		x.chunks = map[int64][]span{}
	}
	for c := start / indexChunk; c*indexChunk < end; c++ {
		lo, hi := max(start, c*indexChunk), min(end, (c+1)*indexChunk)
		x.chunks[c] = x.put(x.chunks[c], span{lo, hi, pos + (lo - start)})
	}
}

// put cuts s out of the sorted spans ss and inserts it.
func (x *spanIndex) put(ss []span, s span) []span {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].end > s.start })
	j := i
	var keep []span
	for ; j < len(ss) && ss[j].start < s.end; j++ {
		o := ss[j]
		x.n--
		x.bytes -= o.end - o.start
		if o.start < s.start {
			keep = append(keep, span{o.start, s.start, o.pos})
		}
		if o.end > s.end {
			keep = append(keep, span{s.end, o.end, o.pos + (s.end - o.start)})
		}
	}
	repl := make([]span, 0, len(keep)+1)
	for _, k := range keep {
		if k.start < s.start {
			repl = append(repl, k)
		}
	}
	repl = append(repl, s)
	for _, k := range keep {
		if k.start >= s.end {
			repl = append(repl, k)
		}
	}
	for _, r := range repl {
		x.n++
		x.bytes += r.end - r.start
	}
	return slices.Replace(ss, i, j, repl...)
}

// visit calls fn, in image order, with every span overlapping
// [start, end) until fn returns false.
func (x *spanIndex) visit(start, end int64, fn func(span) bool) {
	if x.n == 0 || start >= end {
		return
	}
	first, last := start/indexChunk, (end-1)/indexChunk
	if last-first > int64(len(x.chunks)) {
		// A wide range over few chunks: visit the chunks there are.
		keys := make([]int64, 0, len(x.chunks))
		for c := range x.chunks {
			if c >= first && c <= last {
				keys = append(keys, c)
			}
		}
		slices.Sort(keys)
		for _, c := range keys {
			if !visitChunk(x.chunks[c], start, end, fn) {
				return
			}
		}
		return
	}
	for c := first; c <= last; c++ {
		if !visitChunk(x.chunks[c], start, end, fn) {
			return
		}
	}
}

func visitChunk(ss []span, start, end int64, fn func(span) bool) bool {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].end > start })
	for ; i < len(ss) && ss[i].start < end; i++ {
		if !fn(ss[i]) {
			return false
		}
	}
	return true
}

//go:build linux

package workspace

import (
	"context"
	"encoding/binary"
	"math/bits"
)

// This file holds an in-place pattern-defeating quicksort over a byte buffer
// of fixed-size records. It is a port of the pdqsort in the standard
// library's slices package (BSD licence, The Go Authors), changed to address
// records by index into one []byte, to swap raw bytes, and to observe a
// context so that a cancelled sort stops within a bounded number of
// comparisons. For the same comparator it performs exactly the same
// comparisons and swaps as slices.SortFunc, so its output is identical.

// ctxCheckMask sets how often the sorter polls its context: about once
// every ctxCheckMask comparisons.
const ctxCheckMask = 1<<14 - 1

type sortedHint int

const (
	unknownHint sortedHint = iota
	increasingHint
	decreasingHint
)

// recSorter sorts buf, a sequence of records of r bytes each.
type recSorter struct {
	buf    []byte
	r      int
	cmp    func(a, b []byte) int
	ctx    context.Context
	tmp    []byte // r bytes, for swaps of odd-sized records
	budget int    // comparisons left before the next context check
	err    error  // set once the context is done; the sort then unwinds
}

func newRecSorter(ctx context.Context, r int, cmp func(a, b []byte) int) *recSorter {
	return &recSorter{r: r, cmp: cmp, ctx: ctx, tmp: make([]byte, r), budget: ctxCheckMask}
}

// sort sorts buf in place. It returns the context's error if the context
// was done before the sort finished; buf then holds the same records in an
// unspecified order.
func (s *recSorter) sort(buf []byte) error {
	s.buf = buf
	n := len(buf) / s.r
	if s.err == nil {
		if err := s.ctx.Err(); err != nil {
			s.cancel(err)
		}
	}
	if s.err == nil {
		s.pdqsort(0, n, bits.Len(uint(n)))
	}
	s.buf = nil
	return s.err
}

// less reports whether record i sorts before record j. It is kept small
// enough to be inlined; the context is polled in poll once the comparison
// budget runs out.
func (s *recSorter) less(i, j int) bool {
	s.budget--
	if s.budget < 0 {
		s.poll()
	}
	r := s.r
	x, y := i*r, j*r
	return s.cmp(s.buf[x:x+r:x+r], s.buf[y:y+r:y+r]) < 0
}

func (s *recSorter) poll() {
	s.budget = ctxCheckMask
	if s.err == nil {
		if err := s.ctx.Err(); err != nil {
			s.cancel(err)
		}
	}
}

// cancel records err and replaces the comparator by one that finds all
// records equal, so every loop of the algorithm runs out in linear time
// without calling the caller's comparator again.
func (s *recSorter) cancel(err error) {
	s.err = err
	s.cmp = func(a, b []byte) int { return 0 }
}

func (s *recSorter) swap(i, j int) {
	r := s.r
	a := s.buf[i*r : i*r+r : i*r+r]
	b := s.buf[j*r : j*r+r : j*r+r]
	switch {
	case r == 16:
		a0, a1 := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(a[8:])
		b0, b1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		binary.LittleEndian.PutUint64(a, b0)
		binary.LittleEndian.PutUint64(a[8:], b1)
		binary.LittleEndian.PutUint64(b, a0)
		binary.LittleEndian.PutUint64(b[8:], a1)
	case r == 8:
		a0, b0 := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(b)
		binary.LittleEndian.PutUint64(a, b0)
		binary.LittleEndian.PutUint64(b, a0)
	case r%8 == 0 && r <= 64:
		for k := 0; k+8 <= r; k += 8 {
			x, y := binary.LittleEndian.Uint64(a[k:]), binary.LittleEndian.Uint64(b[k:])
			binary.LittleEndian.PutUint64(a[k:], y)
			binary.LittleEndian.PutUint64(b[k:], x)
		}
	default:
		copy(s.tmp, a)
		copy(a, b)
		copy(b, s.tmp)
	}
}

func (s *recSorter) insertionSort(a, b int) {
	r, buf := s.r, s.buf
	for i := a + 1; i < b; i++ {
		for j := i; j > a; j-- {
			// s.less(j, j-1), written out as in partition.
			if s.budget--; s.budget < 0 {
				s.poll()
			}
			o := j * r
			if s.cmp(buf[o:o+r:o+r], buf[o-r:o:o]) >= 0 {
				break
			}
			s.swap(j, j-1)
		}
	}
}

func (s *recSorter) siftDown(lo, hi, first int) {
	root := lo
	for {
		child := 2*root + 1
		if child >= hi {
			return
		}
		if child+1 < hi && s.less(first+child, first+child+1) {
			child++
		}
		if !s.less(first+root, first+child) {
			return
		}
		s.swap(first+root, first+child)
		root = child
	}
}

func (s *recSorter) heapSort(a, b int) {
	first := a
	lo := 0
	hi := b - a
	for i := (hi - 1) / 2; i >= 0 && s.err == nil; i-- {
		s.siftDown(i, hi, first)
	}
	for i := hi - 1; i >= 0 && s.err == nil; i-- {
		s.swap(first, first+i)
		s.siftDown(lo, i, first)
	}
}

func (s *recSorter) pdqsort(a, b, limit int) {
	const maxInsertion = 12

	var (
		wasBalanced    = true
		wasPartitioned = true
	)

	for s.err == nil {
		length := b - a

		if length <= maxInsertion {
			s.insertionSort(a, b)
			return
		}

		if limit == 0 {
			s.heapSort(a, b)
			return
		}

		if !wasBalanced {
			s.breakPatterns(a, b)
			limit--
		}

		pivot, hint := s.choosePivot(a, b)
		if hint == decreasingHint {
			s.reverseRange(a, b)
			pivot = (b - 1) - (pivot - a)
			hint = increasingHint
		}

		if wasBalanced && wasPartitioned && hint == increasingHint {
			if s.partialInsertionSort(a, b) {
				return
			}
		}

		if a > 0 && !s.less(a-1, pivot) {
			mid := s.partitionEqual(a, b, pivot)
			a = mid
			continue
		}

		mid, alreadyPartitioned := s.partition(a, b, pivot)
		wasPartitioned = alreadyPartitioned

		leftLen, rightLen := mid-a, b-mid
		balanceThreshold := length / 8
		if leftLen < rightLen {
			wasBalanced = leftLen >= balanceThreshold
			s.pdqsort(a, mid, limit)
			a = mid + 1
		} else {
			wasBalanced = rightLen >= balanceThreshold
			s.pdqsort(mid+1, b, limit)
			b = mid
		}
	}
}

// partition is the hot loop of the sort, so the comparisons against the
// pivot (which stays at index a throughout) are written out in place
// rather than going through less; the sequence of comparisons and swaps is
// unchanged. slices' partitionCmpFunc writes its first scan out before
// the loop to return alreadyPartitioned; here the first pass of the loop
// sets it.
func (s *recSorter) partition(a, b, pivot int) (newpivot int, alreadyPartitioned bool) {
	s.swap(a, pivot)
	i, j := a+1, b-1
	r, buf := s.r, s.buf
	pv := buf[a*r : a*r+r : a*r+r]

	// ltPivot(k) is s.less(k, a).
	alreadyPartitioned = true
	for {
		for i <= j {
			if s.budget--; s.budget < 0 {
				s.poll()
			}
			if o := i * r; s.cmp(buf[o:o+r:o+r], pv) >= 0 {
				break
			}
			i++
		}
		for i <= j {
			if s.budget--; s.budget < 0 {
				s.poll()
			}
			if o := j * r; s.cmp(buf[o:o+r:o+r], pv) < 0 {
				break
			}
			j--
		}
		if i > j {
			break
		}
		alreadyPartitioned = false
		s.swap(i, j)
		i++
		j--
	}
	s.swap(j, a)
	return j, alreadyPartitioned
}

func (s *recSorter) partitionEqual(a, b, pivot int) (newpivot int) {
	s.swap(a, pivot)
	i, j := a+1, b-1

	for {
		for i <= j && !s.less(a, i) {
			i++
		}
		for i <= j && s.less(a, j) {
			j--
		}
		if i > j {
			break
		}
		s.swap(i, j)
		i++
		j--
	}
	return i
}

func (s *recSorter) partialInsertionSort(a, b int) bool {
	const (
		maxSteps         = 5
		shortestShifting = 50
	)
	i := a + 1
	for j := 0; j < maxSteps; j++ {
		for i < b && !s.less(i, i-1) {
			i++
		}
		if i == b {
			return true
		}
		if b-a < shortestShifting {
			return false
		}
		s.swap(i, i-1)
		if i-a >= 2 {
			for j := i - 1; j >= 1; j-- {
				if !s.less(j, j-1) {
					break
				}
				s.swap(j, j-1)
			}
		}
		if b-i >= 2 {
			for j := i + 1; j < b; j++ {
				if !s.less(j, j-1) {
					break
				}
				s.swap(j, j-1)
			}
		}
	}
	return false
}

type xorshift uint64

func (r *xorshift) next() uint64 {
	*r ^= *r << 13
	*r ^= *r >> 7
	*r ^= *r << 17
	return uint64(*r)
}

func (s *recSorter) breakPatterns(a, b int) {
	length := b - a
	if length >= 8 {
		random := xorshift(length)
		modulus := uint(1) << bits.Len(uint(length))
		for idx := a + (length/4)*2 - 1; idx <= a+(length/4)*2+1; idx++ {
			other := int(uint(random.next()) & (modulus - 1))
			if other >= length {
				other -= length
			}
			s.swap(idx, a+other)
		}
	}
}

func (s *recSorter) choosePivot(a, b int) (pivot int, hint sortedHint) {
	const (
		shortestNinther = 50
		maxSwaps        = 4 * 3
	)
	l := b - a
	var (
		swaps int
		i     = a + l/4*1
		j     = a + l/4*2
		k     = a + l/4*3
	)
	if l >= 8 {
		if l >= shortestNinther {
			i = s.median(i-1, i, i+1, &swaps)
			j = s.median(j-1, j, j+1, &swaps)
			k = s.median(k-1, k, k+1, &swaps)
		}
		j = s.median(i, j, k, &swaps)
	}
	switch swaps {
	case 0:
		return j, increasingHint
	case maxSwaps:
		return j, decreasingHint
	default:
		return j, unknownHint
	}
}

func (s *recSorter) order2(a, b int, swaps *int) (int, int) {
	if s.less(b, a) {
		*swaps++
		return b, a
	}
	return a, b
}

func (s *recSorter) median(a, b, c int, swaps *int) int {
	a, b = s.order2(a, b, swaps)
	b, _ = s.order2(b, c, swaps)
	_, b = s.order2(a, b, swaps)
	return b
}

func (s *recSorter) reverseRange(a, b int) {
	i := a
	j := b - 1
	for i < j {
		s.swap(i, j)
		i++
		j--
	}
}

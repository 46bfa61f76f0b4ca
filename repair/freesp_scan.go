package repair

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// The free-space rebuild's plan reads its used space once (scanUsed),
// and everything it needs of it comes from that pass: the blocks of the
// owners replaced, the candidates for new blocks, the kept space's
// union, and how many records the new rmapbt keeps. The new rmapbt's
// records are not staged: its bulk load reads them from the used space
// again, merged with the closure's (newRmaps).

// candidateSet gathers the candidate extents unsorted, apart by the
// bit length of their lengths, with the blocks of each: how few of the
// longest carve can need, and those alone to sort.
type candidateSet struct {
	ws     *workspace.Workspace
	byBits [33]*workspace.Array // candidateRecs of lengths [2^(b-1), 2^b)
	blocks [33]int64
	total  int64
}

func (cs *candidateSet) add(e check.Extent) error {
	n := int64(e.End - e.Start)
	b := bits.Len32(uint32(n))
	if cs.byBits[b] == nil {
		var err error
		if cs.byBits[b], err = cs.ws.NewArray(8); err != nil {
			return err
		}
	}
	cs.blocks[b] += n
	cs.total += n
	return cs.byBits[b].Append(candidateRec(e))
}

// from stages, unsorted, the candidates of bit length minBits and more.
func (cs *candidateSet) from(ctx context.Context, minBits int) (*workspace.Array, error) {
	out, err := cs.ws.NewArray(8)
	if err != nil {
		return nil, err
	}
	for b := max(minBits, 1); b < len(cs.byBits); b++ {
		if a := cs.byBits[b]; a != nil {
			if err := a.Iterate(ctx, func(_ int64, rec []byte) error { return out.Append(rec) }); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// scanUsed is the plan's pass over the used space: it stages the kept
// space's union (keptExt), counts the records the new rmapbt keeps
// (keptRmaps) and whether normalising them keeps their order, and, when
// the old state's used space is the check's (no inode rebuild), counts
// the blocks of the owners replaced and gathers the candidates. Then it
// sorts the candidates carve can reach (chooseCandidates) and judges
// whether space is tight.
func (s *freeSpaceRebuild) scanUsed(ctx context.Context) error {
	var err error
	if s.keptExt, err = s.ws.NewArray(8); err != nil {
		return err
	}
	cands := &candidateSet{ws: s.ws}
	shared := s.before == s.used
	var beforeU, keptU check.ExtentMerger
	before := &gapFinder{agLen: s.agLen, emit: cands.add}
	keptGaps := &gapFinder{agLen: s.agLen, emit: func(check.Extent) error { s.keptGaps++; return nil }}
	var norm *check.RmapNormalizer
	var keptRaw int64
	if s.fs.Geo.Rmapbt {
		norm = check.NewRmapNormalizer(func([]byte) error { s.keptRmaps++; return nil })
	}
	for rec := range s.used.All(ctx, &s.iterErr) {
		replaced := s.replaced(int64(binary.BigEndian.Uint64(rec[8:])))
		if shared {
			if replaced {
				s.oldOwnAG += int64(binary.BigEndian.Uint32(rec[4:]))
			}
			if e, ok := beforeU.Add(rec); ok {
				if err := before.add(e); err != nil {
					return err
				}
			}
		}
		if replaced {
			continue
		}
		if norm != nil {
			norm.Add(rec) // counts: never fails
			keptRaw++
		}
		if e, ok := keptU.Add(rec); ok {
			keptGaps.add(e)
			if err := s.keptExt.Append(extentRec(e)); err != nil {
				return err
			}
		}
	}
	if s.iterErr != nil {
		return s.iterErr
	}
	if e, ok := keptU.End(); ok {
		keptGaps.add(e)
		if err := s.keptExt.Append(extentRec(e)); err != nil {
			return err
		}
	}
	keptGaps.end()
	// keptExt is read by settle, then by the staging of the cntbt and
	// the load of the bnobt at once.
	if err := s.keptExt.Settle(); err != nil {
		return err
	}
	if norm != nil {
		norm.Finish()
		// Nothing merged: the kept records are normal as they are (a
		// sound rmapbt's, as the kernel keeps them merged).
		s.keptNormal = s.keptRmaps == keptRaw
		if !norm.Sorted() {
			if err := s.stageKeptRmaps(ctx); err != nil {
				return err
			}
		}
	}
	if shared {
		if e, ok := beforeU.End(); ok {
			if err := before.add(e); err != nil {
				return err
			}
		}
	} else {
		for rec := range s.c.Used().All(ctx, &s.iterErr) {
			if s.replaced(int64(binary.BigEndian.Uint64(rec[8:]))) {
				s.oldOwnAG += int64(binary.BigEndian.Uint32(rec[4:]))
			}
		}
		for e := range check.UsedUnion(s.before.All(ctx, &s.iterErr)) {
			if err := before.add(e); err != nil {
				return err
			}
		}
		if s.iterErr != nil {
			return s.iterErr
		}
	}
	if err := before.end(); err != nil {
		return err
	}
	s.tight = uint64(cands.total) < s.agLen/10
	return s.chooseCandidates(ctx, cands)
}

// stageKeptRmaps stages the kept records normalised and sorted
// (keepRmaps), for when normalising them put them out of order (merged
// records of shared blocks).
func (s *freeSpaceRebuild) stageKeptRmaps(ctx context.Context) error {
	var err error
	if s.keepRmaps, err = s.ws.NewArray(xfsformat.RmapRecLen); err != nil {
		return err
	}
	norm := check.NewRmapNormalizer(s.keepRmaps.Append)
	for rec := range s.kept(ctx, &s.iterErr) {
		if err := norm.Add(rec); err != nil {
			return err
		}
	}
	if s.iterErr != nil {
		return s.iterErr
	}
	if err := norm.Finish(); err != nil {
		return err
	}
	s.keptRmaps = s.keepRmaps.Len()
	return s.keepRmaps.SortBy(ctx, check.RmapSortKey...)
}

// candidateSlack is how many times the blocks the old trees held (and
// at least candidateFloor blocks) the sorted candidates must cover: the
// new trees, their blocks three quarters full, need about as many
// blocks as the old, a third more if those were full.
const (
	candidateSlack = 2
	candidateFloor = 4096
)

// chooseCandidates sets the candidates carve reads, longest first: only
// the longest, as many as cover candidateSlack times the blocks the old
// trees held; carveFrom sorts them all should carve need more. Every
// candidate at least as long as the shortest chosen is chosen, so the
// chosen are exactly the first of all of them in carve's order.
func (s *freeSpaceRebuild) chooseCandidates(ctx context.Context, cands *candidateSet) error {
	want := max(candidateSlack*s.oldOwnAG, candidateFloor)
	minBits, got := 1, int64(0)
	for b := len(cands.blocks) - 1; b > 0; b-- {
		got += cands.blocks[b]
		if got >= want {
			minBits = b
			break
		}
	}
	s.cands = cands
	return s.sortCandidates(ctx, minBits)
}

// sortCandidates sets the candidates to those of bit length minBits and
// more, sorted in carve's order: longest first, then by start.
func (s *freeSpaceRebuild) sortCandidates(ctx context.Context, minBits int) error {
	if s.candidates != nil {
		s.candidates.Release()
	}
	var err error
	if s.candidates, err = s.cands.from(ctx, minBits); err != nil {
		return err
	}
	s.allCandidates = minBits <= 1
	return s.candidates.SortKey(ctx, 8)
}

// carveFrom is carve from the chosen candidates, or, when they are too
// few, from all of them, sorted now.
func (s *freeSpaceRebuild) carveFrom(ctx context.Context, need int64) ([]check.Extent, error) {
	reserved, err := carve(ctx, s.candidates, need)
	if err != ErrNoSpace || s.allCandidates {
		return reserved, err
	}
	if err := s.sortCandidates(ctx, 1); err != nil {
		return nil, err
	}
	return carve(ctx, s.candidates, need)
}

// newRmaps is the new rmapbt's records as its bulk load reads them: the
// kept records as they are in the used space (keptNormal), normalised
// as they are read from it, or from keepRmaps (staged when normalising
// reordered them), merged with the closure's, sorted.
type newRmaps struct {
	s       *freeSpaceRebuild
	closure [][xfsformat.RmapRecLen]byte
}

// Iterate hands fn the records in order.
func (r *newRmaps) Iterate(ctx context.Context, fn func(i int64, rec []byte) error) error {
	s := r.s
	if s.keepRmaps == nil && s.keptNormal {
		return r.IterateRuns(ctx, eachRecord(xfsformat.RmapRecLen, fn))
	}
	var i int64
	ci := 0
	emit := func(rec []byte) error {
		for ci < len(r.closure) && check.CmpRmapRecs(r.closure[ci][:], rec) < 0 {
			if err := fn(i, r.closure[ci][:]); err != nil {
				return err
			}
			i, ci = i+1, ci+1
		}
		i++
		return fn(i-1, rec)
	}
	if s.keepRmaps != nil {
		if err := s.keepRmaps.Iterate(ctx, func(_ int64, rec []byte) error { return emit(rec) }); err != nil {
			return err
		}
	} else {
		var iterErr error
		norm := check.NewRmapNormalizer(emit)
		for rec := range s.kept(ctx, &iterErr) {
			if err := norm.Add(rec); err != nil {
				return err
			}
		}
		if iterErr != nil {
			return iterErr
		}
		if err := norm.Finish(); err != nil {
			return err
		}
	}
	return r.closureFrom(ci, i, fn)
}

// closureFrom hands fn the closure's records from the ci-th on, the
// first as record i: those after every kept record.
func (r *newRmaps) closureFrom(ci int, i int64, fn func(i int64, rec []byte) error) error {
	for ; ci < len(r.closure); ci++ {
		if err := fn(i, r.closure[ci][:]); err != nil {
			return err
		}
		i++
	}
	return nil
}

// IterateRuns hands fn the records in runs (RunRecords). Kept records
// normal as they are come in runs of the used space's as read, split
// where a record is dropped (an owner replaced) and where the
// closure's go in, each of those a run of its own; otherwise every
// record is a run.
func (r *newRmaps) IterateRuns(ctx context.Context, fn func(i int64, run []byte) error) error {
	s := r.s
	if s.keepRmaps != nil || !s.keptNormal {
		return r.Iterate(ctx, fn) // a record a run
	}
	const n = xfsformat.RmapRecLen
	var i int64
	ci := 0
	err := s.used.IterateRuns(ctx, func(_ int64, run []byte) error {
		seg := 0 // where the records not yet handed over start
		hand := func(end int) error {
			if end <= seg {
				return nil
			}
			err := fn(i, run[seg:end])
			i += int64(end-seg) / n
			return err
		}
		for o := 0; o < len(run); o += n {
			rec := run[o : o+n]
			if s.replaced(int64(binary.BigEndian.Uint64(rec[8:]))) {
				if err := hand(o); err != nil {
					return err
				}
				seg = o + n
				continue
			}
			if ci < len(r.closure) && check.CmpRmapRecs(r.closure[ci][:], rec) < 0 {
				if err := hand(o); err != nil {
					return err
				}
				seg = o
				for ; ci < len(r.closure) && check.CmpRmapRecs(r.closure[ci][:], rec) < 0; ci++ {
					if err := fn(i, r.closure[ci][:]); err != nil {
						return err
					}
					i++
				}
			}
		}
		return hand(len(run))
	})
	if err != nil {
		return err
	}
	return r.closureFrom(ci, i, fn)
}

// freeRecsAfter is how many free extents the rebuild leaves once the
// reserved runs are taken, the records of the new bnobt and cntbt:
// complement(keptUnion, reserved) counted without reading the kept
// space through, as settle asks it every iteration. Each run lies in a
// gap of the kept space (candidates are free before, and before covers
// what is kept), found by a binary search of keptExt; k runs in a gap
// [a, b) leave k+1 pieces of it, less one if the first starts at a and
// one if the last ends at b.
func (s *freeSpaceRebuild) freeRecsAfter(reserved []check.Extent) (int64, error) {
	n := s.keptGaps
	runs := mergeRuns(reserved)
	for i := 0; i < len(runs); {
		a, b, err := s.keptGapAt(runs[i].Start)
		if err != nil {
			return 0, err
		}
		j := i
		for j < len(runs) && runs[j].Start < b {
			if runs[j].End > b {
				return 0, fmt.Errorf("free-space rebuild: reserved blocks [%d,%d) cross kept space at %d", runs[j].Start, runs[j].End, b)
			}
			j++
		}
		pieces := int64(j - i + 1)
		if runs[i].Start == a {
			pieces--
		}
		if runs[j-1].End == b {
			pieces--
		}
		n += pieces - 1
		i = j
	}
	return n, nil
}

// keptGapAt returns the gap [a, b) of the kept space holding block x.
func (s *freeSpaceRebuild) keptGapAt(x uint64) (a, b uint64, err error) {
	var rec [8]byte
	load := func(i int64) (check.Extent, error) {
		err := s.keptExt.Load(i, rec[:])
		return extentOf(rec[:]), err
	}
	// The last kept extent starting at or before x, by binary search.
	lo, hi := int64(0), s.keptExt.Len() // the answer is lo-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := load(mid)
		if err != nil {
			return 0, 0, err
		}
		if e.Start <= x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	a, b = 0, s.agLen
	if lo > 0 {
		e, err := load(lo - 1)
		if err != nil {
			return 0, 0, err
		}
		if e.End > x {
			return 0, 0, fmt.Errorf("free-space rebuild: reserved block %d is in kept space [%d,%d)", x, e.Start, e.End)
		}
		a = e.End
	}
	if lo < s.keptExt.Len() {
		e, err := load(lo)
		if err != nil {
			return 0, 0, err
		}
		b = e.Start
	}
	return a, b, nil
}

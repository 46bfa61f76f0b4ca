package repair

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"iter"
	"slices"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// Extent sweeps over sorted rmap-style records: the complement of used
// space, and carving blocks for new btrees out of the largest extents.

// complement yields the gaps of [0, agLen) not covered by the union of
// the (sorted by start) used extents and the (sorted) extra runs.
func complement(used iter.Seq[check.Extent], extra []check.Extent, agLen uint64) iter.Seq[check.Extent] {
	return func(yield func(check.Extent) bool) {
		g := &gapFinder{agLen: agLen, emit: func(e check.Extent) error {
			if !yield(e) {
				return errStopGaps
			}
			return nil
		}}
		ei := 0
		for e := range used {
			for ; ei < len(extra) && extra[ei].Start < e.Start; ei++ {
				if g.add(extra[ei]) != nil {
					return
				}
			}
			if g.add(e) != nil {
				return
			}
		}
		for ; ei < len(extra); ei++ {
			if g.add(extra[ei]) != nil {
				return
			}
		}
		g.end()
	}
}

// errStopGaps ends a gapFinder whose consumer wants no more.
var errStopGaps = errors.New("no more gaps wanted")

// gapFinder turns extents pushed in order of start (a union's, or
// overlapping ones) into the gaps between them in [0, agLen), handed
// to emit: complement one extent at a time, for a pass that takes
// several complements at once (scanUsed).
type gapFinder struct {
	covered, agLen uint64
	emit           func(check.Extent) error
}

func (g *gapFinder) add(e check.Extent) error {
	if e.Start > g.covered {
		if err := g.emit(check.Extent{Start: g.covered, End: e.Start}); err != nil {
			return err
		}
	}
	g.covered = max(g.covered, e.End)
	return nil
}

func (g *gapFinder) end() error {
	if g.covered < g.agLen {
		return g.emit(check.Extent{Start: g.covered, End: g.agLen})
	}
	return nil
}

// filterOwners yields the records of a sorted used array, skipping those
// whose owner drop says to.
func filterOwners(ctx context.Context, a *workspace.Array, errp *error, drop func(owner int64) bool) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for rec := range a.All(ctx, errp) {
			if drop(int64(binary.BigEndian.Uint64(rec[8:]))) {
				continue
			}
			if !yield(rec) {
				return
			}
		}
	}
}

// candidateRec encodes a candidate extent for carve: its length's
// complement, then its start (big-endian), so that the records' byte
// order is carve's: longest first, the lowest start among equals.
func candidateRec(e check.Extent) []byte {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(e.End-e.Start))
	binary.BigEndian.PutUint32(b[4:], uint32(e.Start))
	return b[:]
}

// extentRec encodes an extent as a record of 8 bytes, its start and end
// (big-endian: records sort by start); extentOf decodes one.
func extentRec(e check.Extent) []byte {
	var b [8]byte
	binary.BigEndian.PutUint32(b[:], uint32(e.Start))
	binary.BigEndian.PutUint32(b[4:], uint32(e.End))
	return b[:]
}

func extentOf(rec []byte) check.Extent {
	return check.Extent{Start: uint64(binary.BigEndian.Uint32(rec)), End: uint64(binary.BigEndian.Uint32(rec[4:]))}
}

// carve takes need blocks from the largest candidate extents (ties: the
// lowest start), each run from the start of its extent, reading the
// candidates (candidateRecs sorted by their bytes) only as far as it
// takes from. The result is sorted by start.
func carve(ctx context.Context, candidates *workspace.Array, need int64) ([]check.Extent, error) {
	if need <= 0 {
		return nil, nil
	}
	var out []check.Extent
	left := need
	c := workspace.NewCursor(ctx, candidates)
	for left > 0 {
		rec, ok := c.Next()
		if !ok {
			break
		}
		n, start := uint64(^binary.BigEndian.Uint32(rec)), uint64(binary.BigEndian.Uint32(rec[4:]))
		take := min(int64(n), left)
		out = append(out, check.Extent{Start: start, End: start + uint64(take)})
		left -= take
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	if left > 0 {
		return nil, ErrNoSpace
	}
	slices.SortFunc(out, func(a, b check.Extent) int { return cmp.Compare(a.Start, b.Start) })
	return out, nil
}

// blocksOf flattens runs into block numbers.
func blocksOf(runs []check.Extent) []uint32 {
	var out []uint32
	for _, r := range runs {
		for b := r.Start; b < r.End; b++ {
			out = append(out, uint32(b))
		}
	}
	return out
}

// mergeRuns merges touching runs (sorted by start).
func mergeRuns(runs []check.Extent) []check.Extent {
	var out []check.Extent
	for _, r := range runs {
		if n := len(out); n > 0 && out[n-1].End == r.Start {
			out[n-1].End = r.End
			continue
		}
		out = append(out, r)
	}
	return out
}

package dinode

import (
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Mapping is one piece of a file range, in file blocks: blocks on disk
// from StartBlock (written, or unwritten: allocated but reading as
// zeroes), or a hole (no blocks; reads as zeroes).
type Mapping struct {
	FileOff    uint64
	Count      uint64
	StartBlock uint64 // NullFSBlock for a hole
	Hole       bool
	Unwritten  bool
}

// Zero reports whether the piece reads as zeroes.
func (p Mapping) Zero() bool { return p.Hole || p.Unwritten }

// rangeEnd is off+count, bounded by the largest file offset.
func rangeEnd(off, count uint64) uint64 {
	const limit = xfsformat.MaxFileOff + 1
	if off >= limit {
		return off
	}
	return off + min(count, limit-off)
}

// bmapper cuts extents, given in file-offset order, into the pieces of
// the range [cur, end).
type bmapper struct {
	cur, end uint64
	fn       func(Mapping) error
}

func (b *bmapper) extent(e xfsformat.BmbtRec) error {
	start, stop := e.StartOff, e.StartOff+uint64(e.BlockCount)
	if stop <= b.cur {
		return nil
	}
	if start >= b.end {
		return errRangeDone
	}
	if start > b.cur {
		if err := b.fn(Mapping{FileOff: b.cur, Count: start - b.cur, StartBlock: xfsformat.NullFSBlock, Hole: true}); err != nil {
			return err
		}
		b.cur = start
	}
	to := min(stop, b.end)
	if err := b.fn(Mapping{FileOff: b.cur, Count: to - b.cur, StartBlock: e.StartBlock + (b.cur - start), Unwritten: e.Unwritten}); err != nil {
		return err
	}
	b.cur = to
	if b.cur >= b.end {
		return errRangeDone
	}
	return nil
}

// errRangeDone ends a walk once the range is mapped.
var errRangeDone = errors.New("dinode: range mapped")

// finish reports the hole after the last extent, up to the range's end.
func (b *bmapper) finish() error {
	if b.cur < b.end {
		return b.fn(Mapping{FileOff: b.cur, Count: b.end - b.cur, StartBlock: xfsformat.NullFSBlock, Hole: true})
	}
	return nil
}

// Bmap calls fn with each piece of the count file blocks from off, in
// order: mapped extents (cut to the range) and the holes between and
// around them. It reads only the part of a bmbt that maps the range.
// Blocks past the file's size are the caller's to cut.
func (m *Map) Bmap(off, count uint64, fn func(Mapping) error) error {
	b := &bmapper{cur: off, end: rangeEnd(off, count), fn: fn}
	if b.cur >= b.end {
		return nil
	}
	err := m.Walk(off, b.extent)
	if err != nil && !errors.Is(err, errRangeDone) {
		return err
	}
	return b.finish()
}

// BmapExtents is Bmap over a list of extents in file-offset order.
func BmapExtents(exts []xfsformat.BmbtRec, off, count uint64) []Mapping {
	var out []Mapping
	b := &bmapper{cur: off, end: rangeEnd(off, count), fn: func(p Mapping) error {
		out = append(out, p)
		return nil
	}}
	if b.cur >= b.end {
		return nil
	}
	for _, e := range exts {
		if b.extent(e) != nil {
			break
		}
	}
	_ = b.finish()
	return out
}

// DBBmapForks says which forks xfs_db's "bmap" (without -a or -d) lists:
// those whose extent count in the core is not zero.
func DBBmapForks(c *Core) (data, attr bool) {
	return c.NExtents != 0, c.ANExtents != 0
}

// DBBmap calls fn with the lines xfs_db's "bmap" prints for the fork
// ("bmap -d" or "bmap -a"), one per extent: "data offset 0 startblock
// 1234 (0/1234) count 8 flag 0". Like xfs_db it skips an extent that
// ends before the previous one's end, and starts one that overlaps it
// where the previous ended.
func (m *Map) DBBmap(fn func(line string) error) error {
	var cur uint64
	return m.Walk(0, func(e xfsformat.BmbtRec) error {
		end := e.StartOff + uint64(e.BlockCount)
		if end <= cur {
			return nil
		}
		if e.StartOff < cur {
			skip := cur - e.StartOff
			e.StartOff, e.StartBlock, e.BlockCount = cur, e.StartBlock+skip, e.BlockCount-uint32(skip)
		}
		cur = end
		return fn(DBBmapLine(m.FS.Geo, m.Attr, e))
	})
}

// DBBmapLine is one extent as xfs_db's bmap prints it.
func DBBmapLine(g *xfsformat.Geometry, attr bool, e xfsformat.BmbtRec) string {
	fork := "data"
	if attr {
		fork = "attr"
	}
	agno, agbno := g.SplitFSB(e.StartBlock)
	return fmt.Sprintf("%s offset %d startblock %d (%d/%d) count %d flag %d",
		fork, e.StartOff, e.StartBlock, agno, agbno, e.BlockCount, b2u(e.Unwritten))
}

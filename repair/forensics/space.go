package forensics

import (
	"context"
	"fmt"
	"sort"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// What the AG btrees say today: which inodes are allocated (the inobt),
// which blocks are free (the bnobt) and who owns the others (the
// rmapbt). Each tree is walked once, in key order, against the sorted
// questions, so the cost is one pass over the trees whatever the number
// of questions.

// chunk is one inobt record, by absolute inode number.
type chunk struct {
	start       uint64 // first inode of the chunk
	free, holes uint64
}

// inodeMap is every AG's inobt records, sorted: 16 bytes a chunk of 64
// inodes.
type inodeMap struct{ chunks []chunk }

func readInodeMap(ctx context.Context, fs *fsys.FS) (*inodeMap, error) {
	m := &inodeMap{}
	for agno := range fs.Geo.AGCount {
		w := &fsys.Walk{FS: fs, AG: agno, Type: xfsformat.Inobt}
		err := w.Records(ctx, func(_ uint32, _ int, b []byte) error {
			r := xfsformat.DecodeInobtRec(b, fs.Geo.SparseInodes)
			m.chunks = append(m.chunks, chunk{fs.Geo.Ino(agno, r.StartIno), r.Free, r.Holes()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("inobt of AG %d: %w", agno, err)
		}
	}
	sort.Slice(m.chunks, func(i, j int) bool { return m.chunks[i].start < m.chunks[j].start })
	return m, nil
}

// state says whether ino lies in an inode chunk the inobt records (and
// not in a sparse hole) and, if so, whether it is allocated.
func (m *inodeMap) state(ino uint64) (inChunk, allocated bool) {
	i := sort.Search(len(m.chunks), func(i int) bool { return m.chunks[i].start > ino }) - 1
	if i < 0 || ino-m.chunks[i].start >= xfsformat.InodesPerChunk {
		return false, false
	}
	bit := uint64(1) << (ino - m.chunks[i].start)
	c := m.chunks[i]
	if c.holes&bit != 0 {
		return false, false
	}
	return true, c.free&bit == 0
}

// freeInodes calls fn with every free inode of every chunk, in order.
func (m *inodeMap) freeInodes(fn func(ino uint64) error) error {
	for _, c := range m.chunks {
		for i := range uint64(xfsformat.InodesPerChunk) {
			if bit := uint64(1) << i; c.free&bit != 0 && c.holes&bit == 0 {
				if err := fn(c.start + i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// spaceQuery is one question about a run of blocks: is it all free now,
// and if not, who owns its first used block.
type spaceQuery struct {
	agno          uint32
	start, length uint32 // AG blocks
	free          bool
	owner         string
	named         bool // owner came from the rmapbt
}

// judgeSpace answers the queries: one bnobt walk per AG that has any,
// and, for the runs not wholly free, one rmapbt walk when the
// filesystem has one.
func judgeSpace(ctx context.Context, fs *fsys.FS, qs []*spaceQuery) error {
	byAG := map[uint32][]*spaceQuery{}
	for _, q := range qs {
		byAG[q.agno] = append(byAG[q.agno], q)
	}
	for agno, list := range byAG {
		sortQueries(list)
		most := uint32(0)
		for _, q := range list {
			most = max(most, q.length)
		}
		// A free extent covers a query wholly, or the query is not all
		// free: the bnobt's extents are maximal, never adjacent.
		err := overlapping(ctx, fs, agno, xfsformat.Bnobt, list, most, func(b []byte) (uint32, uint32) {
			r := xfsformat.DecodeAllocRec(b)
			return r.StartBlock, r.BlockCount
		}, func(q *spaceQuery, start, n uint32, _ []byte) {
			if start <= q.start && q.start+q.length <= start+n {
				q.free = true
			}
		})
		if err != nil {
			return fmt.Errorf("bnobt of AG %d: %w", agno, err)
		}
		var used []*spaceQuery
		for _, q := range list {
			if !q.free {
				q.owner = "in use (the filesystem has no rmapbt to say by whom)"
				used = append(used, q)
			}
		}
		if len(used) == 0 || !fs.HasBtree(xfsformat.Rmapbt) {
			continue
		}
		err = overlapping(ctx, fs, agno, xfsformat.Rmapbt, used, most, func(b []byte) (uint32, uint32) {
			r := xfsformat.DecodeRmapRec(b)
			return r.StartBlock, r.BlockCount
		}, func(q *spaceQuery, _, _ uint32, b []byte) {
			if !q.named {
				q.named = true
				q.owner = ownerText(agno, xfsformat.DecodeRmapRec(b))
			}
		})
		if err != nil {
			return fmt.Errorf("rmapbt of AG %d: %w", agno, err)
		}
	}
	return nil
}

// overlapping walks an AG btree's records in key order and calls hit
// for every query (sorted by start, none longer than most) that a
// record's block range overlaps.
func overlapping(ctx context.Context, fs *fsys.FS, agno uint32, t xfsformat.BtreeType, qs []*spaceQuery, most uint32,
	span func([]byte) (start, n uint32), hit func(q *spaceQuery, start, n uint32, rec []byte)) error {
	w := &fsys.Walk{FS: fs, AG: agno, Type: t}
	return w.Records(ctx, func(_ uint32, _ int, b []byte) error {
		start, n := span(b)
		hitQueries(qs, most, start, n, func(q *spaceQuery) { hit(q, start, n, b) })
		return nil
	})
}

// hitQueries calls fn with every query of qs (sorted by start, none
// longer than most) that blocks [start, start+n) overlap.
func hitQueries(qs []*spaceQuery, most, start, n uint32, fn func(*spaceQuery)) {
	end := uint64(start) + uint64(n)
	lo := uint64(0)
	if uint64(start) >= uint64(most) {
		lo = uint64(start) - uint64(most)
	}
	for i := sort.Search(len(qs), func(i int) bool { return uint64(qs[i].start) >= lo }); i < len(qs) && uint64(qs[i].start) < end; i++ {
		if q := qs[i]; uint64(q.start)+uint64(q.length) > uint64(start) {
			fn(q)
		}
	}
}

// ownerText names an rmap record's owner as a person reads it.
func ownerText(agno uint32, r xfsformat.RmapRec) string {
	if r.IsInodeOwner() {
		return fmt.Sprintf("inode %d (file block %d)", r.Owner, r.FileOffset())
	}
	return fmt.Sprintf("%s of AG %d", xfsformat.RmapOwnerName(r.Owner), agno)
}

func sortQueries(qs []*spaceQuery) {
	sort.SliceStable(qs, func(i, j int) bool { return qs[i].start < qs[j].start })
}

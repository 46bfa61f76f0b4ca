package check

import (
	"cmp"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// leafCheck checks a tree's leaf records as checkTree's walk reaches
// them, block after block: each record on its own and against the one
// before it (the previous block's last included), whether they are all
// in the order the staged array sorts them by, and, for the free-space
// trees, their hash and sums. The free-space trees and the rmapbt, the
// trees of millions of records, have loops of their own that decode
// each record once and keep the one before decoded (through
// checkRecord, a record was decoded three times and compared twice, its
// tree's name looked up each time: a third of the rebuild's walks); the
// other trees' records go through checkRecord.
type leafCheck struct {
	c     *AG
	t     xfsformat.BtreeType
	name  string
	agLen uint32
	res   *treeResult
	// staged: the records are staged in a sorted array (the bnobt's,
	// the rmapbt's), whose order is checked; sorted says whether every
	// record so far has been in it.
	staged, sorted bool
	prev           []byte // the last record checked, nil before the first
}

// block checks the records of one leaf, recs (whole records side by
// side), at agbno.
func (l *leafCheck) block(agbno uint32, recs []byte, recLen int) {
	switch l.t {
	case xfsformat.Bnobt, xfsformat.Cntbt:
		l.alloc(agbno, recs)
	case xfsformat.Rmapbt:
		l.rmap(agbno, recs)
	default:
		for i := 0; (i+1)*recLen <= len(recs); i++ {
			rec := recs[i*recLen : (i+1)*recLen]
			l.c.checkRecord(l.t, agbno, i, rec, l.prev, l.agLen) // none staged sorted
			l.prev = append(l.prev[:0], rec...)
		}
	}
	l.res.records += int64(len(recs) / recLen)
}

// inAG says whether [start, start+count) is a non-empty extent inside
// the AG.
func (l *leafCheck) inAG(start, count uint32) bool {
	return count > 0 && uint64(start)+uint64(count) <= uint64(l.agLen)
}

// alloc is block for the bnobt (records by start, none overlapping)
// and the cntbt (by length, then start).
func (l *leafCheck) alloc(agbno uint32, recs []byte) {
	c, res, bno := l.c, l.res, l.t == xfsformat.Bnobt
	var p xfsformat.AllocRec
	have := l.prev != nil
	if have {
		p = xfsformat.DecodeAllocRec(l.prev)
	}
	const n = xfsformat.AllocRecLen
	for i := 0; i+n <= len(recs); i += n {
		rec := recs[i : i+n : i+n]
		r := xfsformat.DecodeAllocRec(rec)
		if !l.inAG(r.StartBlock, r.BlockCount) {
			c.add(l.name+".record", Corrupt, agbno, "record %d [%d,%d] is empty or outside the AG (length %d)", i/n+1, r.StartBlock, r.BlockCount, l.agLen)
		}
		if have {
			if bno && uint64(p.StartBlock)+uint64(p.BlockCount) > uint64(r.StartBlock) {
				c.add(l.name+".order", Corrupt, agbno, "record [%d,%d] overlaps or precedes the previous [%d,%d]", r.StartBlock, r.BlockCount, p.StartBlock, p.BlockCount)
			}
			if !bno && (p.BlockCount > r.BlockCount || (p.BlockCount == r.BlockCount && p.StartBlock >= r.StartBlock)) {
				c.add(l.name+".order", Corrupt, agbno, "record [%d,%d] is not after the previous [%d,%d] in (blockcount, startblock) order", r.StartBlock, r.BlockCount, p.StartBlock, p.BlockCount)
			}
			// The staged bnobt's order: the record's bytes, that is
			// (start, length).
			if l.staged && cmp.Or(cmp.Compare(p.StartBlock, r.StartBlock), cmp.Compare(p.BlockCount, r.BlockCount)) > 0 {
				l.sorted = false
			}
		}
		res.hash.add(rec)
		if bno {
			res.freeSum += uint64(r.BlockCount)
			res.longest = max(res.longest, uint64(r.BlockCount))
		}
		p, have = r, true
	}
	if have {
		l.prev = append(l.prev[:0], recs[len(recs)-n:]...)
	}
}

// rmap is block for the rmapbt: records in key order (start, owner,
// offset), none equal, none overlapping without reflink; each owner a
// valid special owner or inode.
func (l *leafCheck) rmap(agbno uint32, recs []byte) {
	c, reflink := l.c, l.c.fs.Geo.Reflink
	var p xfsformat.RmapRec
	have := l.prev != nil
	if have {
		p = xfsformat.DecodeRmapRec(l.prev)
	}
	const n = xfsformat.RmapRecLen
	for i := 0; i+n <= len(recs); i += n {
		r := xfsformat.DecodeRmapRec(recs[i : i+n : i+n])
		if !l.inAG(r.StartBlock, r.BlockCount) {
			c.add(l.name+".record", Corrupt, agbno, "record %d [%d,%d] is empty or outside the AG", i/n+1, r.StartBlock, r.BlockCount)
		}
		if !r.IsInodeOwner() {
			o := int64(r.Owner)
			if o < xfsformat.OwnCow || o > xfsformat.OwnFS || r.Offset != 0 {
				c.add(l.name+".owner", Corrupt, agbno, "record %d has owner %d offset %#x: not a valid special owner", i/n+1, o, r.Offset)
			}
		} else if !c.validIno(r.Owner) {
			c.add(l.name+".owner", Corrupt, agbno, "record %d owner %d is not a valid inode number", i/n+1, r.Owner)
		}
		if have {
			// The key's order (xfsformat.CmpRmapRecKeys): the unwritten
			// flag is no part of it.
			const unwritten = xfsformat.RmapOffUnwritten
			if k := cmp.Or(cmp.Compare(p.StartBlock, r.StartBlock), cmp.Compare(p.Owner, r.Owner),
				cmp.Compare(p.Offset&^unwritten, r.Offset&^unwritten)); k > 0 || (k == 0 && p == r) {
				c.add(l.name+".order", Corrupt, agbno, "record [%d,%d,%d] out of key order", r.StartBlock, r.BlockCount, int64(r.Owner))
			}
			if !reflink && uint64(p.StartBlock)+uint64(p.BlockCount) > uint64(r.StartBlock) {
				c.add(l.name+".overlap", Corrupt, agbno, "record [%d,%d] overlaps [%d,%d] on a filesystem without reflink", r.StartBlock, r.BlockCount, p.StartBlock, p.BlockCount)
			}
			// The staged array's order (RmapSortKey): start, owner,
			// offset with its flags, length.
			if l.staged && cmp.Or(cmp.Compare(p.StartBlock, r.StartBlock), cmp.Compare(p.Owner, r.Owner),
				cmp.Compare(p.Offset, r.Offset), cmp.Compare(p.BlockCount, r.BlockCount)) > 0 {
				l.sorted = false
			}
		}
		p, have = r, true
	}
	if have {
		l.prev = append(l.prev[:0], recs[len(recs)-n:]...)
	}
}

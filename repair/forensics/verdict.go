package forensics

import (
	"context"
	"fmt"
	"sort"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/forensics/history"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Verdicts. An extent of a deleted file is intact when every block is
// free now (the bnobt) and nothing took it since the file last held it:
// the log, which holds every allocation since the deletion when it
// holds the deletion itself, shows no other inode mapping it, no
// metadata buffer written over it and no intent mapping it. A block in
// use now is reused, and the rmapbt names the owner. When the log does
// not reach back to the file's last life, a free extent's history is
// unknown: it may have been taken and freed again.

// claimRef ties an extent claim to the question asked about it.
type claimRef struct {
	f      *DeletedFile
	i      int    // index in f.Extents
	fsb    uint64 // first block
	n      uint64
	since  uint64 // LSN after which another owner means reuse (0: unknown)
	q      *spaceQuery
	reused string // what the log showed taking it
}

// judge gives every extent claim of files its verdict.
func judge(ctx context.Context, fs *fsys.FS, wso workspace.Options, files map[uint64]*DeletedFile, lives map[uint64]*Life) error {
	var refs []*claimRef
	var qs []*spaceQuery
	for ino, f := range files {
		if f.Unlinked {
			continue // its blocks are its own still
		}
		since := uint64(0)
		if l := lives[ino]; l != nil && l.FreedLSN != 0 {
			since = l.SizeLSN // the last live state: the blocks were its own
		}
		for i := range f.Extents {
			e := &f.Extents[i]
			agno, agbno := fs.Geo.SplitFSB(e.StartBlock)
			if agno >= fs.Geo.AGCount || e.Blocks == 0 || uint64(agbno)+uint64(e.Blocks) > uint64(fs.Geo.AGLength(agno)) {
				e.Verdict, e.Why = Unknown, "the extent lies outside the filesystem's AGs"
				continue
			}
			q := &spaceQuery{agno: agno, start: agbno, length: e.Blocks}
			qs = append(qs, q)
			refs = append(refs, &claimRef{f: f, i: i, fsb: e.StartBlock, n: uint64(e.Blocks), since: since, q: q})
		}
	}
	if len(refs) == 0 {
		return nil
	}
	if err := judgeSpace(ctx, fs, qs); err != nil {
		return err
	}
	if err := ownersWithoutRmap(ctx, fs, wso, qs); err != nil {
		return err
	}
	if err := reuseInLog(ctx, fs, refs); err != nil {
		return err
	}
	for _, r := range refs {
		e := &r.f.Extents[r.i]
		switch {
		case !r.q.free:
			e.Verdict, e.Owner, e.Why = Reused, r.q.owner, "in use now"
		case r.reused != "":
			e.Verdict, e.Owner, e.Why = Reused, r.reused, "free now, but taken after the deletion (and freed again)"
		case r.since == 0:
			e.Verdict, e.Why = Unknown, "free now; the log does not reach back to the file's last life, so reuse since cannot be ruled out"
		default:
			e.Verdict, e.Why = Intact, fmt.Sprintf("free now, and the log from LSN %s on shows no one taking it", xlog.LSNText(r.since))
		}
	}
	return nil
}

// reuseInLog reads the log once more and marks the claims that some
// other owner mapped, or a metadata buffer overwrote, after the claim's
// file last held them.
func reuseInLog(ctx context.Context, fs *fsys.FS, refs []*claimRef) error {
	sort.Slice(refs, func(i, j int) bool { return refs[i].fsb < refs[j].fsb })
	most := uint64(0)
	for _, r := range refs {
		most = max(most, r.n)
	}
	// hit marks the claims [fsb, fsb+n) overlaps, for an owner ino
	// (0: metadata) logged at lsn.
	hit := func(fsb, n, lsn, ino uint64, what string) {
		lo := uint64(0)
		if fsb >= most {
			lo = fsb - most
		}
		for i := sort.Search(len(refs), func(i int) bool { return refs[i].fsb >= lo }); i < len(refs) && refs[i].fsb < fsb+n; i++ {
			r := refs[i]
			if r.fsb+r.n <= fsb || r.since == 0 || lsn <= r.since || r.reused != "" || ino == r.f.Ino {
				continue
			}
			r.reused = fmt.Sprintf("%s at LSN %s", what, xlog.LSNText(lsn))
		}
	}
	bbPerBlock := uint64(fs.Geo.BlockSize) / 512
	_, err := history.Scan(ctx, fs, history.Visitor{
		Inode: func(s *history.InodeSnapshot) error {
			for _, e := range s.Extents {
				hit(e.StartBlock, uint64(e.BlockCount), s.LSN, s.Ino, fmt.Sprintf("log: inode %d mapped it", s.Ino))
			}
			return nil
		},
		Buffer: func(b *history.BufferSnapshot) error {
			if b.Cancelled || b.Len == 0 {
				return nil
			}
			first := b.Daddr / bbPerBlock
			last := (b.Daddr + uint64(b.Len) - 1) / bbPerBlock
			agno, agbno := first/uint64(fs.Geo.AGBlocks), first%uint64(fs.Geo.AGBlocks)
			if agno < uint64(fs.Geo.AGCount) {
				hit(fs.Geo.FSB(uint32(agno), uint32(agbno)), last-first+1, b.LSN, 0, fmt.Sprintf("log: metadata written at daddr %d", b.Daddr))
			}
			return nil
		},
		Intent: func(it *history.IntentSnapshot) error {
			for _, e := range it.Extents {
				if mapsBlocks(it.Type, e.Flags) {
					hit(e.StartBlock, uint64(e.Len), it.LSN, e.Owner, fmt.Sprintf("log: %s mapped it to owner %d", it.Type, e.Owner))
				}
			}
			return nil
		},
	})
	return err
}

// mapsBlocks reports whether an intent's extent gives blocks to an
// owner: an RUI's map, map-shared or alloc, a BUI's map.
func mapsBlocks(t xlog.ItemType, flags uint32) bool {
	op := flags & 0xff
	switch t {
	case xlog.ItemRUI:
		return op == 1 || op == 2 || op == 7
	case xlog.ItemBUI:
		return op == 1
	}
	return false
}

// ownersWithoutRmap names the owners of the queries in use on a
// filesystem without an rmapbt, from the owner index of the AGs they lie
// in (one inode scan, staged in a workspace).
func ownersWithoutRmap(ctx context.Context, fs *fsys.FS, wso workspace.Options, qs []*spaceQuery) error {
	if fs.HasBtree(xfsformat.Rmapbt) {
		return nil
	}
	byAG := map[uint32][]*spaceQuery{}
	most := map[uint32]uint32{}
	var ags []uint32
	for _, q := range qs {
		if q.free {
			continue
		}
		if byAG[q.agno] == nil {
			ags = append(ags, q.agno)
		}
		byAG[q.agno] = append(byAG[q.agno], q)
		most[q.agno] = max(most[q.agno], q.length)
	}
	if len(ags) == 0 {
		return nil
	}
	for _, list := range byAG {
		sortQueries(list)
	}
	ws, err := workspace.New(ctx, check.WorkspaceOptions(wso, fs, ags))
	if err != nil {
		return err
	}
	defer ws.Close()
	return scanUsed(ctx, fs, ws, ags, func(agno uint32, r xfsformat.RmapRec) {
		hitQueries(byAG[agno], most[agno], r.StartBlock, r.BlockCount, func(q *spaceQuery) {
			if !q.named {
				q.named, q.owner = true, ownerText(agno, r)
			}
		})
	})
}

package repair

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/replay"
)

// ReplayLog replays fs's internal log as the kernel's mount does
// (replay.Replay) and then does what the mount does after replaying:
// the inodes left on the AGI unlinked lists are freed (replay clears
// their cores and empties the buckets), and the space structures of
// the AGs that work touches are rebuilt from an inode scan (the
// free-space trees with the AGFL and the AGF, the rmapbt and the
// refcountbt; in the AGs of freed inodes the inode btrees and the AGI
// too, dropping a chunk whose last inode was freed as the kernel
// does). The rebuild is what frees the blocks the freed inodes held,
// finishes the unfinished EFIs, RUIs and CUIs (the files' block maps
// are the truth those intents bring the space structures to) and frees
// copy-on-write staging extents. What cannot be finished exactly is
// refused by name (replay.ErrRefused) and nothing is written.
//
// Package replay sits below package repair in the import order, so the
// rebuild is called from here: replay does what needs no rebuilder and
// says which AGs need one (Result.Rebuild). Everything happens in a
// throwaway over fs and reaches fs's overlay (fs must be a sandbox) as
// one batch: a commit applies the replay and its after-work whole or
// not at all. res.Rebuilt and res.AfterWork say what was done.
func ReplayLog(ctx context.Context, fs *fsys.FS, opts RepairOptions) (*replay.Result, error) {
	if fs.Overlay() == nil {
		return nil, fmt.Errorf("%w: a log replay writes only into an overlay (sandbox mode), never straight into the image", ErrRefused)
	}
	tfs, release, err := fs.Throwaway()
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := replay.Replay(ctx, tfs, replay.Options{Finish: true})
	if err != nil || res.AlreadyClean {
		return res, err
	}
	if err := finishReplay(ctx, tfs, res, opts); err != nil {
		return res, fmt.Errorf("after the replay: %w", err)
	}
	writes, err := tfs.Overlay().Writes()
	if err != nil {
		return res, err
	}
	res.BytesWritten = 0
	for _, w := range writes {
		res.BytesWritten += int64(len(w.Data))
	}
	return res, fs.Commit(fs.Img.JournalWriter(), writes, nil)
}

// finishReplay rebuilds the AGs of res.Rebuild in tfs: every AG in one
// pass (one check, one inode scan) when all are to be rebuilt, else AG
// by AG, those holding freed inodes first (their inode btrees then
// agree with the inodes when the other AGs' checks scan them).
func finishReplay(ctx context.Context, tfs *fsys.FS, res *replay.Result, opts RepairOptions) error {
	g := tfs.Geo
	freed := map[uint64]bool{}
	holds := map[uint32]bool{}
	for _, ino := range res.Freed {
		freed[ino] = true
		agno, _ := g.SplitIno(ino)
		holds[agno] = true
	}
	ags := slices.Clone(res.Rebuild)
	slices.SortStableFunc(ags, func(a, b replay.RebuildAG) int {
		switch {
		case holds[a.AG] == holds[b.AG]:
			return 0
		case holds[a.AG]:
			return -1
		}
		return 1
	})
	space := BnoBT
	if g.Rmapbt {
		space |= RmapBT
	}
	if g.Reflink {
		space |= RefcountBT
	}
	o := opts
	o.Force, o.FullScan, o.freed, o.Writer, o.Fault = true, true, freed, nil, nil
	if len(ags) == int(g.AGCount) && g.AGCount > 1 {
		// Every AG: one check and one inode scan for all of them
		// (repairAllShared), not one scan per AG.
		what := space | InoBT | AGI
		if g.Finobt {
			what |= FinoBT
		}
		rs, err := Repair(ctx, tfs, what, fsys.AllAGs, o)
		if err != nil {
			return fmt.Errorf("rebuilding every AG: %w", err)
		}
		why := map[uint32]string{}
		for _, ag := range ags {
			why[ag.AG] = strings.Join(ag.Why, "; ")
		}
		for _, r := range rs {
			noteRebuilt(res, r.AG, why[r.AG], []*RepairResult{r})
		}
		return nil
	}
	for _, ag := range ags {
		agno, what, why := ag.AG, space, strings.Join(ag.Why, "; ")
		if holds[agno] {
			what |= InoBT | AGI
			if g.Finobt {
				what |= FinoBT
			}
		}
		rs, err := Repair(ctx, tfs, what, fsys.OneAG(agno), o)
		if err != nil {
			return fmt.Errorf("rebuilding AG %d: %w", agno, err)
		}
		noteRebuilt(res, agno, why, rs)
	}
	return nil
}

// noteRebuilt adds what the rebuild of AG agno rewrote, and why, to res.
func noteRebuilt(res *replay.Result, agno uint32, why string, rs []*RepairResult) {
	rb := replay.Rebuilt{AG: agno, Why: why}
	for _, r := range rs {
		for _, w := range r.Rewritten {
			if !slices.Contains(rb.Structures, w.Structure) {
				rb.Structures = append(rb.Structures, w.Structure)
			}
		}
		if r.ChunksFreed > 0 {
			rb.Why += fmt.Sprintf("; %d inode chunk(s) freed with their last inode", r.ChunksFreed)
		}
	}
	res.Rebuilt = append(res.Rebuilt, rb)
	res.AfterWork = append(res.AfterWork, fmt.Sprintf("AG %d rebuilt (%s): %s", agno, strings.Join(rb.Structures, ", "), rb.Why))
}

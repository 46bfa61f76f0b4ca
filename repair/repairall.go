package repair

import (
	"context"
	"fmt"
	"time"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// repairAll is Repair of every AG: the named structures of every AG, the AGs in
// parallel (at most GOMAXPROCS at a time). Each AG's structures are
// rebuilt once, in one pass, as Repair does; the AGs' commits are one at
// a time, since each recounts the superblock over every AG.
//
// When the inode btrees are among them ("all" included), every AG is
// checked together, with one scan of every inode instead of one per AG,
// and their inode chunks are rescanned together too. Otherwise each AG
// is checked on its own (its free space may then come from its rmapbt,
// reading no inode at all). Secondary superblocks, copies of the
// primary, come last, when the primary's counters are final.
//
// The results are in AG order; on failure, those of the AGs that
// completed and the first error (a failing AG cancels the others that
// are still before their commit point).
func repairAll(ctx context.Context, fs *fsys.FS, what Structures, opts RepairOptions) ([]*RepairResult, error) {
	start := time.Now()
	set, err := what.resolve(fs, 1)
	if err != nil {
		return nil, err
	}
	if ctx, err = preflight(ctx, fs); err != nil {
		return nil, err
	}
	ags, err := fs.List(fsys.AllAGs)
	if err != nil {
		return nil, err
	}
	results := make([]*RepairResult, len(ags))
	perAG := set &^ SB
	switch {
	case set.Has(startsInodes):
		err = repairAllShared(ctx, fs, set, ags, results, opts)
	case set.Has(startsFreeSpace):
		err = fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
			o := opts
			o.ag = agno
			res, err := repairAG(ctx, fs, perAG, o)
			results[agno] = res
			return agError(agno, err)
		})
	default:
		// Header repairs recount the superblock from their check, and
		// need no parallelism: one AG after another.
		for _, agno := range ags {
			if perAG == 0 {
				break
			}
			o := opts
			o.ag = agno
			res, e := repairAG(ctx, fs, perAG, o)
			results[agno] = res
			if err = agError(agno, e); err != nil {
				break
			}
		}
	}
	if err == nil && set.Has(SB) {
		for _, agno := range ags[1:] {
			o := opts
			o.ag = agno
			r, e := rebuildSecondarySB(ctx, fs, o)
			if results[agno] == nil {
				results[agno] = &RepairResult{AG: agno, NothingToDo: true}
			}
			after := results[agno].After // the trees' verification stands
			mergeResult(results[agno], r)
			results[agno].After = after
			if err = agError(agno, e); err != nil {
				break
			}
		}
	}
	var out []*RepairResult
	for _, r := range results {
		if r != nil {
			r.Requested = set.Names()
			if r.Seconds == 0 {
				r.Seconds = time.Since(start).Seconds()
			}
			out = append(out, r)
		}
	}
	return out, err
}

func agError(agno uint32, err error) error {
	if err != nil {
		return fmt.Errorf("ag %d: %w", agno, err)
	}
	return nil
}

// repairAllShared is repairAll's path for the inode btrees (with the
// free space and, if asked, the refcountbt): one check of every AG, one
// rescan of every AG's chunks, then the AGs' rebuilds in parallel.
func repairAllShared(ctx context.Context, fs *fsys.FS, set Structures, ags []uint32, results []*RepairResult, opts RepairOptions) error {
	ws, err := workspace.New(ctx, check.WorkspaceOptions(opts.Workspace, fs, ags))
	if err != nil {
		return err
	}
	defer ws.Close()
	opts.progress("check")
	findings := &check.Findings{}
	mode := check.CollectFull
	if opts.Force {
		mode = check.CollectLight
	}
	checks, err := check.Collect(ctx, fs, ags, ws, findings, nil, mode)
	if err != nil {
		return err
	}
	before := map[uint32][]check.Finding{}
	for _, f := range findings.List() {
		if f.AG >= 0 {
			before[uint32(f.AG)] = append(before[uint32(f.AG)], f)
		}
	}
	// An AG refused for its own sources is refused before any inode is
	// read again: the same refusals Repair makes (freeSpaceRebuild.judge
	// repeats them per AG).
	for _, agno := range ags {
		if !set.Has(RefcountBT) {
			if err := refuseCorruptSources(before[agno], "refcountbt"); err != nil {
				return agError(agno, fmt.Errorf("%w: %w", ErrRefused, err))
			}
		}
	}
	irs, err := prepareInodeRebuilds(ctx, fs, checks, ws, func(agno uint32) chunkSources {
		return soundChunkSources(fs, agno, before[agno])
	}, opts.freed)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
		o := opts
		o.ag = agno
		start := time.Now()
		res := &RepairResult{AG: agno, Before: before[agno], Source: SourceInodeScan}
		s := &freeSpaceRebuild{fs: fs, opts: o, ws: ws, c: checks[agno], res: res, refc: set.Has(RefcountBT), ino: true, ir: irs[agno]}
		r, err := s.run(ctx)
		if r != nil {
			r.Seconds = time.Since(start).Seconds()
		}
		results[agno] = r
		return agError(agno, err)
	})
}

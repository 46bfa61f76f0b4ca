package repair

import (
	"context"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Where a rebuild takes the AG's used space from (RepairResult.Source).
const (
	SourceRmapbt    = "rmapbt"
	SourceInodeScan = "inode scan"
)

// xrefRmapSource is the cross-reference of collectRmap mode, where no
// inode is read and the rmapbt is to stand in for the inode scan. It is
// sound (c.rmapSound) when
//
//   - its records for the AG's own metadata (headers, log, free-space
//     trees and AGFL, inode btrees and chunks, refcountbt, CoW staging)
//     equal, merged as the kernel merges them, what the walk of those
//     structures found (c.used holds nothing else in this mode), and
//   - the space it maps is exactly the complement of the bnobt's free
//     extents: two independent structures agree on every block.
//
// Then c.used becomes the rmapbt's records, file mappings included, and
// they are cross-referenced as the full check's used space is (cross-
// links, refcounts). A
// single corruption cannot make both agree on a wrong picture; the
// rebuild falls back to the full inode scan otherwise (checkAG).
func (c *agCheck) xrefRmapSource(ctx context.Context) error {
	tr := c.trees[xfsformat.Rmapbt]
	if tr == nil || tr.recs == nil || c.trees[xfsformat.Bnobt] == nil || c.trees[xfsformat.Bnobt].recs == nil {
		return nil // nothing to compare: not sound
	}
	if err := tr.recs.Sort(ctx, cmpRmapRecs); err != nil {
		return err
	}
	meta, err := c.ws.NewArray(xfsformat.RmapRecLen)
	if err != nil {
		return err
	}
	defer meta.Release()
	err = tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
		if xfsformat.DecodeRmapRec(rec).IsInodeOwner() {
			return nil
		}
		return meta.Append(rec)
	})
	if err != nil {
		return err
	}
	differ, err := c.compareRmaps(ctx, c.used, meta)
	if err != nil || differ > 0 {
		return err
	}
	overlaps, err := c.xrefFreeSpaceWith(ctx, tr.recs)
	if err != nil || overlaps > 0 {
		return err
	}
	c.used.Release()
	c.used = tr.recs
	c.rmapSound = true
	// What the full check would compare against the used space and can
	// still: no cross-linked space, and the refcountbt against the
	// overlaps of the rmapbt's file mappings (as the kernel's scrub
	// cross-references it).
	return c.xrefUsedSpace(ctx)
}

// checkAG opens a workspace and runs the check of one AG, the first step
// of every rebuild: its findings are the result's "before", and its
// state (used space, walked trees) the rebuild's sources. A forced
// rebuild runs the light check (see collect). With fromRmap, on an
// rmapbt filesystem, it first tries the rmapbt as the source of used
// space (collectRmap, no inode read) and falls back to the inode scan
// when the rmapbt is not sound. The caller closes the workspace.
func checkAG(ctx context.Context, fs *fsys.FS, opts RepairOptions, fromRmap bool) (*workspace.Workspace, *agCheck, *RepairResult, error) {
	if fromRmap && fs.Geo.Rmapbt && !opts.FullScan {
		ws, c, res, err := checkAGWith(ctx, fs, opts, collectRmap)
		if err != nil {
			return nil, nil, nil, err
		}
		why := ""
		switch {
		case !c.rmapSound:
			why = "it disagrees with the AG's other metadata or with the bnobt"
		case refuseCorruptSources(res.Before, "rmapbt") != nil:
			why = "it has corrupt blocks"
		case refuseCorruptSources(res.Before, "space") != nil:
			why = "it maps cross-linked space"
		}
		if why == "" {
			res.Source = SourceRmapbt
			opts.logf("ag %d: used space from the rmapbt (it agrees with the AG's metadata and the bnobt; no inode read)", opts.AG)
			return ws, c, res, nil
		}
		ws.Close()
		opts.logf("ag %d: the rmapbt is not a sound source (%s); reading every inode instead", opts.AG, why)
	}
	mode := collectFull
	if opts.Force {
		mode = collectLight
	}
	ws, c, res, err := checkAGWith(ctx, fs, opts, mode)
	if err != nil {
		return nil, nil, nil, err
	}
	res.Source = SourceInodeScan
	return ws, c, res, nil
}

func checkAGWith(ctx context.Context, fs *fsys.FS, opts RepairOptions, mode collectMode) (*workspace.Workspace, *agCheck, *RepairResult, error) {
	ws, err := workspace.New(ctx, withDefaults(opts.Workspace, fs, []uint32{opts.AG}))
	if err != nil {
		return nil, nil, nil, err
	}
	opts.progress("check")
	findings := &Findings{}
	checks, err := collect(ctx, fs, []uint32{opts.AG}, ws, findings, nil, mode)
	if err != nil {
		ws.Close()
		return nil, nil, nil, fmt.Errorf("check of AG %d: %w", opts.AG, err)
	}
	return ws, checks[opts.AG], &RepairResult{AG: opts.AG, Before: findings.List()}, nil
}

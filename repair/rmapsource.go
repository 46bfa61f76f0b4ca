package repair

import (
	"context"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// Where a rebuild takes the AG's used space from (RepairResult.Source).
const (
	SourceRmapbt    = "rmapbt"
	SourceInodeScan = "inode scan"
)

// checkAG opens a workspace and runs the check of one AG, the first step
// of every rebuild: its findings are the result's "before", and its
// state (used space, walked trees) the rebuild's sources. A forced
// rebuild runs the light check (check.CollectLight). With fromRmap, on
// an rmapbt filesystem, it first tries the rmapbt as the source of used
// space (check.CollectRmap, no inode read) and falls back to the inode
// scan when the rmapbt is not sound; beside, if not nil, then runs
// beside that check's cross-reference (check.CollectBeside), with the
// workspace and the AG's check. The caller closes the workspace.
func checkAG(ctx context.Context, fs *fsys.FS, opts RepairOptions, fromRmap bool,
	beside func(ctx context.Context, ws *workspace.Workspace, c *check.AG)) (*workspace.Workspace, *check.AG, *RepairResult, error) {
	if fromRmap && fs.Geo.Rmapbt && !opts.FullScan {
		ws, c, res, err := checkAGWith(ctx, fs, opts, check.CollectRmap, beside)
		if err != nil {
			return nil, nil, nil, err
		}
		why := ""
		switch {
		case !c.RmapSound():
			why = "it disagrees with the AG's other metadata or with the bnobt"
		case refuseCorruptSources(res.Before, "rmapbt") != nil:
			why = "it has corrupt blocks"
		case refuseCorruptSources(res.Before, "space") != nil:
			why = "it maps cross-linked space"
		}
		if why == "" {
			res.Source = SourceRmapbt
			opts.logf("ag %d: used space from the rmapbt (it agrees with the AG's metadata and the bnobt; no inode read)", opts.ag)
			return ws, c, res, nil
		}
		ws.Close()
		opts.logf("ag %d: the rmapbt is not a sound source (%s); reading every inode instead", opts.ag, why)
	}
	mode := check.CollectFull
	if opts.Force {
		mode = check.CollectLight
	}
	ws, c, res, err := checkAGWith(ctx, fs, opts, mode, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	res.Source = SourceInodeScan
	return ws, c, res, nil
}

func checkAGWith(ctx context.Context, fs *fsys.FS, opts RepairOptions, mode check.CollectMode,
	beside func(ctx context.Context, ws *workspace.Workspace, c *check.AG)) (*workspace.Workspace, *check.AG, *RepairResult, error) {
	ws, err := workspace.New(ctx, check.WorkspaceOptions(opts.Workspace, fs, []uint32{opts.ag}))
	if err != nil {
		return nil, nil, nil, err
	}
	opts.progress("check")
	findings := &check.Findings{}
	var besideAG func(ctx context.Context, checks map[uint32]*check.AG) error
	if beside != nil {
		besideAG = func(ctx context.Context, checks map[uint32]*check.AG) error {
			beside(ctx, ws, checks[opts.ag])
			return nil
		}
	}
	checks, err := check.CollectBeside(ctx, fs, []uint32{opts.ag}, ws, findings, nil, mode, besideAG)
	if err != nil {
		ws.Close()
		return nil, nil, nil, fmt.Errorf("check of AG %d: %w", opts.ag, err)
	}
	return ws, checks[opts.ag], &RepairResult{AG: opts.ag, Before: findings.List()}, nil
}

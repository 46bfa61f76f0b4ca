package campaign

import (
	"context"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// RepairStructures names what to repair for a case, or nil when the
// case is outside what the rebuilds cover yet: the free-space rebuild
// for the agf, agfl, bnobt, cntbt and rmapbt (it rewrites the rmapbt
// from the full scan), plus the refcountbt for its blocks and the agf's
// refcount fields, the agi, and the inobt and finobt (rebuilt from the
// inode chunks found without them).
func RepairStructures(c Case) repair.Structures {
	switch {
	case c.Object == "agfl", strings.HasPrefix(c.Object, "bnobt-"), strings.HasPrefix(c.Object, "cntbt-"):
		return repair.BnoBT
	case strings.HasPrefix(c.Object, "rmapbt-"):
		// Named, so that it is rebuilt from every owner, not from itself.
		return repair.RmapBT
	case strings.HasPrefix(c.Object, "refcntbt-"):
		return repair.RefcountBT
	case c.Object == "agf":
		if strings.HasPrefix(c.Field, "refcnt") {
			return repair.BnoBT | repair.RefcountBT
		}
		return repair.BnoBT
	case c.Object == "agi":
		// The AGI's own fields; its roots and levels need the inode
		// btrees rebuilt.
		switch c.Field {
		case "root", "level", "free_root", "free_level":
			return repair.InoBT
		}
		return repair.AGI
	case strings.HasPrefix(c.Object, "inobt-"), strings.HasPrefix(c.Object, "finobt-"):
		return repair.InoBT
	}
	return 0
}

// RepairOutcome is what the repair hook did with a case, in
// Result.Extra["repair"].
const (
	RepairSkipped  = "skipped"  // out of scope or nothing detected
	RepairClean    = "repaired" // repaired; our check and xfs_repair -n clean
	RepairVerified = "verified" // and the kernel mounted it, hashes and workload fine
)

// RepairHook repairs every in-scope case our check detected, through the
// same engine `echo bnobt > MNT/ag/N/repair` runs, then judges: our check
// and xfs_repair -n must be clean. When kernel says so for a case, the
// kernel must also mount it, every file must hash as in hashes, the write
// workload must succeed and xfs_repair -n must still be clean. Any
// failure is the case's HookErr.
func RepairHook(hashes map[string]string, kernel func(Case) bool) Hook {
	return func(ctx context.Context, image string, r *Result) (bool, error) {
		if r.Extra == nil {
			r.Extra = map[string]string{}
		}
		r.Extra["repair"] = RepairSkipped
		what := RepairStructures(r.Case)
		if what == 0 || !r.OurDetected {
			return false, nil
		}
		fs, err := fsys.Open(image, fsys.OpenOptions{Writable: true})
		if err != nil {
			return false, fmt.Errorf("open for repair: %w", err)
		}
		results, err := repair.Repair(ctx, fs, what, fsys.OneAG(uint32(r.AG)), repair.RepairOptions{})
		fs.Close()
		var res *repair.RepairResult
		if len(results) == 1 {
			res = results[0]
		}
		if res != nil && res.Source != "" {
			r.Extra["source"] = res.Source
		}
		if err != nil {
			return true, fmt.Errorf("repair: %w", err)
		}
		if res == nil {
			return true, fmt.Errorf("repair of AG %d returned %d results", r.AG, len(results))
		}
		if len(res.After) > 0 {
			return true, fmt.Errorf("repair left findings: %v", res.After)
		}
		detected, codes, err := OurCheck(ctx, image)
		if err != nil || detected {
			return true, fmt.Errorf("our check after the repair: %v %v", err, codes)
		}
		detected, out, err := XfsRepairN(ctx, image)
		if err != nil || detected {
			return true, fmt.Errorf("xfs_repair -n after the repair: %v\n%s", err, strings.Join(Complaint(out, 8), "\n"))
		}
		r.Extra["repair"] = RepairClean
		if kernel != nil && kernel(r.Case) {
			if err := judge.Kernel(image, hashes); err != nil {
				return true, err
			}
			r.Extra["repair"] = RepairVerified
		}
		return true, nil
	}
}

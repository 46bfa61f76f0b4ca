package fusefs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/view"
)

// refuse turns down, before anything runs, what this mount cannot do:
// repairs, commits and discards on a read-only mount, commits and
// discards outside sandbox mode, a commit onto a metadump. A plan
// writes nothing and runs anywhere.
func (c *Controller) refuse(cmd *command) error {
	switch cmd.verb {
	case "repair":
		if c.readOnly {
			return fmt.Errorf("%w: repairs need a read-write mount (plan shows what a repair would do)", ErrReadOnly)
		}
	case "commit", "discard":
		if c.readOnly {
			return fmt.Errorf("%w: %s needs a sandbox mount (mount --sandbox)", ErrReadOnly, cmd.verb)
		}
		if !c.tree.FS.Sandboxed() {
			return fmt.Errorf("%w: %s needs sandbox mode (mount --sandbox): this mount writes repairs to the image directly, nothing is staged", ErrBadCmd, cmd.verb)
		}
		if img := c.tree.FS.Img; cmd.verb == "commit" && img.Metadump() != nil {
			return fmt.Errorf("%s is a metadump, which is never written (what this sandbox stages stays in memory; xfsbox repair --output NEW %s STRUCT... writes a repaired restore of it): %w", img.Path(), img.Path(), syscall.EROFS)
		}
	}
	return nil
}

// commitReport and discardReport are the ctl results of commit and
// discard (a plan's is a view.RepairReport, as a repair's).
type commitReport struct {
	CommittedBytes int64 `json:"committed_bytes"`
}

type discardReport struct {
	DiscardedBytes   int64 `json:"discarded_bytes"`
	DiscardedExtents int   `json:"discarded_extents"`
}

// sandboxVerb runs plan, commit and discard.
func (c *Controller) sandboxVerb(ctx context.Context, cmd *command, started time.Time) (any, error) {
	fs := c.tree.FS
	switch cmd.verb {
	case "plan":
		opts := repair.RepairOptions{Force: cmd.force, Workspace: c.tree.Workspace,
			Progress: c.progress("plan", cmd, started),
			Log:      func(msg string) { c.logf("plan: would do: %s", msg) },
		}
		res, err := repair.Plan(ctx, fs, cmd.structures, cmd.ags, opts)
		return view.NewRepairReport(true, res), err
	case "commit":
		c.setStatus("running: commit: applying the overlay to the image")
		n, err := fs.CommitOverlay(nil)
		c.tree.Invalidate()
		if err != nil {
			return nil, err
		}
		c.logf("commit: %d bytes written to %s", n, fs.Img.Path())
		return commitReport{CommittedBytes: n}, nil
	default:
		ext, n := fs.Overlay().Stats()
		err := fs.DiscardOverlay()
		c.tree.Invalidate()
		if err != nil {
			return nil, err
		}
		c.logf("discard: %d staged bytes (%d extents) dropped", n, ext)
		return discardReport{DiscardedBytes: n, DiscardedExtents: ext}, nil
	}
}

// staged says, in sandbox mode, how much is staged (for status).
func (c *Controller) staged() string {
	ov := c.tree.FS.Overlay()
	if ov == nil {
		return ""
	}
	ext, n := ov.Stats()
	where := "memory"
	if ov.Path() != "" {
		where = ov.Path()
	}
	return fmt.Sprintf(" (sandbox: %d bytes in %d extents staged in %s; commit or discard)", n, ext, where)
}

package repair

import (
	"context"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// Plan runs a repair against a throwaway
// overlay over fs (over its own overlay in sandbox mode) and drops it:
// the results say what the repair would rewrite; nothing is written to
// the image or beside it. It works on read-only opens too.
func Plan(ctx context.Context, fs *fsys.FS, what Structures, where fsys.AGs, opts RepairOptions) ([]*RepairResult, error) {
	pfs, release, err := fs.Throwaway()
	if err != nil {
		return nil, err
	}
	defer release()
	opts.Writer, opts.Fault = nil, nil
	return Repair(ctx, pfs, what, where, opts)
}

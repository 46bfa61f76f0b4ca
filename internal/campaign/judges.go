package campaign

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// XfsRepairN runs `xfs_repair -n IMAGE` (with -o force_geometry on a
// single-AG image, which it cannot validate otherwise). A non-zero exit
// status means it detected a problem; output is all it said. err is for a
// run that could not be judged: not started, killed, out of time.
func XfsRepairN(ctx context.Context, image string) (detected bool, output string, err error) {
	args := []string{"-n"}
	if g, gerr := xfsdb.ReadGeometry(image); gerr == nil && g.AGCount == 1 {
		args = append(args, "-o", "force_geometry")
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	res, err := runTool(ctx, "xfs_repair", append(args, image)...)
	if err != nil {
		return false, res.Output, err
	}
	return res.ExitCode != 0, res.Output, nil
}

// OurCheck opens image read-only and runs check.Check on every AG.
// detected is Findings.Corrupt(); codes are the distinct codes of the
// findings, sorted, those of preen and warning findings suffixed with
// their severity ("agf.btreeblks", "agfl.order[preen]"). An image our
// Open refuses counts as detected, with code "open". err is for a check
// that failed to run: an error from Check, a panic, or running out of
// time (the check goroutine is then abandoned).
func OurCheck(ctx context.Context, image string) (detected bool, codes []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	type result struct {
		detected bool
		codes    []string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("our check panicked: %v\n%s", p, debug.Stack())}
			}
			done <- r
		}()
		r.detected, r.codes, r.err = ourCheck(ctx, image)
	}()
	select {
	case r := <-done:
		return r.detected, r.codes, r.err
	case <-ctx.Done():
		return false, nil, fmt.Errorf("our check of %s: %w (%v)", image, ErrTimeout, ctx.Err())
	}
}

func ourCheck(ctx context.Context, image string) (bool, []string, error) {
	fs, err := fsys.Open(image, fsys.OpenOptions{})
	if err != nil {
		var oe *fsys.OpenError
		if errors.As(err, &oe) {
			return true, []string{"open"}, nil
		}
		return false, nil, err
	}
	defer fs.Close()
	res, err := check.Check(ctx, fs, check.CheckOptions{})
	if err != nil {
		return false, nil, fmt.Errorf("our check: %w", err)
	}
	seen := map[string]bool{}
	var codes []string
	for _, f := range res.Findings.List() {
		c := f.Code
		if f.Severity != check.Corrupt && f.Severity != check.XrefMismatch {
			c += "[" + f.Severity.String() + "]"
		}
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	if res.Findings.Suppressed > 0 {
		codes = append(codes, fmt.Sprintf("(+%d suppressed)", res.Findings.Suppressed))
	}
	sort.Strings(codes)
	return res.Findings.Corrupt(), codes, nil
}

// Complaint returns up to n lines of xfs_repair's output that are not its
// progress banners ("Phase 3 - ...", "        - scan filesystem ..."):
// what it found wrong.
func Complaint(output string, n int) []string {
	var out []string
	for l := range strings.SplitSeq(output, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case t == "",
			strings.HasPrefix(t, "Phase "),
			strings.HasPrefix(t, "- "),
			strings.HasPrefix(t, "No modify flag set"),
			// Said of any image file on a filesystem that is not a
			// block device's.
			t == "Cannot get host filesystem geometry.",
			t == "Repair may fail if there is a sector size mismatch between",
			t == "the image and the host filesystem.":
			continue
		}
		out = append(out, t)
		if len(out) == n {
			break
		}
	}
	return out
}

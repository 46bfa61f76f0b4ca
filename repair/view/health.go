package view

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// healthCache keeps the result of the last check of each scope (-1 for
// the whole filesystem) until Invalidate: checks read every inode, so
// they run when a health view is first read, not on every open.
type healthCache struct {
	mu      sync.Mutex
	results map[fsys.AGs]*check.CheckResult
	running map[fsys.AGs]*sync.WaitGroup
}

func (t *Tree) health(ctx context.Context, ag fsys.AGs) (*check.CheckResult, error) {
	h := &t.healthState
	h.mu.Lock()
	if h.results == nil {
		h.results, h.running = map[fsys.AGs]*check.CheckResult{}, map[fsys.AGs]*sync.WaitGroup{}
	}
	for {
		if r, ok := h.results[ag]; ok {
			h.mu.Unlock()
			return r, nil
		}
		wg, busy := h.running[ag]
		if !busy {
			break
		}
		h.mu.Unlock()
		wg.Wait()
		h.mu.Lock()
		if _, ok := h.results[ag]; !ok {
			break // the other check failed: run our own
		}
	}
	wg := &sync.WaitGroup{}
	wg.Add(1)
	h.running[ag] = wg
	h.mu.Unlock()

	res, err := check.Check(ctx, t.FS, check.CheckOptions{AGs: ag, Workspace: t.Workspace})
	h.mu.Lock()
	delete(h.running, ag)
	if err == nil {
		h.results[ag] = res
	}
	h.mu.Unlock()
	wg.Done()
	return res, err
}

func (t *Tree) renderHealth(ctx context.Context, w io.Writer, ag fsys.AGs, asJSON bool) error {
	res, err := t.health(ctx, ag)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, "health", struct {
			AG any `json:"ag"` // null for the whole filesystem's health
			CheckReport
		}{agOrNull(ag), NewCheckReport(res)})
	}
	scope := "filesystem"
	if agno, one := ag.One(); one {
		scope = fmt.Sprintf("ag %d", agno)
	}
	return writeFindings(w, scope, res)
}

// renderInodeHealth is inodes/N/health: what xfsbox check finds in the
// inode, its blocks and its link count (check.CheckInode).
func (t *Tree) renderInodeHealth(ctx context.Context, w io.Writer, ino uint64, asJSON bool) error {
	f, err := check.CheckInode(ctx, t.FS, ino)
	if err != nil {
		return err
	}
	res := &check.CheckResult{Findings: f}
	if asJSON {
		return writeJSON(w, "health", struct {
			Inode uint64 `json:"inode"`
			CheckReport
		}{ino, NewCheckReport(res)})
	}
	return writeFindings(w, fmt.Sprintf("inode %d", ino), res)
}

// writeFindings writes a check's verdict and its findings, a line each.
func writeFindings(w io.Writer, scope string, res *check.CheckResult) error {
	list := res.Findings.List()
	var sb strings.Builder
	verdict := "clean"
	if res.Findings.Corrupt() {
		verdict = "corrupt"
	}
	fmt.Fprintf(&sb, "%s: %s, %d finding(s)\n", scope, verdict, len(list)+res.Findings.Suppressed)
	for _, f := range list {
		sb.WriteString(f.String() + "\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func agOrNull(ag fsys.AGs) any {
	if agno, one := ag.One(); one {
		return agno
	}
	return nil
}

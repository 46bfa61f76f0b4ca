package fusefs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// Errors of the control files (turned into errnos by toErrno). Like
// package repair's sentinels they are a block of errors.New: alike in
// shape only.
var (
	ErrBusy     = errors.New("another operation is running")
	ErrBadCmd   = errors.New("bad command")
	ErrReadOnly = errors.New("read-only mount")
)

// Controller runs the commands written to ctl and ag/N/repair: one at a
// time, with progress in status, a line per change in log, and the JSON
// result of the last command in ctl.
type Controller struct {
	tree     *view.Tree
	readOnly bool

	run     sync.Mutex // held while a command runs
	mu      sync.Mutex // protects the fields below
	cancel  context.CancelFunc
	closing bool // Shutdown was called
	status  string
	last    []byte
	log     []string
}

const maxLogLines = 10000

// NewController makes the controller of a mounted tree.
func NewController(tree *view.Tree, readOnly bool) *Controller {
	return &Controller{tree: tree, readOnly: readOnly, status: "idle\n", last: ctlJSON(ctlReport{})}
}

// Shutdown stops the controller's commands for good, before the process
// exits: later commands get EBUSY, a running one is cancelled (one past
// its commit point runs to its end), and Shutdown returns once none
// runs, so that exiting never leaves a command half-way. Calls after the
// first return at once.
func (c *Controller) Shutdown() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		c.logf("cancel requested: unmounting")
	}
	c.run.Lock() // for good
	c.setStatus("unmounting: no more commands")
}

func (c *Controller) logf(format string, args ...any) {
	line := time.Now().Format("2006-01-02T15:04:05.000Z07:00") + " " + fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.log = append(c.log, line)
	if len(c.log) > maxLogLines {
		c.log = c.log[len(c.log)-maxLogLines:]
	}
	c.mu.Unlock()
}

func (c *Controller) setStatus(s string) {
	c.mu.Lock()
	c.status = s + "\n"
	c.mu.Unlock()
}

// Status, Last and Log are what the status, ctl and log files show.
func (c *Controller) Status() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []byte(c.status)
}

func (c *Controller) Last() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *Controller) Log() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.log) == 0 {
		return nil
	}
	return []byte(strings.Join(c.log, "\n") + "\n")
}

// command is a parsed control line.
type command struct {
	verb       string   // check, repair, plan, commit, discard, cancel
	ags        fsys.AGs // one AG (ag=N, or ag/N/repair) or every AG
	structures repair.Structures
	force      bool
}

// parse reads a control line. file is the AG of an ag/N/repair file
// (AllAGs for ctl), whose lines omit the verb "repair" and "ag=".
func parse(line string, file fsys.AGs) (*command, error) {
	words := strings.Fields(line)
	cmd := &command{ags: file}
	agFile, isAGFile := file.One()
	if len(words) == 0 {
		return nil, nil
	}
	switch words[0] {
	case "check", "repair", "cancel", "plan", "commit", "discard":
		cmd.verb = words[0]
		words = words[1:]
	default:
		if !isAGFile {
			return nil, fmt.Errorf("%w: unknown verb %q (want check, repair, plan, commit, discard or cancel)", ErrBadCmd, words[0])
		}
		cmd.verb = "repair" // "echo bnobt > ag/N/repair"
	}
	var names []string
	for _, w := range words {
		switch {
		case strings.HasPrefix(w, "ag="):
			if isAGFile {
				return nil, fmt.Errorf("%w: ag= is implied by ag/%d/repair", ErrBadCmd, agFile)
			}
			n, err := strconv.ParseUint(w[3:], 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: bad %q", ErrBadCmd, w)
			}
			cmd.ags = fsys.OneAG(uint32(n))
		case w == "force" || w == "--force":
			cmd.force = true
		default:
			names = append(names, w)
		}
	}
	switch cmd.verb {
	case "repair", "plan":
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: name what to %s (%s)", ErrBadCmd, cmd.verb, strings.Join(repair.StructureNames(), ", "))
		}
		var err error
		if cmd.structures, err = repair.ParseStructures(names); err != nil {
			return nil, err
		}
		if cmd.ags.All() && cmd.structures != repair.All {
			return nil, fmt.Errorf("%w: say which AG (ag=N), or write to ag/N/repair (only \"repair all\" covers every AG)", ErrBadCmd)
		}
	case "cancel", "commit", "discard":
		if len(names) > 0 || cmd.force {
			return nil, fmt.Errorf("%w: %s takes no arguments", ErrBadCmd, cmd.verb)
		}
	}
	return cmd, nil
}

// Exec runs one control line and returns when it has finished.
func (c *Controller) Exec(ctx context.Context, line string, file fsys.AGs) error {
	cmd, err := parse(line, file)
	if err != nil {
		c.finish(line, nil, err)
		return err
	}
	if cmd == nil {
		return nil // an empty line or flush
	}
	if cmd.verb == "cancel" {
		c.mu.Lock()
		cancel := c.cancel
		c.mu.Unlock()
		if cancel == nil {
			return nil
		}
		cancel()
		c.logf("cancel requested")
		return nil
	}
	if err := c.refuse(cmd); err != nil {
		c.finish(line, nil, err)
		return err
	}
	if !c.run.TryLock() {
		// What runs is the reason, in status; the log says who was refused.
		err := fmt.Errorf("%w (%s)", ErrBusy, strings.TrimSpace(string(c.Status())))
		c.logf("refused: %s: %v", strings.TrimSpace(line), err)
		return err
	}
	defer c.run.Unlock()
	// The command outlives the write's own context if the writer goes
	// away; cancel stops it.
	opCtx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	cancel := func() { cancelCause(nil) }
	defer cancel()
	// Memory running short cancels the command (before a repair's
	// commit point), not the mount.
	stopWatch := workspace.Watch(opCtx, workspace.WatchInterval, workspace.WatchFloor, func(err error) {
		c.logf("%v: cancelling the running command", err)
		cancelCause(err)
	})
	defer stopWatch()
	c.mu.Lock()
	c.cancel = cancel
	if c.closing {
		cancel()
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cancel = nil
		c.mu.Unlock()
	}()

	started := time.Now()
	c.logf("start: %s", strings.TrimSpace(line))
	what := strings.TrimSpace(line)
	if agno, one := file.One(); one {
		what = fmt.Sprintf("ag/%d/repair: %s", agno, what)
	}
	c.setStatus(fmt.Sprintf("running: %s (started %s)", what, started.Format(time.TimeOnly)))
	var result any
	switch cmd.verb {
	case "check":
		c.setStatus(fmt.Sprintf("running: check (started %s)", started.Format(time.TimeOnly)))
		res, e := check.Check(opCtx, c.tree.FS, check.CheckOptions{AGs: cmd.ags, Workspace: c.tree.Workspace})
		err = e
		if e == nil {
			result = view.NewCheckReport(res)
		}
	case "repair":
		opts := repair.RepairOptions{Force: cmd.force, Workspace: c.tree.Workspace,
			Progress: c.progress("repair", cmd, started),
			Log:      func(msg string) { c.logf("%s", msg) },
		}
		res, e := repair.Repair(opCtx, c.tree.FS, cmd.structures, cmd.ags, opts)
		err = e
		result = view.NewRepairReport(false, res)
		c.tree.Invalidate()
	case "plan", "commit", "discard":
		result, err = c.sandboxVerb(opCtx, cmd, started)
	}
	err = workspace.StoppedBy(opCtx, err)
	c.finish(line, result, err)
	return err
}

// progress reports a repair's or a plan's phases in status.
func (c *Controller) progress(verb string, cmd *command, started time.Time) fsys.Progress {
	return func(phase string, _, _ int64) {
		c.setStatus(fmt.Sprintf("running: %s ag=%s %s: %s (%.1fs)", verb, cmd.ags, cmd.structures, phase, time.Since(started).Seconds()))
	}
}

// ctlReport is the body of ctl's view.Envelope (kind "ctl"): the last
// command and its outcome. Before the first command every field is null.
// Result is the command's own report: view.CheckReport for check,
// view.RepairReport for repair and plan, commitReport, discardReport.
type ctlReport struct {
	Command *string `json:"command"`
	OK      *bool   `json:"ok"`
	Errno   *string `json:"errno"`   // the write's errno, in words ("invalid argument"), on failure
	Message *string `json:"message"` // why it failed
	Result  any     `json:"result"`
}

// ctlJSON is what ctl shows for report.
func ctlJSON(report ctlReport) []byte {
	b, _ := json.MarshalIndent(view.Envelope{Kind: "ctl", Body: report}, "", "  ")
	return append(b, '\n')
}

// finish records a command's outcome in ctl, status and log.
func (c *Controller) finish(line string, result any, err error) {
	command, ok := strings.TrimSpace(line), err == nil
	out := ctlReport{Command: &command, OK: &ok, Result: result}
	status := "idle: last command succeeded: " + strings.TrimSpace(line) + c.staged()
	if err != nil {
		errno, message := toErrno(err).Error(), err.Error()
		out.Errno, out.Message = &errno, &message
		status = "idle: last command failed: " + strings.TrimSpace(line) + ": " + err.Error() + c.staged()
		c.logf("failed: %s: %v", strings.TrimSpace(line), err)
	} else {
		c.logf("done: %s", strings.TrimSpace(line))
	}
	b := ctlJSON(out)
	c.mu.Lock()
	c.last = b
	c.status = status + "\n"
	c.mu.Unlock()
}

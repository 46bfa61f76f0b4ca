package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// DefaultTimeout bounds one external command (xfs_db, xfs_repair) and one
// run of our check.
const DefaultTimeout = 60 * time.Second

// ErrTimeout is wrapped when a command or our check ran out of time.
var ErrTimeout = errors.New("timed out")

// toolResult is what an external command did.
type toolResult struct {
	Output   string // stdout and stderr, interleaved
	ExitCode int    // -1 if killed by a signal
}

// runTool runs an xfsprogs program with args, its stdout and stderr in one
// buffer. The program runs in its own process group, killed whole when
// ctx ends. A non-zero exit is not an error (the caller judges it); a
// program that cannot be started, or is killed, is.
func runTool(ctx context.Context, name string, args ...string) (toolResult, error) {
	path, err := testimg.LookTool(name)
	if err != nil {
		return toolResult{}, err
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	res := toolResult{Output: out.String()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s %v: %w (%v)", name, args, ErrTimeout, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.Exited() {
			return res, nil
		}
		return res, fmt.Errorf("%s %v: %v\n%s", name, args, err, res.Output)
	}
	if err != nil {
		return res, fmt.Errorf("%s %v: %v", name, args, err)
	}
	return res, nil
}

// xfsDB runs xfs_db on image with one -c per command. Flags such as "-x"
// or "-r" come first in flags.
func xfsDB(ctx context.Context, image string, flags []string, cmds ...string) (toolResult, error) {
	args := append([]string(nil), flags...)
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	args = append(args, image)
	return runTool(ctx, "xfs_db", args...)
}

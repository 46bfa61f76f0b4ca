package main

import (
	"context"
	"errors"
	"os"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Exit codes, in the one place that maps errors to them. 0 and 1 follow
// fsck: 1 means the filesystem has problems; 2 and up are operational.
const (
	exitOK       = 0 // success
	exitCorrupt  = 1 // check found corruption; a file could not be read for damage
	exitUsage    = 2 // bad command line
	exitRefused  = 3 // the image is not XFS, is unsupported or truncated; or the image or the repair was refused
	exitIO       = 4 // reading or writing failed
	exitNotFound = 5 // the view path, file path or inode names nothing
	exitMount    = 6 // FUSE mount failed
	exitCanceled = 7 // interrupted (SIGINT or SIGTERM), or stopped because memory ran short
	exitInternal = 8 // anything else
)

// usageError marks command-line mistakes.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	var oe *fsys.OpenError
	var ioe *store.IOError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errCorrupt), errors.Is(err, errPartial):
		return exitCorrupt
	case errors.Is(err, repair.ErrUnknownStruct):
		return exitUsage
	case errors.Is(err, repair.ErrRefused), errors.Is(err, repair.ErrNoSpace),
		errors.Is(err, workspace.ErrNoMemory), errors.Is(err, workspace.ErrOverLimit):
		return exitRefused
	case errors.Is(err, context.Canceled):
		return exitCanceled
	case errors.As(err, &oe), errors.Is(err, xfsformat.ErrUnsupported), errors.Is(err, xfsformat.ErrNotXFS):
		if errors.As(err, &ioe) && !errors.Is(err, store.ErrBeyondEnd) {
			return exitIO
		}
		return exitRefused
	case errors.Is(err, fsys.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, view.ErrNotFound), errors.Is(err, view.ErrIsDir), errors.Is(err, os.ErrNotExist),
		errors.Is(err, fsys.ErrNoEntry), errors.Is(err, fsys.ErrNoInode), errors.Is(err, fsys.ErrNotDir),
		errors.Is(err, fsys.ErrNotRegular), errors.Is(err, fsys.ErrSymlinkInPath):
		return exitNotFound
	case errors.As(err, &ioe):
		return exitIO
	case errors.Is(err, errMount):
		return exitMount
	}
	return exitInternal
}

var errMount = errors.New("mount failed")

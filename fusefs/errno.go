package fusefs

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// errnoOf maps engine errors to errnos: the first entry with an error
// that the error is (errors.Is) gives its errno.
var errnoOf = []struct {
	errno syscall.Errno
	errs  []error
}{
	{syscall.ENOENT, []error{view.ErrNotFound, os.ErrNotExist}},
	{syscall.EISDIR, []error{view.ErrIsDir}},
	{syscall.ECANCELED, []error{context.Canceled}},
	{syscall.EINVAL, []error{ErrBadCmd, repair.ErrUnknownStruct, fsys.ErrBadAG, fsys.ErrNotSandbox}},
	{syscall.EBUSY, []error{ErrBusy}},
	{syscall.EROFS, []error{ErrReadOnly, repair.ErrReadOnly, store.ErrMetadumpReadOnly}},
	{syscall.ENOSPC, []error{repair.ErrNoSpace, syscall.ENOSPC}},
	{syscall.ENOMEM, []error{syscall.ENOMEM}},
	{syscall.EROFS, []error{os.ErrPermission}},
}

// toErrno is the one place engine errors become errnos.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, e := range errnoOf {
		for _, target := range e.errs {
			if errors.Is(err, target) {
				return e.errno
			}
		}
	}
	var errno syscall.Errno
	var ioe *store.IOError
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.As(err, &ioe), errors.Is(err, xfsformat.ErrShort):
		slog.Warn("I/O error", "error", err)
		return syscall.EIO
	}
	slog.Warn("operation failed", "error", err)
	return syscall.EIO
}

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

// toErrno is the one place engine errors become errnos.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	var ioe *store.IOError
	switch {
	case errors.Is(err, view.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, view.ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, context.Canceled):
		return syscall.ECANCELED
	case errors.Is(err, ErrBadCmd), errors.Is(err, repair.ErrUnknownStruct), errors.Is(err, fsys.ErrBadAG),
		errors.Is(err, fsys.ErrNotSandbox):
		return syscall.EINVAL
	case errors.Is(err, ErrBusy):
		return syscall.EBUSY
	case errors.Is(err, ErrReadOnly), errors.Is(err, repair.ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, repair.ErrNoSpace), errors.Is(err, syscall.ENOSPC):
		return syscall.ENOSPC
	case errors.Is(err, syscall.ENOMEM):
		return syscall.ENOMEM
	case errors.Is(err, os.ErrPermission):
		return syscall.EROFS
	case errors.As(err, &errno):
		return errno
	case errors.As(err, &ioe), errors.Is(err, xfsformat.ErrShort):
		slog.Warn("I/O error", "error", err)
		return syscall.EIO
	}
	slog.Warn("operation failed", "error", err)
	return syscall.EIO
}

package fusefs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestToErrno: engine errors, however wrapped, reach FUSE as the errno
// their kind means, the first kind that matches winning.
func TestToErrno(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("ag 3: %w", err) }
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{wrap(view.ErrNotFound), syscall.ENOENT},
		{wrap(fs.ErrNotExist), syscall.ENOENT},
		{wrap(view.ErrIsDir), syscall.EISDIR},
		{wrap(context.Canceled), syscall.ECANCELED},
		{wrap(repair.ErrUnknownStruct), syscall.EINVAL},
		{wrap(ErrBusy), syscall.EBUSY},
		{wrap(repair.ErrReadOnly), syscall.EROFS},
		{wrap(repair.ErrNoSpace), syscall.ENOSPC},
		{wrap(syscall.ENOSPC), syscall.ENOSPC},
		{wrap(syscall.ENOMEM), syscall.ENOMEM},
		{wrap(syscall.EACCES), syscall.EROFS}, // is os.ErrPermission, before the plain errno
		{wrap(syscall.EXDEV), syscall.EXDEV},
		{wrap(&store.IOError{Err: syscall.EIO}), syscall.EIO},
		{wrap(xfsformat.ErrShort), syscall.EIO},
		{errors.New("anything else"), syscall.EIO},
	} {
		if got := toErrno(tc.err); got != tc.want {
			t.Errorf("toErrno(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

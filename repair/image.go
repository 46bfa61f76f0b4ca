package repair

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Image is an XFS image file or block device opened for reading (and,
// when asked, writing). It never writes unless opened read-write.
type Image struct {
	f        *os.File
	path     string
	size     int64
	writable bool
	// overlay, in sandbox mode, takes every write and is read over the
	// file (see overlay.go).
	overlay *Overlay
}

// IOError says which read or write of the image failed and where.
type IOError struct {
	Op     string // "read" or "write"
	Path   string
	Offset int64
	Len    int
	Err    error
}

func (e *IOError) Error() string {
	return fmt.Sprintf("%s %s at byte %d (+%d): %v", e.Op, e.Path, e.Offset, e.Len, e.Err)
}

func (e *IOError) Unwrap() error { return e.Err }

// ErrBeyondEnd is wrapped by reads past the end of the image.
var ErrBeyondEnd = errors.New("beyond the end of the image (truncated image?)")

// OpenImage opens path read-only, or read-write when writable is true.
func OpenImage(path string, writable bool) (*Image, error) {
	flags := os.O_RDONLY
	if writable {
		flags = os.O_RDWR
	}
	f, err := os.OpenFile(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	var size int64
	switch {
	case st.Mode().IsRegular():
		size = st.Size()
	case st.Mode()&os.ModeDevice != 0:
		sz, err := unix.IoctlGetUint64(int(f.Fd()), unix.BLKGETSIZE64)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: size of block device: %w", path, err)
		}
		size = int64(sz)
	default:
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file or block device", path)
	}
	return &Image{f: f, path: path, size: size, writable: writable}, nil
}

// Path is the image's path as given.
func (m *Image) Path() string { return m.path }

// Size is the image's size in bytes.
func (m *Image) Size() int64 { return m.size }

// Writable reports whether the image was opened read-write (or takes
// writes into an overlay).
func (m *Image) Writable() bool { return m.writable || m.overlay != nil }

// File exposes the open file (for locks and fsync).
func (m *Image) File() *os.File { return m.f }

// ReadAt reads exactly len(p) bytes at off; a short read is an error.
func (m *Image) ReadAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > m.size {
		return &IOError{"read", m.path, off, len(p), ErrBeyondEnd}
	}
	n, err := m.f.ReadAt(p, off)
	if n == len(p) {
		if m.overlay != nil {
			return m.overlay.merge(p, off)
		}
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &IOError{"read", m.path, off, len(p), err}
}

// WriteAt writes all of p at off. It refuses on a read-only image.
func (m *Image) WriteAt(p []byte, off int64) error {
	if !m.Writable() {
		return &IOError{"write", m.path, off, len(p), os.ErrPermission}
	}
	if off < 0 || off+int64(len(p)) > m.size {
		return &IOError{"write", m.path, off, len(p), ErrBeyondEnd}
	}
	if m.overlay != nil {
		return m.overlay.WriteAt(p, off)
	}
	if _, err := m.f.WriteAt(p, off); err != nil {
		return &IOError{"write", m.path, off, len(p), err}
	}
	return nil
}

// Sync flushes writes to stable storage (the overlay's, in sandbox mode).
func (m *Image) Sync() error {
	if m.overlay != nil {
		return m.overlay.Sync()
	}
	return m.f.Sync()
}

// Close closes the image (and its overlay).
func (m *Image) Close() error {
	if m.overlay != nil {
		m.overlay.Close()
	}
	return m.f.Close()
}

package store

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Device is what an Image reads and writes: an *os.File (an image file
// or block device), a MemDevice, or anything else with these methods.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// MemDevice is a Device over a byte slice: an image held in memory. It
// cannot grow: a write past its end fails.
type MemDevice []byte

// ReadAt reads from the slice; a read past its end is short, with io.EOF.
func (d MemDevice) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("memory image: read at negative offset %d", off)
	}
	if off >= int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes into the slice, refusing what falls outside it.
func (d MemDevice) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(d))-int64(len(p)) {
		return 0, fmt.Errorf("memory image of %d bytes: write at byte %d (+%d): %w", len(d), off, len(p), ErrBeyondEnd)
	}
	return copy(d[off:], p), nil
}

// Sync has nothing to do: memory is as durable as a MemDevice gets.
func (d MemDevice) Sync() error { return nil }

// Image is an XFS image opened for reading (and, when asked, writing):
// a file or block device (OpenImage), or any Device (NewImage). It never
// writes unless writable.
type Image struct {
	dev      Device
	f        *os.File // dev when it is a file: for locks and named overlays
	path     string
	size     int64
	writable bool
	// overlay, in sandbox mode, takes every write and is read over the
	// device (see overlay.go).
	overlay *Overlay
	// md is dev when it is a metadump.
	md *Metadump
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

// ErrNotFile is wrapped by what needs the image to be a file (a lock, a
// named overlay, a journal or commit beside it) when it is not one: an
// image in memory.
var ErrNotFile = errors.New("the image is not a file (it is in memory)")

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
	return NewImage(f, size, path, writable), nil
}

// NewImage makes an image of size bytes over dev, named name in errors
// and views; it writes to dev only when writable. An *os.File keeps
// everything a file allows; over any other Device (a MemDevice) the
// image can be read, written and overlaid by an anonymous overlay, and
// what needs a file (LockImage, a named overlay, a journal or commit
// beside it) fails with ErrNotFile.
func NewImage(dev Device, size int64, name string, writable bool) *Image {
	f, _ := dev.(*os.File)
	md, _ := dev.(*Metadump)
	return &Image{dev: dev, f: f, md: md, path: name, size: size, writable: writable && md == nil}
}

// Metadump is the metadump the image reads from, or nil for an image.
func (m *Image) Metadump() *Metadump { return m.md }

// Missing counts the bytes of [off, off+n) that the image cannot give:
// on a metadump, what it does not hold (file contents, free space), less
// what the overlay holds; 0 on an image.
func (m *Image) Missing(off, n int64) int64 {
	if m.md == nil {
		return 0
	}
	if m.overlay != nil && m.overlay.held(off, n) == n {
		return 0
	}
	return m.md.Missing(off, n)
}

// readMetadump is ReadAt on a metadump: what it holds, zeros elsewhere,
// the overlay's bytes over both; a read of nothing but bytes neither
// holds fails with ErrNotInMetadump.
func (m *Image) readMetadump(p []byte, off int64) error {
	if len(p) > 0 && m.Missing(off, int64(len(p))) == int64(len(p)) {
		return &IOError{"read", m.path, off, len(p), ErrNotInMetadump}
	}
	if err := m.md.read(p, off); err != nil {
		return &IOError{"read", m.path, off, len(p), err}
	}
	if off == 0 && len(p) >= xfsformat.MinSectSize {
		fixSuperblock(p)
	}
	if m.overlay != nil {
		return m.overlay.merge(p, off)
	}
	return nil
}

// Path is the image's path as given (its name, for an image in memory).
func (m *Image) Path() string { return m.path }

// Size is the image's size in bytes.
func (m *Image) Size() int64 { return m.size }

// Writable reports whether the image was opened read-write (or takes
// writes into an overlay).
func (m *Image) Writable() bool { return m.writable || m.overlay != nil }

// File exposes the open file (for locks and fsync); nil when the image
// is not a file.
func (m *Image) File() *os.File { return m.f }

// Overlay is the overlay that takes the image's writes (sandbox mode),
// or nil.
func (m *Image) Overlay() *Overlay { return m.overlay }

// WithOverlay returns another view of the image's device, read-only but
// for ov, which takes every write and is read over the device (nil: the
// device alone). Closing the view is closing the image: close neither
// while the other is in use.
func (m *Image) WithOverlay(ov *Overlay) *Image {
	return &Image{dev: m.dev, f: m.f, md: m.md, path: m.path, size: m.size, overlay: ov}
}

// ReadAt reads exactly len(p) bytes at off; a short read is an error.
func (m *Image) ReadAt(p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > m.size {
		return &IOError{"read", m.path, off, len(p), ErrBeyondEnd}
	}
	if m.md != nil {
		return m.readMetadump(p, off)
	}
	n, err := m.dev.ReadAt(p, off)
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
	if _, err := m.dev.WriteAt(p, off); err != nil {
		return &IOError{"write", m.path, off, len(p), err}
	}
	return nil
}

// Sync flushes writes to stable storage (the overlay's, in sandbox mode).
func (m *Image) Sync() error {
	if m.overlay != nil {
		return m.overlay.Sync()
	}
	return m.dev.Sync()
}

// Close closes the image (and its overlay), and its device when that
// is an io.Closer.
func (m *Image) Close() error {
	if m.overlay != nil {
		m.overlay.Close()
	}
	if c, ok := m.dev.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

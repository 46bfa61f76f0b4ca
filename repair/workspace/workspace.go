//go:build linux

package workspace

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// DefaultSortMemory is the sort buffer size used when
	// Options.SortMemory is zero.
	DefaultSortMemory = 64 << 20

	// minSortMemory is the smallest sort buffer Array.Sort will use.
	minSortMemory = 16 << 10

	// maxSegSize is the allocation unit of the backing file. Workspaces
	// with a small MaxBytes use smaller segments.
	maxSegSize = 1 << 20
	minSegSize = 4 << 10

	memfdName = "xfsbox-workspace"
)

var (
	// ErrOverLimit reports that an operation would take the workspace past
	// Options.MaxBytes. Errors that wrap it also wrap syscall.ENOSPC.
	ErrOverLimit = errors.New("workspace: size limit exceeded")

	// ErrClosed reports use of a closed or nil Workspace, or of an Array or
	// Blobs that belongs to one or has been released.
	ErrClosed = errors.New("workspace: closed")

	// ErrInvalid reports a bad argument: a negative option, a record of the
	// wrong size, an index out of range and the like.
	ErrInvalid = errors.New("workspace: invalid argument")

	// ErrBadCookie reports a Cookie that does not name a live blob of the
	// store it was given to.
	ErrBadCookie = errors.New("workspace: bad blob cookie")
)

// OpError describes a failed system call on a workspace's backing file.
type OpError struct {
	Op     string // "pread", "pwrite", "fallocate", "memfd_create", ...
	File   string // description of the backing file
	Offset int64  // file offset of the failed transfer, -1 if none
	Err    error  // underlying error, usually a syscall.Errno
}

func (e *OpError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("workspace: %s %s: %v", e.Op, e.File, e.Err)
	}
	return fmt.Sprintf("workspace: %s %s at offset %d: %v", e.Op, e.File, e.Offset, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Options configures a Workspace.
type Options struct {
	// ScratchDir, if set, holds the backing file, created with O_TMPFILE
	// so it never has a name. If empty, an anonymous memfd is used.
	ScratchDir string

	// MaxBytes caps the backing file size; 0 means no cap.
	MaxBytes int64

	// SortMemory bounds the buffer Array.Sort uses; 0 means
	// DefaultSortMemory.
	SortMemory int64

	// Estimate is the expected amount of staged data in bytes. New
	// reserves 1.5 times this much space up front.
	Estimate int64

	// KeepSortBuffers keeps the buffers of finished sorts for the next
	// ones until Close (at most 2 x SortMemory of them, what the memory
	// check counts for two sorts at once; a sort takes its buffers from
	// them): for a workspace that lives for one
	// command (a check, a rebuild), which sorts many arrays and would
	// otherwise allocate and fault in a fresh buffer for each. Leave it
	// off for a workspace that lives long (a metadump's index, a mount).
	KeepSortBuffers bool
}

// Workspace is the backing store of one repair operation. Its methods are
// safe for concurrent use; each Array or Blobs it hands out must be used by
// one goroutine at a time.
type Workspace struct {
	// mu protects fd: I/O holds it shared, Close exclusively, so the
	// descriptor is never closed (and reused) under a running transfer.
	mu     sync.RWMutex
	fd     int
	closed bool
	dead   atomic.Bool // mirrors closed, for lock-free checks on hot paths

	name     string
	maxBytes int64
	sortMem  int64
	reserved int64
	segSize  int64

	amu    sync.Mutex // protects the segment allocator below
	next   int64      // file offset of the first never-allocated segment
	free   []int64    // file offsets of released segments
	nextID uint32     // blob store identifiers

	// spare holds sort buffers for reuse when Options.KeepSortBuffers.
	keepBufs bool
	bmu      sync.Mutex
	spare    [][]byte
}

// New creates a workspace. It reserves 1.5 times opts.Estimate bytes with
// fallocate, and refuses, before creating anything, if that is more than
// opts.MaxBytes. A refused reservation is reported with an error for which
// errors.Is(err, syscall.ENOSPC) (or the errno the kernel gave) holds, and
// nothing is left behind. A memfd workspace (no ScratchDir) is refused
// with ErrNoMemory (and syscall.ENOMEM) when its reservation and sort
// buffers are more than the machine or the process's memory cgroup can
// give (ReadMemory), rather than be charged pages until the OOM killer
// picks someone.
func New(ctx context.Context, opts Options) (*Workspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("workspace: new: %w", err)
	}
	if opts.MaxBytes < 0 || opts.SortMemory < 0 || opts.Estimate < 0 {
		return nil, fmt.Errorf("%w: negative option (MaxBytes %d, SortMemory %d, Estimate %d)",
			ErrInvalid, opts.MaxBytes, opts.SortMemory, opts.Estimate)
	}
	if opts.Estimate > (math.MaxInt64-1)/3*2 {
		return nil, fmt.Errorf("%w: estimate %d too large: %w", ErrOverLimit, opts.Estimate, syscall.ENOSPC)
	}
	reserve := opts.Estimate + (opts.Estimate+1)/2 // ceil(1.5 * Estimate)
	if opts.MaxBytes > 0 && reserve > opts.MaxBytes {
		return nil, fmt.Errorf("%w: reservation of %d bytes (1.5 x estimate %d) exceeds limit of %d bytes: %w",
			ErrOverLimit, reserve, opts.Estimate, opts.MaxBytes, syscall.ENOSPC)
	}

	ws := &Workspace{
		maxBytes: opts.MaxBytes,
		sortMem:  opts.SortMemory,
		segSize:  maxSegSize,
		keepBufs: opts.KeepSortBuffers,
	}
	if ws.sortMem == 0 {
		ws.sortMem = DefaultSortMemory
	}
	if ws.sortMem < minSortMemory {
		ws.sortMem = minSortMemory
	}
	if ws.maxBytes > 0 {
		// Keep at least 64 segments under the cap so that the segment
		// granularity does not waste much of it.
		for ws.segSize > minSegSize && ws.segSize*64 > ws.maxBytes {
			ws.segSize /= 2
		}
	}

	if opts.ScratchDir == "" && reserve > 0 {
		if err := checkMemory(reserve, ws.sortMem); err != nil {
			return nil, err
		}
	}
	fd, name, err := openBacking(opts.ScratchDir, memfdName)
	if err != nil {
		return nil, err
	}
	ws.fd, ws.name = fd, name

	if reserve > 0 {
		for {
			err = unix.Fallocate(fd, 0, 0, reserve)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			unix.Close(fd)
			ws.closed = true
			return nil, &OpError{Op: "fallocate", File: ws.name, Offset: 0,
				Err: fmt.Errorf("reserving %d bytes (1.5 x estimate %d): %w", reserve, opts.Estimate, err)}
		}
	}
	ws.reserved = reserve
	return ws, nil
}

// openBacking makes an unnamed file: a memfd named name, or with
// scratchDir an O_TMPFILE there (it never has a name, and goes with its
// last descriptor).
func openBacking(scratchDir, name string) (fd int, desc string, err error) {
	if scratchDir == "" {
		desc = "memfd:" + name
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC)
		if err != nil {
			return -1, desc, &OpError{Op: "memfd_create", File: desc, Offset: -1, Err: err}
		}
		return fd, desc, nil
	}
	desc = filepath.Join(scratchDir, "(O_TMPFILE)")
	fd, err = unix.Open(scratchDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1, desc, &OpError{Op: "open", File: desc, Offset: -1, Err: err}
	}
	return fd, desc, nil
}

// TempFile is an unnamed file where a workspace would put its records
// (a memfd named name, or an O_TMPFILE in opts.ScratchDir), for data
// staged whole rather than as records: a decompressed metadump. Closing
// it frees it.
func TempFile(opts Options, name string) (*os.File, error) {
	fd, desc, err := openBacking(opts.ScratchDir, name)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), desc), nil
}

// Close releases the backing file and with it every Array and Blobs of the
// workspace. Closing a closed or nil workspace does nothing.
func (ws *Workspace) Close() error {
	if ws == nil {
		return nil
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.closed {
		return nil
	}
	ws.closed = true
	ws.dead.Store(true)
	ws.amu.Lock()
	ws.free = nil
	ws.amu.Unlock()
	ws.bmu.Lock()
	for _, b := range ws.spare {
		freeBuffer(b)
	}
	ws.spare = nil
	ws.bmu.Unlock()
	if err := unix.Close(ws.fd); err != nil {
		return &OpError{Op: "close", File: ws.name, Offset: -1, Err: err}
	}
	return nil
}

// Usage reports the space the backing file occupies (st_blocks * 512) and
// the space reserved for it up front. used grows past reserved when the
// staged data outgrows the estimate. A closed workspace reports zeros.
func (ws *Workspace) Usage() (used, reserved int64) {
	if ws == nil {
		return 0, 0
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	if ws.closed {
		return 0, 0
	}
	var st unix.Stat_t
	if err := unix.Fstat(ws.fd, &st); err != nil {
		return 0, ws.reserved
	}
	return st.Blocks * 512, ws.reserved
}

func (ws *Workspace) check() error {
	if ws == nil || ws.dead.Load() {
		return ErrClosed
	}
	return nil
}

func overLimit(what string, off, n, max int64) error {
	return fmt.Errorf("%w: %s of %d bytes at offset %d would pass %d bytes: %w",
		ErrOverLimit, what, n, off, max, syscall.ENOSPC)
}

// pread fills p from file offset off. Short reads are errors.
func (ws *Workspace) pread(p []byte, off int64) error {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	if ws.closed {
		return ErrClosed
	}
	return ws.whole("pread", unix.Pread, io.ErrUnexpectedEOF, p, off)
}

// pwrite writes p at file offset off. Short writes are retried; a write
// that makes no progress is an error.
func (ws *Workspace) pwrite(p []byte, off int64) error {
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	if ws.closed {
		return ErrClosed
	}
	if ws.maxBytes > 0 && off+int64(len(p)) > ws.maxBytes {
		return &OpError{Op: "pwrite", File: ws.name, Offset: off,
			Err: overLimit("write", off, int64(len(p)), ws.maxBytes)}
	}
	return ws.whole("pwrite", unix.Pwrite, io.ErrShortWrite, p, off)
}

// whole calls rw (unix.Pread or unix.Pwrite) until all of p is done,
// retrying EINTR and short transfers; a call that moves nothing fails
// with noProgress. The caller holds ws.mu.
func (ws *Workspace) whole(op string, rw func(fd int, p []byte, off int64) (int, error), noProgress error, p []byte, off int64) error {
	for len(p) > 0 {
		n, err := rw(ws.fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &OpError{Op: op, File: ws.name, Offset: off, Err: err}
		}
		if n <= 0 {
			return &OpError{Op: op, File: ws.name, Offset: off, Err: noProgress}
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// allocSeg hands out one segment of the backing file, reusing released
// segments first.
func (ws *Workspace) allocSeg() (int64, error) {
	ws.amu.Lock()
	defer ws.amu.Unlock()
	if n := len(ws.free); n > 0 {
		off := ws.free[n-1]
		ws.free = ws.free[:n-1]
		return off, nil
	}
	off := ws.next
	if ws.maxBytes > 0 && off >= ws.maxBytes {
		return 0, &OpError{Op: "allocate", File: ws.name, Offset: off,
			Err: overLimit("segment", off, ws.segSize, ws.maxBytes)}
	}
	if off > math.MaxInt64-ws.segSize {
		return 0, &OpError{Op: "allocate", File: ws.name, Offset: off, Err: syscall.EFBIG}
	}
	ws.next += ws.segSize
	return off, nil
}

// freeSegs returns segments to the allocator. Negative offsets (already
// released slots) are skipped.
func (ws *Workspace) freeSegs(segs []int64) {
	ws.amu.Lock()
	defer ws.amu.Unlock()
	for _, s := range segs {
		if s >= 0 {
			ws.free = append(ws.free, s)
		}
	}
}

func (ws *Workspace) newID() uint32 {
	ws.amu.Lock()
	defer ws.amu.Unlock()
	ws.nextID++
	return ws.nextID
}

// region is a logically contiguous byte range made of backing-file
// segments.
type region struct {
	ws   *Workspace
	segs []int64 // file offset of each segment; -1 once released
}

func (rg *region) writeAt(p []byte, off int64) error {
	S := rg.ws.segSize
	for len(p) > 0 {
		si, so := off/S, off%S
		for int64(len(rg.segs)) <= si {
			seg, err := rg.ws.allocSeg()
			if err != nil {
				return err
			}
			rg.segs = append(rg.segs, seg)
		}
		if rg.segs[si] < 0 {
			return &OpError{Op: "pwrite", File: rg.ws.name, Offset: -1,
				Err: fmt.Errorf("logical offset %d is in a released segment", off)}
		}
		n := int(min(int64(len(p)), S-so))
		if err := rg.ws.pwrite(p[:n], rg.segs[si]+so); err != nil {
			return err
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// readAt walks the segments as writeAt does, but allocates none and
// refuses a range that is not backed, so the two loops stay apart.
func (rg *region) readAt(p []byte, off int64) error {
	S := rg.ws.segSize
	for len(p) > 0 {
		si, so := off/S, off%S
		if si >= int64(len(rg.segs)) || rg.segs[si] < 0 {
			return &OpError{Op: "pread", File: rg.ws.name, Offset: -1,
				Err: fmt.Errorf("logical offset %d is not backed: %w", off, io.ErrUnexpectedEOF)}
		}
		n := int(min(int64(len(p)), S-so))
		if err := rg.ws.pread(p[:n], rg.segs[si]+so); err != nil {
			return err
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// releaseSeg gives segment i back to the workspace.
func (rg *region) releaseSeg(i int) {
	if rg.segs[i] >= 0 {
		rg.ws.freeSegs(rg.segs[i : i+1])
		rg.segs[i] = -1
	}
}

// release gives every segment back to the workspace.
func (rg *region) release() {
	if rg.ws != nil && len(rg.segs) > 0 {
		rg.ws.freeSegs(rg.segs)
	}
	rg.segs = nil
}

// sortBuffer is a buffer of n bytes for a sort: the smallest kept one
// large enough (KeepSortBuffers), else a new one.
func (ws *Workspace) sortBuffer(n int64) []byte {
	if ws.keepBufs {
		ws.bmu.Lock()
		for i := len(ws.spare) - 1; i >= 0; i-- { // the smallest that fits
			if b := ws.spare[i]; int64(cap(b)) >= n {
				ws.spare = slices.Delete(ws.spare, i, i+1)
				ws.bmu.Unlock()
				return b[:n]
			}
		}
		ws.bmu.Unlock()
	}
	return newBuffer(n)
}

// doneWithSortBuffer gives b back for the next sort, when kept: the
// spares stay within 2 x SortMemory (two sorts' worth, of the three
// the memory check counts), the smallest let go first.
func (ws *Workspace) doneWithSortBuffer(b []byte) {
	if b == nil {
		return
	}
	if !ws.keepBufs {
		freeBuffer(b)
		return
	}
	ws.bmu.Lock()
	defer ws.bmu.Unlock()
	if ws.dead.Load() { // Close has let the spares go, or is about to
		freeBuffer(b)
		return
	}
	ws.spare = append(ws.spare, b[:cap(b)])
	slices.SortFunc(ws.spare, func(x, y []byte) int { return cap(y) - cap(x) }) // largest first
	total := int64(0)
	for i, s := range ws.spare {
		if total += int64(cap(s)); total > 2*ws.sortMem {
			for _, drop := range ws.spare[i:] {
				freeBuffer(drop)
			}
			ws.spare = ws.spare[:i]
			break
		}
	}
}

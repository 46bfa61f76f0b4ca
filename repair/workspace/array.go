//go:build linux

package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
)

const (
	// MaxRecordSize is the largest record an Array accepts.
	MaxRecordSize = 1 << 20

	// ioBufSize is the size of an Array's append and iterate buffers:
	// 512 KiB bought nothing over 128 in system calls, and an AG's arrays
	// staged side by side each held one (the 16-AG image's check: peak
	// RSS 61 -> 42 MB, time 0.61 -> 0.50 s; the inode-heavy image's 66 ->
	// 53 MB).
	ioBufSize = 128 << 10
	// startBufSize is where an array's append buffer starts; it doubles
	// up to ioBufSize as records come.
	startBufSize = 4 << 10

	// ctxEvery is how many records the merge handles between context
	// checks (Iterate checks once a read, ioBufSize bytes of records).
	ctxEvery = 4096
)

// Array is a sequence of fixed-size records in a workspace, the analogue
// of the kernel's xfarray. Appends are buffered; Load, Store, Len and
// Iterate see buffered records. An Array must be used by one goroutine at
// a time.
//
// If an append buffer cannot be written out, records are lost and the
// Array becomes unusable: every later call returns the error.
type Array struct {
	ws      *Workspace
	r       int
	rg      region
	n       int64  // records, including buffered ones
	flushed int64  // records in the backing file
	wbuf    []byte // buffered appends, records flushed..n
	err     error  // sticky failure
	// sortedBy is a key the records are known to be in the order of
	// (SortBy's last, or MarkSorted's); nil when none is. Appends and
	// stores forget it.
	sortedBy []Span
}

// NewArray creates an empty array of records of recSize bytes.
func (ws *Workspace) NewArray(recSize int) (*Array, error) {
	if err := ws.check(); err != nil {
		return nil, err
	}
	if recSize <= 0 || recSize > MaxRecordSize {
		return nil, fmt.Errorf("%w: record size %d not in 1..%d", ErrInvalid, recSize, MaxRecordSize)
	}
	return &Array{ws: ws, r: recSize, rg: region{ws: ws}}, nil
}

func (a *Array) usable() error {
	if a == nil || a.ws == nil {
		return ErrClosed
	}
	if a.err != nil {
		return a.err
	}
	return a.ws.check()
}

// RecordSize returns the size of the array's records.
func (a *Array) RecordSize() int {
	if a == nil {
		return 0
	}
	return a.r
}

// Len returns the number of records in the array.
func (a *Array) Len() int64 {
	if a == nil {
		return 0
	}
	return a.n
}

// Append adds a copy of rec, which must be RecordSize bytes long, to the
// end of the array.
func (a *Array) Append(rec []byte) error {
	if err := a.appendable(); err != nil {
		return err
	}
	if len(rec) != a.r {
		return fmt.Errorf("%w: append of %d-byte record to array of %d-byte records", ErrInvalid, len(rec), a.r)
	}
	if err := a.room(); err != nil {
		return err
	}
	a.wbuf = append(a.wbuf, rec...)
	a.n++
	a.sortedBy = nil
	return nil
}

// AppendRun adds copies of the records of run, which holds a whole
// number of them side by side (a btree leaf's), in order: Append of
// each, a buffer at a time.
func (a *Array) AppendRun(run []byte) error {
	if err := a.appendable(); err != nil {
		return err
	}
	if len(run)%a.r != 0 {
		return fmt.Errorf("%w: append of a %d-byte run to array of %d-byte records", ErrInvalid, len(run), a.r)
	}
	for len(run) > 0 {
		if err := a.room(); err != nil {
			return err
		}
		n := min(len(run), (cap(a.wbuf)-len(a.wbuf))/a.r*a.r)
		a.wbuf = append(a.wbuf, run[:n]...)
		a.n += int64(n / a.r)
		run = run[n:]
	}
	a.sortedBy = nil
	return nil
}

// appendable says whether the array takes appends now.
func (a *Array) appendable() error {
	if a == nil || a.ws == nil {
		return ErrClosed
	}
	if a.err != nil {
		return a.err
	}
	if a.ws.dead.Load() {
		return ErrClosed
	}
	return nil
}

// room makes room in the append buffer for at least one record.
func (a *Array) room() error {
	if len(a.wbuf)+a.r <= cap(a.wbuf) {
		return nil
	}
	if full := max(a.r, ioBufSize/a.r*a.r); cap(a.wbuf) < full {
		// Grow by doubling from a page up to the full I/O buffer:
		// a small array (a tiny tree's records) never holds a full one,
		// which on 16 AGs of a dozen arrays each was most of the
		// check's heap.
		var nb []byte
		if n := min(full, max(startBufSize/a.r*a.r, a.r, 2*cap(a.wbuf))); n == full {
			nb = getIOBuf(full)[:len(a.wbuf)]
		} else {
			nb = make([]byte, len(a.wbuf), n)
		}
		copy(nb, a.wbuf)
		a.wbuf = nb
		return nil
	}
	return a.flush()
}

// flush writes buffered appends to the backing file.
func (a *Array) flush() error {
	if len(a.wbuf) == 0 {
		return nil
	}
	if err := a.rg.writeAt(a.wbuf, a.flushed*int64(a.r)); err != nil {
		a.err = fmt.Errorf("workspace: array append of records %d..%d failed, array unusable: %w",
			a.flushed, a.n-1, err)
		return a.err
	}
	a.flushed = a.n
	a.wbuf = a.wbuf[:0]
	return nil
}

// settle flushes buffered appends and lets the append buffer go: the
// array is being read whole (Iterate, a sort, a cursor), which is where
// an array's appends usually end, and an AG's dozen arrays kept their
// a full buffer each until the check was over. An append after it starts a
// small buffer again.
//
// A settled array changes nothing when settled again: several
// goroutines may read it at once (Iterate, All, cursors), as long as
// none appends to it, sorts or releases it meanwhile.
func (a *Array) settle() error {
	if err := a.flush(); err != nil {
		return err
	}
	if a.wbuf != nil {
		putIOBuf(a.wbuf)
		a.wbuf = nil
	}
	return nil
}

// Settle ends a run of appends: what settle does before a read, done
// before the array is handed to several goroutines to read at once
// (their first reads would otherwise each settle it).
func (a *Array) Settle() error {
	if err := a.usable(); err != nil {
		return err
	}
	return a.settle()
}

// Flush writes buffered appends to the backing file. Other operations
// flush when needed; Flush only lets a caller see write errors early.
func (a *Array) Flush() error {
	if err := a.usable(); err != nil {
		return err
	}
	return a.flush()
}

// locate checks an op (Load or Store) of record i with buf, and returns
// the record's bytes in the append buffer, or nil when the record is in
// the backing file.
func (a *Array) locate(op string, i int64, buf []byte, exact bool) ([]byte, error) {
	if err := a.usable(); err != nil {
		return nil, err
	}
	if i < 0 || i >= a.n {
		return nil, fmt.Errorf("%w: %s of record %d, array has %d", ErrInvalid, op, i, a.n)
	}
	if len(buf) < a.r || (exact && len(buf) != a.r) {
		return nil, fmt.Errorf("%w: %s with %d-byte buffer, records are %d bytes", ErrInvalid, op, len(buf), a.r)
	}
	if i < a.flushed {
		return nil, nil
	}
	o := (i - a.flushed) * int64(a.r)
	return a.wbuf[o : o+int64(a.r)], nil
}

// Load copies record i into dst, which must be at least RecordSize bytes.
func (a *Array) Load(i int64, dst []byte) error {
	buffered, err := a.locate("load", i, dst, false)
	if err != nil {
		return err
	}
	if buffered != nil {
		copy(dst[:a.r], buffered)
		return nil
	}
	return a.rg.readAt(dst[:a.r], i*int64(a.r))
}

// LoadN copies len(dst)/RecordSize records, from record i on, into dst,
// whose length must be a multiple of RecordSize: one read of the backing
// file for a run of records (Load is one read per record).
func (a *Array) LoadN(i int64, dst []byte) error {
	if err := a.usable(); err != nil {
		return err
	}
	n := int64(len(dst) / a.r)
	if len(dst)%a.r != 0 || i < 0 || i+n > a.n {
		return fmt.Errorf("%w: load of %d bytes from record %d, array has %d records of %d bytes", ErrInvalid, len(dst), i, a.n, a.r)
	}
	if n == 0 {
		return nil
	}
	if err := a.flush(); err != nil {
		return err
	}
	return a.rg.readAt(dst, i*int64(a.r))
}

// Store overwrites record i with rec, which must be RecordSize bytes. If
// it fails, the content of record i is unspecified. It is Load the other
// way round (alike in shape; locate holds what they share).
func (a *Array) Store(i int64, rec []byte) error {
	buffered, err := a.locate("store", i, rec, true)
	if err != nil {
		return err
	}
	a.sortedBy = nil
	if buffered != nil {
		copy(buffered, rec)
		return nil
	}
	return a.rg.writeAt(rec, i*int64(a.r))
}

// Iterate calls fn for every record in index order, reading the backing
// file in large chunks. rec is only valid during the call and must not be
// retained; changing it does not change the array. fn must not call Sort
// or Release on this array. Records appended by fn are not visited.
// Iterate stops at the first error from fn and returns it, and returns an
// error wrapping ctx.Err() if ctx is done.
func (a *Array) Iterate(ctx context.Context, fn func(i int64, rec []byte) error) error {
	if fn == nil {
		return fmt.Errorf("%w: nil iterate function", ErrInvalid)
	}
	return a.IterateRuns(ctx, func(i int64, run []byte) error {
		r := a.r
		for o := 0; o < len(run); o += r {
			if err := fn(i, run[o:o+r:o+r]); err != nil {
				return err
			}
			i++
		}
		return nil
	})
}

// IterateRuns is Iterate handing fn runs of records, whole records side
// by side in index order (as many as one read brings), i the first's
// index: for a consumer that copies them a run at a time (a btree's
// bulk load fills its leaves so). The same rules as Iterate's; it
// checks ctx between runs.
func (a *Array) IterateRuns(ctx context.Context, fn func(i int64, run []byte) error) error {
	if err := a.usable(); err != nil {
		return err
	}
	if fn == nil {
		return fmt.Errorf("%w: nil iterate function", ErrInvalid)
	}
	if err := a.settle(); err != nil {
		return err
	}
	r := int64(a.r)
	n := a.n
	// A buffer that fits the array, up to the full I/O size, for this
	// call only (kept, a dozen arrays an AG held 512 KiB each).
	rbuf := getIOBuf(int(min(int64(max(a.r, ioBufSize/a.r*a.r)), max(r, n*r))))
	defer putIOBuf(rbuf)
	per := int64(len(rbuf)) / r
	for i := int64(0); i < n; {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("workspace: iterate stopped at record %d: %w", i, err)
		}
		cnt := min(per, n-i)
		buf := rbuf[: cnt*r : cnt*r]
		if err := a.rg.readAt(buf, i*r); err != nil {
			return err
		}
		if err := fn(i, buf); err != nil {
			return err
		}
		i += cnt
	}
	return nil
}

// All is Iterate as an iterator, so that several arrays can be walked
// in step with iter.Pull. A record is valid until the next one is asked
// for: copy it to keep it longer. The first error Iterate meets is stored
// in *errp, unless *errp already holds one; a nil array yields nothing.
func (a *Array) All(ctx context.Context, errp *error) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if a == nil {
			return
		}
		err := a.Iterate(ctx, func(_ int64, rec []byte) error {
			if !yield(rec) {
				return errStopAll
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopAll) && *errp == nil {
			*errp = err
		}
	}
}

// errStopAll ends the Iterate behind All when its consumer stops.
var errStopAll = errors.New("workspace: iteration stopped by its consumer")

// Release frees the array's space for reuse by other arrays and blob
// stores of the workspace. The array is unusable afterwards.
func (a *Array) Release() {
	if a == nil || a.ws == nil {
		return
	}
	a.rg.release()
	a.n, a.flushed = 0, 0
	a.wbuf = nil
	a.err = fmt.Errorf("workspace: array released: %w", ErrClosed)
}

// VisitPrefix calls fn, in index order, for each record that begins
// with prefix, in an array sorted so that they are together and after
// every smaller record (by bytes.Compare of their first len(prefix)
// bytes): a binary search of Loads finds the first, then runs of them
// are read into buf (at least one record long) at once. rec is only
// valid during the call.
func (a *Array) VisitPrefix(prefix, buf []byte, fn func(rec []byte) error) error {
	if err := a.usable(); err != nil {
		return err
	}
	if len(prefix) > a.r || len(buf) < a.r {
		return fmt.Errorf("%w: prefix of %d bytes or buffer of %d for %d-byte records", ErrInvalid, len(prefix), len(buf), a.r)
	}
	rec := make([]byte, a.r)
	var err error
	i := int64(sort.Search(int(a.n), func(i int) bool {
		if err == nil {
			err = a.Load(int64(i), rec)
		}
		return err != nil || bytes.Compare(rec[:len(prefix)], prefix) >= 0
	}))
	per := int64(len(buf) / a.r)
	for ; err == nil && i < a.n; i += per {
		cnt := min(per, a.n-i)
		if err = a.LoadN(i, buf[:cnt*int64(a.r)]); err != nil {
			break
		}
		for o := int64(0); o < cnt; o++ {
			r := buf[o*int64(a.r) : (o+1)*int64(a.r)]
			if !bytes.HasPrefix(r, prefix) {
				return nil
			}
			if err = fn(r); err != nil {
				return err
			}
		}
	}
	return err
}

package repair

import (
	"sync"

	"github.com/xfsbox/xfsbox/repair/store"
)

// batchMax bounds one coalesced write.
const batchMax = 1 << 20

// batchWriter coalesces writes that follow one another on disk into one
// (up to batchMax bytes): BulkLoad hands over a new tree's blocks one at
// a time, mostly in runs of adjacent blocks, and a write each was tens
// of thousands of system calls for a tree of two million records. It
// copies what it is given (BulkLoad reuses its buffer); flush writes
// what is held.
type batchWriter struct {
	w   store.Writer
	off int64
	buf []byte
}

func (b *batchWriter) WriteAt(p []byte, off int64) error {
	if len(b.buf) > 0 && (off != b.off+int64(len(b.buf)) || len(b.buf)+len(p) > batchMax) {
		if err := b.flush(); err != nil {
			return err
		}
	}
	if len(b.buf) == 0 {
		b.off = off
		if b.buf == nil {
			// Whole from the start: grown by append, a run's buffer was
			// copied a dozen times on its way to batchMax.
			b.buf = make([]byte, 0, batchMax)
		}
	}
	b.buf = append(b.buf, p...)
	return nil
}

// flush writes what is held.
func (b *batchWriter) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	err := b.w.WriteAt(b.buf, b.off)
	b.buf = b.buf[:0]
	return err
}

// lockedWriter makes a writer's writes one at a time, for trees written
// side by side (a test's writer counts them).
type lockedWriter struct {
	mu sync.Mutex
	w  store.Writer
}

func (l *lockedWriter) WriteAt(p []byte, off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.WriteAt(p, off)
}

func (l *lockedWriter) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Sync()
}

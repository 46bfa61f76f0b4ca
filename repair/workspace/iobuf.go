//go:build linux

package workspace

import "sync"

// ioPool keeps I/O buffers of ioBufSize between the arrays' iterations,
// cursors and append buffers: each took a fresh buffer of the Go heap,
// a check of many AGs thousands of them, and fresh memory (zeroed, then
// faulted in page by page) cost more than the reads they served.
var ioPool = sync.Pool{New: func() any { b := make([]byte, ioBufSize); return &b }}

// getIOBuf returns a buffer of n bytes (n at most ioBufSize): a pooled
// one when n is large enough to be worth it.
func getIOBuf(n int) []byte {
	if n < ioBufSize/8 || n > ioBufSize {
		return make([]byte, n)
	}
	return (*ioPool.Get().(*[]byte))[:n]
}

// putIOBuf gives a buffer of getIOBuf back; the caller keeps no slice of
// it.
func putIOBuf(b []byte) {
	if cap(b) == ioBufSize {
		b = b[:ioBufSize]
		ioPool.Put(&b)
	}
}

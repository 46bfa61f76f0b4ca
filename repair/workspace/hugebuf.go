//go:build linux

package workspace

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Sort buffers of a few MiB and more are mapped outside the Go heap,
// asking for transparent huge pages (MADV_HUGEPAGE, which the machine's
// "madvise" setting honours): filling a fresh 8 MiB buffer from the
// Go heap took 2,048 page faults, and on a paravirtualised machine a
// fault costs several microseconds; a check of two million records
// spent a sixth of its time in them. A huge page takes one fault for
// 2 MiB. Where the mapping or the advice is refused, the buffer comes
// from the Go heap as before.

const (
	hugePage  = 2 << 20
	smallPage = 4 << 10
	// hugeMin is the smallest buffer mapped so: smaller ones come
	// from the Go heap.
	hugeMin = hugePage
)

var (
	mappedMu sync.Mutex
	mapped   = map[*byte]bool{} // the first byte of each mapped buffer
)

// newBuffer returns a zeroed buffer of n bytes.
func newBuffer(n int64) []byte {
	if n < hugeMin || int64(int(n)) != n {
		return make([]byte, n)
	}
	// Not rounded up to whole huge pages: the tail past the last whole
	// one takes small pages, so a buffer costs no more memory than it
	// would from the Go heap.
	size := (n + smallPage - 1) / smallPage * smallPage
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n)
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice: without it, small pages
	mappedMu.Lock()
	mapped[&b[0]] = true
	mappedMu.Unlock()
	return b[:n]
}

// freeBuffer lets a buffer of newBuffer go: a mapped one is unmapped at
// once (the caller holds no other slice of it), one of the Go heap is
// left to the collector.
func freeBuffer(b []byte) {
	if cap(b) < hugeMin {
		return
	}
	b = b[:cap(b)]
	mappedMu.Lock()
	ok := mapped[&b[0]]
	delete(mapped, &b[0])
	mappedMu.Unlock()
	if ok {
		_ = unix.Munmap(b)
	}
}

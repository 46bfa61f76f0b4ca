//go:build linux

package workspace

import (
	"encoding/binary"
	"fmt"
)

const (
	// MaxBlobSize is the largest blob Blobs accepts.
	MaxBlobSize = 64 << 20

	blobHdrSize   = 16
	blobAlign     = 8
	blobMagicLive = 0x58424c42 // "XBLB"
	blobMagicFree = 0x58424c46 // "XBLF"

	// blobCombine is the largest blob whose header and data are written
	// with one pwrite through the scratch buffer.
	blobCombine = 64 << 10
)

// Cookie names a blob in a Blobs store. It encodes the store and the
// blob's position; the zero Cookie names no blob.
type Cookie uint64

const (
	cookieIDShift = 48
	cookiePosMask = 1<<cookieIDShift - 1
)

func (bs *Blobs) cookie(off int64) Cookie {
	return Cookie(uint64(bs.id)<<cookieIDShift | (uint64(off)/blobAlign + 1))
}

// Blobs is an append-only store of variable-length byte strings in a
// workspace, the analogue of the kernel's xfblob. Every blob is preceded
// by a header carrying a magic number, the store's identity and the
// length, which Get and Free check, so a forged, stale or foreign Cookie
// is reported as ErrBadCookie rather than returning garbage. Blobs must be
// used by one goroutine at a time.
type Blobs struct {
	ws      *Workspace
	id      uint32
	rg      region
	end     int64 // logical end of the store
	scratch []byte
	hdr     [blobHdrSize]byte
}

// NewBlobs creates an empty blob store.
func (ws *Workspace) NewBlobs() (*Blobs, error) {
	if err := ws.check(); err != nil {
		return nil, err
	}
	return &Blobs{ws: ws, id: ws.newID(), rg: region{ws: ws}}, nil
}

func (bs *Blobs) usable() error {
	if bs == nil || bs.ws == nil {
		return ErrClosed
	}
	return bs.ws.check()
}

// Size returns the number of bytes the store's blobs and headers occupy.
func (bs *Blobs) Size() int64 {
	if bs == nil {
		return 0
	}
	return bs.end
}

func (bs *Blobs) putHdr(p []byte, magic uint32, n int) {
	binary.LittleEndian.PutUint32(p[0:], magic)
	binary.LittleEndian.PutUint32(p[4:], bs.id)
	binary.LittleEndian.PutUint64(p[8:], uint64(n))
}

// Put stores a copy of b and returns its cookie.
func (bs *Blobs) Put(b []byte) (Cookie, error) {
	if err := bs.usable(); err != nil {
		return 0, err
	}
	if len(b) > MaxBlobSize {
		return 0, fmt.Errorf("%w: blob of %d bytes exceeds %d", ErrInvalid, len(b), MaxBlobSize)
	}
	off := bs.end
	if len(b) <= blobCombine {
		need := blobHdrSize + len(b)
		if cap(bs.scratch) < need {
			bs.scratch = make([]byte, max(need, 4<<10))
		}
		p := bs.scratch[:need]
		bs.putHdr(p, blobMagicLive, len(b))
		copy(p[blobHdrSize:], b)
		if err := bs.rg.writeAt(p, off); err != nil {
			return 0, err
		}
	} else {
		// Data first, so a failure never leaves a live header.
		if err := bs.rg.writeAt(b, off+blobHdrSize); err != nil {
			return 0, err
		}
		bs.putHdr(bs.hdr[:], blobMagicLive, len(b))
		if err := bs.rg.writeAt(bs.hdr[:], off); err != nil {
			return 0, err
		}
	}
	n := int64(blobHdrSize + len(b))
	bs.end = off + (n+blobAlign-1)/blobAlign*blobAlign
	return bs.cookie(off), nil
}

// lookup validates c and returns the blob's data offset and length.
func (bs *Blobs) lookup(c Cookie) (int64, int, error) {
	if uint32(uint64(c)>>cookieIDShift) != bs.id&(1<<(64-cookieIDShift)-1) {
		return 0, 0, fmt.Errorf("%w: cookie %#x belongs to another store", ErrBadCookie, uint64(c))
	}
	pos := uint64(c) & cookiePosMask
	if pos == 0 || pos-1 > uint64(bs.end)/blobAlign {
		return 0, 0, fmt.Errorf("%w: cookie %#x outside store of %d bytes", ErrBadCookie, uint64(c), bs.end)
	}
	off := int64(pos-1) * blobAlign
	if off+blobHdrSize > bs.end {
		return 0, 0, fmt.Errorf("%w: cookie %#x is not a blob position", ErrBadCookie, uint64(c))
	}
	if err := bs.rg.readAt(bs.hdr[:], off); err != nil {
		return 0, 0, err
	}
	magic := binary.LittleEndian.Uint32(bs.hdr[0:])
	id := binary.LittleEndian.Uint32(bs.hdr[4:])
	size := binary.LittleEndian.Uint64(bs.hdr[8:])
	switch {
	case magic == blobMagicFree && id == bs.id:
		return 0, 0, fmt.Errorf("%w: cookie %#x names a freed blob", ErrBadCookie, uint64(c))
	case magic != blobMagicLive || id != bs.id:
		return 0, 0, fmt.Errorf("%w: cookie %#x does not name a blob of this store", ErrBadCookie, uint64(c))
	case size > MaxBlobSize || int64(size) > bs.end-off-blobHdrSize:
		return 0, 0, fmt.Errorf("%w: cookie %#x: blob length %d out of bounds", ErrBadCookie, uint64(c), size)
	}
	return off + blobHdrSize, int(size), nil
}

// Get returns a copy of the blob named by c.
func (bs *Blobs) Get(c Cookie) ([]byte, error) {
	if err := bs.usable(); err != nil {
		return nil, err
	}
	off, n, err := bs.lookup(c)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if err := bs.rg.readAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

// Free marks the blob named by c as freed; later Get and Free calls with
// c fail with ErrBadCookie. The space is not reused.
func (bs *Blobs) Free(c Cookie) error {
	if err := bs.usable(); err != nil {
		return err
	}
	off, n, err := bs.lookup(c)
	if err != nil {
		return err
	}
	bs.putHdr(bs.hdr[:], blobMagicFree, n)
	return bs.rg.writeAt(bs.hdr[:], off-blobHdrSize)
}

// Release frees the store's space for reuse by other arrays and stores of
// the workspace. The store is unusable afterwards.
func (bs *Blobs) Release() {
	if bs == nil || bs.ws == nil {
		return
	}
	bs.rg.release()
	bs.end = 0
	bs.ws = nil
}

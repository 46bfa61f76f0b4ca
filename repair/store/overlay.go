package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"

	"github.com/xfsbox/xfsbox/xfsformat"
	"golang.org/x/sys/unix"
)

// An overlay is a copy-on-write layer over an image (sandbox mode):
// every write to the image goes to the overlay instead, and every read
// of the image sees the overlay's bytes over the image's own. The image
// file is never written until the overlay is committed (FS.CommitOverlay).
//
// The overlay is an append-only log of records in one file: an anonymous
// memfd by default (gone when xfsbox exits), or a named file that
// survives and can be opened again over the same image. A repair's writes
// go to the log as DATA records as they happen; its commit appends the
// header writes and one CMIT record, and only then is the batch durable:
// a batch is every DATA record since the previous CMIT. Opening a named
// overlay keeps every batch up to the last valid CMIT and cuts off the
// rest (a torn record, a zero-filled tail, DATA records without their
// CMIT): after a crash the overlay is at its last complete batch.
//
// Overlay format (integers big-endian, CRCs are CRC32c):
//
//	header, 64 bytes:
//	off  len  field
//	0    8    magic "XFSBOXOV"
//	8    4    version (1)
//	12   4    header length (64)
//	16   8    image size in bytes          } which image the overlay is
//	24   16   superblock uuid (bytes 32-47) } for: refused when they differ
//	40   20   zero
//	60   4    CRC of bytes 0-59
//	records, each 24 bytes and a payload of L bytes:
//	0    4    kind: "DATA", "CMIT" or "APLY"
//	4    4    L: DATA 1 to MaxOverlayRecord, else 0
//	8    8    DATA: image byte offset; CMIT: batch number (1, 2, ...)
//	16   4    DATA: CRC of the image bytes it covers, as they were in the
//	          image file when it was written (named overlays; 0 in
//	          anonymous ones); CMIT: number of DATA records in the batch
//	20   4    CRC of bytes 0-19 and the payload
//	24   L    DATA: the bytes
//
// APLY is appended (and synced) when a commit to the image begins. An
// overlay that ends in APLY may have been applied in full (the image's
// redo journal makes that all or nothing), so its DATA records' image
// CRCs are not checked; committing it again is harmless. Otherwise a
// named overlay whose image bytes no longer match (the image changed
// since) is refused by name, as is one made for another image.

// MaxOverlayRecord bounds one DATA record; larger writes take several.
const MaxOverlayRecord = 1 << 20

// The overlay's layout, alike in shape to the journal's (journal.go) but
// another format: an append-only log of typed records cut at the last
// CMIT, not a counted list of entries sealed by a trailer.
const (
	overlayMagic   = "XFSBOXOV"
	overlayVersion = 1
	overlayHdrLen  = 64
	overlayRecHdr  = 24
)

// Errors of the overlay.
var (
	ErrOverlayForeign = errors.New("the overlay belongs to another image")
	ErrOverlayBad     = errors.New("not an xfsbox overlay")
)

// Overlay is a copy-on-write layer over an image; see above.
type Overlay struct {
	mu      sync.RWMutex
	f       *os.File
	path    string   // "" when anonymous
	raw     *os.File // the image file, for the CRCs of what DATA replaces
	id      ImageID
	end     int64 // where the next record goes
	idx     spanIndex
	pending int    // DATA records since the last CMIT
	batches uint64 // CMIT records in the file
	// Applying is set when the overlay ends in APLY: a commit to the
	// image began and may have finished.
	Applying bool
	// Dropped is how many bytes of an incomplete batch opening cut off.
	Dropped int64
	below   *Overlay // read under this one (a plan over a sandbox)
}

// NewAnonOverlay makes an empty overlay in a memfd, over below (nil:
// over the image alone).
func NewAnonOverlay(id ImageID, below *Overlay) (*Overlay, error) {
	fd, err := unix.MemfdCreate("xfsbox-overlay", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("overlay: memfd_create: %w", err)
	}
	o := &Overlay{f: os.NewFile(uintptr(fd), "memfd:xfsbox-overlay"), id: id, below: below}
	if err := o.writeHeader(); err != nil {
		o.f.Close()
		return nil, err
	}
	return o, nil
}

// OpenOverlay opens the named overlay at path over the image file raw,
// creating it when missing, and keeps its complete batches.
func OpenOverlay(path string, raw *os.File, id ImageID) (*Overlay, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("overlay %s: %w", path, err)
	}
	o := &Overlay{f: f, path: path, raw: raw, id: id}
	if err := o.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("overlay %s: %w", path, err)
	}
	return o, nil
}

// Path is the named overlay's path, or "" for an anonymous one.
func (o *Overlay) Path() string { return o.path }

// Stats says how much the overlay holds: extents and bytes staged.
func (o *Overlay) Stats() (extents int, bytes int64) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.idx.stats()
}

func (o *Overlay) writeHeader() error {
	be := binary.BigEndian
	h := make([]byte, overlayHdrLen)
	copy(h, overlayMagic)
	be.PutUint32(h[8:], overlayVersion)
	be.PutUint32(h[12:], overlayHdrLen)
	be.PutUint64(h[16:], uint64(o.id.Size))
	copy(h[24:40], o.id.UUID[:])
	be.PutUint32(h[60:], crc32.Checksum(h[:60], xfsformat.Castagnoli))
	if err := o.f.Truncate(0); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	if _, err := o.f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	o.end, o.pending, o.batches, o.Applying = overlayHdrLen, 0, 0, false
	o.idx = spanIndex{}
	return o.sync()
}

// sync makes a named overlay durable (an anonymous one has nothing to).
func (o *Overlay) sync() error {
	if o.path == "" {
		return nil
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("overlay %s: %w", o.path, err)
	}
	return nil
}

func encodeRecord(kind string, a uint64, b uint32, payload []byte) []byte {
	be := binary.BigEndian
	rec := make([]byte, overlayRecHdr, overlayRecHdr+len(payload))
	copy(rec, kind)
	be.PutUint32(rec[4:], uint32(len(payload)))
	be.PutUint64(rec[8:], a)
	be.PutUint32(rec[16:], b)
	c := crc32.Update(0, xfsformat.Castagnoli, rec[:20])
	be.PutUint32(rec[20:], crc32.Update(c, xfsformat.Castagnoli, payload))
	return append(rec, payload...)
}

func (o *Overlay) append(rec []byte) error {
	if _, err := o.f.WriteAt(rec, o.end); err != nil {
		return fmt.Errorf("overlay %s: %w", o.f.Name(), err)
	}
	o.end += int64(len(rec))
	return nil
}

// WriteAt stages p at image offset off. It is visible to reads at once
// and durable with the next Commit.
func (o *Overlay) WriteAt(p []byte, off int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stage(p, off)
}

func (o *Overlay) stage(p []byte, off int64) error {
	if off < 0 || off > o.id.Size-int64(len(p)) {
		return fmt.Errorf("overlay: write at byte %d (+%d) is outside the image (%d bytes): %w", off, len(p), o.id.Size, ErrBeyondEnd)
	}
	for len(p) > 0 {
		n := min(len(p), MaxOverlayRecord)
		var base uint32
		if o.raw != nil {
			b := make([]byte, n)
			if _, err := o.raw.ReadAt(b, off); err != nil {
				return fmt.Errorf("overlay: reading the image bytes it replaces: %w", err)
			}
			base = crc32.Checksum(b, xfsformat.Castagnoli)
		}
		pos := o.end + overlayRecHdr
		if err := o.append(encodeRecord("DATA", uint64(off), base, p[:n])); err != nil {
			return err
		}
		o.idx.insert(off, off+int64(n), pos)
		o.pending++
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// Commit stages writes and makes everything staged since the last
// Commit one durable batch: after a crash, all of it or none.
func (o *Overlay) Commit(writes []Write) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range writes {
		if err := o.stage(w.Data, w.Off); err != nil {
			return err
		}
	}
	if o.pending == 0 {
		return nil
	}
	if err := o.sync(); err != nil { // the data before the record that makes it count
		return err
	}
	if err := o.append(encodeRecord("CMIT", o.batches+1, uint32(o.pending), nil)); err != nil {
		return err
	}
	if err := o.sync(); err != nil {
		return err
	}
	o.batches++
	o.pending = 0
	return nil
}

// markApplying records that a commit to the image begins.
func (o *Overlay) markApplying() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.path == "" {
		return nil
	}
	if err := o.append(encodeRecord("APLY", o.batches, 0, nil)); err != nil {
		return err
	}
	o.Applying = true
	return o.sync()
}

// Reset empties the overlay (after a commit, or to discard it).
func (o *Overlay) Reset() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writeHeader()
}

// Sync makes staged writes durable as data (not yet as a batch).
func (o *Overlay) Sync() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sync()
}

// Close closes the overlay's file (an anonymous overlay is gone).
func (o *Overlay) Close() error { return o.f.Close() }

// merge copies the staged bytes of [off, off+len(p)) over p.
func (o *Overlay) merge(p []byte, off int64) error {
	if o.below != nil {
		if err := o.below.merge(p, off); err != nil {
			return err
		}
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	var err error
	o.idx.visit(off, off+int64(len(p)), func(s span) bool {
		lo, hi := max(s.start, off), min(s.end, off+int64(len(p)))
		if _, e := o.f.ReadAt(p[lo-off:hi-off], s.pos+(lo-s.start)); e != nil {
			err = fmt.Errorf("overlay %s: %w", o.f.Name(), e)
			return false
		}
		return true
	})
	return err
}

// held counts the bytes of [off, off+n) this overlay (or one below it)
// holds.
func (o *Overlay) held(off, n int64) int64 {
	if o.below != nil && o.below.held(off, n) == n {
		return n
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	var h int64
	o.idx.visit(off, off+n, func(s span) bool {
		h += min(s.end, off+n) - max(s.start, off)
		return true
	})
	return h
}

// each calls fn with the staged bytes in image order, a span (at most
// indexChunk bytes) at a time, until fn fails.
func (o *Overlay) each(fn func(off int64, data []byte) error) error {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var err error
	o.idx.visit(0, o.id.Size, func(s span) bool {
		b := make([]byte, s.end-s.start)
		if _, e := o.f.ReadAt(b, s.pos); e != nil {
			err = fmt.Errorf("overlay %s: %w", o.f.Name(), e)
			return false
		}
		err = fn(s.start, b)
		return err == nil
	})
	return err
}

// Writes returns the bytes staged in this overlay (not in the one below
// it) as writes in image order: what a throwaway over a sandbox holds,
// for the sandbox to take as one batch.
func (o *Overlay) Writes() ([]Write, error) { return o.writes() }

// writes returns the staged bytes as writes in image order.
func (o *Overlay) writes() ([]Write, error) {
	var out []Write
	err := o.each(func(off int64, b []byte) error {
		out = append(out, Write{Off: off, Data: b})
		return nil
	})
	return out, err
}

// load reads a named overlay: a new (empty) file gets a header; else the
// header must name this image, and every complete batch is indexed and
// the rest cut off.
func (o *Overlay) load() error {
	st, err := o.f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file", ErrOverlayBad)
	}
	if st.Size() == 0 {
		return o.writeHeader()
	}
	h := make([]byte, overlayHdrLen)
	if _, err := o.f.ReadAt(h, 0); err != nil || !bytes.Equal(h[:8], []byte(overlayMagic)) {
		return fmt.Errorf("%w: no overlay magic", ErrOverlayBad)
	}
	be := binary.BigEndian
	if crc32.Checksum(h[:60], xfsformat.Castagnoli) != be.Uint32(h[60:]) {
		return fmt.Errorf("%w: bad header CRC", ErrOverlayBad)
	}
	if v := be.Uint32(h[8:]); v != overlayVersion || be.Uint32(h[12:]) != overlayHdrLen {
		return fmt.Errorf("%w: unknown version %d", ErrOverlayBad, v)
	}
	var id ImageID
	id.Size = int64(be.Uint64(h[16:]))
	copy(id.UUID[:], h[24:40])
	if id != o.id {
		return fmt.Errorf("%w: it was made for an image of %s, this one is %s", ErrOverlayForeign, id, o.id)
	}
	end, err := o.scan(st.Size())
	if err != nil {
		return err
	}
	if end < st.Size() {
		o.Dropped = st.Size() - end
		if err := o.f.Truncate(end); err != nil {
			return err
		}
		if err := o.sync(); err != nil {
			return err
		}
	}
	o.end = end
	return nil
}

// scanned is a DATA record read back, not yet part of a complete batch.
type scanned struct {
	off, pos int64
	n        int
	base     uint32
}

// scan indexes every complete batch and returns where the last one ends.
func (o *Overlay) scan(size int64) (int64, error) {
	be := binary.BigEndian
	pos, good := int64(overlayHdrLen), int64(overlayHdrLen)
	var batch, all []scanned
	hdr := make([]byte, overlayRecHdr)
records:
	for pos+overlayRecHdr <= size {
		if _, err := o.f.ReadAt(hdr, pos); err != nil {
			return 0, err
		}
		kind, l, a, b := string(hdr[:4]), int64(be.Uint32(hdr[4:])), be.Uint64(hdr[8:]), be.Uint32(hdr[16:])
		if (kind == "DATA") != (l > 0) || l > MaxOverlayRecord || pos+overlayRecHdr+l > size {
			break records
		}
		payload := make([]byte, l)
		if _, err := o.f.ReadAt(payload, pos+overlayRecHdr); err != nil {
			return 0, err
		}
		c := crc32.Update(crc32.Update(0, xfsformat.Castagnoli, hdr[:20]), xfsformat.Castagnoli, payload)
		if c != be.Uint32(hdr[20:]) {
			break records
		}
		next := pos + overlayRecHdr + l
		switch kind {
		case "DATA":
			if a > uint64(o.id.Size) || uint64(l) > uint64(o.id.Size)-a {
				return 0, fmt.Errorf("%w: a record at byte %d writes outside the image", ErrOverlayBad, pos)
			}
			batch = append(batch, scanned{int64(a), pos + overlayRecHdr, int(l), b})
		case "CMIT":
			if a != o.batches+1 || int(b) != len(batch) {
				break records
			}
			all = append(all, batch...)
			batch = nil
			o.batches++
			o.Applying = false
			good = next
		case "APLY":
			if len(batch) != 0 || a != o.batches {
				break records
			}
			o.Applying = true
			good = next
		default:
			break records
		}
		pos = next
	}
	return good, o.index(all)
}

// index puts the complete batches' records in the index, checking (unless
// a commit was under way) that the image still holds what they replaced.
func (o *Overlay) index(recs []scanned) error {
	for i, r := range recs {
		if o.raw != nil && !o.Applying {
			b := make([]byte, r.n)
			if _, err := o.raw.ReadAt(b, r.off); err != nil {
				return err
			}
			if crc32.Checksum(b, xfsformat.Castagnoli) != r.base {
				return fmt.Errorf("%w: record %d replaced bytes at image offset %d (+%d) that have changed since (the image was written after the overlay was made)",
					ErrOverlayForeign, i, r.off, r.n)
			}
		}
		o.idx.insert(r.off, r.off+int64(r.n), r.pos)
	}
	return nil
}

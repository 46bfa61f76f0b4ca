package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/metadump"
)

// ErrNotInMetadump is wrapped by a read of a metadump image that falls
// wholly on sectors the metadump does not hold (file contents, free
// space): there is nothing to read, not zeros.
var ErrNotInMetadump = errors.New("not in the metadump (xfs_metadump copies metadata only)")

// ErrMetadumpReadOnly refuses writes to a metadump, and opening one for
// writing: a repair runs in a sandbox over it, or on a restored copy.
var ErrMetadumpReadOnly = errors.New("a metadump is read-only: repair it in a sandbox (mount --sandbox) or into a restored copy (repair --output NEW)")

// Metadump is a Device over an xfs_metadump file (v1 or v2, or either
// compressed: see OpenMetadump): the filesystem as xfs_mdrestore would
// restore it, read in place. Sectors the metadump holds read as it holds
// them; the others read as zeros, and Missing says which they are. The
// index of where each held sector lies in the file is kept in a
// workspace, sorted and merged into runs, so that a metadump of a
// multi-TiB filesystem costs memory only for a small fence (one entry
// for every indexPage runs) and a bounded page cache.
type Metadump struct {
	Info metadump.Info
	// Size is the restored data device's size (the superblock's dblocks
	// times its block size).
	Size int64
	// Sectors and Runs count the data device's sectors the metadump holds
	// and the runs of contiguous sectors they form; LogSectors and
	// RTSectors the v2 extents of an external log or realtime device,
	// counted and left out (xfsbox reads neither).
	Sectors, Runs, LogSectors, RTSectors uint64
	// Source names the file and, when it was compressed, how.
	Source string

	file    *os.File // the metadump (or its decompressed copy)
	ws      *workspace.Workspace
	runs    *workspace.Array // runRecLen records: daddr, sectors, file offset
	fence   []uint64         // the daddr of run i*indexPage
	mu      sync.Mutex
	pages   map[int64][]byte // run pages, by page number
	closers []func() error
}

const (
	runRecLen = 24
	rawRecLen = 32 // a run, and its order in the file (later wins)
	indexPage = 256
	maxPages  = 256 // 1.5 MiB of run pages cached
	// maxOverlap bounds the extents that cover one sector at once.
	maxOverlap = 4096
)

// BuildMetadump indexes the metadump in f (size bytes; Scan's format),
// its index in a workspace made with scratch. It reads f once from its
// start. source names it in messages.
func BuildMetadump(ctx context.Context, f *os.File, size int64, source string, scratch workspace.Options) (_ *Metadump, err error) {
	ws, err := workspace.New(ctx, scratch)
	if err != nil {
		return nil, fmt.Errorf("workspace for the metadump's index: %w", err)
	}
	md := &Metadump{file: f, ws: ws, Source: source, pages: map[int64][]byte{}}
	defer func() {
		if err != nil {
			ws.Close()
		}
	}()
	raw, err := ws.NewArray(rawRecLen)
	if err != nil {
		return nil, err
	}
	defer raw.Release()
	var rec [rawRecLen]byte
	var seq uint64
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	md.Info, err = metadump.Scan(f, size, func(e metadump.Extent) error {
		switch e.Device {
		case metadump.LogDevice:
			md.LogSectors += e.Sectors
			return nil
		case metadump.RTDevice:
			md.RTSectors += e.Sectors
			return nil
		}
		if seq%(1<<16) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(rec[0:], e.Daddr)
		binary.BigEndian.PutUint64(rec[8:], e.Sectors)
		binary.BigEndian.PutUint64(rec[16:], uint64(e.Offset))
		binary.BigEndian.PutUint64(rec[24:], seq)
		seq++
		return raw.Append(rec[:])
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := raw.Sort(ctx, func(a, b []byte) int {
		if c := bytes.Compare(a[:8], b[:8]); c != 0 {
			return c
		}
		return bytes.Compare(a[24:32], b[24:32])
	}); err != nil {
		return nil, err
	}
	if md.runs, err = ws.NewArray(runRecLen); err != nil {
		return nil, err
	}
	if err := md.merge(ctx, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if err := md.runs.Flush(); err != nil {
		return nil, err
	}
	sb := make([]byte, xfsformat.MinSectSize)
	if err := md.read(sb, 0); err != nil {
		return nil, fmt.Errorf("%s: the primary superblock: %w", source, err)
	}
	if binary.BigEndian.Uint32(sb) != xfsformat.SBMagic {
		return nil, fmt.Errorf("%s: %w: the primary superblock has no XFSB magic", source, metadump.ErrCorrupt)
	}
	s, err := xfsformat.DecodeSuperblock(sb)
	if err != nil {
		return nil, fmt.Errorf("%s: the primary superblock: %w", source, err)
	}
	if s.BlockSize < 512 || s.BlockSize > 65536 || s.BlockSize&(s.BlockSize-1) != 0 || s.DBlocks == 0 || s.DBlocks > 1<<52/uint64(s.BlockSize) {
		return nil, fmt.Errorf("%s: the primary superblock's size (%d blocks of %d bytes) is impossible", source, s.DBlocks, s.BlockSize)
	}
	md.Size = int64(s.DBlocks) * int64(s.BlockSize)
	return md, nil
}

// active is an extent covering the sweep's position in merge.
type active struct{ start, end, off, seq uint64 }

// merge turns the sorted raw extents into non-overlapping runs, a
// sector held twice taking the later copy (as xfs_mdrestore, writing in
// file order, leaves it), adjacent runs that continue each other in the
// file joined.
func (md *Metadump) merge(ctx context.Context, raw *workspace.Array) error {
	var act []active
	var pos uint64
	var last struct{ start, end, off uint64 }
	haveLast := false
	var out [runRecLen]byte
	flushLast := func() error {
		if !haveLast {
			return nil
		}
		binary.BigEndian.PutUint64(out[0:], last.start)
		binary.BigEndian.PutUint64(out[8:], last.end-last.start)
		binary.BigEndian.PutUint64(out[16:], last.off)
		if md.runs.Len()%indexPage == 0 {
			md.fence = append(md.fence, last.start)
		}
		md.Runs++
		md.Sectors += last.end - last.start
		return md.runs.Append(out[:])
	}
	emit := func(start, end, off uint64) error {
		if haveLast && last.end == start && last.off+(last.end-last.start)<<metadump.SectorLog == off {
			last.end = end
			return nil
		}
		if err := flushLast(); err != nil {
			return err
		}
		last.start, last.end, last.off, haveLast = start, end, off, true
		return nil
	}
	// advance emits what the active extents hold below limit.
	advance := func(limit uint64) error {
		for len(act) > 0 && pos < limit {
			w, segEnd := 0, limit
			for i, a := range act {
				if a.seq > act[w].seq {
					w = i
				}
				segEnd = min(segEnd, a.end)
			}
			a := act[w]
			if err := emit(pos, segEnd, a.off+(pos-a.start)<<metadump.SectorLog); err != nil {
				return err
			}
			pos = segEnd
			keep := act[:0]
			for _, a := range act {
				if a.end > pos {
					keep = append(keep, a)
				}
			}
			act = keep
		}
		return nil
	}
	var err error
	for rec := range raw.All(ctx, &err) {
		a := active{start: binary.BigEndian.Uint64(rec), off: binary.BigEndian.Uint64(rec[16:]), seq: binary.BigEndian.Uint64(rec[24:])}
		a.end = a.start + binary.BigEndian.Uint64(rec[8:])
		if err := advance(a.start); err != nil {
			return err
		}
		if len(act) == 0 {
			pos = a.start
		}
		if len(act) >= maxOverlap {
			return fmt.Errorf("%w: more than %d extents hold sector %d", metadump.ErrCorrupt, maxOverlap, a.start)
		}
		act = append(act, a)
	}
	if err != nil {
		return err
	}
	if err := advance(^uint64(0)); err != nil {
		return err
	}
	return flushLast()
}

// page returns the runs of page p (up to indexPage records).
func (md *Metadump) page(p int64) ([]byte, error) {
	md.mu.Lock()
	defer md.mu.Unlock()
	if b, ok := md.pages[p]; ok {
		return b, nil
	}
	n := min(int64(indexPage), md.runs.Len()-p*indexPage)
	b := make([]byte, n*runRecLen)
	if err := md.runs.LoadN(p*indexPage, b); err != nil {
		return nil, err
	}
	if len(md.pages) >= maxPages {
		clear(md.pages)
	}
	md.pages[p] = b
	return b, nil
}

// visit calls fn for each run that overlaps sectors [first, end), in
// order, with the run's start, length in sectors and file offset.
func (md *Metadump) visit(first, end uint64, fn func(start, n, off uint64) error) error {
	if len(md.fence) == 0 {
		return nil
	}
	// The last page whose first run starts at or below first; the run
	// before first may reach into the range.
	p := int64(sort.Search(len(md.fence), func(i int) bool { return md.fence[i] > first })) - 1
	p = max(p, 0)
	for ; p < int64(len(md.fence)); p++ {
		b, err := md.page(p)
		if err != nil {
			return err
		}
		for i := 0; i+runRecLen <= len(b); i += runRecLen {
			start, n := binary.BigEndian.Uint64(b[i:]), binary.BigEndian.Uint64(b[i+8:])
			if start >= end {
				return nil
			}
			if start+n <= first {
				continue
			}
			if err := fn(start, n, binary.BigEndian.Uint64(b[i+16:])); err != nil {
				return err
			}
		}
	}
	return nil
}

// read fills p from byte off: what the metadump holds, zeros elsewhere.
func (md *Metadump) read(p []byte, off int64) error {
	clear(p)
	if len(p) == 0 {
		return nil
	}
	end := off + int64(len(p))
	return md.visit(uint64(off)>>metadump.SectorLog, (uint64(end)+metadump.SectorSize-1)>>metadump.SectorLog, func(start, n, foff uint64) error {
		rs, re := int64(start)<<metadump.SectorLog, int64(start+n)<<metadump.SectorLog
		from, to := max(rs, off), min(re, end)
		if from >= to {
			return nil
		}
		if _, err := md.file.ReadAt(p[from-off:to-off], int64(foff)+(from-rs)); err != nil {
			return fmt.Errorf("%s: reading the metadump at byte %d: %w", md.Source, int64(foff)+(from-rs), err)
		}
		return nil
	})
}

// ReadAt reads as the restored image would: held sectors as the metadump
// holds them, the rest as zeros. A read that falls wholly on sectors the
// metadump does not hold fails with ErrNotInMetadump; one that is held
// in part reads zeros for the rest (a block the metadump holds whole
// never is: xfs_metadump copies whole blocks).
func (md *Metadump) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("metadump: read at negative offset %d", off)
	}
	if md.Missing(off, int64(len(p))) == int64(len(p)) && len(p) > 0 {
		return 0, ErrNotInMetadump
	}
	if err := md.read(p, off); err != nil {
		return 0, err
	}
	if off == 0 && len(p) >= xfsformat.MinSectSize {
		fixSuperblock(p)
	}
	return len(p), nil
}

// fixSuperblock clears a restored superblock's inprogress flag, as
// xfs_mdrestore does once it has written everything (a metadump taken
// of a filesystem whose mkfs was interrupted holds it set).
func fixSuperblock(p []byte) {
	const inprogress = 126
	if p[inprogress] == 0 {
		return
	}
	p[inprogress] = 0
	if s, err := xfsformat.DecodeSuperblock(p); err == nil && s.VersionNum&0xf == 5 && int(s.SectSize) <= len(p) {
		xfsformat.UpdateCRC(p[:s.SectSize], xfsformat.SBCRCOffset())
	}
}

// Missing counts the bytes of [off, off+n) that the metadump does not
// hold.
func (md *Metadump) Missing(off, n int64) int64 {
	if n <= 0 {
		return 0
	}
	held := int64(0)
	end := off + n
	err := md.visit(uint64(off)>>metadump.SectorLog, (uint64(end)+metadump.SectorSize-1)>>metadump.SectorLog, func(start, cnt, _ uint64) error {
		from, to := max(int64(start)<<metadump.SectorLog, off), min(int64(start+cnt)<<metadump.SectorLog, end)
		if to > from {
			held += to - from
		}
		return nil
	})
	if err != nil {
		return n
	}
	return n - held
}

// EachRun calls fn for every run of held sectors, in order: a restore
// writes each where it lies.
func (md *Metadump) EachRun(ctx context.Context, fn func(off int64, n int64, foff int64) error) error {
	var err error
	for rec := range md.runs.All(ctx, &err) {
		start, n, foff := binary.BigEndian.Uint64(rec), binary.BigEndian.Uint64(rec[8:]), binary.BigEndian.Uint64(rec[16:])
		if err := fn(int64(start)<<metadump.SectorLog, int64(n)<<metadump.SectorLog, int64(foff)); err != nil {
			return err
		}
	}
	return err
}

// File is the metadump's file (its decompressed copy, when compressed):
// what a restore reads runs from.
func (md *Metadump) File() *os.File { return md.file }

// WriteAt refuses: a metadump is never written.
func (md *Metadump) WriteAt(p []byte, off int64) (int, error) {
	return 0, ErrMetadumpReadOnly
}

// Sync has nothing to do.
func (md *Metadump) Sync() error { return nil }

// Close releases the index and closes the file.
func (md *Metadump) Close() error {
	md.mu.Lock()
	clear(md.pages)
	md.mu.Unlock()
	err := md.ws.Close()
	if cerr := md.file.Close(); err == nil {
		err = cerr
	}
	for _, c := range md.closers {
		if cerr := c(); err == nil {
			err = cerr
		}
	}
	return err
}

// Restore writes the filesystem the metadump holds into out, as
// xfs_mdrestore does: out is truncated to the data device's size (so
// that what the metadump lacks is a hole) and every held run written
// where it lies. out is synced. progress, if set, is told the bytes
// written so far, after each run.
func (md *Metadump) Restore(ctx context.Context, out *os.File, progress func(done, total int64)) error {
	if err := out.Truncate(0); err != nil {
		return err
	}
	if err := out.Truncate(md.Size); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	total, done := int64(md.Sectors)<<metadump.SectorLog, int64(0)
	err := md.EachRun(ctx, func(off, n, foff int64) error {
		for n > 0 {
			c := min(n, int64(len(buf)))
			if off+c > md.Size {
				c = md.Size - off
				n = c // held past the device's end: xfs_mdrestore writes it, the image ends first
				if c <= 0 {
					return nil
				}
			}
			if _, err := md.file.ReadAt(buf[:c], foff); err != nil {
				return fmt.Errorf("%s: reading the metadump at byte %d: %w", md.Source, foff, err)
			}
			if off == 0 && c >= xfsformat.MinSectSize {
				fixSuperblock(buf[:c])
			}
			if _, err := out.WriteAt(buf[:c], off); err != nil {
				return err
			}
			off, foff, n, done = off+c, foff+c, n-c, done+c
		}
		if progress != nil {
			progress(done, total)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return out.Sync()
}

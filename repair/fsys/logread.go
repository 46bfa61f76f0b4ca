package fsys

import (
	"context"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/store"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// logReader reads basic blocks of the circular internal log.
type logReader struct {
	img   *store.Image
	start int64  // byte offset of the log in the image
	nbb   uint32 // log size in BBs
	logv2 bool
	rbuf  []byte // one record's worth, reused
	// scratch is for the blocks the head's search scans (firstWhere,
	// prevHeader), reused: a buffer a call (a megabyte for the window,
	// a record's worth for each record walked back) was a few megabytes
	// of fresh memory for every command that read the log state, its
	// page faults most of that read's time (3 to 8 ms on the bench
	// image, on a log already in memory).
	scratch []byte
}

// scratchBlocks is a buffer of at least n blocks (n at most
// MaxRecordBlocks), the reader's own.
func (l *logReader) scratchBlocks(n uint32) []byte {
	if cap(l.scratch) < int(n)*xlog.BBSize {
		l.scratch = make([]byte, xlog.MaxRecordBlocks*xlog.BBSize)
	}
	return l.scratch[:int(n)*xlog.BBSize]
}

// newLogReader locates the internal log.
func newLogReader(fs *FS) (*logReader, error) {
	g, sb := fs.Geo, fs.SB
	if g.LogStart == 0 {
		return nil, ErrExternalLog
	}
	agno, agbno, ok := g.InternalLogAG()
	if !ok || g.LogBlocks == 0 || uint64(agbno)+uint64(g.LogBlocks) > uint64(g.AGLength(agno)) {
		return nil, fmt.Errorf("internal log at block %d (+%d blocks) does not fit in its AG", g.LogStart, g.LogBlocks)
	}
	nbb := uint64(g.LogBlocks) << (g.BlockLog - 9)
	if nbb > 1<<31 {
		return nil, fmt.Errorf("internal log of %d blocks is larger than XFS allows", g.LogBlocks)
	}
	// XFS_SB_VERSION_LOGV2BIT; v5 filesystems always have v2 logs.
	logv2 := sb.VersionNum&0x400 != 0 || sb.VersionNum&0xf == 5
	return &logReader{img: fs.Img, start: g.ByteOffset(agno, agbno), nbb: uint32(nbb), logv2: logv2}, nil
}

// read fills p (whole BBs) from block bb on, wrapping at the log's end.
func (l *logReader) read(p []byte, bb uint32) error {
	for len(p) > 0 {
		bb %= l.nbb
		n := min(len(p), int(l.nbb-bb)*xlog.BBSize)
		if err := l.img.ReadAt(p[:n], l.start+int64(bb)*xlog.BBSize); err != nil {
			return err
		}
		p, bb = p[n:], bb+uint32(n/xlog.BBSize)
	}
	return nil
}

// distance is how many blocks from a forward to b, around the log.
func (l *logReader) distance(a, b uint32) uint32 { return (b + l.nbb - a%l.nbb) % l.nbb }

// findHead returns the first block after the last one written and the
// cycle of block 0, reading a few blocks and a window, not the whole log
// (up to 2 GiB, and a log that has wrapped has its head anywhere).
// Every BB is stamped with the cycle that wrote it, so the log reads c,
// ..., c, c-1, ..., c-1 (or 0s where never written), and the head is the
// first block behind block 0's cycle (or zero). The search is the
// kernel's xlog_find_head: a binary search finds where the last block's
// cycle begins (where zeroes begin, in a log written in part:
// xlog_find_zeroed), and the window of blocks that may have been in
// flight before it (every iclog's largest record, headWindow) is
// scanned for the first block behind, a hole an iclog that never landed
// left behind a later one that did; the log's end, when the window runs
// back across its start, for a hole of the cycle before the last
// block's. A log whose every block has block 0's cycle ends its last
// record at the log's end: the head is 0, unless the window before the
// end holds a block behind. The kernel then moves a head that falls
// inside a record back to that record's start
// (xlog_find_verify_log_record); verifyHead finds such a record torn.
// In the window the kernel looks for one cycle where this looks for any
// block behind (zeroes too, as the whole log read block by block did):
// xfs_mdrestore's fresh log (an unmount record of cycle 2 at block 0,
// zeroes, then records of cycle 1) has its head after the unmount
// record.
func (l *logReader) findHead() (head, cycle0 uint32, err error) {
	if cycle0, err = l.cycleAt(0); err != nil || cycle0 == 0 {
		return 0, 0, err // all zeroes: never written
	}
	behind := func(c uint32) bool { return c == 0 || int32(c-cycle0) < 0 }
	last, err := l.cycleAt(l.nbb - 1)
	if err != nil {
		return 0, 0, err
	}
	win := min(l.nbb, headWindow(l.logv2))
	// h may be l.nbb (the log's end, which is block 0) while the
	// windows are worked out.
	var h uint32
	switch {
	case last == cycle0:
		h = l.nbb
	default: // last is 0 (written in part) or the cycle before block 0's
		if h, err = l.cycleStart(0, l.nbb-1, last); err != nil {
			return 0, 0, err
		}
	}
	if h < win && last != 0 {
		// The window runs back across the log's start: its part at the
		// end is looked at for a hole of the cycle before the last
		// block's, which the pass that wrapped left.
		b, ok, err := l.firstWhere(l.nbb-(win-h), win-h, func(c uint32) bool { return c == last-1 })
		if err != nil || ok {
			return b, cycle0, err
		}
	}
	from := h - min(win, h)
	if b, ok, err := l.firstWhere(from, h-from, behind); err != nil {
		return 0, 0, err
	} else if ok {
		h = b
	}
	return h % l.nbb, cycle0, nil
}

// headWindow is how far before the cycle's change findHead looks for
// holes: every iclog's largest record (XLOG_TOTAL_REC_SHIFT), 2 MiB in
// a v2 log, 256 KiB in a v1 one.
func headWindow(logv2 bool) uint32 {
	rec := uint32(xlog.MaxRecordSize)
	if !logv2 {
		rec = 32 << 10 // XLOG_BIG_RECORD_BSIZE
	}
	return xlog.MaxIclogs * rec / xlog.BBSize
}

// cycleAt reads the cycle stamped on block bb.
func (l *logReader) cycleAt(bb uint32) (uint32, error) {
	var one [xlog.BBSize]byte
	if err := l.read(one[:], bb); err != nil {
		return 0, err
	}
	return xlog.BlockCycle(one[:]), nil
}

// cycleStart binary-searches blocks first to end for the first with
// cycle, assuming every block before it has another and every block
// from it on has that one (xlog_find_cycle_start): where the log is not
// so, it finds one such change, which the window after it mends.
func (l *logReader) cycleStart(first, end, cycle uint32) (uint32, error) {
	for mid := first + (end-first)/2; mid != first && mid != end; mid = first + (end-first)/2 {
		c, err := l.cycleAt(mid)
		if err != nil {
			return 0, err
		}
		if c == cycle {
			end = mid
		} else {
			first = mid
		}
	}
	return end, nil
}

// firstWhere finds the first of the n blocks from start (not past the
// log's end) whose cycle is one want wants.
func (l *logReader) firstWhere(start, n uint32, want func(cycle uint32) bool) (uint32, bool, error) {
	buf := l.scratchBlocks(min(n, xlog.MaxRecordBlocks))
	for done := uint32(0); done < n; {
		k := min(n-done, uint32(len(buf)/xlog.BBSize))
		if err := l.read(buf[:k*xlog.BBSize], start+done); err != nil {
			return 0, false, err
		}
		for i := range k {
			if want(xlog.BlockCycle(buf[i*xlog.BBSize:])) {
				return start + done + i, true, nil
			}
		}
		done += k
	}
	return 0, false, nil
}

// prevHeader finds the record header nearest before block from, looking
// back at most limit blocks (and never more than a record's length: a
// record's header is within MaxRecordBlocks of its end).
func (l *logReader) prevHeader(from, limit uint32) (uint32, bool, error) {
	win := min(uint32(xlog.MaxRecordBlocks), l.nbb, limit)
	if win == 0 {
		return 0, false, nil
	}
	buf := l.scratchBlocks(win)
	first := (from + l.nbb - win) % l.nbb
	if err := l.read(buf, first); err != nil {
		return 0, false, err
	}
	for i := int(win) - 1; i >= 0; i-- {
		if xlog.IsRecHeader(buf[i*xlog.BBSize:]) {
			return (first + uint32(i)) % l.nbb, true, nil
		}
	}
	return 0, false, nil
}

// readHeader reads the record header at block at. A header that does
// not decode or verify is why, not an error; errors are I/O failures.
func (l *logReader) readHeader(at uint32) (*xlog.RecHeader, string, error) {
	one := make([]byte, xlog.BBSize)
	if err := l.read(one, at); err != nil {
		return nil, "", err
	}
	h, err := xlog.DecodeRecHeader(one)
	if err == nil {
		err = h.Verify(l.logv2)
	}
	if err != nil {
		return nil, err.Error(), nil
	}
	return h, "", nil
}

// readRecord reads and decodes the record at block at into the reader's
// buffer (the record is valid until the next call), with why as
// readHeader.
func (l *logReader) readRecord(at uint32) (*xlog.Record, string, error) {
	h, why, err := l.readHeader(at)
	if err != nil || why != "" {
		return nil, why, err
	}
	n := h.Blocks(l.logv2) * xlog.BBSize
	if cap(l.rbuf) < n {
		l.rbuf = make([]byte, xlog.MaxRecordBlocks*xlog.BBSize)
	}
	raw := l.rbuf[:n]
	if err := l.read(raw, at); err != nil {
		return nil, "", err
	}
	rec, err := xlog.DecodeRecord(at, raw, l.logv2)
	if err != nil {
		return nil, err.Error(), nil
	}
	return rec, "", nil
}

// LogRecords calls fn with each record from log block from (a record's
// start: ls.TailBlock for what a mount would replay, ls.RecordsFrom for
// every record that matters) up to the head, in log order, across the
// log's end. Only one record is in memory at a time: a Record and its
// ops' data are valid until fn returns. A record whose header does not
// verify, or that runs past the head, ends the walk with an error (the
// kernel stops recovery there too); CRC and other damage inside a record
// are in its Problems.
func LogRecords(ctx context.Context, fs *FS, ls *LogState, from uint32, fn func(*xlog.Record) error) error {
	l, err := newLogReader(fs)
	if err != nil {
		return err
	}
	if ls.LogBlocks != l.nbb {
		return fmt.Errorf("log state of a %d-block log for a %d-block one", ls.LogBlocks, l.nbb)
	}
	for at := from % l.nbb; at != ls.HeadBlock; {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, why, err := l.readRecord(at)
		if err != nil {
			return err
		}
		if why != "" {
			return fmt.Errorf("log record at block %d: %s", at, why)
		}
		n := uint32(rec.Header.Blocks(l.logv2))
		if left := l.distance(at, ls.HeadBlock); n > left {
			return fmt.Errorf("log record at block %d runs %d blocks past the head (block %d)", at, n-left, ls.HeadBlock)
		}
		if err := fn(rec); err != nil {
			return err
		}
		at = (at + n) % l.nbb
	}
	return nil
}

// LogRecordAt reads the record at log block at, as LogRecords would hand
// it out (its Record is the caller's).
func LogRecordAt(fs *FS, at uint32) (*xlog.Record, error) {
	l, err := newLogReader(fs)
	if err != nil {
		return nil, err
	}
	if at >= l.nbb {
		return nil, fmt.Errorf("log block %d is past the log's %d", at, l.nbb)
	}
	rec, why, err := l.readRecord(at)
	if err == nil && why != "" {
		err = fmt.Errorf("log record at block %d: %s", at, why)
	}
	return rec, err
}

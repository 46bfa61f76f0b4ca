package fsys

import (
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// logScanChunk is NextHeader's largest read: only each BB's first word
// is looked at.
const logScanChunk = 1 << 20

// LogReader reads the internal log's blocks and records for callers that
// walk the physical log themselves rather than from the tail to the head
// (forensics reads all of it, the records behind the tail included). It
// reads through the FS's image, read-only, and holds one record at a
// time. It is not safe for concurrent use.
type LogReader struct {
	l    *logReader
	sbuf []byte // NextHeader's window, reused
}

// NewLogReader locates the internal log (ErrExternalLog for an external
// one).
func NewLogReader(fs *FS) (*LogReader, error) {
	l, err := newLogReader(fs)
	if err != nil {
		return nil, err
	}
	return &LogReader{l: l}, nil
}

// Blocks is the log's size in 512-byte basic blocks.
func (r *LogReader) Blocks() uint32 { return r.l.nbb }

// LogV2 says records may have extended headers.
func (r *LogReader) LogV2() bool { return r.l.logv2 }

// ReadBlocks fills p (whole basic blocks) from log block bb on, wrapping
// at the log's end.
func (r *LogReader) ReadBlocks(p []byte, bb uint32) error { return r.l.read(p, bb%r.l.nbb) }

// NextHeader finds the first block at or after from (wrapping at the
// log's end), looking at limit blocks at most, that starts with the
// record magic. It reads ahead in growing chunks, from a few blocks (the
// next record is usually right there) up to a megabyte: only each
// block's first word is looked at.
func (r *LogReader) NextHeader(from, limit uint32) (uint32, bool, error) {
	limit = min(limit, r.l.nbb)
	if r.sbuf == nil {
		r.sbuf = make([]byte, min(logScanChunk, int(r.l.nbb)*xlog.BBSize))
	}
	win, most := uint32(8), uint32(len(r.sbuf)/xlog.BBSize)
	for done := uint32(0); done < limit; {
		n := min(win, most, limit-done)
		at := (from + done) % r.l.nbb
		if err := r.l.read(r.sbuf[:n*xlog.BBSize], at); err != nil {
			return 0, false, err
		}
		for i := uint32(0); i < n; i++ {
			if xlog.IsRecHeader(r.sbuf[i*xlog.BBSize:]) {
				return (at + i) % r.l.nbb, true, nil
			}
		}
		done += n
		win = min(2*win, most)
	}
	return 0, false, nil
}

// Record reads and decodes the record whose header is at block at. A
// header that does not decode or verify is why, not an error (errors are
// I/O failures); damage inside the record is in its Problems. The record
// and its ops' data are valid until the next call.
func (r *LogReader) Record(at uint32) (rec *xlog.Record, why string, err error) {
	return r.l.readRecord(at % r.l.nbb)
}

package fsys

import (
	"context"
	"errors"
	"fmt"

	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// ErrExternalLog is returned by ReadLogState for a filesystem whose log
// lives on another device.
var ErrExternalLog = errors.New("the filesystem has an external log, which xfsbox does not support")

// LogState is what the internal log says about the last unmount.
type LogState struct {
	// Clean is true when the last record written is an unmount record
	// (or the log was never written): the kernel has nothing to replay.
	Clean bool
	// HeadBlock and TailBlock are log-relative 512-byte basic blocks, as
	// xfs_logprint prints them ("log tail: T head: H"). The head is where
	// the next record would go; on a clean log the tail equals it.
	HeadBlock, TailBlock uint32
	// RecordsFrom is where the records that matter begin: the last
	// record's tail. On a dirty log it is TailBlock; on a clean one it
	// is where the kernel found the tail before moving it past the
	// unmount record, so that the records from it to the head end with
	// that unmount record.
	RecordsFrom uint32
	// Cycle is the cycle number of the last record written.
	Cycle uint32
	// TailLSN is the last record's h_tail_lsn: the cycle and block of
	// the oldest record whose changes may not have reached their blocks
	// (its block is RecordsFrom).
	TailLSN uint64
	// RecordBlock is where the last record before the head starts.
	RecordBlock uint32
	// LogBlocks is the size of the log in basic blocks.
	LogBlocks uint32
	// Torn is how many records at the head were discarded as torn
	// writes (a damaged header, a bad CRC, a record that does not end
	// where the next begins), as the kernel discards them.
	Torn int
	// LogV2 says records may have extended headers (v2 logs).
	LogV2 bool
	// Reason says in words why the log is clean or dirty.
	Reason string
}

// Wrapped reports whether the records from RecordsFrom to the head run
// past the log's end.
func (ls *LogState) Wrapped() bool { return ls.RecordsFrom > ls.HeadBlock }

// ReadLogState finds the head of the internal log and tells clean from
// dirty the way the kernel does at mount (xlog_find_head, xlog_find_tail,
// xlog_verify_head, xlog_check_unmount_rec), leaning to "dirty" where it
// cannot be sure: torn records at the head are discarded as the kernel
// does, but an unmount record found only behind torn ones is not clean.
// A damaged log is reported as not clean, with the reason, not as an
// error; errors are I/O failures and unsupported layouts. The kernel's
// check that the head has not overwritten the tail (xlog_verify_tail)
// is not made.
func ReadLogState(fs *FS) (*LogState, error) {
	l, err := newLogReader(fs)
	if err != nil {
		return nil, err
	}
	head, cycle0, err := l.findHead()
	if err != nil {
		return nil, err
	}
	st := &LogState{HeadBlock: head, TailBlock: head, RecordsFrom: head, LogBlocks: l.nbb, LogV2: l.logv2}
	if cycle0 == 0 {
		st.Clean, st.Reason = true, "the log was never written (all zeroes): nothing to replay"
		return st, nil
	}
	rec, tornWhy, err := l.verifyHead(st)
	if err != nil || rec == nil {
		return st, err
	}
	h := rec.Header
	st.RecordBlock, st.Cycle = rec.Block, h.Cycle
	if !h.FSUUID.IsZero() && h.FSUUID != fs.SB.UUID {
		st.Reason = fmt.Sprintf("the record at block %d is for filesystem %s, not this one (%s)", rec.Block, h.FSUUID, fs.SB.UUID)
		return st, nil
	}
	st.TailLSN = h.TailLSN
	st.TailBlock = xlog.LSNBlock(h.TailLSN)
	st.RecordsFrom = st.TailBlock
	sect := uint32(1)
	if s := uint32(fs.SB.LogSectSize); s > xlog.BBSize {
		sect = s / xlog.BBSize
	}
	switch {
	case rec.IsUnmount() && st.Torn == 0 && st.HeadBlock%sect != 0:
		// The kernel and xfs_logprint take a head inside a log sector
		// back to the sector's start: the unmount record is then torn.
		st.TailBlock = st.HeadBlock
		st.Reason = fmt.Sprintf("the last record (block %d, cycle %d) is an unmount record, but it ends inside a %d-byte log sector (block %d), where the kernel takes it for torn",
			rec.Block, h.Cycle, sect*xlog.BBSize, st.HeadBlock)
	case rec.IsUnmount() && st.Torn == 0:
		st.Clean, st.TailBlock = true, st.HeadBlock
		st.Reason = fmt.Sprintf("the last record (block %d, cycle %d) is an unmount record", rec.Block, h.Cycle)
	case rec.IsUnmount():
		// The kernel would call this clean too, but if we took a
		// good record for a torn one we would be wrong in the
		// dangerous direction: leave it to a mount to settle.
		st.TailBlock = st.HeadBlock
		st.Reason = fmt.Sprintf("an unmount record (block %d, cycle %d) is followed by %d torn record(s) (%s)", rec.Block, h.Cycle, st.Torn, tornWhy)
	default:
		st.Reason = fmt.Sprintf("the last record (block %d, cycle %d, %d ops) is not an unmount record: the log has changes to replay (tail %d, head %d)",
			rec.Block, h.Cycle, h.NumLogOps, st.TailBlock, st.HeadBlock)
		if st.Torn > 0 {
			st.Reason += fmt.Sprintf("; %d torn record(s) after it discarded (%s)", st.Torn, tornWhy)
		}
	}
	return st, nil
}

// verifyHead finds the last good record before st.HeadBlock, as the
// kernel's xlog_verify_head does: it checks the records that may have
// been in flight at a crash (the last MaxIclogs before the head, not
// past the last one's tail), oldest first, and truncates the head at
// the first that fails: a damaged header, a bad CRC, blocks stamped
// with another cycle, or a record that does not end where the next one
// begins. A zero CRC passes (mkfs writes its unmount record without
// one). It sets st's head and Torn, and returns the last good record
// and why the first torn one failed; with no good record, st.Reason
// says why and the record is nil.
func (l *logReader) verifyHead(st *LogState) (*xlog.Record, string, error) {
	head := st.HeadBlock
	last, ok, err := l.prevHeader(head, l.nbb)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		st.Reason = fmt.Sprintf("no log record header within %d blocks before the head (block %d): the log is damaged", min(uint32(xlog.MaxRecordBlocks), l.nbb), head)
		return nil, "", nil
	}
	// The walk back stops at the last record's tail, if its header
	// says where that is.
	span := l.nbb
	if h, why, err := l.readHeader(last); err == nil && why == "" {
		span = l.distance(xlog.LSNBlock(h.TailLSN), last)
	}
	starts := []uint32{last}
	for walked := uint32(0); len(starts) < xlog.MaxIclogs; {
		prev, ok, err := l.prevHeader(starts[0], span-walked)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			break
		}
		walked += l.distance(prev, starts[0])
		starts = append([]uint32{prev}, starts...)
	}
	var good *xlog.Record
	for i, at := range starts {
		next := head
		if i+1 < len(starts) {
			next = starts[i+1]
		}
		rec, why, err := l.readRecord(at)
		if err != nil {
			return nil, "", err
		}
		if why == "" {
			if end := (at + uint32(rec.Header.Blocks(l.logv2))) % l.nbb; end != next {
				why = fmt.Sprintf("the record at block %d ends at block %d, not at %d", at, end, next)
			} else if len(rec.Problems) > 0 {
				why = fmt.Sprintf("the record at block %d: %s", at, rec.Problems[0])
			}
		}
		if why == "" {
			good = rec
			continue
		}
		st.Torn = len(starts) - i
		st.HeadBlock, st.TailBlock, st.RecordsFrom = at, at, at
		if good != nil {
			return good, why, nil
		}
		// The first record checked is torn: the one before it must
		// stand on its own.
		rec, why2, err := l.lastRecord(at)
		if err != nil || rec == nil {
			st.Reason = fmt.Sprintf("%s, after %d torn record(s) (%s)", why2, st.Torn, why)
		}
		return rec, why, err
	}
	return good, "", nil
}

// lastRecord reads the record before head and checks that it ends there.
// It returns a nil record and why when there is no good one.
func (l *logReader) lastRecord(head uint32) (*xlog.Record, string, error) {
	at, ok, err := l.prevHeader(head, l.nbb)
	if err != nil || !ok {
		return nil, fmt.Sprintf("no log record header within %d blocks before block %d", min(uint32(xlog.MaxRecordBlocks), l.nbb), head), err
	}
	rec, why, err := l.readRecord(at)
	switch {
	case err != nil:
		return nil, "", err
	case why != "":
		return nil, fmt.Sprintf("the record header at block %d is damaged (%s)", at, why), nil
	case (at+uint32(rec.Header.Blocks(l.logv2)))%l.nbb != head:
		return nil, fmt.Sprintf("the record at block %d does not end at block %d", at, head), nil
	case len(rec.Problems) > 0:
		return nil, fmt.Sprintf("the record at block %d: %s", at, rec.Problems[0]), nil
	}
	return rec, "", nil
}

// logStateKey keys a LogState read for an FS in a context.
type logStateKey struct{}

type knownLogState struct {
	fs *FS
	ls *LogState
}

// WithLogState returns ctx carrying ls as fs's log state, for a command
// that has read it and leaves the log alone (a repair writes AG
// structures through its own journal, never the log), so that what it
// runs reads the log once: LogStateOf.
func WithLogState(ctx context.Context, fs *FS, ls *LogState) context.Context {
	return context.WithValue(ctx, logStateKey{}, knownLogState{fs, ls})
}

// LogStateOf is fs's log state as ctx carries it (WithLogState), or as
// ReadLogState reads it.
func LogStateOf(ctx context.Context, fs *FS) (*LogState, error) {
	if k, ok := ctx.Value(logStateKey{}).(knownLogState); ok && k.fs == fs {
		return k.ls, nil
	}
	return ReadLogState(fs)
}

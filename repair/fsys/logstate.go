package fsys

import (
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
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
	// Cycle is the cycle number of the last record written.
	Cycle uint32
	// RecordBlock is where the last record before the head starts.
	RecordBlock uint32
	// LogBlocks is the size of the log in basic blocks.
	LogBlocks uint32
	// Reason says in words why the log is clean or dirty.
	Reason string
}

// logScanChunk is the read size of the head search: large sequential
// reads, of which only each BB's first word is looked at.
const logScanChunk = 1 << 20

// ReadLogState finds the head of the internal log and tells clean from
// dirty the way the kernel does at mount (xlog_find_head, xlog_find_tail,
// xlog_verify_head, xlog_check_unmount_rec), leaning to "dirty" where it
// cannot be sure: torn records at the head are discarded as the kernel
// does, but an unmount record found only behind torn ones is not clean.
// A damaged log is reported as not clean, with the reason, not as an
// error; errors are I/O failures and unsupported layouts.
func ReadLogState(fs *FS) (*LogState, error) {
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
	l := &logReader{img: fs.Img, start: g.ByteOffset(agno, agbno), nbb: uint32(nbb)}
	logv2 := sb.VersionNum&0x400 != 0 || sb.VersionNum&0xf == 5 // XFS_SB_VERSION_LOGV2BIT; v5 always

	head, cycle0, err := l.findHead()
	if err != nil {
		return nil, err
	}
	st := &LogState{HeadBlock: head, TailBlock: head, LogBlocks: l.nbb}
	if cycle0 == 0 {
		st.Clean, st.Reason = true, "the log was never written (all zeroes): nothing to replay"
		return st, nil
	}
	torn, tornWhy := 0, ""
	for {
		rec, h, hdr, data, why, err := l.lastRecord(st.HeadBlock, logv2)
		if err != nil {
			return nil, err
		}
		if h == nil {
			st.RecordBlock, st.Reason = rec, why
			return st, nil
		}
		st.RecordBlock, st.Cycle = rec, h.Cycle
		end := (uint64(rec) + uint64(h.HeaderBlocks(logv2)) + uint64(h.DataBlocks())) % uint64(l.nbb)
		why = ""
		switch {
		case end != uint64(st.HeadBlock):
			why = fmt.Sprintf("the record at block %d ends at block %d, not at the head %d", rec, end, st.HeadBlock)
		case h.CRC != 0 && !xfsformat.LogRecordCRCOK(hdr, data):
			// A zero CRC passes, as in the kernel's CRC pass: mkfs
			// writes its unmount record without one.
			why = fmt.Sprintf("the record at block %d has a bad CRC", rec)
		}
		// A torn write at the head: the kernel discards the record and
		// looks at the one before it, as many times as iclogs may be in
		// flight.
		if why != "" {
			if torn == 0 {
				tornWhy = why
			}
			torn++
			if torn > 8 {
				st.Reason = why + " (and more torn records before it)"
				return st, nil
			}
			st.HeadBlock, st.TailBlock = rec, rec
			continue
		}
		if !h.FSUUID.IsZero() && h.FSUUID != sb.UUID {
			st.Reason = fmt.Sprintf("the record at block %d is for filesystem %s, not this one (%s)", rec, h.FSUUID, sb.UUID)
			return st, nil
		}
		st.TailBlock = xfsformat.LSNBlock(h.TailLSN)
		op, _ := xfsformat.DecodeLogOpHeader(data)
		unmount := h.NumLogOps == 1 && op.Flags&xfsformat.LogUnmountTrans != 0
		switch {
		case unmount && torn == 0:
			st.Clean, st.TailBlock = true, st.HeadBlock
			st.Reason = fmt.Sprintf("the last record (block %d, cycle %d) is an unmount record", rec, h.Cycle)
		case unmount:
			// The kernel would call this clean too, but if we took a
			// good record for a torn one we would be wrong in the
			// dangerous direction: leave it to a mount to settle.
			st.TailBlock = st.HeadBlock
			st.Reason = fmt.Sprintf("an unmount record (block %d, cycle %d) is followed by %d torn record(s) (%s)", rec, h.Cycle, torn, tornWhy)
		default:
			st.Reason = fmt.Sprintf("the last record (block %d, cycle %d, %d ops) is not an unmount record: the log has changes to replay (tail %d, head %d)",
				rec, h.Cycle, h.NumLogOps, st.TailBlock, st.HeadBlock)
			if torn > 0 {
				st.Reason += fmt.Sprintf("; %d torn record(s) after it discarded (%s)", torn, tornWhy)
			}
		}
		return st, nil
	}
}

// logReader reads basic blocks of the circular log.
type logReader struct {
	img   *store.Image
	start int64  // byte offset of the log in the image
	nbb   uint32 // log size in BBs
}

// read fills p (whole BBs) from block bb on, wrapping at the log's end.
func (l *logReader) read(p []byte, bb uint32) error {
	for len(p) > 0 {
		bb %= l.nbb
		n := min(len(p), int(l.nbb-bb)*xfsformat.BBSize)
		if err := l.img.ReadAt(p[:n], l.start+int64(bb)*xfsformat.BBSize); err != nil {
			return err
		}
		p, bb = p[n:], bb+uint32(n/xfsformat.BBSize)
	}
	return nil
}

// findHead returns the first block after the last one written and the
// cycle of block 0. Every BB is stamped with the cycle that wrote it, so
// the log reads c, c, ..., c, c-1, ..., c-1 (or 0s where never written);
// the head is the first block whose cycle is behind block 0's. Blocks
// ahead of it (a later iclog that landed before an earlier one) do not
// count. If no block is behind, the last record ends at the log's end and
// the head is 0. A linear scan: logs are at most 2 GiB, usually tens of
// MiB, and only one word per BB is looked at.
func (l *logReader) findHead() (head, cycle0 uint32, err error) {
	buf := make([]byte, min(logScanChunk, int(l.nbb)*xfsformat.BBSize))
	for bb := uint32(0); bb < l.nbb; {
		n := min(len(buf)/xfsformat.BBSize, int(l.nbb-bb))
		if err := l.read(buf[:n*xfsformat.BBSize], bb); err != nil {
			return 0, 0, err
		}
		for i := 0; i < n; i++ {
			c := xfsformat.LogBlockCycle(buf[i*xfsformat.BBSize:])
			if bb == 0 && i == 0 {
				cycle0 = c
				if c == 0 {
					return 0, 0, nil
				}
				continue
			}
			if c == 0 || int32(c-cycle0) < 0 {
				return bb + uint32(i), cycle0, nil
			}
		}
		bb += uint32(n)
	}
	return 0, cycle0, nil
}

// lastRecord finds the record header nearest before head and reads the
// record. It returns h == nil and why when there is no usable record.
func (l *logReader) lastRecord(head uint32, logv2 bool) (rec uint32, h *xfsformat.LogRecHeader, hdr, data []byte, why string, err error) {
	// A record is at most LogMaxRecordBlocks long, so its header is
	// within that distance of the head.
	win := min(uint32(xfsformat.LogMaxRecordBlocks), l.nbb)
	buf := make([]byte, int(win)*xfsformat.BBSize)
	first := (head + l.nbb - win) % l.nbb
	if err := l.read(buf, first); err != nil {
		return 0, nil, nil, nil, "", err
	}
	found := -1
	for i := int(win) - 1; i >= 0; i-- {
		if xfsformat.IsLogRecHeader(buf[i*xfsformat.BBSize:]) {
			found = i
			break
		}
	}
	if found < 0 {
		return 0, nil, nil, nil, fmt.Sprintf("no log record header within %d blocks before the head (block %d): the log is damaged", win, head), nil
	}
	rec = (first + uint32(found)) % l.nbb
	h, err = xfsformat.DecodeLogRecHeader(buf[found*xfsformat.BBSize:])
	if err == nil {
		err = h.Verify(logv2)
	}
	if err != nil {
		return rec, nil, nil, nil, fmt.Sprintf("the last record header (block %d) is damaged: %v", rec, err), nil
	}
	hb, db := h.HeaderBlocks(logv2), h.DataBlocks()
	rbuf := make([]byte, (hb+db)*xfsformat.BBSize)
	if err := l.read(rbuf, rec); err != nil {
		return 0, nil, nil, nil, "", err
	}
	return rec, h, rbuf[:hb*xfsformat.BBSize], rbuf[hb*xfsformat.BBSize : hb*xfsformat.BBSize+int(h.Len)], "", nil
}

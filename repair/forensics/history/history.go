package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// The log's history: every record still on disk, not only those from
// the tail to the head.
//
// The log is a ring of basic blocks, each stamped with the cycle that
// wrote it. The head (fsys.ReadLogState) is where the next record would
// go: the blocks before it carry the current cycle C (that of block 0),
// those from it to the log's end carry C-1, the previous pass, or 0
// where the log was never written. So the oldest records still intact
// are just past the head: the walk goes from the head to the log's end
// (cycle C-1), then from block 0 back up to the head (cycle C), which is
// LSN order. When the head is block 0 the last pass ended at the log's
// end and every block carries C.
//
// A record counts when its header verifies, its cycle and LSN are those
// its place in the ring calls for, every block of it carries its cycle,
// and its CRC is right (a zero CRC only on an unmount record: mkfs's).
// Anything else (the remains of a record whose header the current pass
// overwrote, a torn write, garbage) is skipped by looking for the next
// block that starts with the record magic; data blocks cannot start with
// it, as the cycle stamp replaced their first word.
//
// Transactions are reassembled from the records in that order. Those
// whose START op was overwritten (or lies behind a damaged stretch) are
// never opened, and those whose COMMIT op is missing never close: both
// are counted as Incomplete and not handed out. After any stretch of
// skipped blocks the assembly starts over, so that a transaction never
// joins pieces from both sides of a hole; one open across it counts as
// incomplete once.

// ErrLogTooDamaged ends a scan of a log in which so many records with
// good-looking headers fail their checks (CRC, cycle stamps) that
// reading on could take hours: a log made to be hostile. The stats say
// what was read until then.
var ErrLogTooDamaged = errors.New("the log is too damaged to scan")

// errVisitor wraps a visitor's error, to tell it from the assembler's.
type errVisitor struct{ err error }

func (e *errVisitor) Error() string { return e.err.Error() }
func (e *errVisitor) Unwrap() error { return e.err }

// inodeRegionBytes is what the assembler keeps of each region when no
// buffer is wanted: more than any inode's literal area (inodes are at
// most 2 KiB), so inode items stay whole while big buffer regions do
// not.
const inodeRegionBytes = 2048

// Scan reads the whole internal log and hands v its records and
// committed transactions' items in LSN order, oldest first. It streams:
// one record is read at a time and a transaction is held only from its
// start to its commit (bounded by xlog.DefaultMaxOpenBytes). It only
// reads. A damaged log is not an error: what cannot be read is skipped
// and counted in the stats. Errors are I/O failures, an external log,
// ctx's end, v's errors, and ErrLogTooDamaged; the stats say what was
// read before one.
func Scan(ctx context.Context, fs *fsys.FS, v Visitor) (Stats, error) {
	var st Stats
	ls, err := fsys.ReadLogState(fs)
	if err != nil {
		return st, err
	}
	r, err := fsys.NewLogReader(fs)
	if err != nil {
		return st, err
	}
	n := r.Blocks()
	if ls.LogBlocks != n || ls.HeadBlock >= n {
		return st, fmt.Errorf("log state of a %d-block log (head %d) for a %d-block one", ls.LogBlocks, ls.HeadBlock, n)
	}
	bb := make([]byte, xlog.BBSize)
	if err := r.ReadBlocks(bb, 0); err != nil {
		return st, err
	}
	cycle0 := xlog.BlockCycle(bb)
	s := &scan{ctx: ctx, v: v, st: &st, r: r, n: n, head: ls.HeadBlock, cycle0: cycle0, uuid: fs.SB.UUID,
		hdr: bb, budget: 4*int64(n)*xlog.BBSize + 64<<20, dropped: map[uint32]bool{}}
	if cycle0 == 0 {
		// Never written: mkfs leaves the first block stamped.
		st.SkippedBlocks = int(n)
		return st, nil
	}
	st.Wrapped = cycle0 >= 2
	s.reset()
	err = s.walk()
	st.Incomplete += s.asm.NumOpen() + s.asm.Orphans
	var ve *errVisitor
	if errors.As(err, &ve) {
		return st, ve.err
	}
	return st, err
}

// scan is one walk of the log.
type scan struct {
	ctx    context.Context
	v      Visitor
	st     *Stats
	r      *fsys.LogReader
	n      uint32 // log blocks
	head   uint32
	cycle0 uint32 // cycle of block 0: the current pass
	uuid   xfsformat.UUID
	asm    *xlog.Assembler
	hdr    []byte // one block, for headers
	// wasted is what was read of records that failed their checks,
	// budget how much of that is borne: a few times the log.
	wasted, budget int64
	dropped        map[uint32]bool // ids of transactions dropped at a hole
}

// maxDropped bounds the ids of dropped transactions remembered; past it
// they are forgotten (and a later COMMIT of one counted twice).
const maxDropped = 1 << 16

// reset starts the assembly over, counting what was open as incomplete.
// The transactions dropped so are remembered, so that their COMMIT ops,
// if they come, are not counted again as orphans.
func (s *scan) reset() {
	if s.asm != nil {
		s.st.Incomplete += s.asm.NumOpen() + s.asm.Orphans
		if len(s.dropped) > maxDropped {
			clear(s.dropped)
		}
		for _, t := range s.asm.Open() {
			s.dropped[t.TID] = true
		}
	}
	s.asm = &xlog.Assembler{}
	if s.v.Buffer == nil {
		s.asm.MaxRegionBytes = inodeRegionBytes
	}
}

// expectCycle is the cycle a record starting at block b must carry.
func (s *scan) expectCycle(b uint32) uint32 {
	if s.head == 0 || b < s.head {
		return s.cycle0
	}
	return s.cycle0 - 1
}

// walk goes once round the ring from the head.
func (s *scan) walk() error {
	contiguous := false
	for pos := uint32(0); pos < s.n; {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		at := (s.head + pos) % s.n
		hb, ok, err := s.r.NextHeader(at, s.n-pos)
		if err != nil {
			return err
		}
		if !ok {
			s.st.SkippedBlocks += int(s.n - pos)
			return nil
		}
		if skip := (hb + s.n - at) % s.n; skip > 0 {
			s.st.SkippedBlocks += int(skip)
			pos += skip
			contiguous = false
		}
		rec, err := s.record(hb, s.n-pos)
		if err != nil {
			return err
		}
		if rec == nil {
			s.st.SkippedBlocks++
			pos++
			contiguous = false
			continue
		}
		if !contiguous {
			s.reset()
		}
		if err := s.add(rec); err != nil {
			return err
		}
		pos += uint32(rec.Header.Blocks(s.r.LogV2()))
		contiguous = true
	}
	return nil
}

// record reads the record at block at and returns it if it is intact and
// belongs where it lies (room: blocks left before the walk's end); nil
// if not. The header is checked before the record is read, so garbage
// costs a block read; what passes and still fails is charged to the
// scan's budget.
func (s *scan) record(at, room uint32) (*xlog.Record, error) {
	if err := s.r.ReadBlocks(s.hdr, at); err != nil {
		return nil, err
	}
	h, err := xlog.DecodeRecHeader(s.hdr)
	if err != nil || h.Verify(s.r.LogV2()) != nil || !s.fits(h, at, room) {
		return nil, nil
	}
	rec, why, err := s.r.Record(at)
	if err != nil || why != "" {
		return nil, err
	}
	if h = rec.Header; !s.fits(h, at, room) || len(rec.Problems) > 0 || !rec.CRCOK && !(rec.CRCZero && rec.IsUnmount()) {
		s.wasted += int64(h.Blocks(s.r.LogV2())) * xlog.BBSize
		if s.wasted > s.budget {
			return nil, fmt.Errorf("%w: %d bytes of records with good headers failed their checks, the last at block %d", ErrLogTooDamaged, s.wasted, at)
		}
		return nil, nil
	}
	return rec, nil
}

// fits reports whether a record header belongs at block at: its cycle
// is the one its place calls for, its LSN names the place, it ends
// within room blocks, and it is of this filesystem.
func (s *scan) fits(h *xlog.RecHeader, at, room uint32) bool {
	return h.Cycle == s.expectCycle(at) && xlog.LSNCycle(h.LSN) == h.Cycle && xlog.LSNBlock(h.LSN) == at &&
		uint32(h.Blocks(s.r.LogV2())) <= room && (h.FSUUID.IsZero() || h.FSUUID == s.uuid)
}

// add feeds one intact record to the assembly.
func (s *scan) add(rec *xlog.Record) error {
	h := rec.Header
	if s.st.Records == 0 {
		s.st.OldestLSN = h.LSN
	}
	s.st.Records++
	s.st.NewestLSN = h.LSN
	if s.v.Record != nil {
		rs := &RecordSnapshot{LSN: h.LSN, Block: rec.Block, Blocks: uint32(h.Blocks(s.r.LogV2())), TailLSN: h.TailLSN, NumOps: len(rec.Ops)}
		if err := s.v.Record(rs); err != nil {
			return &errVisitor{err}
		}
	}
	for i := range rec.Ops {
		if op := &rec.Ops[i]; op.Flags&xlog.OpCommit != 0 && s.dropped[op.TID] {
			// Counted when dropped; the assembler counts it again.
			delete(s.dropped, op.TID)
			s.st.Incomplete--
		}
	}
	err := s.asm.Add(rec, s.commit)
	var ve *errVisitor
	if err != nil && !errors.As(err, &ve) {
		// The open transactions outgrew the bound: drop them rather
		// than hold the log in memory.
		s.reset()
		return nil
	}
	return err
}

// commit hands out one committed transaction.
func (s *scan) commit(t *xlog.Transaction) error {
	if len(t.Problems) > 0 {
		s.st.Incomplete++
		return nil
	}
	s.st.Transactions++
	if s.v.Trans != nil {
		ts := &TransSnapshot{TID: t.TID, StartLSN: t.StartLSN, CommitLSN: t.CommitLSN, Items: len(t.Items)}
		if err := s.v.Trans(ts); err != nil {
			return &errVisitor{err}
		}
	}
	for _, raw := range t.Items {
		if err := s.item(t, raw); err != nil {
			return &errVisitor{err}
		}
	}
	return nil
}

// item decodes one item and hands it to its callback.
func (s *scan) item(t *xlog.Transaction, raw *xlog.RawItem) error {
	if len(raw.Regions) == 0 || len(raw.Regions[0].Data) < 2 {
		s.st.BadItems++
		return nil
	}
	typ := xlog.ItemType(t.Order.Uint16(raw.Regions[0].Data))
	switch {
	case typ == xlog.ItemInode && s.v.Inode == nil, typ == xlog.ItemBuf && s.v.Buffer == nil:
		return nil
	case typ != xlog.ItemInode && typ != xlog.ItemBuf && s.v.Intent == nil:
		return nil
	}
	switch it := xlog.DecodeItem(raw, t.Order).(type) {
	case *xlog.InodeItem:
		snap := inodeSnapshot(t.CommitLSN, it)
		if snap == nil {
			s.st.BadItems++
			return nil
		}
		return s.v.Inode(snap)
	case *xlog.BufItem:
		return s.v.Buffer(bufferSnapshot(t.CommitLSN, it))
	case *xlog.IntentItem:
		return s.v.Intent(&IntentSnapshot{LSN: t.CommitLSN, Type: it.Type(), ID: it.ID, Extents: it.Extents})
	case *xlog.DoneItem:
		return s.v.Intent(&IntentSnapshot{LSN: t.CommitLSN, Type: it.Type(), ID: it.IntentID})
	case *xlog.Unknown:
		if typ.Known() {
			s.st.BadItems++
		}
	}
	return nil
}

// inodeSnapshot makes the snapshot of an inode item, nil when its core
// or its data fork region is not whole.
func inodeSnapshot(lsn uint64, it *xlog.InodeItem) *InodeSnapshot {
	if it.Core == nil || len(it.Problems()) > 0 {
		return nil
	}
	f := it.Format.Fields
	snap := &InodeSnapshot{LSN: lsn, Ino: it.Format.Ino, Fields: f, Core: it.Core}
	if f&xlog.ILogDFork == 0 {
		return snap
	}
	d := it.Data
	if d == nil || !d.Whole() {
		return nil
	}
	switch {
	case f&xlog.ILogDExt != 0:
		if len(d.Data)%xfsformat.BmbtRecLen != 0 {
			return nil
		}
		snap.Extents = make([]xfsformat.BmbtRec, len(d.Data)/xfsformat.BmbtRecLen)
		for i := range snap.Extents {
			snap.Extents[i] = xfsformat.DecodeBmbtRec(d.Data[i*xfsformat.BmbtRecLen:])
		}
	case f&xlog.ILogDData != 0:
		snap.Local = d.Data
	case f&xlog.ILogDBroot != 0:
		snap.BtreeRoot = d.Data
	}
	return snap
}

// bufferSnapshot makes the snapshot of a buffer item: its regions where
// the dirty bitmap puts them.
func bufferSnapshot(lsn uint64, it *xlog.BufItem) *BufferSnapshot {
	f := &it.Format
	b := &BufferSnapshot{LSN: lsn, Daddr: uint64(f.Blkno), Len: uint32(f.Len), Cancelled: it.Cancelled()}
	regions := it.Raw().Regions
	for _, p := range it.Placements {
		data := regions[p.Region].Data
		b.Regions = append(b.Regions, Region{Offset: p.Offset, Data: data[:min(p.Len, len(data))]})
	}
	return b
}

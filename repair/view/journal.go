package view

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// The journal/ views, the filesystem's log (named journal/ because the
// root's "log" is xfsbox's own log of what it did):
//
//	summary                    head, tail, clean or dirty and why, size, counts
//	transactions               every committed transaction from the tail to
//	                           the head (what a mount would replay; none on a
//	                           clean log), its items decoded (xfs_logprint -t)
//	transactions.json          the same, one JSON object a transaction
//	records/BLOCK              each record from the last record's tail to the
//	                           head (on a clean log, up to its unmount record),
//	                           by the log block it starts at: header and ops
//
// Records are read one at a time and transactions handed out as they
// commit: a large log is never held in memory.
const JournalDir = "journal"

// journalCache keeps the log's state and where its records start until
// Invalidate: finding the head reads the first word of every log block.
type journalCache struct {
	mu      sync.Mutex
	state   *fsys.LogState
	starts  []uint32 // log blocks of the records from the tail to the head
	walkErr error    // what ended the walk of the records short of the head
}

// journalState returns (and caches) the log's state and where its
// records start, as far as they could be walked (walkErr says why not
// further).
func (t *Tree) journalState(ctx context.Context) (ls *fsys.LogState, starts []uint32, walkErr error, err error) {
	j := &t.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != nil {
		return j.state, j.starts, j.walkErr, nil
	}
	if ls, err = fsys.ReadLogState(t.FS); err != nil {
		return nil, nil, nil, err
	}
	walkErr = fsys.LogRecords(ctx, t.FS, ls, ls.RecordsFrom, func(r *xlog.Record) error {
		starts = append(starts, r.Block)
		return nil
	})
	if ctx.Err() != nil {
		return nil, nil, nil, ctx.Err()
	}
	j.state, j.starts, j.walkErr = ls, starts, walkErr
	return ls, starts, walkErr, nil
}

func (j *journalCache) reset() {
	j.mu.Lock()
	j.state, j.starts, j.walkErr = nil, nil, nil
	j.mu.Unlock()
}

// listJournal lists journal/ and journal/records; parts follow "journal".
func (t *Tree) listJournal(ctx context.Context, parts []string) ([]Entry, error) {
	switch {
	case len(parts) == 0:
		return []Entry{{"summary", false}, {"transactions", false}, {"transactions.json", false}, {"records", true}}, nil
	case len(parts) == 1 && parts[0] == "records":
		_, starts, _, err := t.journalState(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]Entry, len(starts))
		for i, b := range starts {
			out[i] = Entry{strconv.FormatUint(uint64(b), 10), false}
		}
		return out, nil
	}
	return nil, notFound(JournalDir + "/" + strings.Join(parts, "/"))
}

// openJournal resolves a file under journal/; parts follow "journal".
func (t *Tree) openJournal(ctx context.Context, parts []string) (*File, error) {
	p := JournalDir + "/" + strings.Join(parts, "/")
	f := func(r func(ctx context.Context, w io.Writer) error) (*File, error) {
		return &File{Path: p, Render: r}, nil
	}
	switch {
	case len(parts) == 0 || len(parts) == 1 && parts[0] == "records":
		return nil, ErrIsDir
	case len(parts) == 1 && parts[0] == "summary":
		return f(t.renderJournalSummary)
	case len(parts) == 1 && (parts[0] == "transactions" || parts[0] == "transactions.json"):
		asJSON := parts[0] == "transactions.json"
		return f(func(ctx context.Context, w io.Writer) error { return t.renderTransactions(ctx, w, asJSON) })
	case len(parts) == 2 && parts[0] == "records":
		n, err := strconv.ParseUint(parts[1], 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != parts[1] {
			return nil, notFound(p)
		}
		_, starts, _, err := t.journalState(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range starts {
			if b == uint32(n) {
				return f(func(ctx context.Context, w io.Writer) error { return t.renderRecord(ctx, w, b) })
			}
		}
	}
	return nil, notFound(p)
}

// renderJournalSummary prints the log's state and what lies between its
// tail and its head.
func (t *Tree) renderJournalSummary(ctx context.Context, w io.Writer) error {
	ls, starts, walkErr, err := t.journalState(ctx)
	if err != nil {
		return err
	}
	g := t.FS.Geo
	state := "dirty"
	if ls.Clean {
		state = "clean"
	}
	dec := func(name string, v uint64) xfsformat.Field { return xfsformat.FieldDec(name, v) }
	fields := []xfsformat.Field{
		{Name: "state", Text: state},
		{Name: "reason", Text: ls.Reason},
		dec("head", uint64(ls.HeadBlock)),
		dec("tail", uint64(ls.TailBlock)),
		dec("records_from", uint64(ls.RecordsFrom)),
		dec("cycle", uint64(ls.Cycle)),
		{Name: "tail_lsn", Text: xlog.LSNText(ls.TailLSN)},
		{Name: "wrapped", Text: strconv.FormatBool(ls.Wrapped())},
		dec("torn", uint64(ls.Torn)),
		dec("logblocks", uint64(g.LogBlocks)),
		dec("log_bbs", uint64(ls.LogBlocks)),
		dec("log_bytes", uint64(ls.LogBlocks)*xlog.BBSize),
		dec("logstart", g.LogStart),
		{Name: "version", Text: map[bool]string{true: "2", false: "1"}[ls.LogV2]},
		dec("records", uint64(len(starts))),
	}
	if walkErr != nil {
		fields = append(fields, xfsformat.Field{Name: "problem", Text: walkErr.Error()})
	}
	committed, open, problems := 0, 0, 0
	a := &xlog.Assembler{MaxRegionBytes: 1}
	// What a mount would replay: from the tail (none on a clean log).
	err = fsys.LogRecords(ctx, t.FS, ls, ls.TailBlock, func(r *xlog.Record) error {
		if len(r.Problems) > 0 {
			problems++
		}
		return a.Add(r, func(tr *xlog.Transaction) error { committed++; return nil })
	})
	if err != nil && err.Error() != fmt.Sprint(walkErr) {
		fields = append(fields, xfsformat.Field{Name: "problem", Text: err.Error()})
	}
	open = len(a.Open())
	fields = append(fields, dec("records_damaged", uint64(problems)), dec("transactions", uint64(committed)), dec("transactions_open", uint64(open)))
	return writeFields(w, fields)
}

// renderRecord prints the record at log block at: its header's fields
// (xlog_rec_header's names without h_), its CRC verdict, and one line
// per op.
func (t *Tree) renderRecord(_ context.Context, w io.Writer, at uint32) error {
	r, err := fsys.LogRecordAt(t.FS, at)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	writeRecord(bw, r)
	return bw.Flush()
}

// writeRecord prints a record.
func writeRecord(w *bufio.Writer, r *xlog.Record) {
	h := r.Header
	crc := "bad"
	switch {
	case r.CRCOK:
		crc = "correct"
	case r.CRCZero:
		crc = "none"
	}
	ext := make([]string, len(r.ExtCycles))
	for i, c := range r.ExtCycles {
		ext[i] = strconv.FormatUint(uint64(c), 10)
	}
	fmt.Fprintf(w, "block = %d\nmagicnum = %#x\ncycle = %d\nversion = %d\nlen = %d\nlsn = %s\ntail_lsn = %s\ncrc = %#08x (%s)\n",
		r.Block, h.Magic, h.Cycle, h.Version, h.Len, xlog.LSNText(h.LSN), xlog.LSNText(h.TailLSN), h.CRC, crc)
	fmt.Fprintf(w, "prev_block = %d\nnum_logops = %d\nfmt = %s\nfs_uuid = %s\nsize = %d\nheader_blocks = %d\next_cycles = %s\n",
		int32(h.PrevBlock), h.NumLogOps, xlog.FmtName(h.Fmt), h.FSUUID, h.Size, r.HeaderBlocks, strings.Join(ext, " "))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem = %s\n", p)
	}
	for i, op := range r.Ops {
		fmt.Fprintf(w, "op[%d] = tid %#x len %d client %s flags %s", i, op.TID, op.Len, xlog.ClientName(op.ClientID), xlog.FlagNames(op.Flags))
		if magic, ok := xlog.UnmountMagic(op.OpHeader, op.Data, h.Order()); ok {
			fmt.Fprintf(w, " unmount %#x", magic)
		}
		if n := min(len(op.Data), 16); n > 0 {
			fmt.Fprintf(w, " data %x", op.Data[:n])
			if n < len(op.Data) {
				w.WriteString("...")
			}
		}
		w.WriteByte('\n')
	}
}

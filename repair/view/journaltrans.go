package view

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// journalKeep is what the transactions views keep of each region: the
// format structures and the logged inode core, not buffer contents.
const journalKeep = 512

// renderTransactions streams every transaction committed between the
// tail and the head, in the order of their commit records, as
// xfs_logprint -t reads them. Text: a line a transaction, then a line an
// item ("N TYPE name=value ..."); JSON: the envelope with the log's
// state, then one object a transaction. Transactions started but never
// committed (the kernel does not replay them) come last.
func (t *Tree) renderTransactions(ctx context.Context, w io.Writer, asJSON bool) error {
	ls, _, _, err := t.journalState(ctx)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if asJSON {
		hdr := (&jsonObject{}).add("clean", ls.Clean).add("head", ls.HeadBlock).add("tail", ls.TailBlock).add("records_from", ls.RecordsFrom).add("reason", ls.Reason)
		if err := writeJSON(bw, "journal_transactions", hdr); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(bw, "# log tail %d head %d: %s\n", ls.TailBlock, ls.HeadBlock, ls.Reason)
	}
	n := 0
	emit := func(tr *xlog.Transaction) error {
		var err error
		if asJSON {
			err = writeTransactionJSON(bw, n, tr)
		} else {
			writeTransaction(bw, n, tr)
		}
		n++
		return err
	}
	a := &xlog.Assembler{MaxRegionBytes: journalKeep}
	err = fsys.LogRecords(ctx, t.FS, ls, ls.TailBlock, func(r *xlog.Record) error {
		if len(r.Problems) > 0 && !asJSON {
			fmt.Fprintf(bw, "# record at block %d: %s\n", r.Block, strings.Join(r.Problems, "; "))
		}
		return a.Add(r, emit)
	})
	if err != nil {
		return err
	}
	for _, p := range a.Problems {
		if !asJSON {
			fmt.Fprintf(bw, "# %s\n", p)
		}
	}
	for _, tr := range a.Open() {
		if err := emit(tr); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// transactionLine is a transaction's heading.
func transactionLine(n int, tr *xlog.Transaction) string {
	commit := "none (not committed: not replayed)"
	if tr.CommitLSN != 0 {
		commit = xlog.LSNText(tr.CommitLSN)
	}
	return fmt.Sprintf("transaction %d tid %#x start %s commit %s type %d items %d regions %d",
		n, tr.TID, xlog.LSNText(tr.StartLSN), commit, tr.Header.Type, len(tr.Items), tr.Header.NumItems)
}

// writeTransaction prints a transaction and its items.
func writeTransaction(w *bufio.Writer, n int, tr *xlog.Transaction) {
	w.WriteString(transactionLine(n, tr) + "\n")
	for _, p := range tr.Problems {
		w.WriteString("  problem = " + p + "\n")
	}
	for i, raw := range tr.Items {
		it := xlog.DecodeItem(raw, tr.Order)
		fmt.Fprintf(w, "  %d %s", i, it.Type())
		for _, f := range it.Fields() {
			w.WriteString(" " + f.Name + "=" + f.Text)
		}
		w.WriteByte('\n')
		for _, p := range it.Problems() {
			w.WriteString("    problem = " + p + "\n")
		}
	}
}

// writeTransactionJSON prints a transaction as one JSON object, an item
// at a time (a checkpoint may hold tens of thousands).
func writeTransactionJSON(w *bufio.Writer, n int, tr *xlog.Transaction) error {
	var commit any
	if tr.CommitLSN != 0 {
		commit = xlog.LSNText(tr.CommitLSN)
	}
	head, err := json.Marshal((&jsonObject{}).add("n", n).add("tid", tr.TID).add("start_lsn", xlog.LSNText(tr.StartLSN)).
		add("commit_lsn", commit).add("type", tr.Header.Type).add("num_regions", tr.Header.NumItems))
	if err != nil {
		return err
	}
	w.Write(head[:len(head)-1])
	w.WriteString(`,"items":[`)
	for i, raw := range tr.Items {
		it := xlog.DecodeItem(raw, tr.Order)
		var magic uint64
		if len(raw.Regions) > 0 && len(raw.Regions[0].Data) >= 2 {
			magic = uint64(tr.Order.Uint16(raw.Regions[0].Data))
		}
		b, err := json.Marshal((&jsonObject{}).add("type", it.Type().String()).add("magic", magic).
			add("fields", fieldsObject(it.Fields())).add("problems", emptyNotNil(it.Problems())))
		if err != nil {
			return err
		}
		if i > 0 {
			w.WriteByte(',')
		}
		w.Write(b)
	}
	problems, err := json.Marshal(emptyNotNil(tr.Problems))
	if err != nil {
		return err
	}
	w.WriteString(`],"problems":`)
	w.Write(problems)
	_, err = w.WriteString("}\n")
	return err
}

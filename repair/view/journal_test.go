package view_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

// journalTree opens img's view tree and returns a renderer of its paths.
func journalTree(t *testing.T, img string) (*view.Tree, func(p string) string) {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	tree := view.NewTree(fs)
	return tree, func(p string) string { return render(t, context.Background(), tree, p) }
}

// field is the value of "name = value" in a text view.
func field(text, name string) string {
	for l := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimRight(l, "\n"), name+" = "); ok {
			return v
		}
	}
	return ""
}

// checkJournal holds img's journal/ views to xfs_logprint: the summary's
// head, tail and state; every record from the tail to the head (its
// header's lsn and op count, in order, and one line an op); the
// transactions' count, ids and item types, in text and JSON.
func checkJournal(t *testing.T, img string) (records []string) {
	t.Helper()
	lp, err := logprint.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	st, wantTrans, printed := lp.State, lp.Trans, lp.Records
	tree, render := journalTree(t, img)

	sum := render("journal/summary")
	wantState := map[bool]string{true: "clean", false: "dirty"}[st.Clean]
	if field(sum, "head") != strconv.Itoa(int(st.Head)) || field(sum, "tail") != strconv.Itoa(int(st.Tail)) || field(sum, "state") != wantState {
		t.Errorf("summary:\n%s\nxfs_logprint: %+v", sum, st)
	}
	if field(sum, "transactions") != strconv.Itoa(len(wantTrans)) || field(sum, "records_damaged") != "0" {
		t.Errorf("summary: %s transactions, %s damaged records; xfs_logprint %d transactions", field(sum, "transactions"), field(sum, "records_damaged"), len(wantTrans))
	}

	// Records: those xfs_logprint printed from records_from to the head.
	from, _ := strconv.Atoi(field(sum, "records_from"))
	in := func(b uint32) bool {
		if uint32(from) <= st.Head {
			return b >= uint32(from) && b < st.Head
		}
		return b >= uint32(from) || b < st.Head
	}
	byBlock := map[string]*logprint.Record{}
	for _, r := range printed {
		if in(r.LSN[1]) {
			byBlock[strconv.Itoa(int(r.LSN[1]))] = r
		}
	}
	ents, err := tree.List(context.Background(), "journal/records")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(byBlock) || field(sum, "records") != strconv.Itoa(len(ents)) {
		t.Errorf("journal/records lists %d, summary says %s; xfs_logprint printed %d from %d to %d", len(ents), field(sum, "records"), len(byBlock), from, st.Head)
	}
	for _, e := range ents {
		w := byBlock[e.Name]
		if w == nil {
			t.Errorf("journal/records/%s: not a record xfs_logprint printed", e.Name)
			continue
		}
		rec := render("journal/records/" + e.Name)
		lsn := strconv.Itoa(int(w.LSN[0])) + "," + strconv.Itoa(int(w.LSN[1]))
		if field(rec, "lsn") != lsn || field(rec, "num_logops") != strconv.Itoa(w.NumOps) || field(rec, "len") != strconv.Itoa(w.Len) ||
			!strings.HasSuffix(field(rec, "crc"), "(correct)") && !strings.HasSuffix(field(rec, "crc"), "(none)") {
			t.Errorf("journal/records/%s:\n%s\nxfs_logprint: %+v", e.Name, rec, *w)
		}
		for i, op := range w.Ops {
			got := field(rec, "op["+strconv.Itoa(i)+"]")
			want := "tid 0x" + strconv.FormatUint(uint64(op.TID), 16) + " len " + strconv.Itoa(int(op.Len)) + " client " + op.Client + " flags " + op.Flags
			if !strings.HasPrefix(got, want) {
				t.Errorf("journal/records/%s op %d: %q, xfs_logprint %q", e.Name, i, got, want)
			}
		}
		records = append(records, e.Name)
	}

	// Transactions, text: a heading and a line an item, the types as
	// xfs_logprint -t names them.
	text := render("journal/transactions")
	var got [][]string
	for l := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(l, "transaction "):
			got = append(got, []string{strings.Fields(l)[3]})
		case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "    ") && len(got) > 0 && !strings.Contains(l, "problem ="):
			got[len(got)-1] = append(got[len(got)-1], strings.Fields(l)[1])
		case strings.Contains(l, "problem ="):
			t.Errorf("journal/transactions: %s", l)
		}
	}
	names := map[string]string{"BUF": "BUF", "INO": "INODE", "ICR": "ICREATE", "DQ": "DQUOT", "QOFF": "QUOTAOFF"}
	if len(got) != len(wantTrans) {
		t.Fatalf("journal/transactions: %d transactions, xfs_logprint -t %d", len(got), len(wantTrans))
	}
	for i, w := range wantTrans {
		want := []string{"0x" + strconv.FormatUint(uint64(w.TID), 16)}
		for _, it := range w.Items {
			n := names[it.Label]
			if n == "" {
				n = it.Label
			}
			want = append(want, n)
		}
		if strings.Join(got[i], " ") != strings.Join(want, " ") {
			t.Errorf("transaction %d:\n ours     %v\n logprint %v", i, got[i], want)
		}
	}

	// The same as JSON: the envelope, then a line a transaction.
	lines := strings.Split(strings.TrimSuffix(render("journal/transactions.json"), "\n"), "\n")
	var hdr struct {
		Schema        string `json:"schema"`
		SchemaVersion int    `json:"schema_version"`
		Clean         bool   `json:"clean"`
		Head, Tail    uint32
	}
	if err := json.Unmarshal([]byte(lines[0]), &hdr); err != nil || hdr.Schema != "xfsbox.journal_transactions" || hdr.SchemaVersion != view.SchemaVersion ||
		hdr.Head != st.Head || hdr.Tail != st.Tail || hdr.Clean != st.Clean {
		t.Errorf("transactions.json header %s: %+v %v", lines[0], hdr, err)
	}
	if len(lines)-1 != len(wantTrans) {
		t.Fatalf("transactions.json: %d transactions, xfs_logprint -t %d", len(lines)-1, len(wantTrans))
	}
	for i, l := range lines[1:] {
		var tr struct {
			TID   uint32 `json:"tid"`
			Items []struct {
				Type   string         `json:"type"`
				Fields map[string]any `json:"fields"`
			} `json:"items"`
		}
		if err := json.Unmarshal([]byte(l), &tr); err != nil {
			t.Fatal(err)
		}
		if tr.TID != wantTrans[i].TID || len(tr.Items) != len(wantTrans[i].Items) {
			t.Errorf("transactions.json line %d: tid %#x, %d items; xfs_logprint tid %#x, %d", i+1, tr.TID, len(tr.Items), wantTrans[i].TID, len(wantTrans[i].Items))
		}
		for j, it := range tr.Items {
			if it.Type == "BUF" {
				if blkno, ok := it.Fields["blkno"].(float64); !ok || uint64(blkno) != wantTrans[i].Items[j].Fields["blkno"] {
					t.Errorf("transactions.json line %d item %d: blkno %v, xfs_logprint %d", i+1, j, it.Fields["blkno"], wantTrans[i].Items[j].Fields["blkno"])
				}
			}
		}
	}
	t.Logf("%d records, %d transactions; summary:\n%s", len(records), len(wantTrans), sum)
	return records
}

// TestJournalViewsDirty: journal/ of copies of the test images made dirty
// by the kernel, shut down with and without a log force.
func TestJournalViewsDirty(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, tc := range []struct {
		name, profile string
		force         bool
	}{{"defaults", "defaults", false}, {"allfeatures-f", "allfeatures", true}} {
		t.Run(tc.name, func(t *testing.T) {
			img := testimg.DirtyLog(t, tc.profile, "full", "", tc.force)
			checkJournal(t, img)
		})
	}
}

// TestJournalViewClean: a cleanly unmounted image: clean, no transaction,
// and the records from the last record's tail end with the unmount record.
func TestJournalViewClean(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Image(t, "defaults")
	records := checkJournal(t, img)
	_, render := journalTree(t, img)
	if len(records) == 0 {
		t.Fatal("no record before the head of a clean log")
	}
	last := render("journal/records/" + records[len(records)-1])
	if field(last, "num_logops") != "1" || !strings.Contains(field(last, "op[0]"), "client LOG flags UNMOUNT") {
		t.Errorf("the last record is not an unmount record:\n%s", last)
	}
	if tr := render("journal/transactions"); strings.Count(tr, "\n") != 1 {
		t.Errorf("transactions of a clean log:\n%s", tr)
	}
}

// TestJournalViewWrapped: records listed across the log's end.
func TestJournalViewWrapped(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.WrappedLog(t, testimg.TmpfsDir(t))
	records := checkJournal(t, img)
	_, render := journalTree(t, img)
	if field(render("journal/summary"), "wrapped") != "true" {
		t.Error("summary: not wrapped")
	}
	low := 0
	for _, r := range records {
		if n, _ := strconv.Atoi(r); n < 100 {
			low++
		}
	}
	if low == 0 || low == len(records) {
		t.Errorf("records %v do not cross the log's end", records)
	}
}

// flipByte flips bits of the byte at off bytes into log block bb of img.
func flipByte(t *testing.T, img string, bb, off int, bits byte) {
	t.Helper()
	fs, err := fsys.Open(img, fsys.OpenOptions{Writable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	agno, agbno, _ := fs.Geo.InternalLogAG()
	at := fs.Geo.ByteOffset(agno, agbno) + int64(bb)*512 + int64(off)
	b := []byte{0}
	if err := fs.Img.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= bits
	if err := fs.Img.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestJournalViewDamaged: a record with a flipped bit is shown with its
// damage, counted in the summary and flagged in transactions; a record
// header that does not verify ends the walk there, said in the summary.
// No view panics.
func TestJournalViewDamaged(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.DirtyLog(t, "defaults", "light", "", true)
	tree, _ := journalTree(t, img)
	ents, err := tree.List(context.Background(), "journal/records")
	if err != nil || len(ents) < 10 {
		t.Fatalf("%d records, %v", len(ents), err)
	}
	first, _ := strconv.Atoi(ents[0].Name)
	second, _ := strconv.Atoi(ents[1].Name)

	flipByte(t, img, first+1, 100, 0x10) // in the first record's data
	_, render := journalTree(t, img)
	sum := render("journal/summary")
	rec := render("journal/records/" + ents[0].Name)
	trans := render("journal/transactions")
	render("journal/transactions.json")
	if field(sum, "records_damaged") != "1" || !strings.Contains(rec, "(bad)") || !strings.Contains(field(rec, "problem"), "bad CRC") ||
		!strings.Contains(trans, "# record at block "+ents[0].Name+": bad CRC") {
		t.Errorf("damage not shown:\n%s\n%s\n%s", sum, rec, trans)
	}

	flipByte(t, img, second, 12, 0x40) // the second record's h_len
	tree, render = journalTree(t, img)
	sum = render("journal/summary")
	if ents, err := tree.List(context.Background(), "journal/records"); err != nil || len(ents) != 1 ||
		!strings.Contains(field(sum, "problem"), "log record at block "+strconv.Itoa(second)) {
		t.Errorf("after a damaged header: %d records listed (%v), summary:\n%s", len(ents), err, sum)
	}
	f, err := tree.Open(context.Background(), "journal/transactions")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.Render(context.Background(), &b); err == nil || !strings.Contains(err.Error(), strconv.Itoa(second)) {
		t.Errorf("transactions past a damaged header: %v", err)
	}
}

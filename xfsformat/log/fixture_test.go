package log

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/logprint"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// logFixture is one profile of testdata/fixtures/log.tar.gz (made by
// testdata/mklog.sh): the blocks of a dirty log from its tail to its
// head, and what xfs_logprint said of the whole log.
type logFixture struct {
	name                  string
	logBlocks, tail, head uint32
	active                []byte // the blocks from the tail to the head
	uuid                  xfsformat.UUID
	trans, plain          string // xfs_logprint -t and its plain output
}

var logFixtureProfiles = []string{"dirty", "wrapped"}

func loadLogFixtures(t testing.TB) []*logFixture {
	t.Helper()
	root := testimg.Fixture(t, "log")
	var out []*logFixture
	for _, p := range logFixtureProfiles {
		dir := filepath.Join(root, p)
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		fx := &logFixture{name: p, active: read("active.bin"), trans: string(read("logprint-t.txt")), plain: string(read("logprint.txt"))}
		for l := range strings.Lines(string(read("info.txt"))) {
			k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				t.Fatalf("%s info.txt: %q", p, l)
			}
			switch k {
			case "logblocks":
				fx.logBlocks = uint32(n)
			case "tail":
				fx.tail = uint32(n)
			case "head":
				fx.head = uint32(n)
			}
		}
		sb, err := xfsformat.DecodeSuperblock(read("sb.bin"))
		if err != nil {
			t.Fatal(err)
		}
		fx.uuid = sb.UUID
		out = append(out, fx)
	}
	return out
}

// records decodes the fixture's records in log order, each from its own
// copy of the bytes (DecodeRecord unpacks in place).
func (fx *logFixture) records(t testing.TB) []*Record {
	t.Helper()
	var recs []*Record
	for off := 0; off < len(fx.active); {
		at := (fx.tail + uint32(off/BBSize)) % fx.logBlocks
		h, err := DecodeRecHeader(fx.active[off:])
		if err != nil {
			t.Fatalf("%s: block %d: %v", fx.name, at, err)
		}
		n := h.Blocks(true) * BBSize
		if off+n > len(fx.active) {
			t.Fatalf("%s: the record at block %d runs past the head", fx.name, at)
		}
		rec, err := DecodeRecord(at, append([]byte(nil), fx.active[off:off+n]...), true)
		if err != nil {
			t.Fatalf("%s: block %d: %v", fx.name, at, err)
		}
		recs = append(recs, rec)
		off += n
	}
	return recs
}

// TestFixtureRecords holds every record between the tail and the head to
// xfs_logprint's plain output: the header's fields, extended headers and
// every op header.
func TestFixtureRecords(t *testing.T) {
	for _, fx := range loadLogFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			extended := checkRecords(t, fx)
			if fx.name == "wrapped" && fx.tail < fx.head {
				t.Error("the wrapped fixture did not wrap")
			}
			if fx.name == "dirty" && (extended == 0 || !strings.Contains(fx.plain, "WAS_CONT")) {
				t.Errorf("the dirty fixture should have records with extended headers (%d) and regions split across records", extended)
			}
		})
	}
}

// inLog reports whether block b lies between the tail and the head.
func (fx *logFixture) inLog(b uint32) bool {
	if fx.tail <= fx.head {
		return b >= fx.tail && b < fx.head
	}
	return b >= fx.tail || b < fx.head
}

// checkRecords compares the fixture's records with xfs_logprint's plain
// output of them and returns how many had extended headers.
func checkRecords(t *testing.T, fx *logFixture) (extended int) {
	t.Helper()
	printed, err := logprint.ParseRecords(fx.plain)
	if err != nil {
		t.Fatal(err)
	}
	byLSN := map[[2]uint32]*logprint.Record{}
	for _, r := range printed {
		// The plain output is of the whole physical log: the records of
		// older cycles beyond the head are not the log's.
		if fx.inLog(r.LSN[1]) {
			byLSN[r.LSN] = r
		}
	}
	got := fx.records(t)
	if len(got) != len(byLSN) {
		t.Errorf("%d records, xfs_logprint printed %d between tail and head", len(got), len(byLSN))
	}
	for _, rec := range got {
		h := rec.Header
		if LSNBlock(h.LSN) != rec.Block || h.FSUUID != fx.uuid {
			t.Fatalf("record at block %d: lsn %s, uuid %s", rec.Block, LSNText(h.LSN), h.FSUUID)
		}
		if len(rec.Problems) > 0 || !rec.CRCOK {
			t.Errorf("record at block %d: crc ok %v, %v", rec.Block, rec.CRCOK, rec.Problems)
		}
		if rec.HeaderBlocks > 1 {
			extended++
		}
		w := byLSN[[2]uint32{LSNCycle(h.LSN), LSNBlock(h.LSN)}]
		if w == nil {
			t.Errorf("record %s: not in xfs_logprint's output", LSNText(h.LSN))
			continue
		}
		compareRecord(t, rec, w)
	}
	t.Logf("%s: %d records (%d with extended headers), tail %d head %d", fx.name, len(got), extended, fx.tail, fx.head)
	return extended
}

// compareRecord compares a record with xfs_logprint's print of it.
func compareRecord(t *testing.T, rec *Record, w *logprint.Record) {
	t.Helper()
	h := rec.Header
	gotHdr := fmt.Sprintf("cycle %d version %d tail %d,%d len %d prev %d ops %d uuid %s format %q size %d ext %v",
		h.Cycle, h.Version, LSNCycle(h.TailLSN), LSNBlock(h.TailLSN), h.Len, int32(h.PrevBlock), h.NumLogOps, h.FSUUID, FmtName(h.Fmt), h.Size, rec.ExtCycles)
	ext := w.ExtCycles
	if ext == nil {
		ext = []uint32(nil)
	}
	wantHdr := fmt.Sprintf("cycle %d version %d tail %d,%d len %d prev %d ops %d uuid %s format %q size %d ext %v",
		w.Cycle, w.Version, w.TailLSN[0], w.TailLSN[1], w.Len, w.Prev, w.NumOps, w.UUID, w.Format, w.HSize, ext)
	if gotHdr != wantHdr {
		t.Errorf("record %s:\n ours     %s\n logprint %s", LSNText(h.LSN), gotHdr, wantHdr)
	}
	if len(rec.Ops) != len(w.Ops) {
		t.Errorf("record %s: %d ops, xfs_logprint %d", LSNText(h.LSN), len(rec.Ops), len(w.Ops))
		return
	}
	for i, op := range rec.Ops {
		got := fmt.Sprintf("%d tid %x len %d client %s flags %s", i, op.TID, op.Len, ClientName(op.ClientID), FlagNames(op.Flags))
		wo := w.Ops[i]
		want := fmt.Sprintf("%d tid %x len %d client %s flags %s", wo.Index, wo.TID, wo.Len, wo.Client, wo.Flags)
		if got != want {
			t.Errorf("record %s op %d:\n ours     %s\n logprint %s", LSNText(h.LSN), i, got, want)
		}
	}
}

// labels are xfs_logprint -t's names of the item types.
var labels = map[ItemType]string{ItemBuf: "BUF", ItemInode: "INO", ItemICreate: "ICR", ItemEFI: "EFI", ItemEFD: "EFD",
	ItemRUI: "RUI", ItemRUD: "RUD", ItemCUI: "CUI", ItemCUD: "CUD", ItemBUI: "BUI", ItemBUD: "BUD",
	ItemATTRI: "ATTRI", ItemATTRD: "ATTRD", ItemDquot: "DQ", ItemQuotaOff: "QOFF"}

// TestFixtureTransactions assembles the records and holds each committed
// transaction to xfs_logprint -t, item for item: the type, the regions
// and their lengths, and the fields it prints of each type.
func TestFixtureTransactions(t *testing.T) {
	for _, fx := range loadLogFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			types := checkTransactions(t, fx)
			if fx.name == "dirty" && (types["BUF"] == 0 || types["INO"] == 0 || types["ICR"] == 0) {
				t.Errorf("the dirty fixture lacks buffer, inode or icreate items: %v", types)
			}
		})
	}
}

// checkTransactions compares the fixture's transactions with
// xfs_logprint -t and returns how many items of each type it holds.
func checkTransactions(t *testing.T, fx *logFixture) map[string]int {
	t.Helper()
	st, want, err := logprint.ParseTrans(fx.trans)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tail != fx.tail || st.Head != fx.head || st.Clean {
		t.Fatalf("tail %d head %d; xfs_logprint %+v", fx.tail, fx.head, st)
	}
	got := assembleAll(t, fx.records(t), 0)
	if len(got) != len(want) {
		t.Fatalf("%d transactions, xfs_logprint -t %d", len(got), len(want))
	}
	types := map[string]int{}
	for i, tr := range got {
		compareTrans(t, i, tr, want[i], types)
	}
	t.Logf("%s: %d transactions; items %v", fx.name, len(got), types)
	return types
}

// assembleAll feeds every record to an Assembler and returns the
// committed transactions.
func assembleAll(t *testing.T, recs []*Record, maxRegion int) []*Transaction {
	t.Helper()
	a := &Assembler{MaxRegionBytes: maxRegion}
	var out []*Transaction
	for _, rec := range recs {
		if err := a.Add(rec, func(tr *Transaction) error { out = append(out, tr); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.Problems) > 0 {
		t.Errorf("assembler: %v", a.Problems)
	}
	return out
}

func compareTrans(t *testing.T, n int, tr *Transaction, w *logprint.Trans, types map[string]int) {
	t.Helper()
	if tr.TID != w.TID || int(tr.Header.NumItems) != w.NumItems || tr.Header.TID != w.HdrTID || len(tr.Problems) > 0 {
		t.Errorf("transaction %d: tid %#x items %d th_tid %#x problems %v; xfs_logprint tid %#x items %d th_tid %#x",
			n, tr.TID, tr.Header.NumItems, tr.Header.TID, tr.Problems, w.TID, w.NumItems, w.HdrTID)
	}
	if len(tr.Items) != len(w.Items) {
		t.Errorf("transaction %d (tid %#x): %d items, xfs_logprint %d", n, tr.TID, len(tr.Items), len(w.Items))
		return
	}
	for i, raw := range tr.Items {
		it := DecodeItem(raw, tr.Order)
		wi := w.Items[i]
		where := fmt.Sprintf("transaction %d (tid %#x) item %d", n, tr.TID, i)
		types[wi.Label]++
		if labels[it.Type()] != wi.Label {
			t.Errorf("%s: type %s, xfs_logprint %s", where, it.Type(), wi.Label)
			continue
		}
		if len(it.Problems()) > 0 {
			t.Errorf("%s (%s): %v", where, it.Type(), it.Problems())
		}
		var lens []int
		for _, r := range raw.Regions {
			lens = append(lens, r.Len)
		}
		if len(raw.Regions) != wi.Count || raw.Total != wi.Total || fmt.Sprint(lens) != fmt.Sprint(wi.Lens) {
			t.Errorf("%s (%s): regions %d of %d %v; xfs_logprint %d of %d %v", where, it.Type(), len(raw.Regions), raw.Total, lens, wi.Count, wi.Total, wi.Lens)
		}
		// Every field we print must be in xfs_logprint's print, and agree.
		got := itemPrint(it)
		if it.Type() != ItemICreate { // the one it prints no #regs of
			got["regs"] = uint64(raw.Total)
		}
		for k, v := range got {
			if w, ok := wi.Fields[k]; !ok || w != v {
				t.Errorf("%s (%s): %s = %#x; xfs_logprint %#x (printed %v)", where, it.Type(), k, v, w, ok)
			}
		}
		switch it.Type() {
		case ItemEFI, ItemRUI, ItemCUI, ItemBUI:
			if ex := itemExtents(it); fmt.Sprint(ex) != fmt.Sprint(wi.Extents) {
				t.Errorf("%s (%s): extents %v, xfs_logprint %v", where, it.Type(), ex, wi.Extents)
			}
		}
	}
}

// itemPrint is what xfs_logprint -t prints of an item, by the names it
// prints them under.
func itemPrint(it Item) map[string]uint64 {
	switch it := it.(type) {
	case *BufItem:
		f := it.Format
		return map[string]uint64{"blkno": uint64(f.Blkno), "len": uint64(f.Len), "size": uint64(f.MapSize), "flags": uint64(f.Flags)}
	case *InodeItem:
		f := it.Format
		return map[string]uint64{"ino": f.Ino, "flags": uint64(f.Fields), "dsize": uint64(f.DSize)}
	case *IntentItem:
		return map[string]uint64{"num_extents": uint64(len(it.Extents)), "id": it.ID}
	case *DoneItem:
		return map[string]uint64{"id": it.IntentID}
	case *ICreateItem:
		return map[string]uint64{"ag": uint64(it.AG), "agbno": uint64(it.AGBno), "len": uint64(it.Length), "cnt": uint64(it.Count),
			"isize": uint64(it.ISize), "gen": uint64(it.Gen)}
	case *AttrItem:
		return map[string]uint64{"name_len": uint64(it.NameLen), "value_len": uint64(it.ValueLen), "id": it.ID}
	}
	return nil
}

// itemExtents are an intent's extents in xfs_logprint's order: start,
// length, then owner and offset (RUI, BUI) and flags (RUI, BUI, CUI).
func itemExtents(it Item) [][]uint64 {
	in, ok := it.(*IntentItem)
	if !ok {
		return nil
	}
	var out [][]uint64
	for _, e := range in.Extents {
		x := []uint64{e.StartBlock, uint64(e.Len)}
		if in.layout.owner >= 0 {
			x = append(x, e.Owner, e.StartOff)
		}
		if in.layout.flg >= 0 {
			x = append(x, uint64(e.Flags))
		}
		out = append(out, x)
	}
	return out
}

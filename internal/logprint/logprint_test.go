package logprint

import (
	"fmt"
	"os"
	"testing"
)

// The samples are cut from xfs_logprint 6.1's output of the log fixture
// (testdata/fixtures/log.tar.gz).

func TestParseTrans(t *testing.T) {
	b, err := os.ReadFile("testdata/trans.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, trans, err := ParseTrans(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if st != (State{Tail: 2, Head: 7217}) || len(trans) != 1 {
		t.Fatalf("state %+v, %d transactions", st, len(trans))
	}
	tr := trans[0]
	if tr.TID != 0x234294de || tr.NumItems != 25 || tr.HdrTID != 0x234294de || len(tr.Items) != 7 {
		t.Fatalf("transaction %+v", tr)
	}
	var got []string
	for _, it := range tr.Items {
		id := it.Fields["id"]
		delete(it.Fields, "id")
		got = append(got, fmt.Sprintf("%s %d/%d %v %v %v id %#x", it.Label, it.Count, it.Total, it.Lens, it.Fields, it.Extents, id))
	}
	want := []string{
		"INO 3/3 [56 176 24] map[dsize:21 flags:3 ino:128 regs:3] [] id 0x0",
		"ICR 1/1 [28] map[ag:1 agbno:16 cnt:64 gen:2160031488 isize:512 len:8] [] id 0x0",
		"EFI 1/1 [32] map[num_extents:1 regs:1] [[392 1]] id 0xffff888494308bd0",
		"CUI 1/1 [32] map[num_extents:1 regs:1] [[1766 1 2]] id 0xffff88825a12a510",
		"RUI 1/1 [48] map[num_extents:1 regs:1] [[1764 1 145 581 4]] id 0xffff88837cd44810",
		"EFD 1/1 [32] map[num_extents:1 regs:1] [] id 0xffff888494308bd0",
		"BUF 2/2 [24 384] map[blkno:0 flags:36864 len:1 regs:2 size:1] [] id 0x0",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

func TestParseRecords(t *testing.T) {
	b, err := os.ReadFile("testdata/plain.txt")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ParseRecords(string(b))
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	r := recs[0]
	got := fmt.Sprintf("%d %d %v %v %d %d %d %s %q %d %v", r.Cycle, r.Version, r.LSN, r.TailLSN, r.Len, r.Prev, r.NumOps, r.UUID, r.Format, r.HSize, r.ExtCycles)
	if want := `1 2 [1 2] [1 2] 3072 0 28 e50d3955-d204-4ca2-8b53-87e1e2b1fd96 "little endian linux" 65536 [1]`; got != want {
		t.Errorf("record:\n got  %s\n want %s", got, want)
	}
	if len(r.Ops) < 3 || r.Ops[0] != (Op{0, 0x234294de, 0, "TRANS", "START"}) || r.Ops[1] != (Op{1, 0x234294de, 16, "TRANS", "none"}) {
		t.Errorf("ops %+v", r.Ops)
	}
}

package log

import (
	"bytes"
	"strings"
	"testing"
)

// assemble feeds built records to a, returning what committed.
func assemble(t *testing.T, a *Assembler, recs ...[]byte) ([]*Transaction, error) {
	t.Helper()
	var out []*Transaction
	for i, raw := range recs {
		if err := a.Add(mustRecord(t, uint32(10*i), append([]byte(nil), raw...)), func(tr *Transaction) error { out = append(out, tr); return nil }); err != nil {
			return out, err
		}
	}
	return out, nil
}

func TestAssemblerAcrossRecords(t *testing.T) {
	const tid, other = 7, 9
	hdr := transHeader(0x1234, 4)
	buf := bufFormat(2, 0, 8, 0x40, 1)
	data := bytes.Repeat([]byte{0xcd}, 128)
	rec1 := buildRecord(t, 1, 0, []testOp{
		{tid, ClientTransaction, OpStart, nil},
		{other, ClientTransaction, 0, []byte("never started")}, // began before the tail: skipped
		{tid, ClientTransaction, OpContinue, hdr[:8]},
		{other, ClientTransaction, OpCommit, nil}, // its commit: an orphan
	})
	rec2 := buildRecord(t, 1, 10, []testOp{
		{tid, ClientTransaction, OpWasCont | OpEnd, hdr[8:]},
		{tid, ClientTransaction, 0, buf},
		{tid, ClientTransaction, OpContinue, data[:100]},
		{0xb0c0d0d0, ClientLog, OpUnmount, fields(8, 0, uint16(UnmountType))}, // not a transaction's
	})
	rec3 := buildRecord(t, 1, 20, []testOp{
		{tid, ClientTransaction, OpWasCont | OpEnd, data[100:]},
		{tid, ClientTransaction, OpCommit, nil},
	})
	for _, keep := range []int{0, 600} {
		a := &Assembler{MaxRegionBytes: keep}
		got, err := assemble(t, a, rec1, rec2, rec3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(a.Open()) != 0 || a.NumOpen() != 0 || len(a.Problems) > 0 || a.Orphans != 1 {
			t.Fatalf("%d committed, %d open, %d orphans, %v", len(got), len(a.Open()), a.Orphans, a.Problems)
		}
		tr := got[0]
		if tr.TID != tid || tr.Header.TID != 0x1234 || tr.Header.NumItems != 4 || tr.Header.Type != TransCheckpoint || len(tr.Problems) > 0 {
			t.Fatalf("transaction %+v", tr)
		}
		if tr.StartLSN != MakeLSN(1, 0) || tr.CommitLSN != MakeLSN(1, 20) {
			t.Errorf("start %s commit %s", LSNText(tr.StartLSN), LSNText(tr.CommitLSN))
		}
		if len(tr.Items) != 1 || tr.Items[0].Total != 2 || len(tr.Items[0].Regions) != 2 {
			t.Fatalf("items %+v", tr.Items)
		}
		if r := tr.Items[0].Regions[1]; r.Len != 128 || !bytes.Equal(r.Data, data) {
			t.Errorf("the split region: len %d, %d bytes kept", r.Len, len(r.Data))
		}
		it := DecodeItem(tr.Items[0], tr.Order).(*BufItem)
		if len(it.Problems()) > 0 || len(it.Placements) != 1 {
			t.Errorf("buffer %v %v", it.Placements, it.Problems())
		}
	}
}

func TestAssemblerInterleaved(t *testing.T) {
	var ops []testOp
	for _, tid := range []uint32{1, 2} {
		ops = append(ops, testOp{tid, ClientTransaction, OpStart, nil})
	}
	for _, tid := range []uint32{1, 2} {
		ops = append(ops, testOp{tid, ClientTransaction, 0, transHeader(tid, 1)})
	}
	ops = append(ops,
		testOp{2, ClientTransaction, 0, fields(16, 0, uint16(ItemRUD), 2, uint16(1), 8, uint64(22))},
		testOp{1, ClientTransaction, 0, fields(16, 0, uint16(ItemCUD), 2, uint16(1), 8, uint64(11))},
		testOp{2, ClientTransaction, OpCommit, nil},
		testOp{1, ClientTransaction, OpCommit, nil})
	got, err := assemble(t, &Assembler{}, buildRecord(t, 3, 0, ops))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TID != 2 || got[1].TID != 1 {
		t.Fatalf("committed %d", len(got))
	}
	for _, tr := range got {
		it := DecodeItem(tr.Items[0], tr.Order).(*DoneItem)
		if it.IntentID != uint64(tr.TID)*11 {
			t.Errorf("tid %d: item %s %#x", tr.TID, it.Type(), it.IntentID)
		}
	}
}

func TestAssemblerKeeps(t *testing.T) {
	big := bytes.Repeat([]byte{1}, 3000)
	efi := fields(16+16*200, 0, uint16(ItemEFI), 2, uint16(1), 4, uint32(200))
	rec := buildRecord(t, 1, 0, []testOp{
		{5, ClientTransaction, OpStart, nil},
		{5, ClientTransaction, 0, transHeader(5, 3)},
		{5, ClientTransaction, 0, bufFormat(2, 0, 8, 0, 0xffffffff)},
		{5, ClientTransaction, 0, big},
		{5, ClientTransaction, 0, efi},
		{5, ClientTransaction, OpCommit, nil},
	})
	got, err := assemble(t, &Assembler{MaxRegionBytes: 1}, rec)
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	items := got[0].Items
	if r := items[0].Regions[1]; r.Len != 3000 || len(r.Data) != minRegionBytes || r.Whole() {
		t.Errorf("data region: len %d, kept %d", r.Len, len(r.Data))
	}
	// A format region is kept whole: decoders need all of it.
	if it, ok := DecodeItem(items[1], got[0].Order).(*IntentItem); !ok || len(it.Extents) != 200 {
		t.Errorf("EFI of 200 extents: %T", DecodeItem(items[1], got[0].Order))
	}
	// The open transaction's bytes are bounded.
	open := buildRecord(t, 1, 0, []testOp{
		{6, ClientTransaction, OpStart, nil},
		{6, ClientTransaction, 0, transHeader(6, 2)},
		{6, ClientTransaction, 0, bufFormat(2, 0, 8, 0, 0xffffffff)},
		{6, ClientTransaction, 0, big},
	})
	if _, err := assemble(t, &Assembler{MaxOpenBytes: 2000}, open); err == nil || !strings.Contains(err.Error(), "more than 2000 bytes") {
		t.Errorf("past MaxOpenBytes: %v", err)
	}
	a := &Assembler{}
	if _, err := assemble(t, a, open); err != nil || len(a.Open()) != 1 {
		t.Errorf("uncommitted: %v, %d open", err, len(a.Open()))
	}
}

func TestAssemblerProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []testOp
		want string
	}{
		{"no TRAN magic", []testOp{{1, ClientTransaction, 0, make([]byte, 16)}}, "not a transaction header"},
		{"long header", []testOp{{1, ClientTransaction, 0, append(transHeader(1, 1), 0, 0, 0, 0)}}, "header region of 20 bytes"},
		{"no region count", []testOp{{1, ClientTransaction, 0, transHeader(1, 1)}, {1, ClientTransaction, 0, fields(8, 0, uint16(ItemBuf))}}, "0 regions"},
		{"too many regions", []testOp{{1, ClientTransaction, 0, transHeader(1, 1)}, {1, ClientTransaction, 0, fields(8, 0, uint16(ItemBuf), 2, uint16(300))}}, "300 regions"},
		{"start again", []testOp{{1, ClientTransaction, OpStart, nil}}, "flags START"},
		{"continued nothing", []testOp{{1, ClientTransaction, 0, transHeader(1, 1)}, {1, ClientTransaction, OpWasCont, []byte{1, 2, 3, 4}}}, "no region before it"},
		{"no header", nil, "without a whole transaction header"},
		{"short item", []testOp{{1, ClientTransaction, 0, transHeader(1, 1)}, {1, ClientTransaction, 0, bufFormat(3, 0, 8, 0, 1)}}, "1 of its 3 regions"},
	} {
		ops := append([]testOp{{1, ClientTransaction, OpStart, nil}}, tc.ops...)
		ops = append(ops, testOp{1, ClientTransaction, OpCommit, nil})
		got, err := assemble(t, &Assembler{}, buildRecord(t, 1, 0, ops))
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v, %d committed", tc.name, err, len(got))
		}
		if p := strings.Join(got[0].Problems, "; "); !strings.Contains(p, tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.name, p, tc.want)
		}
	}
	a := &Assembler{}
	if _, err := assemble(t, a, buildRecord(t, 1, 0, []testOp{{1, 0x42, OpStart, nil}})); err != nil || len(a.Problems) != 1 {
		t.Errorf("bad client: %v %v", err, a.Problems)
	}
}

// TestRecordProblems: damage inside a record is reported, not fatal.
func TestRecordProblems(t *testing.T) {
	raw := buildRecord(t, 4, 0, []testOp{{1, ClientTransaction, OpStart, nil}, {1, ClientTransaction, 0, make([]byte, 40)}})
	bad := append([]byte(nil), raw...)
	bad[BBSize+20] ^= 1
	if rec, err := DecodeRecord(0, bad, true); err != nil || rec.CRCOK || !strings.Contains(strings.Join(rec.Problems, ";"), "bad CRC") {
		t.Errorf("flipped bit: %v %+v", err, rec)
	}
	stamp := append([]byte(nil), raw...)
	stamp[BBSize+3] += 2 // the data block's cycle stamp (the next cycle is a record split at the log's end)
	if rec, _ := DecodeRecord(0, stamp, true); !strings.Contains(strings.Join(rec.Problems, ";"), "stamped with cycle 6") {
		t.Errorf("cycle stamp: %v", rec.Problems)
	}
	if _, err := DecodeRecord(0, raw[:BBSize], true); err == nil {
		t.Error("a record without its data decoded")
	}
	// An op that claims more than the record holds.
	ops, err := SplitOps(append(make([]byte, 4), 0, 0, 1, 0, ClientTransaction, 0, 0, 0), 1)
	if err == nil || len(ops) != 0 {
		t.Errorf("overrunning op: %v %v", ops, err)
	}
}

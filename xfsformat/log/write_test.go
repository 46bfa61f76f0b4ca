package log

import (
	"encoding/binary"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestUnmountRecordRoundTrip builds unmount records, whole and split
// across the log's end, and reads them back as DecodeRecord reads the
// kernel's: the CRC verifies, the one op is an unmount op of client LOG
// whose magic is XLOG_UNMOUNT_TYPE, and the cycle stamps hide nothing.
func TestUnmountRecordRoundTrip(t *testing.T) {
	uuid := xfsformat.UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, wrapAt := range []int{-1, 1} {
		h := RecHeader{Cycle: 9, Version: Version2, LSN: MakeLSN(9, 700), TailLSN: MakeLSN(9, 690), PrevBlock: 690,
			NumLogOps: 1, Fmt: FmtLinuxLE, FSUUID: uuid, Size: HeaderCycleSize}
		raw, err := BuildRecord(h, UnmountRecord(0x1234abcd, binary.LittleEndian), 1, wrapAt)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 2*BBSize {
			t.Fatalf("record of %d bytes, want 2 BBs", len(raw))
		}
		if got := BlockCycle(raw[BBSize:]); (wrapAt < 0 && got != 9) || (wrapAt == 1 && got != 10) {
			t.Errorf("wrapAt %d: data block stamped %d", wrapAt, got)
		}
		rec, err := DecodeRecord(700, raw, true)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.CRCOK || len(rec.Problems) > 0 {
			t.Fatalf("wrapAt %d: CRC ok %v, problems %v", wrapAt, rec.CRCOK, rec.Problems)
		}
		if !rec.IsUnmount() {
			t.Fatalf("wrapAt %d: not an unmount record: %+v", wrapAt, rec.Ops)
		}
		op := rec.Ops[0]
		if m, ok := UnmountMagic(op.OpHeader, op.Data, rec.Header.Order()); !ok || m != UnmountType || op.TID != 0x1234abcd || op.Len != 8 {
			t.Errorf("wrapAt %d: op %+v magic %#x %v", wrapAt, op.OpHeader, m, ok)
		}
		if rec.Header.TailLSN != h.TailLSN || rec.Header.PrevBlock != 690 || rec.Header.FSUUID != uuid || rec.Header.Len != BBSize {
			t.Errorf("wrapAt %d: header %+v", wrapAt, rec.Header)
		}
	}
	// A block stamped with neither the record's cycle nor the next one
	// is another write's.
	h := RecHeader{Cycle: 9, Version: Version2, LSN: MakeLSN(9, 1), NumLogOps: 1, Fmt: FmtLinuxLE}
	raw, err := BuildRecord(h, make([]byte, 3*BBSize), 1, -1)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(raw[2*BBSize:], 11)
	if rec, err := DecodeRecord(1, raw, true); err != nil || len(rec.Problems) == 0 {
		t.Errorf("a block of cycle 11 in a record of cycle 9: err %v, problems %v", err, rec.Problems)
	}
	if _, err := BuildRecord(h, nil, 1, -1); err == nil {
		t.Error("an empty record was built")
	}
	if _, err := BuildRecord(h, make([]byte, 65*BBSize), 1, -1); err == nil {
		t.Error("a record of 65 data blocks was built with one header block")
	}
	// A record with extended headers, its last blocks past the log's
	// end: header 2's cycle too.
	h = RecHeader{Cycle: 3, Version: Version2, LSN: MakeLSN(3, 500), NumLogOps: 1, Fmt: FmtLinuxLE, Size: 2 * HeaderCycleSize}
	data := UnmountRecord(7, binary.LittleEndian)
	data = append(data, make([]byte, 100*BBSize)...)
	raw, err = BuildRecord(h, data, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ExtCycle(raw[BBSize:]) != 4 || BlockCycle(raw[2*BBSize:]) != 4 {
		t.Errorf("split record: extended header cycle %d, first data block %d", ExtCycle(raw[BBSize:]), BlockCycle(raw[2*BBSize:]))
	}
	rec, err := DecodeRecord(500, raw, true)
	if err != nil || !rec.CRCOK || !rec.IsUnmount() || len(rec.Problems) > 0 {
		t.Fatalf("a record with an extended header: %v %+v", err, rec)
	}
}

// TestStaleBlock: the blocks recovery writes in front of the head are
// record headers of the given cycle with no data, which never verify as
// a record (so no walk takes them for one) but carry their cycle.
func TestStaleBlock(t *testing.T) {
	b := StaleBlock(4, 33, MakeLSN(5, 2), Version2, xfsformat.UUID{7})
	if !IsRecHeader(b) || BlockCycle(b) != 4 {
		t.Fatalf("cycle %d, header %v", BlockCycle(b), IsRecHeader(b))
	}
	h, err := DecodeRecHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.LSN != MakeLSN(4, 33) || h.TailLSN != MakeLSN(5, 2) || h.Len != 0 {
		t.Errorf("header %+v", h)
	}
	if h.Verify(true) == nil {
		t.Error("an empty stale header verifies as a record")
	}
}

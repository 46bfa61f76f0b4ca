package log

import (
	"encoding/binary"
	"testing"
)

// Fuzz targets: no input may panic or hang, and what decodes stays
// inside its bounds. Seeds are the records and items of
// testdata/fixtures/log.tar.gz, real logs.

// seedRecords are some of the fixtures' records as read (packed).
func seedRecords(f *testing.F) [][]byte {
	var out [][]byte
	for _, fx := range loadLogFixtures(f) {
		for off, n := 0, 0; off < len(fx.active) && n < 12; n++ {
			h, err := DecodeRecHeader(fx.active[off:])
			if err != nil {
				f.Fatal(err)
			}
			size := h.Blocks(true) * BBSize
			out = append(out, fx.active[off:off+size])
			off += size
		}
	}
	return out
}

// FuzzRecord decodes a record, assembles it and decodes every item of
// what commits.
func FuzzRecord(f *testing.F) {
	for _, r := range seedRecords(f) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v2 := range []bool{false, true} {
			rec, err := DecodeRecord(3, append([]byte(nil), b...), v2)
			if err != nil {
				continue
			}
			end := 0
			for _, op := range rec.Ops {
				if op.Offset < end || len(op.Data) != int(op.Len) {
					t.Fatalf("op at %d (after %d) of %d bytes, len %d", op.Offset, end, len(op.Data), op.Len)
				}
				end = op.Offset + OpHeaderSize + len(op.Data)
			}
			if end > int(rec.Header.Len) || len(rec.Ops) > int(rec.Header.NumLogOps) {
				t.Fatalf("ops end at %d of %d", end, rec.Header.Len)
			}
			_ = rec.IsUnmount()
			a := &Assembler{MaxOpenBytes: 1 << 20}
			_ = a.Add(rec, func(tr *Transaction) error { decodeAll(t, tr); return nil })
			for _, tr := range a.Open() {
				decodeAll(t, tr)
			}
		}
	})
}

// decodeAll decodes and prints every item of a transaction.
func decodeAll(t *testing.T, tr *Transaction) {
	for _, raw := range tr.Items {
		checkItem(t, DecodeItem(raw, tr.Order))
	}
}

// checkItem prints an item and checks what it says about where its
// bytes go.
func checkItem(t *testing.T, it Item) {
	_ = it.Fields()
	_ = it.Problems()
	_ = it.Type().String()
	switch it := it.(type) {
	case *BufItem:
		for _, p := range it.Placements {
			if p.Region < 1 || p.Region >= len(it.Raw().Regions) || p.Len <= 0 || p.Len > it.Raw().Regions[p.Region].Len || p.Offset < 0 {
				t.Fatalf("placement %+v of %d regions", p, len(it.Raw().Regions))
			}
		}
	case *InodeItem:
		if it.Core != nil {
			if err := it.Core.ToDisk(make([]byte, LogDinodeSize), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// itemBytes serialises an item for a fuzz seed: a region count, each
// region's length (16 bits) and the regions.
func itemBytes(raw *RawItem) []byte {
	out := []byte{byte(len(raw.Regions))}
	for _, r := range raw.Regions {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(r.Data)))
	}
	for _, r := range raw.Regions {
		out = append(out, r.Data...)
	}
	return out
}

// itemFrom is itemBytes undone, as far as b goes.
func itemFrom(b []byte) *RawItem {
	if len(b) == 0 {
		return &RawItem{}
	}
	n := int(b[0])
	b = b[1:]
	lens := make([]int, 0, n)
	for i := 0; i < n && len(b) >= 2; i++ {
		lens = append(lens, int(binary.LittleEndian.Uint16(b)))
		b = b[2:]
	}
	raw := &RawItem{}
	for _, l := range lens {
		l = min(l, len(b))
		raw.Regions = append(raw.Regions, Region{Len: l, Data: b[:l:l]})
		b = b[l:]
	}
	raw.Total = len(raw.Regions)
	if len(raw.Regions) > 0 && len(raw.Regions[0].Data) >= 4 {
		raw.Total = int(binary.LittleEndian.Uint16(raw.Regions[0].Data[2:]))
	}
	return raw
}

// fuzzItems is a fuzz target for the decoders of types: seeded with the
// fixtures' items of those types and synthetic ones, every input decoded
// as each of the types, in both byte orders.
func fuzzItems(f *testing.F, synthetic []*RawItem, types ...ItemType) {
	want := map[ItemType]bool{}
	for _, ty := range types {
		want[ty] = true
	}
	seeded := 0
	for _, fx := range loadLogFixtures(f) {
		a := &Assembler{}
		for _, rec := range fx.records(f) {
			_ = a.Add(rec, func(tr *Transaction) error {
				for _, raw := range tr.Items {
					if want[DecodeItem(raw, tr.Order).Type()] && seeded < 64 {
						f.Add(itemBytes(raw))
						seeded++
					}
				}
				return nil
			})
		}
	}
	for _, raw := range synthetic {
		f.Add(itemBytes(raw))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		raw := itemFrom(append([]byte(nil), b...))
		for _, ty := range types {
			for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
				if len(raw.Regions) > 0 && len(raw.Regions[0].Data) >= 2 {
					bo.PutUint16(raw.Regions[0].Data, uint16(ty))
				}
				checkItem(t, DecodeItem(raw, bo))
			}
		}
	})
}

func FuzzBufItem(f *testing.F) {
	fuzzItems(f, []*RawItem{rawItem(bufFormat(3, 0, 8, 0x40, 0b11100011), make([]byte, 256), make([]byte, 384))}, ItemBuf)
}

func FuzzInodeItem(f *testing.F) {
	fuzzItems(f, []*RawItem{rawItem(fields(InodeFormatSize, 0, uint16(ItemInode), 2, uint16(3), 4, uint32(ILogCore|ILogDExt)),
		logDinode(1<<3, 0), make([]byte, 32))}, ItemInode)
}

func FuzzIntentItem(f *testing.F) {
	fuzzItems(f, []*RawItem{rawItem(fields(48, 0, uint16(ItemRUI), 2, uint16(1), 4, uint32(1)))},
		ItemEFI, ItemEFD, ItemRUI, ItemCUI, ItemBUI, ItemEFIRT, ItemRUIRT, ItemCUIRT)
}

func FuzzDoneItem(f *testing.F) {
	fuzzItems(f, []*RawItem{rawItem(fields(16, 0, uint16(ItemRUD), 2, uint16(1), 8, uint64(1)))},
		ItemRUD, ItemCUD, ItemBUD, ItemXMD, ItemATTRD, ItemRUDRT, ItemCUDRT)
}

func FuzzAttrItem(f *testing.F) {
	fuzzItems(f, []*RawItem{rawItem(fields(attriFormatSize, 0, uint16(ItemATTRI), 2, uint16(3), 24, uint32(AttrOpSet), 28, uint32(5), 32, uint32(3)),
		[]byte("hello\x00\x00\x00"), []byte("abc\x00"))}, ItemATTRI)
}

func FuzzOtherItems(f *testing.F) {
	fuzzItems(f, []*RawItem{
		rawItem(fields(xmiFormatSize, 0, uint16(ItemXMI), 2, uint16(1))),
		rawItem(fields(icreateFormatSize, 0, uint16(ItemICreate), 2, uint16(1))),
		rawItem(fields(dquotFormatSize, 0, uint16(ItemDquot), 2, uint16(2)), make([]byte, 136)),
		rawItem(fields(quotaOffFormatSize, 0, uint16(ItemQuotaOff), 2, uint16(1))),
	}, ItemXMI, ItemICreate, ItemDquot, ItemQuotaOff, ItemIUnlink, 0x9999)
}

// FuzzLogDinode decodes a logged core in both orders and writes it as an
// on-disk inode.
func FuzzLogDinode(f *testing.F) {
	f.Add(logDinode(1<<3, 12345))
	f.Add(logDinode(0, 12345)[:LogDinodeSizeV2])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			d, err := DecodeLogDinode(b, bo)
			if err != nil {
				continue
			}
			_, _ = d.Timestamp(d.Mtime)
			_ = d.String()
			if err := d.ToDisk(make([]byte, LogDinodeSize), 7); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzAssembler feeds the ops of a record's data, as two records, to an
// Assembler.
func FuzzAssembler(f *testing.F) {
	for _, r := range seedRecords(f) {
		if rec, err := DecodeRecord(0, append([]byte(nil), r...), true); err == nil {
			f.Add(r[rec.HeaderBlocks*BBSize:rec.HeaderBlocks*BBSize+int(rec.Header.Len)], uint16(rec.Header.NumLogOps))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, num uint16) {
		ops, _ := SplitOps(data, uint32(num))
		a := &Assembler{MaxOpenBytes: 1 << 20, MaxRegionBytes: 600}
		for i := 0; i < 2; i++ {
			rec := &Record{Header: &RecHeader{LSN: MakeLSN(1, uint32(i)), Fmt: FmtLinuxLE}, Ops: ops}
			if err := a.Add(rec, func(tr *Transaction) error { decodeAll(t, tr); return nil }); err != nil {
				return
			}
		}
	})
}

package log

import (
	"encoding/binary"
	"testing"
)

// Builders of log structures for tests, from the C layouts of
// xfs_log_format.h, in little-endian (x86) order where the writer's order
// applies.

var le = binary.LittleEndian

// testOp is an operation to put in a built record.
type testOp struct {
	tid    uint32
	client uint8
	flags  uint8
	data   []byte
}

// buildRecord lays ops out as the kernel writes a record at block with
// cycle: header (extended headers as the data needs), op headers and
// data, the data blocks stamped with the cycle, the CRC set.
func buildRecord(t testing.TB, cycle, block uint32, ops []testOp) []byte {
	t.Helper()
	var data []byte
	be := binary.BigEndian
	for _, op := range ops {
		var h [OpHeaderSize]byte
		be.PutUint32(h[:], op.tid)
		be.PutUint32(h[4:], uint32(len(op.data)))
		h[8], h[9] = op.client, op.flags
		data = append(append(data, h[:]...), op.data...)
	}
	if len(data) == 0 {
		data = make([]byte, 1)
	}
	nbb := (len(data) + BBSize - 1) / BBSize
	data = append(data, make([]byte, nbb*BBSize-len(data))...)
	size := uint32(HeaderCycleSize)
	hblks := 1
	if nbb > CycleDataSize {
		hblks = (nbb + CycleDataSize - 1) / CycleDataSize
		size = uint32(hblks * HeaderCycleSize)
	}
	hdr := make([]byte, hblks*BBSize)
	be.PutUint32(hdr, HeaderMagic)
	be.PutUint32(hdr[4:], cycle)
	be.PutUint32(hdr[8:], Version2)
	be.PutUint32(hdr[12:], uint32(len(data)))
	be.PutUint64(hdr[16:], MakeLSN(cycle, block))
	be.PutUint64(hdr[24:], MakeLSN(cycle, block))
	be.PutUint32(hdr[40:], uint32(len(ops)))
	be.PutUint32(hdr[300:], FmtLinuxLE)
	be.PutUint32(hdr[320:], size)
	for j := 1; j < hblks; j++ {
		be.PutUint32(hdr[j*BBSize:], cycle)
	}
	for i := 0; i < nbb; i++ {
		j, k := i/CycleDataSize, i%CycleDataSize
		off := j*BBSize + 4 + 4*k
		if j == 0 {
			off = 44 + 4*k
		}
		copy(hdr[off:off+4], data[i*BBSize:])
		be.PutUint32(data[i*BBSize:], cycle)
	}
	le.PutUint32(hdr[32:], RecordCRC(hdr, data))
	return append(hdr, data...)
}

// mustRecord decodes a built record.
func mustRecord(t testing.TB, block uint32, raw []byte) *Record {
	t.Helper()
	rec, err := DecodeRecord(block, raw, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Problems) > 0 {
		t.Fatalf("built record: %v", rec.Problems)
	}
	return rec
}

// transHeader is an xfs_trans_header region.
func transHeader(tid, nitems uint32) []byte {
	b := make([]byte, TransHeaderSize)
	le.PutUint32(b, TransHeaderMagic)
	le.PutUint32(b[4:], TransCheckpoint)
	le.PutUint32(b[8:], tid)
	le.PutUint32(b[12:], nitems)
	return b
}

// fields writes values at offsets of a little-endian structure of n
// bytes: each value's size is its Go type's.
func fields(n int, at ...any) []byte {
	b := make([]byte, n)
	for i := 0; i+1 < len(at); i += 2 {
		off := at[i].(int)
		switch v := at[i+1].(type) {
		case uint8:
			b[off] = v
		case uint16:
			le.PutUint16(b[off:], v)
		case uint32:
			le.PutUint32(b[off:], v)
		case uint64:
			le.PutUint64(b[off:], v)
		case []byte:
			copy(b[off:], v)
		}
	}
	return b
}

// rawItem makes an assembled item of whole regions.
func rawItem(regions ...[]byte) *RawItem {
	it := &RawItem{Total: len(regions)}
	if len(regions) > 0 && len(regions[0]) >= 4 {
		it.Total = int(le.Uint16(regions[0][2:]))
	}
	for _, r := range regions {
		it.Regions = append(it.Regions, Region{Len: len(r), Data: r})
	}
	return it
}

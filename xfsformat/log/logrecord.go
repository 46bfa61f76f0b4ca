package log

import (
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Record is one log record as read: its header, the cycles of its
// extended headers, its CRC verdict and its operations, over data
// unpacked in place (the cycle stamps replaced by the words they hid).
type Record struct {
	Block        uint32 // log-relative BB of the header
	Header       *RecHeader
	HeaderBlocks int
	ExtCycles    []uint32 // xh_cycle of each extended header block
	// CRCOK is the CRC verdict; a zero CRC (mkfs's records) is
	// reported as not OK with CRCZero set.
	CRCOK, CRCZero bool
	Ops            []Op
	// Problems are what is wrong with the record beyond its header:
	// CRC, extended header cycles, ops that overrun its data.
	Problems []string
}

// Op is one operation of a record: its header and its data, a slice of
// the record's unpacked data.
type Op struct {
	OpHeader
	Offset int // of the op header in the record's data
	Data   []byte
}

// DecodeRecord decodes the record at log block block from raw, its
// header blocks followed by its data blocks, as read from the log. The
// header must verify (RecHeader.Verify) and raw must hold the whole
// record (RecHeader.Blocks); otherwise it fails. raw's data is unpacked
// in place, and the ops' Data are slices of it: copy what you keep past
// the next read into raw.
func DecodeRecord(block uint32, raw []byte, logv2 bool) (*Record, error) {
	h, err := DecodeRecHeader(raw)
	if err != nil {
		return nil, err
	}
	if err := h.Verify(logv2); err != nil {
		return nil, err
	}
	hb := h.HeaderBlocks(logv2)
	if need := h.Blocks(logv2) * BBSize; len(raw) < need {
		return nil, errShort("log record", need, len(raw))
	}
	r := &Record{Block: block, Header: h, HeaderBlocks: hb}
	hdr, data := raw[:hb*BBSize], raw[hb*BBSize:hb*BBSize+int(h.Len)]
	// Every block after the header must carry the record's cycle (the
	// extended headers in xh_cycle, data blocks in their first word,
	// before unpacking): another cycle means the block is from another
	// write. A record written across the log's end carries the next
	// cycle from the first block past it on (xlog_split_iclog).
	want := h.Cycle
	stamped := func(c uint32) bool {
		if c != want && want == h.Cycle && c == nextCycle(h.Cycle) {
			want = c
		}
		return c == want
	}
	for i := 1; i < hb; i++ {
		c := ExtCycle(hdr[i*BBSize:])
		r.ExtCycles = append(r.ExtCycles, c)
		if !stamped(c) {
			r.Problems = append(r.Problems, fmt.Sprintf("extended header %d has cycle %d, the record %d", i, c, h.Cycle))
		}
	}
	switch {
	case h.CRC == 0:
		r.CRCZero = true
	case RecordCRCOK(hdr, data):
		r.CRCOK = true
	default:
		r.Problems = append(r.Problems, fmt.Sprintf("bad CRC: stored %#08x, computed %#08x", h.CRC, RecordCRC(hdr, data)))
	}
	for i := 0; i < h.DataBlocks(); i++ {
		if c := BlockCycle(raw[(hb+i)*BBSize:]); !stamped(c) {
			r.Problems = append(r.Problems, fmt.Sprintf("data block %d is stamped with cycle %d, not %d", i, c, want))
			break
		}
	}
	if err := Unpack(hdr, data); err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r, nil
	}
	r.Ops, err = SplitOps(data, h.NumLogOps)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	return r, nil
}

// SplitOps splits a record's unpacked data into its num operations. The
// ops found before one that does not fit are returned with the error.
func SplitOps(data []byte, num uint32) ([]Op, error) {
	var ops []Op
	off := 0
	for i := uint32(0); i < num; i++ {
		oh, err := DecodeOpHeader(data[min(off, len(data)):])
		if err != nil {
			return ops, xfsformat.Errorf(xfsformat.ErrShort, "log record", -1, -1, "num_logops", fmt.Sprint(num),
				"op %d: no room for its header at byte %d of %d", i, off, len(data))
		}
		start := off + OpHeaderSize
		if uint64(oh.Len) > uint64(len(data)-start) {
			return ops, xfsformat.Errorf(xfsformat.ErrRange, "log op", -1, -1, "oh_len", fmt.Sprint(oh.Len),
				"op %d at byte %d runs past the record's %d bytes", i, off, len(data))
		}
		end := start + int(oh.Len)
		ops = append(ops, Op{OpHeader: oh, Offset: off, Data: data[start:end:end]})
		off = end
	}
	return ops, nil
}

// IsUnmount reports whether the record is an unmount record: one op,
// flagged UNMOUNT.
func (r *Record) IsUnmount() bool {
	return r.Header.NumLogOps == 1 && len(r.Ops) == 1 && r.Ops[0].Flags&OpUnmount != 0
}

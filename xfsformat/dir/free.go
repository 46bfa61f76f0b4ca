package dir

import (
	"encoding/binary"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Free is a free-index block of a node-form directory (XDF3, XD2F), in
// the free space at 64 GiB: for NValid data blocks from FirstDB on, the
// length of each one's longest unused region (NullDataOff for a data
// block that no longer exists), so that adding a name need not read
// every data block.
type Free struct {
	Hdr                    BlkHdr
	FirstDB, NValid, NUsed int32
	Pad                    uint32 // v5 only
	Buf                    []byte
	g                      *Geometry
}

// DecodeFree decodes a free-index block. It fails only on a buffer too
// short for the header; a wrong magic is left to Verify. (It reads its
// header as DecodeData does, then fields of another layout: alike in
// shape only.)
func DecodeFree(g *Geometry, buf []byte) (*Free, error) {
	hs := g.FreeHdrSize()
	if len(buf) < hs {
		return nil, short("dir free", hs, len(buf))
	}
	f := &Free{Hdr: decodeBlkHdr(buf, g.V5), Buf: buf, g: g}
	off := f.Hdr.size()
	be := binary.BigEndian
	f.FirstDB, f.NValid, f.NUsed = int32(be.Uint32(buf[off:])), int32(be.Uint32(buf[off+4:])), int32(be.Uint32(buf[off+8:]))
	if g.V5 {
		f.Pad = be.Uint32(buf[off+12:])
	}
	return f, nil
}

// NumBests is NValid clamped to the room in the block (0 when negative).
func (f *Free) NumBests() int {
	return max(min(int(f.NValid), (len(f.Buf)-f.g.FreeHdrSize())/2), 0)
}

// Best returns the best free length of data block FirstDB+i
// (0 <= i < NumBests).
func (f *Free) Best(i int) uint16 {
	return binary.BigEndian.Uint16(f.Buf[f.g.FreeHdrSize()+2*i:])
}

// Fields are the block as xfs_db prints it: fhdr.hdr.* (v5) or
// fhdr.magic (v4), fhdr.firstdb, nvalid, nused, and fbests[0-N] on one
// line, zero values left out as xfs_db does.
func (f *Free) Fields(crcOK bool) []xfsformat.Field {
	fs := append(f.Hdr.fields("fhdr", crcOK),
		sdec("fhdr.firstdb", f.FirstDB), sdec("fhdr.nvalid", f.NValid), sdec("fhdr.nused", f.NUsed))
	if n := f.NumBests(); n > 0 {
		vals := make([]uint64, n)
		for i := range vals {
			vals[i] = uint64(f.Best(i))
		}
		fs = append(fs, arrayField("fbests", vals, true))
	}
	return fs
}

func sdec(name string, v int32) xfsformat.Field {
	return xfsformat.Field{Name: name, Text: strconv.FormatInt(int64(v), 10), JSON: v}
}

// Verify checks a free-index block read from fork offset dablk as the
// kernel does (xfs_dir3_free_verify, then xfs_dir3_free_header_check on
// a read): the magic for the filesystem's version, the v5 identity
// (CRC, uuid, daddr, owner unless 0; not the LSN), firstdb the first
// data block this block's place in the free space indexes, nvalid
// within the block's room and not below nused. Beyond the kernel, it
// checks that nused counts the bests that name a data block.
func (f *Free) Verify(dablk uint32, daddr, owner uint64) []error {
	st := "dir free"
	want := uint64(Free3Magic)
	if !f.g.V5 {
		want = Free2Magic
	}
	if uint64(f.Hdr.Magic) != want {
		return []error{magicErr(st, magicField(f.g.V5, "fhdr"), uint64(f.Hdr.Magic), want)}
	}
	errs := f.Hdr.verify(st, "fhdr", f.Buf, f.g, daddr, owner)
	if err := sizeErr(st, len(f.Buf), f.g.BlockSize); err != nil {
		errs = append(errs, err)
	}
	maxBests := f.g.FreeMaxBests()
	first := (int64(f.g.DAToDB(dablk)) - int64(f.g.DAToDB(f.g.FreeDA()))) * int64(maxBests)
	if int64(f.FirstDB) != first {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "fhdr.firstdb", itoa(int(f.FirstDB)), "block at directory offset %d indexes data blocks from %d", dablk, first))
	}
	if int(f.NValid) > maxBests {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "fhdr.nvalid", itoa(int(f.NValid)), "more bests than a block holds (%d)", maxBests))
	}
	if f.NValid < f.NUsed {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "fhdr.nused", itoa(int(f.NUsed)), "more used bests than valid ones (%d)", f.NValid))
	}
	used := 0
	for i := range f.NumBests() {
		if f.Best(i) != NullDataOff {
			used++
		}
	}
	if f.NValid >= 0 && int(f.NValid) <= maxBests && used != int(f.NUsed) {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "fhdr.nused", itoa(int(f.NUsed)), "%d bests name a data block", used))
	}
	return errs
}

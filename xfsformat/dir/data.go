package dir

import (
	"encoding/binary"
	"iter"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// BestFree is one slot of a data block's bestfree table: the offset and
// length of one of its three largest unused regions (0, 0 when unused).
type BestFree struct {
	Offset, Length uint16
}

// DataBlock is a directory data block (XDD3/XD2D) or the single block
// of a block-form directory (XDB3/XD2B), which also holds the leaf
// entries and a tail at its end. The block is Buf: every method reads
// it, within its bounds.
type DataBlock struct {
	Hdr      BlkHdr
	BestFree [BestFreeCount]BestFree
	Pad      uint32 // v5 only
	// Block form only: the tail (xfs_dir2_block_tail) as stored.
	TailCount, TailStale uint32
	Buf                  []byte
	g                    *Geometry
}

// DecodeData decodes a data or block-form directory block. buf is one
// directory block (g.BlockSize bytes; Verify reports another length).
// It fails only on a buffer too short for the header; a wrong magic is
// left to Verify, and the entries are read lazily by Slots and Entries.
func DecodeData(g *Geometry, buf []byte) (*DataBlock, error) {
	hs := g.DataHdrSize()
	if len(buf) < hs {
		return nil, short("dir data", hs, len(buf))
	}
	d := &DataBlock{Hdr: decodeBlkHdr(buf, g.V5), Buf: buf, g: g}
	off := d.Hdr.size()
	be := binary.BigEndian
	for i := range d.BestFree {
		d.BestFree[i] = BestFree{be.Uint16(buf[off+4*i:]), be.Uint16(buf[off+4*i+2:])}
	}
	if g.V5 {
		d.Pad = be.Uint32(buf[off+4*BestFreeCount:])
	}
	if d.IsBlock() && len(buf) >= hs+8 {
		d.TailCount, d.TailStale = be.Uint32(buf[len(buf)-8:]), be.Uint32(buf[len(buf)-4:])
	}
	return d, nil
}

// IsBlock reports whether the magic is a block-form directory's.
func (d *DataBlock) IsBlock() bool { return d.Hdr.Magic == Block3Magic || d.Hdr.Magic == Block2Magic }

// EncodeHeader writes the header (identity, bestfree table, pad) into
// the first DataHdrSize bytes of dst; the CRC is written as stored
// (update it after the whole block is written).
func (d *DataBlock) EncodeHeader(dst []byte) error {
	hs := d.g.DataHdrSize()
	if len(dst) < hs {
		return short("dir data", hs, len(dst))
	}
	d.Hdr.encode(dst)
	off := d.Hdr.size()
	be := binary.BigEndian
	for i, bf := range d.BestFree {
		be.PutUint16(dst[off+4*i:], bf.Offset)
		be.PutUint16(dst[off+4*i+2:], bf.Length)
	}
	if d.Hdr.V3 {
		be.PutUint32(dst[off+4*BestFreeCount:], d.Pad)
	}
	return nil
}

// NumLeafEntries is a block-form directory's leaf entry count (the
// tail's count) clamped to the room between the header and the tail;
// 0 for a data block.
func (d *DataBlock) NumLeafEntries() int {
	if !d.IsBlock() {
		return 0
	}
	room := max(len(d.Buf)-8-d.g.DataHdrSize(), 0) / 8
	return int(min(uint64(d.TailCount), uint64(room)))
}

// LeafEntry returns leaf entry i of a block-form directory
// (0 <= i < NumLeafEntries).
func (d *DataBlock) LeafEntry(i int) LeafEntry {
	off := len(d.Buf) - 8 - 8*d.NumLeafEntries() + 8*i
	return LeafEntry{binary.BigEndian.Uint32(d.Buf[off:]), binary.BigEndian.Uint32(d.Buf[off+4:])}
}

// End is where the entry area ends: the block's end for a data block,
// the first leaf entry for a block-form directory.
func (d *DataBlock) End() int {
	if !d.IsBlock() {
		return len(d.Buf)
	}
	return len(d.Buf) - 8 - 8*d.NumLeafEntries()
}

// Slot is one region of a data block's entry area: a directory entry
// (xfs_dir2_data_entry) or an unused region (xfs_dir2_data_unused: a
// 0xffff tag and a length over what was there; the bytes after them
// keep what the region held before it was freed).
type Slot struct {
	Off    int  // byte offset in the block
	Len    int  // bytes it spans: EntSize(namelen), or the unused length
	Unused bool // an unused region
	Ino    uint64
	Name   []byte // aliases the block
	Ftype  uint8  // the stored file type byte (0 without ftype)
	Tag    uint16 // the tag word in the slot's last two bytes: its own offset
	// Bad, when not empty, says why the walk stops at this slot: it
	// runs past the entry area, or an unused length of 0 would never
	// advance. Len is then what remains of the entry area and the
	// fields the slot could not hold are zero.
	Bad string
}

// Slots walks the entry area from the header to End, yielding every
// entry and unused region in order, as the kernel's walks do (an
// unused region by its length, an entry by EntSize of its name). The
// walk is bounded by the block: a slot that does not fit ends it,
// marked Bad.
func (d *DataBlock) Slots() iter.Seq[Slot] {
	return func(yield func(Slot) bool) {
		buf, end := d.Buf, d.End()
		be := binary.BigEndian
		for off := d.g.DataHdrSize(); off < end; {
			s := Slot{Off: off}
			if off+4 <= end && be.Uint16(buf[off:]) == FreeTag {
				s.Unused = true
				s.Len = int(be.Uint16(buf[off+2:]))
				switch {
				case s.Len == 0:
					s.Bad = "unused region of length 0"
				case off+s.Len > end:
					s.Bad = "unused region runs past the entry area"
				case s.Len >= 2:
					s.Tag = be.Uint16(buf[off+s.Len-2:])
				}
			} else {
				if off+9 > end {
					s.Bad = "entry header runs past the entry area"
				} else {
					s.Ino = be.Uint64(buf[off:])
					n := int(buf[off+8])
					s.Len = d.g.EntSize(n)
					if off+s.Len > end {
						s.Bad = "entry runs past the entry area"
					} else {
						s.Name = buf[off+9 : off+9+n]
						if d.g.Ftype {
							s.Ftype = buf[off+9+n]
						}
						s.Tag = be.Uint16(buf[off+s.Len-2:])
					}
				}
			}
			if s.Bad != "" {
				s.Len = end - off
				yield(s)
				return
			}
			if !yield(s) {
				return
			}
			off += s.Len
		}
	}
}

// Entry is a directory entry as a reader lists it.
type Entry struct {
	Name  []byte
	Ino   uint64
	Ftype uint8 // XFS_DIR3_FT_*; 0 (unknown) without the ftype feature
	// Cookie is the entry's dataptr: its byte offset in the directory
	// in 8-byte units (what leaf entries point at; readdir's d_off is
	// the next entry's). Shortform entries have the cookie they would
	// have in the block form.
	Cookie uint32
	Tag    uint16 // the tag as stored (data blocks: the entry's offset in its block)
}

// Entries yields the names of the data block, which is directory block
// db (its data-space block number; 0 for a block-form directory), in
// block order, "." and ".." included (they are real entries of the
// first data block). Unused regions are skipped; a walk that meets a
// slot that does not fit stops there. A directory of any size is
// listed one block at a time this way.
func (d *DataBlock) Entries(db uint32) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for s := range d.Slots() {
			if s.Unused || s.Bad != "" {
				continue
			}
			if !yield(Entry{Name: s.Name, Ino: s.Ino, Ftype: s.Ftype, Cookie: d.g.Dataptr(db, s.Off), Tag: s.Tag}) {
				return
			}
		}
	}
}

// EntryAt decodes the entry that starts at byte off of the block, as a
// lookup does with the offset a leaf entry's address gives; ok is false
// when no whole entry starts there (an unused region, or past the end).
func (d *DataBlock) EntryAt(db uint32, off int) (Entry, bool) {
	buf, end := d.Buf, d.End()
	if off < d.g.DataHdrSize() || off+9 > end || binary.BigEndian.Uint16(buf[off:]) == FreeTag {
		return Entry{}, false
	}
	n := int(buf[off+8])
	size := d.g.EntSize(n)
	if off+size > end {
		return Entry{}, false
	}
	e := Entry{Name: buf[off+9 : off+9+n], Ino: binary.BigEndian.Uint64(buf[off:]), Cookie: d.g.Dataptr(db, off), Tag: binary.BigEndian.Uint16(buf[off+size-2:])}
	if d.g.Ftype {
		e.Ftype = buf[off+9+n]
	}
	return e, true
}

// Unused returns the block's unused regions (offset, length): where
// freed entries were. What lies after each region's tag and length is
// left as it was, for a forensic reader.
func (d *DataBlock) Unused() []BestFree {
	var us []BestFree
	for s := range d.Slots() {
		if s.Unused && s.Bad == "" {
			us = append(us, BestFree{uint16(s.Off), uint16(s.Len)})
		}
	}
	return us
}

// prefixes are xfs_db's names for the header and the entries.
func (d *DataBlock) prefixes() (hdr, ents string) {
	if d.IsBlock() {
		return "bhdr", "bu"
	}
	return "dhdr", "du"
}

// Fields are the block as xfs_db prints it (`dblock N`, type dir3 or
// dir2): the header (bhdr/dhdr: hdr.magic ... hdr.owner on v5, magic on
// v4, bestfree[0-2].offset/length), every slot (bu/du[i]: inumber,
// namelen, name, filetype (v5), tag; or freetag, length, filetype (v5:
// xfs_db shows the unused region's tag's first byte there), tag) and,
// in the block form, the leaf entries (bleaf[i].hashval/address) and
// the tail (btail.count/stale).
func (d *DataBlock) Fields(crcOK bool) []xfsformat.Field {
	hp, up := d.prefixes()
	fs := d.Hdr.fields(hp, crcOK)
	for i, bf := range d.BestFree {
		p := hp + ".bestfree[" + itoa(i) + "]."
		fs = append(fs, hex(p+"offset", uint64(bf.Offset)), hex(p+"length", uint64(bf.Length)))
	}
	i := 0
	for s := range d.Slots() {
		fs = append(fs, d.slotFields(slotPrefix(up, i), s)...)
		i++
	}
	if !d.IsBlock() {
		return fs
	}
	for j := range d.NumLeafEntries() {
		e := d.LeafEntry(j)
		p := "bleaf[" + itoa(j) + "]."
		fs = append(fs, hex(p+"hashval", uint64(e.Hash)), hex(p+"address", uint64(e.Address)))
	}
	return append(fs, dec("btail.count", uint64(d.TailCount)), dec("btail.stale", uint64(d.TailStale)))
}

func (d *DataBlock) slotFields(p string, s Slot) []xfsformat.Field {
	buf, end := d.Buf, d.End()
	var fs []xfsformat.Field
	if s.Unused {
		fs = append(fs, hex(p+"freetag", FreeTag))
		if s.Off+4 <= end {
			fs = append(fs, hex(p+"length", uint64(binary.BigEndian.Uint16(buf[s.Off+2:]))))
		}
		if s.Bad == "" && s.Len >= 2 {
			if d.g.V5 {
				fs = append(fs, dec(p+"filetype", uint64(buf[s.Off+s.Len-2])))
			}
			fs = append(fs, hex(p+"tag", uint64(s.Tag)))
		}
		return fs
	}
	if s.Off+8 <= end {
		fs = append(fs, xfsformat.FieldIno64(p+"inumber", binary.BigEndian.Uint64(buf[s.Off:])))
	}
	if s.Off+9 <= end {
		fs = append(fs, dec(p+"namelen", uint64(buf[s.Off+8])))
	}
	if s.Bad == "" {
		fs = append(fs, xfsformat.FieldChars(p+"name", s.Name))
		if d.g.V5 {
			fs = append(fs, dec(p+"filetype", uint64(s.Ftype)))
		}
		fs = append(fs, hex(p+"tag", uint64(s.Tag)))
	}
	return fs
}

// LeafEntry is one entry of a leaf block or of a block-form
// directory's leaf: a name's hash and the dataptr of its data entry
// (Address, in 8-byte units; 0 for a stale entry, a freed name's).
type LeafEntry struct {
	Hash, Address uint32
}

// Stale reports whether the entry no longer points at a name.
func (e LeafEntry) Stale() bool { return e.Address == 0 }

func hashText(v uint32) string { return xfsformat.HexText(uint64(v)) }

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

package dir

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// Leaf is a directory leaf block: the single leaf of a leaf-form
// directory (LEAF1: XFS_DIR2_LEAF1_MAGIC, XFS_DIR3_LEAF1_MAGIC), which
// ends with the bests of every data block and a tail, or one of the
// leaves under a node-form directory's da-btree (LEAFN:
// XFS_DIR2_LEAFN_MAGIC, XFS_DIR3_LEAFN_MAGIC). Its entries map name
// hashes, in order, to the dataptrs of the data entries.
type Leaf struct {
	Info         da.BlkInfo
	Count, Stale uint16
	Pad          uint32 // v5 only
	Buf          []byte
}

// DecodeLeaf decodes a leaf block. It fails only on a buffer too short
// for the header; a wrong magic is left to Verify.
func DecodeLeaf(buf []byte) (*Leaf, error) {
	info, err := da.DecodeBlkInfo(buf)
	if err != nil {
		return nil, err
	}
	l := &Leaf{Info: info, Buf: buf}
	off := info.Size()
	if len(buf) < l.hdrSize() {
		return nil, short("dir leaf", l.hdrSize(), len(buf))
	}
	be := binary.BigEndian
	l.Count, l.Stale = be.Uint16(buf[off:]), be.Uint16(buf[off+2:])
	if info.V3 {
		l.Pad = be.Uint32(buf[off+4:])
	}
	return l, nil
}

func (l *Leaf) hdrSize() int {
	if l.Info.V3 {
		return 64
	}
	return 16
}

// IsLeaf1 reports whether the magic is a leaf-form directory's single
// leaf (with bests and a tail).
func (l *Leaf) IsLeaf1() bool {
	return l.Info.Magic == da.DirLeaf1Magic || l.Info.Magic == da.Dir3Leaf1Magic
}

// BestCount is a LEAF1 block's tail (bestcount: the number of data
// blocks) as stored; 0 for a LEAFN block or a buffer without room.
func (l *Leaf) BestCount() uint32 {
	if !l.IsLeaf1() || len(l.Buf) < l.hdrSize()+4 {
		return 0
	}
	return binary.BigEndian.Uint32(l.Buf[len(l.Buf)-4:])
}

// NumBests is BestCount clamped to the room between the header and the tail.
func (l *Leaf) NumBests() int {
	room := max(len(l.Buf)-4-l.hdrSize(), 0) / 2
	return int(min(uint64(l.BestCount()), uint64(room)))
}

// Best returns the longest free region of data block i
// (0 <= i < NumBests); NullDataOff for a data block that no longer exists.
func (l *Leaf) Best(i int) uint16 {
	return binary.BigEndian.Uint16(l.Buf[l.bestsOff()+2*i:])
}

func (l *Leaf) bestsOff() int { return len(l.Buf) - 4 - 2*l.NumBests() }

// NumEntries is Count clamped to the room in the block (before the
// bests, in a LEAF1 block).
func (l *Leaf) NumEntries() int {
	end := len(l.Buf)
	if l.IsLeaf1() {
		end = l.bestsOff()
	}
	return min(int(l.Count), max(end-l.hdrSize(), 0)/8)
}

// Entry returns leaf entry i (0 <= i < NumEntries).
func (l *Leaf) Entry(i int) LeafEntry {
	off := l.hdrSize() + 8*i
	return LeafEntry{binary.BigEndian.Uint32(l.Buf[off:]), binary.BigEndian.Uint32(l.Buf[off+4:])}
}

// Match returns the addresses (dataptrs) of the non-stale entries whose
// hash is hash, in order: the data entries a lookup of a name with that
// hash compares. Entries are in hash order, so it searches.
func (l *Leaf) Match(hash uint32) []uint32 { return match(l.NumEntries(), l.Entry, hash) }

// Match is Leaf.Match for a block-form directory's leaf entries.
func (d *DataBlock) Match(hash uint32) []uint32 { return match(d.NumLeafEntries(), d.LeafEntry, hash) }

func match(n int, at func(int) LeafEntry, hash uint32) []uint32 {
	var out []uint32
	for i := sort.Search(n, func(i int) bool { return at(i).Hash >= hash }); i < n; i++ {
		e := at(i)
		if e.Hash != hash {
			break
		}
		if !e.Stale() {
			out = append(out, e.Address)
		}
	}
	return out
}

// Fields are the leaf as xfs_db prints it (`dblock N`, type dir3 or
// dir2): lhdr.info.* (da.BlkInfo.Fields), lhdr.count, lhdr.stale, for a
// LEAF1 block lbests[0-N] (one line, I:V pairs), every entry
// (lents[i].hashval/address) and the tail (ltail.bestcount).
func (l *Leaf) Fields(crcOK bool) []xfsformat.Field {
	fs := append(l.Info.Fields("lhdr.info", crcOK), dec("lhdr.count", uint64(l.Count)), dec("lhdr.stale", uint64(l.Stale)))
	if l.IsLeaf1() && l.NumBests() > 0 {
		vals := make([]uint64, l.NumBests())
		for i := range vals {
			vals[i] = uint64(l.Best(i))
		}
		fs = append(fs, arrayField("lbests", vals, false))
	}
	for i := range l.NumEntries() {
		e := l.Entry(i)
		p := "lents[" + itoa(i) + "]."
		fs = append(fs, hex(p+"hashval", uint64(e.Hash)), hex(p+"address", uint64(e.Address)))
	}
	if l.IsLeaf1() {
		fs = append(fs, dec("ltail.bestcount", uint64(l.BestCount())))
	}
	return fs
}

// arrayField prints an array of 16-bit offsets on one line as xfs_db's
// fp_num does: "name[0-N] = 0:0x18 1:0x20" (a single element without
// its index, "name[0] = 0x18"); skipZero leaves out zero values
// (FTARG_SKIPZERO, the free index's bests).
func arrayField(name string, vals []uint64, skipZero bool) xfsformat.Field {
	var sb strings.Builder
	js := make([]any, len(vals))
	for i, v := range vals {
		js[i] = v
		if skipZero && v == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		if len(vals) > 1 {
			sb.WriteString(itoa(i) + ":")
		}
		sb.WriteString(xfsformat.HexText(v))
	}
	n := name + "[0"
	if len(vals) > 1 {
		n += "-" + itoa(len(vals)-1)
	}
	return xfsformat.Field{Name: n + "]", Text: sb.String(), JSON: js}
}

// Verify checks a leaf block as the kernel's xfs_dir3_leaf_verify and
// xfs_dir3_leaf_check_int do, with the owner check of a read
// (xfs_dir3_leaf_header_check): the magic for the filesystem's version
// (LEAF1 or LEAFN), the v5 identity (CRC, uuid, daddr, owner unless 0;
// not the LSN), a count within the block (and, in a LEAF1 block, clear
// of the bests), entries in hash order, a stale count that matches, and
// in a LEAF1 block every address inside the data blocks the bests list.
func (l *Leaf) Verify(g *Geometry, daddr, owner uint64) []error {
	st := "dir leaf"
	want := []uint64{da.Dir3Leaf1Magic, da.Dir3LeafNMagic}
	if !g.V5 {
		want = []uint64{da.DirLeaf1Magic, da.DirLeafNMagic}
	}
	if uint64(l.Info.Magic) != want[0] && uint64(l.Info.Magic) != want[1] {
		return []error{magicErr(st, magicField(l.Info.V3, "lhdr.info"), uint64(l.Info.Magic), want...)}
	}
	var errs []error
	if l.Info.V3 && !xfsformat.CRCOK(l.Buf, da.CRCOffset) {
		errs = append(errs, ferr(xfsformat.ErrCRC, st, "lhdr.info.crc", xfsformat.FieldCRC("", l.Info.CRC, false).Text, "CRC does not match the block's contents"))
	}
	for _, e := range l.Info.Verify(st, g.MetaUUID, daddr, owner) {
		errs = append(errs, renameField(e, "hdr.info.", "lhdr.info."))
	}
	if err := sizeErr(st, len(l.Buf), g.BlockSize); err != nil {
		errs = append(errs, err)
	}
	if int(l.Count) > g.LeafMaxEnts() {
		return append(errs, ferr(xfsformat.ErrRange, st, "lhdr.count", itoa(int(l.Count)), "more entries than a leaf holds (%d)", g.LeafMaxEnts()))
	}
	if l.IsLeaf1() && int64(l.hdrSize()+8*int(l.Count)) > int64(len(l.Buf)-4)-2*int64(l.BestCount()) {
		return append(errs, ferr(xfsformat.ErrRange, st, "lhdr.count", itoa(int(l.Count)), "entries overlap the bests (%d of them)", l.BestCount()))
	}
	stale := 0
	for i := range l.NumEntries() {
		e := l.Entry(i)
		if i > 0 && l.Entry(i-1).Hash > e.Hash {
			errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("lents[%d].hashval", i), hashText(e.Hash), "entries out of hash order"))
		}
		if e.Stale() {
			stale++
		}
		if db, _ := g.SplitDataptr(e.Address); l.IsLeaf1() && db >= l.BestCount() {
			errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("lents[%d].address", i), hashText(e.Address), "points into data block %d, past the %d the bests list", db, l.BestCount()))
		}
	}
	if stale != int(l.Stale) {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "lhdr.stale", itoa(int(l.Stale)), "%d entries are stale", stale))
	}
	return errs
}

func magicField(v3 bool, prefix string) string {
	if v3 {
		return prefix + ".hdr.magic"
	}
	return prefix + ".magic"
}

// renameField moves a da header error's field under xfs_db's prefix
// for this block type.
func renameField(err error, from, to string) error {
	if fe, ok := err.(*xfsformat.FormatError); ok && strings.HasPrefix(fe.Field, from) {
		c := *fe
		c.Field = to + strings.TrimPrefix(fe.Field, from)
		return &c
	}
	return err
}

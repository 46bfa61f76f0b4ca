package attr

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// Leaf header and entry sizes: xfs_attr_leaf_hdr (v4) is the 12-byte
// blkinfo, count, usedbytes, firstused, holes, pad1 and a 3-slot
// freemap; xfs_attr3_leaf_hdr (v5) has the 56-byte blkinfo and 4 bytes
// of padding after the freemap. Entries (xfs_attr_leaf_entry: hashval,
// nameidx, flags, pad2) follow the header.
const (
	LeafHdrSize  = da.BlkInfoSize + 20
	Leaf3HdrSize = da.BlkInfo3Size + 24
	LeafEntSize  = 8
	FreeMapSize  = 3 // XFS_ATTR_LEAF_MAPSIZE

	// NullOff is XFS_ATTR3_LEAF_NULLOFF: firstused of an empty leaf
	// whose block size (64 KiB) does not fit in 16 bits.
	NullOff = 0

	// nameAlign is XFS_ATTR_LEAF_NAME_ALIGN: names and values are packed
	// in 4-byte units.
	nameAlign = 4
	// Sizes of the name structures before the name bytes.
	localNameHdr  = 3 // xfs_attr_leaf_name_local: valuelen, namelen
	remoteNameHdr = 9 // xfs_attr_leaf_name_remote: valueblk, valuelen, namelen
)

// LocalEntSize is xfs_attr_leaf_entsize_local: the bytes a local
// name/value takes in a leaf, padded to 4.
func LocalEntSize(nameLen, valueLen int) int {
	return roundUp(localNameHdr+nameLen+valueLen, nameAlign)
}

// RemoteEntSize is xfs_attr_leaf_entsize_remote (11 + namelen, padded
// to 4: the historical struct size, kept on disk).
func RemoteEntSize(nameLen int) int { return roundUp(remoteNameHdr+2+nameLen, nameAlign) }

// LocalMax is xfs_attr_leaf_entsize_local_max: the largest local
// name/value a leaf of blockSize bytes takes; larger values go remote.
func LocalMax(blockSize int) int { return blockSize>>1 + blockSize>>2 }

func roundUp(v, to int) int { return (v + to - 1) / to * to }

// FreeMap is one xfs_attr_leaf_map: a free region of the leaf.
type FreeMap struct{ Base, Size uint16 }

// LeafHdr is an attr leaf block's header, v4 or v3 by its magic.
type LeafHdr struct {
	Info      da.BlkInfo
	Count     uint16 // entries
	UsedBytes uint16 // bytes of names and values
	FirstUsed uint16 // start of the name area, as stored (NullOff: the block size)
	Holes     uint8
	Pad1      uint8
	FreeMap   [FreeMapSize]FreeMap
	Pad2      uint32 // v3 only
}

// Size is the header's length on disk.
func (h *LeafHdr) Size() int {
	if h.Info.V3 {
		return Leaf3HdrSize
	}
	return LeafHdrSize
}

// FirstUsedBytes is firstused as the kernel reads it
// (xfs_attr3_leaf_firstused_from_disk): NullOff means the block size.
func (h *LeafHdr) FirstUsedBytes(blockSize int) int {
	if h.FirstUsed == NullOff {
		return blockSize
	}
	return int(h.FirstUsed)
}

// EncodeFirstUsed is firstused as the kernel stores it: a 64 KiB block's
// end does not fit in 16 bits and is written as NullOff.
func EncodeFirstUsed(n int) uint16 {
	if n > 0xffff {
		return NullOff
	}
	return uint16(n)
}

// DecodeLeafHdr reads a leaf header; v3 follows from the magic.
func DecodeLeafHdr(buf []byte) (LeafHdr, error) {
	var h LeafHdr
	info, err := da.DecodeBlkInfo(buf)
	if err != nil {
		return h, err
	}
	h.Info = info
	if len(buf) < h.Size() {
		return h, xfsformat.Errorf(xfsformat.ErrShort, "attr leaf", -1, -1, "", "", "need %d bytes, have %d", h.Size(), len(buf))
	}
	be := binary.BigEndian
	o := info.Size()
	h.Count, h.UsedBytes, h.FirstUsed = be.Uint16(buf[o:]), be.Uint16(buf[o+2:]), be.Uint16(buf[o+4:])
	h.Holes, h.Pad1 = buf[o+6], buf[o+7]
	for i := range h.FreeMap {
		h.FreeMap[i] = FreeMap{be.Uint16(buf[o+8+4*i:]), be.Uint16(buf[o+10+4*i:])}
	}
	if info.V3 {
		h.Pad2 = be.Uint32(buf[o+20:])
	}
	return h, nil
}

// Encode writes the header into dst (the CRC as it stands in Info;
// the caller updates it once the block is complete).
func (h *LeafHdr) Encode(dst []byte) error {
	if len(dst) < h.Size() {
		return xfsformat.Errorf(xfsformat.ErrShort, "attr leaf", -1, -1, "", "", "need %d bytes, have %d", h.Size(), len(dst))
	}
	if err := h.Info.Encode(dst); err != nil {
		return err
	}
	be := binary.BigEndian
	o := h.Info.Size()
	be.PutUint16(dst[o:], h.Count)
	be.PutUint16(dst[o+2:], h.UsedBytes)
	be.PutUint16(dst[o+4:], h.FirstUsed)
	dst[o+6], dst[o+7] = h.Holes, h.Pad1
	for i, m := range h.FreeMap {
		be.PutUint16(dst[o+8+4*i:], m.Base)
		be.PutUint16(dst[o+10+4*i:], m.Size)
	}
	if h.Info.V3 {
		be.PutUint32(dst[o+20:], h.Pad2)
	}
	return nil
}

// Leaf is an attr leaf block.
type Leaf struct {
	Hdr LeafHdr
	Buf []byte // the whole block
}

// DecodeLeaf decodes an attr leaf block. It fails only on a buffer too
// short for the header; the magic and the rest are Verify's to judge.
func DecodeLeaf(buf []byte) (*Leaf, error) {
	h, err := DecodeLeafHdr(buf)
	if err != nil {
		return nil, err
	}
	return &Leaf{Hdr: h, Buf: buf}, nil
}

// IsLeafMagic reports whether magic is an attr leaf's (v4 or v3).
func IsLeafMagic(magic uint16) bool { return magic == da.AttrLeafMagic || magic == da.Attr3LeafMagic }

// LeafEntry is one xfs_attr_leaf_entry.
type LeafEntry struct {
	Hash    uint32
	NameIdx uint16 // offset of the name structure in the block
	Flags   uint8
	Pad2    uint8
}

// MaxEntries is how many entries the block has room for.
func (l *Leaf) MaxEntries() int { return max(len(l.Buf)-l.Hdr.Size(), 0) / LeafEntSize }

// NumEntries is the header's count clamped to the room in the block.
func (l *Leaf) NumEntries() int { return min(int(l.Hdr.Count), l.MaxEntries()) }

// Entry returns entry i (0 <= i < NumEntries).
func (l *Leaf) Entry(i int) LeafEntry {
	b := l.Buf[l.Hdr.Size()+i*LeafEntSize:]
	return LeafEntry{binary.BigEndian.Uint32(b), binary.BigEndian.Uint16(b[4:]), b[6], b[7]}
}

// LeafName is the name structure an entry points at: local
// (xfs_attr_leaf_name_local: the value follows the name) or remote
// (xfs_attr_leaf_name_remote: the value is in blocks from ValueBlk on).
type LeafName struct {
	Local    bool
	ValueLen uint32 // 16 bits on disk when local
	NameLen  uint8
	ValueBlk uint32 // remote: first attr fork block of the value
	Name     []byte // aliases Leaf.Buf
	Value    []byte // local only
}

// Size is the padded length of the name structure
// (xfs_attr_leaf_entsize).
func (n *LeafName) Size() int {
	if n.Local {
		return LocalEntSize(int(n.NameLen), int(n.ValueLen))
	}
	return RemoteEntSize(int(n.NameLen))
}

// Name decodes the name structure of entry i. It fails when the
// structure, name or value does not lie inside the block.
func (l *Leaf) Name(i int) (LeafName, error) {
	e := l.Entry(i)
	off := int(e.NameIdx)
	var n LeafName
	bad := func(field string, v int, format string, args ...any) (LeafName, error) {
		return LeafName{}, xfsformat.Errorf(xfsformat.ErrRange, "attr leaf", -1, -1, fmt.Sprintf("nvlist[%d].%s", i, field), itoa(v), format, args...)
	}
	if e.Flags&FlagLocal != 0 {
		if off+localNameHdr > len(l.Buf) {
			return bad("valuelen", off, "entry %d's name at %d is outside the %d-byte block", i, off, len(l.Buf))
		}
		n = LeafName{Local: true, ValueLen: uint32(binary.BigEndian.Uint16(l.Buf[off:])), NameLen: l.Buf[off+2]}
		end := off + localNameHdr + int(n.NameLen) + int(n.ValueLen)
		if end > len(l.Buf) {
			return bad("valuelen", int(n.ValueLen), "entry %d's name and value (%d+%d bytes at %d) run past the block", i, n.NameLen, n.ValueLen, off)
		}
		nv := l.Buf[off+localNameHdr : end]
		n.Name, n.Value = nv[:n.NameLen:n.NameLen], nv[n.NameLen:]
		return n, nil
	}
	if off+remoteNameHdr > len(l.Buf) {
		return bad("valueblk", off, "entry %d's name at %d is outside the %d-byte block", i, off, len(l.Buf))
	}
	be := binary.BigEndian
	n = LeafName{ValueBlk: be.Uint32(l.Buf[off:]), ValueLen: be.Uint32(l.Buf[off+4:]), NameLen: l.Buf[off+8]}
	end := off + remoteNameHdr + int(n.NameLen)
	if end > len(l.Buf) {
		return bad("namelen", int(n.NameLen), "entry %d's name (%d bytes at %d) runs past the block", i, n.NameLen, off)
	}
	n.Name = l.Buf[off+remoteNameHdr : end : end]
	return n, nil
}

// UsedBytes is what usedbytes should be: the padded sizes of the
// entries' name structures (those that decode).
func (l *Leaf) UsedBytes() int {
	sum := 0
	for i := range l.NumEntries() {
		if n, err := l.Name(i); err == nil {
			sum += n.Size()
		}
	}
	return sum
}

// Verify checks the block as the kernel's xfs_attr3_leaf_verify (and
// the owner check of xfs_attr3_leaf_read) do: the magic for the
// filesystem's version; on v5 the identity (uuid, the block's own
// daddr, the owning inode when owner is not 0); firstused inside the
// block and past the header; the entry table below firstused; each
// entry's hash not below the previous one, its name structure inside
// the block after firstused with a name, and a remote entry's value
// block set unless incomplete; the freemap regions 4-byte aligned and
// inside the block. The block is the attr block (one fs block) whole:
// its length is the block size. daddr is where it was read from.
func (l *Leaf) Verify(v5 bool, uuid xfsformat.UUID, daddr, owner uint64) []error {
	const st = "attr leaf"
	want := uint16(da.AttrLeafMagic)
	if v5 {
		want = da.Attr3LeafMagic
	}
	if l.Hdr.Info.Magic != want {
		return []error{xfsformat.Errorf(xfsformat.ErrMagic, st, -1, -1, l.infoField("magic"), xfsformat.HexText(uint64(l.Hdr.Info.Magic)), "not an attr leaf block (want %#x)", want)}
	}
	errs := l.Hdr.Info.Verify(st, uuid, daddr, owner)
	bs := len(l.Buf)
	first := l.Hdr.FirstUsedBytes(bs)
	if first > bs {
		return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.firstused", itoa(int(l.Hdr.FirstUsed)), "past the %d-byte block", bs))
	}
	if first < l.Hdr.Size() {
		return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.firstused", itoa(int(l.Hdr.FirstUsed)), "inside the %d-byte header", l.Hdr.Size()))
	}
	if l.Hdr.Size()+int(l.Hdr.Count)*LeafEntSize > first {
		return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.count", itoa(int(l.Hdr.Count)), "the entry table runs into the names at %d", first))
	}
	var last uint32
	for i := range l.NumEntries() {
		if err := l.verifyEntry(i, first, &last); err != nil {
			return append(errs, err)
		}
	}
	for i, m := range l.Hdr.FreeMap {
		f := fmt.Sprintf("hdr.freemap[%d]", i)
		switch {
		case int(m.Base) > bs || m.Base&3 != 0:
			return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f+".base", itoa(int(m.Base)), "a free region starts 4-byte aligned inside the block"))
		case int(m.Size) > bs || m.Size&3 != 0:
			return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f+".size", itoa(int(m.Size)), "a free region is 4-byte aligned and at most the block"))
		case int(m.Base)+int(m.Size) > bs:
			return append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f+".size", itoa(int(m.Size)), "the region from %d runs past the block", m.Base))
		}
	}
	return errs
}

// verifyEntry is xfs_attr3_leaf_verify_entry.
func (l *Leaf) verifyEntry(i, first int, last *uint32) error {
	const st = "attr leaf"
	e := l.Entry(i)
	f := func(name string) string { return fmt.Sprintf("entries[%d].%s", i, name) }
	if e.Hash < *last {
		return xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("hashval"), xfsformat.HexText(uint64(e.Hash)), "below the previous entry's %#x", *last)
	}
	*last = e.Hash
	if int(e.NameIdx) < first || int(e.NameIdx) >= len(l.Buf) {
		return xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("nameidx"), itoa(int(e.NameIdx)), "outside the name area (%d to %d)", first, len(l.Buf))
	}
	n, err := l.Name(i)
	if err != nil {
		return err
	}
	nf := func(name string) string { return fmt.Sprintf("nvlist[%d].%s", i, name) }
	if n.NameLen == 0 {
		return xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, nf("namelen"), "0", "an attribute has a name")
	}
	if !n.Local && e.Flags&FlagIncomplete == 0 && n.ValueBlk == 0 {
		return xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, nf("valueblk"), "0", "a complete remote value has blocks")
	}
	if int(e.NameIdx)+n.Size() > len(l.Buf) {
		return xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, nf("namelen"), itoa(int(n.NameLen)), "the padded entry (%d bytes at %d) runs past the block", n.Size(), e.NameIdx)
	}
	return nil
}

// infoField names a blkinfo field as xfs_db does in an attr block
// ("hdr.info.hdr.magic" on v3, "hdr.info.magic" on v4).
func (l *Leaf) infoField(name string) string {
	if l.Hdr.Info.V3 {
		return "hdr.info.hdr." + name
	}
	return "hdr.info." + name
}

// Fields are the block as xfs_db prints it (`ablock N`, type attr3 or
// attr): the header (hdr.info..., hdr.count, usedbytes, firstused,
// holes, hdr.freemap[i].base/size), each entry as entries[i].hashval,
// nameidx, incomplete, root, secure, local (xfs_db prints these as the
// array "entries"), and each name structure as nvlist[i]: valuelen,
// namelen, name, value when local; valueblk, valuelen, namelen, name
// when remote (no name or value line when it is empty, as in xfs_db).
// An entry whose name structure does not decode has no nvlist fields.
func (l *Leaf) Fields(crcOK bool) []xfsformat.Field {
	h := &l.Hdr
	fs := infoFields(&h.Info, crcOK)
	fs = append(fs, fdec("hdr.count", uint64(h.Count)), fdec("hdr.usedbytes", uint64(h.UsedBytes)),
		fdec("hdr.firstused", uint64(h.FirstUsed)), fdec("hdr.holes", uint64(h.Holes)))
	for i, m := range h.FreeMap {
		p := fmt.Sprintf("hdr.freemap[%d].", i)
		fs = append(fs, fdec(p+"base", uint64(m.Base)), fdec(p+"size", uint64(m.Size)))
	}
	for i := range l.NumEntries() {
		e := l.Entry(i)
		p := fmt.Sprintf("entries[%d].", i)
		fs = append(fs, fhex(p+"hashval", uint64(e.Hash)), fdec(p+"nameidx", uint64(e.NameIdx)),
			fieldBit(p+"incomplete", e.Flags, FlagIncomplete), fieldBit(p+"root", e.Flags, FlagRoot),
			fieldBit(p+"secure", e.Flags, FlagSecure), fieldBit(p+"local", e.Flags, FlagLocal))
	}
	for i := range l.NumEntries() {
		n, err := l.Name(i)
		if err != nil {
			continue
		}
		p := fmt.Sprintf("nvlist[%d].", i)
		if n.Local {
			fs = append(fs, fdec(p+"valuelen", uint64(n.ValueLen)), fdec(p+"namelen", uint64(n.NameLen)))
			fs = appendChars(appendChars(fs, p+"name", n.Name), p+"value", n.Value)
		} else {
			fs = append(fs, fhex(p+"valueblk", uint64(n.ValueBlk)), fdec(p+"valuelen", uint64(n.ValueLen)),
				fdec(p+"namelen", uint64(n.NameLen)))
			fs = appendChars(fs, p+"name", n.Name)
		}
	}
	return fs
}

// NodeFields are a da node block of an attr fork as xfs_db prints it
// with type attr3 (or attr): hdr.info..., hdr.count, hdr.level, then
// btree[i].hashval and btree[i].before (the array "btree"). xfs_db's
// directory types call the same header "nhdr"; its attr types do not.
func NodeFields(n *da.Node, crcOK bool) []xfsformat.Field {
	fs := infoFields(&n.Info, crcOK)
	fs = append(fs, fdec("hdr.count", uint64(n.Count)), fdec("hdr.level", uint64(n.Level)))
	for i := range n.NumEntries() {
		e := n.Entry(i)
		p := fmt.Sprintf("btree[%d].", i)
		fs = append(fs, fhex(p+"hashval", uint64(e.Hash)), fdec(p+"before", uint64(e.Before)))
	}
	return fs
}

// infoFields is the blkinfo of an attr block as xfs_db prints it: as
// da.BlkInfo.Fields under "hdr.info", but without the v4 pad, which
// xfs_db's attr_blkinfo table skips (its directory tables print it).
func infoFields(info *da.BlkInfo, crcOK bool) []xfsformat.Field {
	fs := info.Fields("hdr.info", crcOK)
	if !info.V3 {
		fs = slices.DeleteFunc(fs, func(f xfsformat.Field) bool { return f.Name == "hdr.info.pad" })
	}
	return fs
}

// CheckSpace is xfs_repair's check of a leaf's name area beyond the
// kernel's verifier (process_leaf_attr_block): no two entries' names and
// values claim the same byte, and the header's usedbytes counts what
// they take. Call it on a block Verify passed.
func (l *Leaf) CheckSpace() []error {
	const st = "attr leaf"
	claimed := make([]uint64, (len(l.Buf)+63)/64)
	var used int
	var errs []error
	for i := range l.NumEntries() {
		n, err := l.Name(i)
		if err != nil {
			return append(errs, err)
		}
		start, size := int(l.Entry(i).NameIdx), n.Size()
		used += size
		for b := start; b < start+size && b < len(l.Buf); b++ {
			if claimed[b/64]&(1<<(b%64)) != 0 {
				errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, fmt.Sprintf("entries[%d].nameidx", i), itoa(start),
					"entry %d's name and value (%d bytes at %d) claim byte %d, which another entry uses", i, size, start, b))
				break
			}
			claimed[b/64] |= 1 << (b % 64)
		}
	}
	if used != int(l.Hdr.UsedBytes) && len(errs) == 0 {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.usedbytes", itoa(int(l.Hdr.UsedBytes)), "the entries take %d bytes", used))
	}
	return errs
}

package attr

import (
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Sizes of the shortform structures (xfs_attr_sf_hdr, xfs_attr_sf_entry
// before its name and value).
const (
	SFHdrSize      = 4
	SFEntryHdrSize = 3
	// sfMaxEntries bounds a shortform list: count is a byte.
	sfMaxEntries = 255
)

// Shortform is an attribute fork in local format: the header and the
// entries that follow it, packed (name then value, no padding).
type Shortform struct {
	TotSize uint16 // bytes of header and entries, as recorded
	Count   uint8  // entries, as recorded
	Pad     uint8
	Entries []SFEntry // the entries that fit in the fork, at most Count
	// Short is set when the fork ends inside entry len(Entries) (of
	// Count): the list was cut there.
	Short bool
	Buf   []byte // the whole attr fork
}

// SFEntry is one shortform entry.
type SFEntry struct {
	Off      int // offset of the entry in the fork
	NameLen  uint8
	ValueLen uint8
	Flags    uint8
	Name     []byte // aliases Shortform.Buf
	Value    []byte
}

// Size is the entry's length on disk (xfs_attr_sf_entsize).
func (e *SFEntry) Size() int { return SFEntryHdrSize + int(e.NameLen) + int(e.ValueLen) }

// DecodeShortform decodes a local attr fork; fork is the inode's attr
// fork area (its literal area from forkoff on). It fails only when the
// fork cannot hold the 4-byte header; entries are decoded while they
// fit in the fork (totsize is for Verify to judge).
func DecodeShortform(fork []byte) (*Shortform, error) {
	if len(fork) < SFHdrSize {
		return nil, xfsformat.Errorf(xfsformat.ErrShort, "attr shortform", -1, -1, "", "", "need %d bytes, have %d", SFHdrSize, len(fork))
	}
	sf := &Shortform{TotSize: binary.BigEndian.Uint16(fork), Count: fork[2], Pad: fork[3], Buf: fork}
	sf.Entries = make([]SFEntry, 0, min(int(sf.Count), (len(fork)-SFHdrSize)/SFEntryHdrSize))
	off := SFHdrSize
	for range int(sf.Count) {
		if off+SFEntryHdrSize > len(fork) {
			sf.Short = true
			break
		}
		e := SFEntry{Off: off, NameLen: fork[off], ValueLen: fork[off+1], Flags: fork[off+2]}
		if off+e.Size() > len(fork) {
			sf.Short = true
			break
		}
		nv := fork[off+SFEntryHdrSize : off+e.Size()]
		e.Name, e.Value = nv[:e.NameLen:e.NameLen], nv[e.NameLen:]
		sf.Entries = append(sf.Entries, e)
		off += e.Size()
	}
	return sf, nil
}

// End is the offset just past the last decoded entry.
func (sf *Shortform) End() int {
	if n := len(sf.Entries); n > 0 {
		return sf.Entries[n-1].Off + sf.Entries[n-1].Size()
	}
	return SFHdrSize
}

// Verify checks the fork as the kernel does when it reads an inode
// (xfs_iformat_local, then xfs_attr_shortform_verify over totsize
// bytes): totsize fits in the fork and holds the header; every entry
// has a name, fits, and carries only one namespace bit and no other
// flag; the entries end exactly at totsize.
func (sf *Shortform) Verify() []error {
	const st = "attr shortform"
	size := int(sf.TotSize)
	if size > len(sf.Buf) {
		return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.totsize", itoa(size), "larger than the attr fork (%d bytes)", len(sf.Buf))}
	}
	if size < SFHdrSize {
		return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.totsize", itoa(size), "smaller than the %d-byte header", SFHdrSize)}
	}
	off := SFHdrSize
	for i := range int(sf.Count) {
		f := func(name string) string { return fmt.Sprintf("list[%d].%s", i, name) }
		// The kernel wants the fixed part and at least one byte more
		// inside totsize.
		if off+SFEntryHdrSize >= size {
			return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.count", itoa(int(sf.Count)), "entry %d starts at %d, past totsize %d", i, off, size)}
		}
		e := SFEntry{NameLen: sf.Buf[off], ValueLen: sf.Buf[off+1], Flags: sf.Buf[off+2]}
		if e.NameLen == 0 {
			return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("namelen"), "0", "an attribute has a name")}
		}
		if off+e.Size() > size {
			return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("valuelen"), itoa(int(e.ValueLen)), "entry %d (%d bytes at %d) runs past totsize %d", i, e.Size(), off, size)}
		}
		if e.Flags&^NamespaceMask != 0 {
			return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("flags"), xfsformat.HexText(uint64(e.Flags)), "shortform entries carry only namespace flags")}
		}
		if !NamespaceOf(e.Flags).Valid() {
			return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, f("flags"), xfsformat.HexText(uint64(e.Flags)), "more than one namespace")}
		}
		off += e.Size()
	}
	if off != size {
		return []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.totsize", itoa(size), "the %d entries end at %d", sf.Count, off)}
	}
	return nil
}

// Fields are the fork as xfs_db prints it under prefix (the inode's
// "a.sfattr"): hdr.totsize, hdr.count, then list[i].namelen, valuelen,
// root, secure, name, value for each decoded entry (no name or
// value line when it is empty). (xfs_db 6.1 prints
// no parent bit.)
func (sf *Shortform) Fields(prefix string) []xfsformat.Field {
	fs := make([]xfsformat.Field, 0, 2+6*len(sf.Entries))
	fs = append(fs, fdec(prefix+".hdr.totsize", uint64(sf.TotSize)), fdec(prefix+".hdr.count", uint64(sf.Count)))
	for i, e := range sf.Entries {
		p := fmt.Sprintf("%s.list[%d].", prefix, i)
		fs = append(fs,
			fdec(p+"namelen", uint64(e.NameLen)), fdec(p+"valuelen", uint64(e.ValueLen)),
			fieldBit(p+"root", e.Flags, FlagRoot), fieldBit(p+"secure", e.Flags, FlagSecure))
		fs = appendChars(appendChars(fs, p+"name", e.Name), p+"value", e.Value)
	}
	return fs
}

// SFAttr is one attribute to encode in shortform.
type SFAttr struct {
	Flags uint8 // namespace bits only
	Name  []byte
	Value []byte
}

// EncodeShortform builds a shortform fork of the attributes, in the
// order given (the kernel appends; order carries no meaning). It fails
// when a name or value is longer than a byte can count or a name is
// empty. The result is totsize bytes; the caller places it in the fork.
func EncodeShortform(attrs []SFAttr) ([]byte, error) {
	if len(attrs) > sfMaxEntries {
		return nil, fmt.Errorf("attr: %d attributes do not fit a shortform count", len(attrs))
	}
	size := SFHdrSize
	for i, a := range attrs {
		if len(a.Name) == 0 || len(a.Name) > MaxNameLen || len(a.Value) > 255 {
			return nil, fmt.Errorf("attr: shortform entry %d: name of %d bytes, value of %d", i, len(a.Name), len(a.Value))
		}
		size += SFEntryHdrSize + len(a.Name) + len(a.Value)
	}
	if size > 0xffff {
		return nil, fmt.Errorf("attr: shortform of %d bytes", size)
	}
	buf := make([]byte, size)
	binary.BigEndian.PutUint16(buf, uint16(size))
	buf[2] = uint8(len(attrs))
	off := SFHdrSize
	for _, a := range attrs {
		buf[off], buf[off+1], buf[off+2] = uint8(len(a.Name)), uint8(len(a.Value)), a.Flags
		off += SFEntryHdrSize
		off += copy(buf[off:], a.Name)
		off += copy(buf[off:], a.Value)
	}
	return buf, nil
}

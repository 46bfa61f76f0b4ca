package dir

import (
	"encoding/binary"
	"fmt"
	"iter"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// sfHdrSize is xfs_dir2_sf_hdr with a 4-byte parent; an 8-byte parent
// (i8count != 0) adds 4.
const sfHdrSize = 6

// SFEntry is one entry of a shortform directory (xfs_dir2_sf_entry):
// namelen, the offset the entry would have in the block form, the name,
// the file type byte (with ftype), the inode number (4 or 8 bytes).
type SFEntry struct {
	Pos    int    // byte position of the entry in the fork
	Offset uint16 // xfs_dir2_sf_get_offset
	Name   []byte // aliases the fork
	Ftype  uint8
	Ino    uint64 // as stored; the kernel masks 8-byte numbers to 56 bits (Inumber)
}

// Inumber is the inode number as the kernel reads it
// (xfs_dir2_sf_get_ino): masked to 56 bits.
func (e SFEntry) Inumber() uint64 { return e.Ino & MaxInode }

// Shortform is a directory kept in the inode's data fork (local
// format). "." is the inode itself and ".." the header's parent; they
// have no entries.
type Shortform struct {
	Count, I8Count uint8
	Parent         uint64    // as stored (ParentIno masks it as the kernel does)
	Entries        []SFEntry // as many of Count as fit in the fork
	// Trunc, when not empty, says why fewer than Count entries were read.
	Trunc string
	Buf   []byte
	g     *Geometry
}

// inoSize is the width of inode numbers: 8 bytes when any needs them.
func (s *Shortform) inoSize() int {
	if s.I8Count != 0 {
		return 8
	}
	return 4
}

// ParentIno is the parent as the kernel reads it: masked to 56 bits.
func (s *Shortform) ParentIno() uint64 { return s.Parent & MaxInode }

func (s *Shortform) getIno(b []byte) uint64 {
	if s.I8Count != 0 {
		return binary.BigEndian.Uint64(b)
	}
	return uint64(binary.BigEndian.Uint32(b))
}

// SFEntSize is the bytes a shortform entry with a name of namelen bytes
// takes (xfs_dir2_sf_entsize): namelen, offset, name, file type (with
// ftype), inode number of inoSize (4 or 8) bytes.
func (g *Geometry) SFEntSize(namelen, inoSize int) int {
	n := 3 + namelen + inoSize
	if g.Ftype {
		n++
	}
	return n
}

// DecodeShortform decodes a shortform directory from the inode's data
// fork. fork should be the fork's bytes up to di_size (if_bytes), which
// Verify checks the entries fill exactly. Entries that do not fit end
// the list (Trunc says why); it fails only on a fork too short for the
// header.
func DecodeShortform(g *Geometry, fork []byte) (*Shortform, error) {
	s := &Shortform{Buf: fork, g: g}
	if len(fork) < 2 {
		return nil, short("dir sf", sfHdrSize, len(fork))
	}
	s.Count, s.I8Count = fork[0], fork[1]
	hs := sfHdrSize - 4 + s.inoSize()
	if len(fork) < hs {
		return nil, short("dir sf", hs, len(fork))
	}
	s.Parent = s.getIno(fork[2:])
	s.Entries = make([]SFEntry, 0, s.Count)
	pos := hs
	for i := range int(s.Count) {
		if pos+3 > len(fork) {
			s.Trunc = fmt.Sprintf("entry %d starts past the fork's %d bytes", i, len(fork))
			break
		}
		n := int(fork[pos])
		size := g.SFEntSize(n, s.inoSize())
		if pos+size > len(fork) {
			s.Trunc = fmt.Sprintf("entry %d (%d bytes) runs past the fork's %d bytes", i, size, len(fork))
			break
		}
		e := SFEntry{Pos: pos, Offset: binary.BigEndian.Uint16(fork[pos+1:]), Name: fork[pos+3 : pos+3+n]}
		at := pos + 3 + n
		if g.Ftype {
			e.Ftype = fork[at]
			at++
		}
		e.Ino = s.getIno(fork[at:])
		s.Entries = append(s.Entries, e)
		pos += size
	}
	return s, nil
}

// End is where the last entry read ends.
func (s *Shortform) End() int {
	if n := len(s.Entries); n > 0 {
		e := s.Entries[n-1]
		return e.Pos + s.g.SFEntSize(len(e.Name), s.inoSize())
	}
	return sfHdrSize - 4 + s.inoSize()
}

// Encode writes the directory in the shortform layout: the header with
// Count and I8Count as they are, the parent and every entry with inode
// numbers of the width I8Count gives. A decoded directory that verifies
// encodes to the bytes it came from.
func (s *Shortform) Encode() []byte {
	is := s.inoSize()
	n := sfHdrSize - 4 + is
	for _, e := range s.Entries {
		n += s.g.SFEntSize(len(e.Name), is)
	}
	b := make([]byte, n)
	b[0], b[1] = s.Count, s.I8Count
	putIno := func(dst []byte, v uint64) {
		if is == 8 {
			binary.BigEndian.PutUint64(dst, v)
		} else {
			binary.BigEndian.PutUint32(dst, uint32(v))
		}
	}
	putIno(b[2:], s.Parent)
	pos := 2 + is
	for _, e := range s.Entries {
		b[pos] = byte(len(e.Name))
		binary.BigEndian.PutUint16(b[pos+1:], e.Offset)
		at := pos + 3 + copy(b[pos+3:], e.Name)
		if s.g.Ftype {
			b[at] = e.Ftype
			at++
		}
		putIno(b[at:], e.Ino)
		pos += s.g.SFEntSize(len(e.Name), is)
	}
	return b
}

// All yields the directory as readdir lists it (and xfs_db's ls):
// "." (the directory itself, ino) and ".." (the parent) at the offsets
// they would have in a data block, then every entry, each with the
// cookie it would have in the block form.
func (s *Shortform) All(ino uint64) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		g := s.g
		if !yield(Entry{Name: []byte("."), Ino: ino, Ftype: FtDir, Cookie: g.Dataptr(0, g.DotOffset())}) ||
			!yield(Entry{Name: []byte(".."), Ino: s.ParentIno(), Ftype: FtDir, Cookie: g.Dataptr(0, g.DotDotOffset())}) {
			return
		}
		for _, e := range s.Entries {
			if !yield(Entry{Name: e.Name, Ino: e.Inumber(), Ftype: e.Ftype, Cookie: g.Dataptr(0, int(e.Offset)), Tag: e.Offset}) {
				return
			}
		}
	}
}

// ShortformPrefix is where xfs_db prints a shortform directory in an inode:
// u3 (v3 inodes) or u (older ones), then sfdir3 with ftype or sfdir2
// without.
func (g *Geometry) ShortformPrefix(inodeV3 bool) string {
	p := "u."
	if inodeV3 {
		p = "u3."
	}
	if g.Ftype {
		return p + "sfdir3"
	}
	return p + "sfdir2"
}

// Fields are the directory as xfs_db prints it in the inode, under
// prefix (ShortformPrefix): hdr.count, hdr.i8count, hdr.parent.i4 or .i8,
// and list[i].namelen, offset, name, inumber.i4 or .i8, filetype (with
// ftype). Inode numbers are printed as stored.
func (s *Shortform) Fields(prefix string) []xfsformat.Field {
	sfx := ".i4"
	if s.inoSize() == 8 {
		sfx = ".i8"
	}
	fs := []xfsformat.Field{
		dec(prefix+".hdr.count", uint64(s.Count)),
		dec(prefix+".hdr.i8count", uint64(s.I8Count)),
		dec(prefix+".hdr.parent"+sfx, s.Parent),
	}
	for i, e := range s.Entries {
		p := fmt.Sprintf("%s.list[%d].", prefix, i)
		fs = append(fs, dec(p+"namelen", uint64(len(e.Name))), hex(p+"offset", uint64(e.Offset)),
			xfsformat.FieldChars(p+"name", e.Name), dec(p+"inumber"+sfx, e.Ino))
		if s.g.Ftype {
			fs = append(fs, dec(p+"filetype", uint64(e.Ftype)))
		}
	}
	return fs
}

// Verify checks the directory as the kernel's xfs_dir2_sf_verify does:
// a header that fits, a valid parent, every entry inside the fork with
// a name, an offset above the previous entry's end (from the first
// offset after "." and ".."), a valid inode number and file type; an
// i8count that counts the inode numbers needing 8 bytes; no name twice
// (xfs_repair's rule: the kernel's lookup finds the first); entries that
// end exactly at the fork's end; and a directory small enough that it
// should not have been converted to the block form. (The kernel reads
// a file type past the last as unknown, so its check of the type cannot
// fire; xfs_repair's does, and so does this one.)
func (s *Shortform) Verify() []error {
	const st = "dir sf"
	g := s.g
	var errs []error
	add := func(kind error, field, value, format string, args ...any) {
		errs = append(errs, ferr(kind, st, field, value, format, args...))
	}
	i8 := 0
	if s.ParentIno() > 0xffffffff {
		i8++
	}
	if !g.ValidIno(s.ParentIno()) {
		add(xfsformat.ErrRange, "hdr.parent", u64(s.Parent), "parent is not a valid inode number")
	}
	offset := g.DataFirstOffset()
	seen := make(map[string]bool, len(s.Entries)) // bounded by the fork's size
	for i, e := range s.Entries {
		p := fmt.Sprintf("list[%d].", i)
		if len(e.Name) == 0 {
			add(xfsformat.ErrRange, p+"namelen", "0", "entry has an empty name")
		}
		if seen[string(e.Name)] {
			add(xfsformat.ErrRange, p+"name", strconv.Quote(string(e.Name)), "a second entry of this name")
		}
		seen[string(e.Name)] = true
		if int(e.Offset) < offset {
			add(xfsformat.ErrRange, p+"offset", hashText(uint32(e.Offset)), "offset below the end of the previous entry (%#x)", offset)
		}
		if e.Inumber() > 0xffffffff {
			i8++
		}
		if !g.ValidIno(e.Inumber()) {
			add(xfsformat.ErrRange, p+"inumber", u64(e.Ino), "entry %q names an invalid inode number", e.Name)
		}
		if g.Ftype && e.Ftype >= FtMax {
			add(xfsformat.ErrRange, p+"filetype", itoa(int(e.Ftype)), "entry %q has an unknown file type", e.Name)
		}
		offset = int(e.Offset) + g.EntSize(len(e.Name))
	}
	if s.Trunc != "" {
		add(xfsformat.ErrRange, "hdr.count", itoa(int(s.Count)), "%s", s.Trunc)
		return errs
	}
	if i8 != int(s.I8Count) {
		add(xfsformat.ErrRange, "hdr.i8count", itoa(int(s.I8Count)), "%d inode numbers need 8 bytes", i8)
	}
	if end := s.End(); end != len(s.Buf) {
		add(xfsformat.ErrRange, "hdr.count", itoa(int(s.Count)), "entries end at byte %d of a %d-byte fork", end, len(s.Buf))
	}
	if need := offset + (int(s.Count)+2)*8 + 8; need > g.BlockSize {
		add(xfsformat.ErrRange, "hdr.count", itoa(int(s.Count)), "needs %d bytes in the block form, more than a block (%d): should not be shortform", need, g.BlockSize)
	}
	return errs
}

func u64(v uint64) string { return xfsformat.FieldDec("", v).Text }

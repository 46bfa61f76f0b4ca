package dir

import (
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// Verify checks a data or block-form directory block as the kernel's
// read verifiers do (xfs_dir3_data_verify, xfs_dir3_block_verify, and
// __xfs_dir3_data_check under both): the magic for the filesystem's
// version (data or block: the caller knows which the block's place in
// the directory wants, IsBlock tells which it is), the v5 identity (CRC,
// uuid, own address daddr, and owner unless 0; not the LSN, which needs
// the log), then the bestfree table, every entry and unused region
// (tags, names, inode numbers, file types, the bestfree table naming
// the three largest regions), and in the block form the leaf entries
// (a hash-ordered entry for every name, the stale count, the tail's
// counts). The kernel stops at the first problem; Verify goes on where
// it safely can, so one block may give several errors. Besides the
// kernel's checks it reports unused regions whose length is not a
// multiple of 8 and file types past the last (xfs_repair's checks: the
// kernel's check of the type cannot fire, as it reads such a type as
// unknown) and a buffer that is not one directory block.
func (d *DataBlock) Verify(daddr, owner uint64) []error {
	st := "dir data"
	want := []uint64{Data3Magic, Block3Magic}
	if !d.g.V5 {
		want = []uint64{Data2Magic, Block2Magic}
	}
	if uint64(d.Hdr.Magic) != want[0] && uint64(d.Hdr.Magic) != want[1] {
		return []error{magicErr(st, d.fieldHdr("magic"), uint64(d.Hdr.Magic), want...)}
	}
	hp, up := d.prefixes()
	if d.IsBlock() {
		st = "dir block"
	}
	errs := d.Hdr.verify(st, hp, d.Buf, d.g, daddr, owner)
	if err := sizeErr(st, len(d.Buf), d.g.BlockSize); err != nil {
		errs = append(errs, err)
	}
	if d.IsBlock() {
		if maxLeaf := (len(d.Buf) - 8 - d.g.DataHdrSize()) / 8; int64(d.TailCount) >= int64(maxLeaf) {
			return append(errs, ferr(xfsformat.ErrRange, st, "btail.count", u32(d.TailCount), "more leaf entries than the block has room for (%d)", maxLeaf))
		}
	}
	bf := d.BestFree
	seen := 0
	for i, f := range bf {
		if f.Length == 0 {
			if f.Offset != 0 {
				errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("%s.bestfree[%d].offset", hp, i), hashText(uint32(f.Offset)), "an empty bestfree slot has an offset"))
			}
			seen |= 1 << i
		}
	}
	for i := 1; i < BestFreeCount; i++ {
		if bf[i-1].Length < bf[i].Length {
			errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("%s.bestfree[%d].length", hp, i), hashText(uint32(bf[i].Length)), "bestfree slots out of order: longer than slot %d", i-1))
		}
	}

	// The block's leaf entries by address and hash, to find each name's.
	var leaf map[uint64]bool
	if d.IsBlock() {
		leaf = make(map[uint64]bool, d.NumLeafEntries())
		for i := range d.NumLeafEntries() {
			e := d.LeafEntry(i)
			leaf[uint64(e.Address)<<32|uint64(e.Hash)] = true
		}
	}
	count, lastFree, i := 0, false, -1
	for s := range d.Slots() {
		i++
		p := slotPrefix(up, i)
		if s.Bad != "" {
			errs = append(errs, ferr(xfsformat.ErrRange, st, p+"length", itoa(s.Off), "%s (at offset %d)", s.Bad, s.Off))
			break
		}
		if s.Unused {
			if lastFree {
				errs = append(errs, ferr(xfsformat.ErrRange, st, p+"freetag", hashText(FreeTag), "two unused regions in a row (at offset %d)", s.Off))
			}
			lastFree = true
			if s.Len%Align != 0 {
				errs = append(errs, ferr(xfsformat.ErrRange, st, p+"length", hashText(uint32(s.Len)), "unused region at offset %d is not a multiple of %d bytes", s.Off, Align))
			}
			if int(s.Tag) != s.Off {
				errs = append(errs, ferr(xfsformat.ErrRange, st, p+"tag", hashText(uint32(s.Tag)), "tag is not the region's offset %#x", s.Off))
			}
			slot, msg := freeFind(bf, s)
			switch {
			case msg != "":
				errs = append(errs, ferr(xfsformat.ErrRange, st, hp+".bestfree", "", "%s (unused region at offset %#x, length %#x)", msg, s.Off, s.Len))
			case slot >= 0 && seen&(1<<slot) != 0:
				errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("%s.bestfree[%d].offset", hp, slot), hashText(uint32(bf[slot].Offset)), "bestfree slot names a region twice"))
			case slot >= 0:
				seen |= 1 << slot
			case s.Len > int(bf[2].Length):
				errs = append(errs, ferr(xfsformat.ErrRange, st, hp+".bestfree", "", "unused region at offset %#x (length %#x) is longer than a bestfree slot but not in the table", s.Off, s.Len))
			}
			continue
		}
		lastFree = false
		count++
		if len(s.Name) == 0 {
			errs = append(errs, ferr(xfsformat.ErrRange, st, p+"namelen", "0", "entry at offset %#x has an empty name", s.Off))
		}
		if !d.g.ValidIno(s.Ino) {
			errs = append(errs, ferr(xfsformat.ErrRange, st, p+"inumber", xfsformat.FieldIno64("", s.Ino).Text, "entry %q names an invalid inode number", s.Name))
		}
		if int(s.Tag) != s.Off {
			errs = append(errs, ferr(xfsformat.ErrRange, st, p+"tag", hashText(uint32(s.Tag)), "tag is not the entry's offset %#x", s.Off))
		}
		if d.g.Ftype && s.Ftype >= FtMax {
			errs = append(errs, ferr(xfsformat.ErrRange, st, p+"filetype", itoa(int(s.Ftype)), "entry %q has an unknown file type", s.Name))
		}
		if leaf != nil {
			addr, h := d.g.Dataptr(0, s.Off), da.DirHash(s.Name, d.g.ASCIICI)
			if !leaf[uint64(addr)<<32|uint64(h)] {
				errs = append(errs, ferr(xfsformat.ErrRange, st, p+"name", xfsformat.FieldChars("", s.Name).Text, "no leaf entry [%#x, %#x] for the name", h, addr))
			}
		}
	}
	if seen != 7 {
		for j := range BestFreeCount {
			if seen&(1<<j) == 0 {
				errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("%s.bestfree[%d].offset", hp, j), hashText(uint32(bf[j].Offset)), "bestfree slot names no unused region of that length"))
			}
		}
	}
	if !d.IsBlock() {
		return errs
	}
	stale := 0
	for j := range d.NumLeafEntries() {
		e := d.LeafEntry(j)
		if e.Stale() {
			stale++
		}
		if j > 0 && e.Hash < d.LeafEntry(j-1).Hash {
			errs = append(errs, ferr(xfsformat.ErrRange, st, fmt.Sprintf("bleaf[%d].hashval", j), hashText(e.Hash), "leaf entries out of hash order"))
		}
	}
	if int64(count) != int64(d.TailCount)-int64(d.TailStale) {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "btail.count", u32(d.TailCount), "%d names, but count - stale is %d", count, int64(d.TailCount)-int64(d.TailStale)))
	}
	if int64(stale) != int64(d.TailStale) {
		errs = append(errs, ferr(xfsformat.ErrRange, st, "btail.stale", u32(d.TailStale), "%d leaf entries are stale", stale))
	}
	return errs
}

// slotPrefix is xfs_db's name of slot i ("bu[3].").
func slotPrefix(up string, i int) string { return up + "[" + itoa(i) + "]." }

func (d *DataBlock) fieldHdr(name string) string {
	hp, _ := d.prefixes()
	if d.g.V5 {
		return hp + ".hdr." + name
	}
	return hp + "." + name
}

// freeFind is xfs_dir2_data_freefind_verify then xfs_dir2_data_freefind:
// the bestfree table must be ordered, its regions must not overlap the
// unused region s unless they are it exactly, and none may be shorter
// than s unless s is in the table. It returns the slot naming s (or -1)
// or why the table is inconsistent with s.
func freeFind(bf [BestFreeCount]BestFree, s Slot) (int, string) {
	off, length := s.Off, s.Len
	matched, seenZero := false, false
	for i, f := range bf {
		fo, fl := int(f.Offset), int(f.Length)
		if fo == 0 {
			if fl != 0 {
				return -1, fmt.Sprintf("bestfree slot %d has a length but no offset", i)
			}
			seenZero = true
			continue
		}
		if seenZero {
			return -1, fmt.Sprintf("bestfree slot %d is used after an empty one", i)
		}
		switch {
		case fo == off:
			matched = true
			if fl != length {
				return -1, fmt.Sprintf("bestfree slot %d has the region's offset but length %#x", i, fl)
			}
		case fo > off:
			if off+length > fo {
				return -1, fmt.Sprintf("bestfree slot %d overlaps the region", i)
			}
		default:
			if fo+fl > off {
				return -1, fmt.Sprintf("bestfree slot %d overlaps the region", i)
			}
		}
		if !matched && fl < length {
			return -1, fmt.Sprintf("bestfree slot %d (length %#x) is shorter than a region it does not name", i, fl)
		}
		if i > 0 && int(bf[i-1].Length) < fl {
			return -1, fmt.Sprintf("bestfree slot %d is longer than slot %d", i, i-1)
		}
	}
	if length < int(bf[BestFreeCount-1].Length) {
		return -1, ""
	}
	for i, f := range bf {
		if f.Offset == 0 {
			return -1, ""
		}
		if int(f.Offset) == off {
			return i, ""
		}
	}
	return -1, ""
}

package dir

import (
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestGeometry checks the sizes and address conversions against values
// worked out from xfs_da_format.h by hand.
func TestGeometry(t *testing.T) {
	g := synthGeo(t, 0) // v5, ftype, 4 KiB blocks
	if g.DataHdrSize() != 64 || g.LeafHdrSize() != 64 || g.FreeHdrSize() != 64 {
		t.Errorf("v5 header sizes %d %d %d", g.DataHdrSize(), g.LeafHdrSize(), g.FreeHdrSize())
	}
	// 8 (inumber) + 1 (namelen) + n + 1 (ftype) + 2 (tag), rounded to 8.
	for n, want := range map[int]int{1: 16, 2: 16, 4: 16, 5: 24, 13: 32, 255: 272} {
		if got := g.EntSize(n); got != want {
			t.Errorf("EntSize(%d) = %d, want %d", n, got, want)
		}
	}
	if g.DotOffset() != 64 || g.DotDotOffset() != 80 || g.DataFirstOffset() != 96 {
		t.Errorf(". at %d, .. at %d, first at %d", g.DotOffset(), g.DotDotOffset(), g.DataFirstOffset())
	}
	if g.LeafDA() != 8<<20 || g.FreeDA() != 16<<20 {
		t.Errorf("leaf space at %d, free space at %d", g.LeafDA(), g.FreeDA())
	}
	if g.LeafMaxEnts() != (4096-64)/8 || g.FreeMaxBests() != (4096-64)/2 {
		t.Errorf("leaf holds %d, free block %d", g.LeafMaxEnts(), g.FreeMaxBests())
	}
	v4 := synthGeo(t, 3) // v4, no ftype
	if v4.DataHdrSize() != 16 || v4.EntSize(4) != 16 || v4.EntSize(5) != 16 || v4.EntSize(6) != 24 || v4.DataFirstOffset() != 48 {
		t.Errorf("v4: header %d, EntSize(4,5,6) %d %d %d, first %d", v4.DataHdrSize(), v4.EntSize(4), v4.EntSize(5), v4.EntSize(6), v4.DataFirstOffset())
	}
	// 64 KiB directory blocks over 4 KiB filesystem blocks.
	g.DirBlkLog, g.BlockSize = 4, 65536
	for _, c := range []struct {
		db  uint32
		off int
	}{{0, 64}, {1, 0x40}, {3, 0xfff8}, {100, 8}} {
		p := g.Dataptr(c.db, c.off)
		if p != uint32((uint64(c.db)*65536+uint64(c.off))/8) {
			t.Errorf("Dataptr(%d, %#x) = %#x", c.db, c.off, p)
		}
		if db, off := g.SplitDataptr(p); db != c.db || off != c.off {
			t.Errorf("SplitDataptr(%#x) = %d, %#x; want %d, %#x", p, db, off, c.db, c.off)
		}
		if g.DAToDB(g.DBToDA(c.db)) != c.db || g.DBToDA(c.db) != c.db*16 {
			t.Errorf("DBToDA(%d) = %d", c.db, g.DBToDA(c.db))
		}
	}
	if FileTypeName(FtSymlink) != "symlink" || FileTypeName(200) != "unknown" {
		t.Error("FileTypeName")
	}
}

// TestShortformIno8: a shortform directory whose parent and one entry
// need 8-byte inode numbers (the test images have none: that takes a
// filesystem of terabytes) encodes, decodes and verifies; i8count must
// count them.
func TestShortformIno8(t *testing.T) {
	sb := &xfsformat.Superblock{
		MagicNum: xfsformat.SBMagic, VersionNum: 5, BlockSize: 4096, BlockLog: 12, SectLog: 9, SectSize: 512,
		AGBlocks: 1 << 29, AGBlkLog: 29, AGCount: 8, DBlocks: 8 << 29,
		InodeSize: 512, InoPBlock: 8, InoPBLog: 3, FeaturesIncompat: xfsformat.IncompatFtype,
	}
	g, err := NewGeometry(sb)
	if err != nil {
		t.Fatal(err)
	}
	big := uint64(5)<<32 | 200 // AG 5: past 32 bits
	s := &Shortform{Count: 3, I8Count: 2, Parent: big, g: g, Entries: []SFEntry{
		{Offset: 0x60, Name: []byte("a"), Ftype: FtDir, Ino: 300},
		{Offset: 0x70, Name: []byte("far"), Ftype: FtRegular, Ino: big + 1},
		{Offset: 0x80, Name: []byte("c\n?"), Ftype: FtSymlink, Ino: 301},
	}}
	b := s.Encode()
	if len(b) != 10+3*(3+1+8)+1+3+3 {
		t.Fatalf("encoded %d bytes", len(b))
	}
	d, err := DecodeShortform(g, b)
	if err != nil {
		t.Fatal(err)
	}
	if errs := d.Verify(); len(errs) != 0 {
		t.Fatalf("does not verify: %v", errs)
	}
	if d.ParentIno() != big || len(d.Entries) != 3 || d.Entries[1].Inumber() != big+1 || string(d.Entries[2].Name) != "c\n?" {
		t.Fatalf("decoded %+v", d)
	}
	all := slices.Collect(d.All(7))
	if len(all) != 5 || string(all[0].Name) != "." || all[0].Ino != 7 || all[1].Ino != big || all[3].Cookie != 0x70/8 {
		t.Errorf("All: %+v", all)
	}
	fs := d.Fields("u3.sfdir3")
	want := map[string]string{
		"u3.sfdir3.hdr.parent.i8":      "21474836680",
		"u3.sfdir3.list[1].inumber.i8": "21474836681",
		"u3.sfdir3.list[2].name":       `"c\d\?"`, // xfs_db prints a newline as \d (fp_charns)
		"u3.sfdir3.list[2].offset":     "0x80",
	}
	for _, f := range fs {
		if w, ok := want[f.Name]; ok && f.Text != w {
			t.Errorf("%s = %s, want %s", f.Name, f.Text, w)
		}
		delete(want, f.Name)
	}
	if len(want) != 0 {
		t.Errorf("no fields %v", want)
	}
	// The kernel masks 8-byte numbers to 56 bits: so does reading.
	b[2] = 0xff
	d, _ = DecodeShortform(g, b)
	if d.ParentIno() != big || len(d.Verify()) != 0 || !slices.Equal(d.Encode(), b) {
		t.Errorf("a parent with its top byte set: %#x, %v", d.ParentIno(), d.Verify())
	}
	s.I8Count = 1
	d, _ = DecodeShortform(g, s.Encode())
	if !hasErr(d.Verify(), "hdr.i8count", xfsformat.ErrRange) {
		t.Errorf("i8count 1 with 2 large numbers: %v", d.Verify())
	}
}

// TestSlotsBounded: walks over a block whose counts and lengths are
// damaged end inside the block, marking where they stopped.
func TestSlotsBounded(t *testing.T) {
	g := synthGeo(t, 0)
	b := make([]byte, 4096)
	d := &DataBlock{Hdr: BlkHdr{Magic: Data3Magic, V3: true}, g: g}
	if err := d.EncodeHeader(b); err != nil {
		t.Fatal(err)
	}
	// An unused region of length 0 at the first entry would never end.
	be.PutUint16(b[64:], FreeTag)
	d, _ = DecodeData(g, b)
	slots := slices.Collect(d.Slots())
	if len(slots) != 1 || slots[0].Bad == "" || slots[0].Len != 4096-64 {
		t.Errorf("length 0: %+v", slots)
	}
	// A name that runs past the block.
	be.PutUint16(b[64:], 0)
	b[64+8] = 200
	be.PutUint16(b[4096-8:], FreeTag)
	be.PutUint16(b[4096-6:], 8)
	d, _ = DecodeData(g, b)
	n := 0
	for s := range d.Slots() {
		n++
		if s.Off+s.Len > len(b) {
			t.Fatalf("slot %+v runs past the block", s)
		}
	}
	if n == 0 || len(d.Verify(0, 0)) == 0 {
		t.Error("a damaged block verifies")
	}
	// A block's leaf count past the block is clamped.
	be.PutUint32(b, Block3Magic)
	be.PutUint32(b[4096-8:], 1<<31)
	d, _ = DecodeData(g, b)
	if d.NumLeafEntries() != (4096-8-64)/8 || d.End() != 64 {
		t.Errorf("leaf count 2^31: %d entries, entries end at %d", d.NumLeafEntries(), d.End())
	}
	if !hasErr(d.Verify(0, 0), "btail.count", xfsformat.ErrRange) {
		t.Errorf("leaf count 2^31 verifies: %v", d.Verify(0, 0))
	}
}

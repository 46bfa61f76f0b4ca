package xfsformat

import (
	"errors"
	"strconv"
	"testing"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

func TestBmbtRecRoundTrip(t *testing.T) {
	for _, r := range []BmbtRec{
		{},
		{StartOff: 1, StartBlock: 2, BlockCount: 3},
		{StartOff: MaxFileOff, StartBlock: 1<<52 - 1, BlockCount: MaxBmbtExtLen, Unwritten: true},
		{StartOff: 0x2aaaaaaaaaaaaa, StartBlock: 0x5555555555555, BlockCount: 0x155555},
		{StartOff: 1 << 53, StartBlock: 1 << 43, BlockCount: 1 << 20},
	} {
		var b [BmbtRecLen]byte
		r.Encode(b[:])
		if got := DecodeBmbtRec(b[:]); got != r {
			t.Errorf("round trip of %+v gave %+v (% x)", r, got, b)
		}
	}
	// The layout, bit by bit: flag at bit 127, startoff 73-126, startblock
	// 21-72, blockcount 0-20.
	var b [BmbtRecLen]byte
	BmbtRec{StartOff: 1, StartBlock: 1, BlockCount: 1, Unwritten: true}.Encode(b[:])
	if want := [16]byte{0x80, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0x20, 0, 0x01}; b != want {
		t.Errorf("encoding % x, want % x", b, want)
	}
}

func TestCheckFSBExtent(t *testing.T) {
	g := loadFixture(t, "allfeatures").geo
	last := g.AGCount - 1
	for _, tc := range []struct {
		fsb, n uint64
		ok     bool
	}{
		{g.FSB(0, g.HeaderBlocks()), 1, true},
		{g.FSB(0, 0), 1, false}, // AG headers
		{g.FSB(1, g.AGBlocks-1), 1, true},
		{g.FSB(1, g.AGBlocks-1), 2, false}, // crosses into the next AG
		{g.FSB(last, g.AGLength(last)), 1, false},
		{g.FSB(g.AGCount, 10), 1, false},
		{g.FSB(0, 100), 0, false},
		{^uint64(0), 1, false},
	} {
		if _, _, ok := CheckFSBExtent(g, tc.fsb, tc.n); ok != tc.ok {
			t.Errorf("CheckFSBExtent(%d, %d) = %v, want %v", tc.fsb, tc.n, ok, tc.ok)
		}
	}
}

func TestBmbtMaxLevels(t *testing.T) {
	for _, bs := range []uint32{1024, 4096, 65536} {
		g := &Geometry{CRC: true, BlockSize: bs}
		d, a, dl := BmbtMaxLevels(g, false, false), BmbtMaxLevels(g, true, false), BmbtMaxLevels(g, false, true)
		if a > d || d > dl || a < 2 || dl > 12 {
			t.Errorf("block size %d: data %d, attr %d, data with nrext64 %d", bs, d, a, dl)
		}
	}
}

// synthBmbtLeaf builds a valid bmbt leaf at fsb for owner.
func synthBmbtLeaf(g *Geometry, fsb, owner uint64, recs []BmbtRec) []byte {
	b := make([]byte, g.BlockSize)
	h := BmbtHeader{Magic: BmapCRCMagic, NumRecs: uint16(len(recs)), LeftSib: NullFSBlock, RightSib: NullFSBlock,
		Blkno: g.FSBToDaddr(fsb), UUID: g.MetaUUID, Owner: owner}
	h.Encode(b)
	for i, r := range recs {
		r.Encode(b[BmbtHeaderSize+i*BmbtRecLen:])
	}
	UpdateCRC(b, BmbtCRCOffset())
	return b
}

func TestVerifyBmbtBlockSynthetic(t *testing.T) {
	g := loadFixture(t, "allfeatures").geo
	fsb, owner := g.FSB(1, 77), uint64(4242)
	good := synthBmbtLeaf(g, fsb, owner, []BmbtRec{{StartOff: 5, StartBlock: 900, BlockCount: 3}})
	blk, err := NewBmbtBlock(good)
	if err != nil {
		t.Fatal(err)
	}
	if errs := VerifyBmbtBlock(blk, g, fsb, owner); len(errs) != 0 {
		t.Fatalf("valid block: %v", errs)
	}
	if blk.MaxRecs() != (int(g.BlockSize)-BmbtHeaderSize)/16 || blk.NumRecs() != 1 || blk.Rec(0).StartBlock != 900 {
		t.Fatalf("decoded %+v", blk.Hdr)
	}
	for _, tc := range []struct {
		name       string
		mutate     func(h *BmbtHeader)
		fsb, owner uint64
		kind       error
		field      string
	}{
		{"magic", func(h *BmbtHeader) { h.Magic = 0x424d4150 }, fsb, owner, ErrMagic, "magic"},
		{"crc", nil, fsb, owner, ErrCRC, "crc"},
		{"blkno", nil, fsb + 1, owner, ErrIdentity, "bno"},
		{"owner", nil, fsb, owner + 1, ErrIdentity, "owner"},
		{"uuid", func(h *BmbtHeader) { h.UUID[0] ^= 1 }, fsb, owner, ErrIdentity, "uuid"},
		{"leftsib self", func(h *BmbtHeader) { h.LeftSib = fsb }, fsb, owner, ErrRange, "leftsib"},
		{"rightsib outside", func(h *BmbtHeader) { h.RightSib = g.FSB(g.AGCount, 1) }, fsb, owner, ErrRange, "rightsib"},
		{"numrecs", func(h *BmbtHeader) { h.NumRecs = 1000 }, fsb, owner, ErrRange, "numrecs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			h := blk.Hdr
			if tc.mutate != nil {
				tc.mutate(&h)
			}
			h.Encode(b)
			if tc.kind == ErrCRC {
				b[BmbtHeaderSize] ^= 1
			} else {
				UpdateCRC(b, BmbtCRCOffset())
			}
			bad, _ := NewBmbtBlock(b)
			for _, e := range VerifyBmbtBlock(bad, g, tc.fsb, tc.owner) {
				var fe *FormatError
				if errors.As(e, &fe) && errors.Is(e, tc.kind) && fe.Field == tc.field {
					return
				}
			}
			t.Errorf("want a %v on %s", tc.kind, tc.field)
		})
	}
	// A damaged numrecs cannot index past the block.
	h := blk.Hdr
	h.NumRecs = 65535
	b := append([]byte(nil), good...)
	h.Encode(b)
	bad, _ := NewBmbtBlock(b)
	for i := range bad.NumRecs() {
		_ = bad.Rec(i)
	}
}

// TestBmbtBlockOracle compares the punched file's bmbt blocks (a node root
// in the inode and nine leaves) field by field with xfs_db.
func TestBmbtBlockOracle(t *testing.T) {
	im := openTestImage(t, "allfeatures")
	o, err := xfsdb.Print(im.path, "path /ag0/punched")
	if err != nil {
		t.Fatal(err)
	}
	ino := dbUint(t, o, "v3.inumber")
	in, _ := DecodeInode(im.inode(t, ino))
	root, err := NewBmbtRoot(in.Fork(false))
	if err != nil || in.Format != FmtBtree {
		t.Fatalf("punched file is not btree format (%d): %v", in.Format, err)
	}
	var batches [][]string
	var fsbs []uint64
	for i := range root.NumRecs() {
		fsb := root.Ptr(i)
		fsbs = append(fsbs, fsb)
		batches = append(batches, []string{"fsblock " + strconv.FormatUint(fsb, 10), "type bmapbtd"})
	}
	objs, err := xfsdb.PrintMany(im.path, batches)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs {
		fsb := fsbs[i]
		blk, err := NewBmbtBlock(im.block(t, fsb))
		if err != nil {
			t.Fatal(err)
		}
		if errs := VerifyBmbtBlock(blk, im.geo, fsb, ino); len(errs) != 0 {
			t.Errorf("block %d: %v", fsb, errs)
		}
		h := blk.Hdr
		for _, f := range []struct {
			name string
			v    uint64
		}{
			{"magic", uint64(h.Magic)}, {"level", uint64(h.Level)}, {"numrecs", uint64(h.NumRecs)},
			{"leftsib", h.LeftSib}, {"rightsib", h.RightSib}, {"bno", h.Blkno}, {"lsn", h.LSN}, {"owner", h.Owner},
		} {
			v := o.Value(f.name)
			if xfsdb.IsNull(v) {
				if f.v != NullFSBlock {
					t.Errorf("block %d %s = %d, xfs_db says null", fsb, f.name, f.v)
				}
				continue
			}
			if want, err := xfsdb.ParseUint(v); err != nil || want != f.v {
				t.Errorf("block %d %s = %d, xfs_db says %q", fsb, f.name, f.v, v)
			}
		}
		if _, verdict := xfsdb.CRCVerdict(o.Value("crc")); verdict != "correct" || !blk.CRCOK() {
			t.Errorf("block %d crc ok %v, xfs_db %s", fsb, blk.CRCOK(), o.Value("crc"))
		}
		recs := o.Array("recs")
		if recs == nil || recs.Len() != blk.NumRecs() {
			t.Fatalf("block %d: %d recs, xfs_db %+v", fsb, blk.NumRecs(), recs)
		}
		for j := range blk.NumRecs() {
			r := blk.Rec(j)
			got := []uint64{r.StartOff, r.StartBlock, uint64(r.BlockCount), b2u(r.Unwritten)}
			for c, col := range []string{"startoff", "startblock", "blockcount", "extentflag"} {
				v, _ := recs.Get(recs.First+j, col)
				if want, err := xfsdb.ParseUint(v); err != nil || want != got[c] {
					t.Fatalf("block %d rec %d %s = %d, xfs_db %q", fsb, j, col, got[c], v)
				}
			}
		}
	}
}

func FuzzBmbtBlock(f *testing.F) {
	g := loadFixture(f, "allfeatures").geo
	f.Add(synthBmbtLeaf(g, g.FSB(0, 50), 128, []BmbtRec{{StartOff: 1, StartBlock: 60, BlockCount: 2}}), uint64(50), uint64(128))
	f.Fuzz(func(t *testing.T, b []byte, fsb, owner uint64) {
		for _, root := range []bool{false, true} {
			var blk *BmbtBlock
			var err error
			if root {
				blk, err = NewBmbtRoot(b)
			} else {
				blk, err = NewBmbtBlock(b)
			}
			if err != nil {
				continue
			}
			if !root {
				_ = VerifyBmbtBlock(blk, g, fsb, owner)
			}
			for i := range blk.NumRecs() {
				if blk.IsLeaf() {
					_ = blk.Rec(i)
				} else {
					_, _ = blk.Key(i), blk.Ptr(i)
				}
			}
		}
	})
}

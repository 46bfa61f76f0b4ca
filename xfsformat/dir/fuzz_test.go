package dir

import (
	"os"
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// synthGeo is a made-up filesystem's directory geometry: 4 KiB blocks,
// dirblklog 0, 16 AGs of 2^20 blocks, v5 or v4, with or without ftype
// and ASCII-CI as flags say (bit 0 v4, bit 1 no ftype, bit 2 CI).
func synthGeo(t testing.TB, flags uint8) *Geometry {
	sb := &xfsformat.Superblock{
		MagicNum: xfsformat.SBMagic, BlockSize: 4096, BlockLog: 12, SectLog: 9, SectSize: 512,
		AGBlocks: 1 << 20, AGBlkLog: 20, AGCount: 16, DBlocks: 16 << 20,
		InodeSize: 512, InoPBlock: 8, InoPBLog: 3, RootIno: 128,
		UUID: xfsformat.UUID{1, 2, 3},
	}
	if flags&1 == 0 {
		sb.VersionNum = 5 | sbVersionAlign
		if flags&2 == 0 {
			sb.FeaturesIncompat = xfsformat.IncompatFtype
		}
	} else {
		sb.VersionNum = 4 | sbVersionDirV2 | sbVersionAlign
		if flags&2 == 0 {
			sb.Features2 = sbVersion2Ftype
		}
	}
	if flags&4 != 0 {
		sb.VersionNum |= sbVersionBorg
	}
	g, err := NewGeometry(sb)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// realBlocks are directory blocks of the allfeatures image, by kind
// ("data", "leaf", "node", "free"), and its shortform directories'
// forks, to seed the fuzzers; nothing when the image cannot be had.
func realBlocks(f *testing.F) map[string][][]byte {
	out := map[string][][]byte{}
	if _, err := testimg.LookTool("xfs_db"); err != nil || os.Geteuid() != 0 {
		return out
	}
	im := openImage(f, testimg.Image(f, "allfeatures"))
	g := im.g
	for _, p := range []string{"/ag0/tree", "/spread0/sub", "/ag0/bigdir"} {
		d := findDir(f, im, p)
		if d.sf != nil {
			out["sf"] = append(out["sf"], d.sf.Buf)
			continue
		}
		for i, dablk := range d.r.blocks() {
			buf, err := d.r.read(dablk)
			if err != nil {
				f.Fatal(err)
			}
			switch {
			case dablk < g.LeafDA() && i < 3:
				out["data"] = append(out["data"], buf)
			case dablk >= g.FreeDA():
				out["free"] = append(out["free"], buf)
			case dablk >= g.LeafDA() && da.IsNodeMagic(uint16(buf[8])<<8|uint16(buf[9])):
				out["node"] = append(out["node"], buf)
			case dablk >= g.LeafDA() && len(out["leaf"]) < 2:
				out["leaf"] = append(out["leaf"], buf)
			}
		}
	}
	return out
}

func FuzzShortform(f *testing.F) {
	g := synthGeo(f, 0)
	s := &Shortform{Count: 2, Parent: 128, g: g, Entries: []SFEntry{
		{Offset: 0x60, Name: []byte("a"), Ftype: FtDir, Ino: 131},
		{Offset: 0x70, Name: []byte("bb"), Ftype: FtRegular, Ino: 132},
	}}
	f.Add(s.Encode(), uint8(0))
	s.I8Count, s.Entries[1].Ino = 1, 3<<23|133
	f.Add(s.Encode(), uint8(0))
	for _, b := range realBlocks(f)["sf"] {
		f.Add(b, uint8(0))
	}
	f.Fuzz(func(t *testing.T, fork []byte, flags uint8) {
		g := fuzzGeo(t, fork, flags)
		if g == nil {
			return
		}
		s, err := DecodeShortform(g, fork)
		if err != nil {
			return
		}
		_ = s.Fields(g.ShortformPrefix(true))
		_ = s.Verify()
		_ = slices.Collect(s.All(128))
		if s.Trunc == "" && s.End() == len(fork) && !slices.Equal(s.Encode(), fork) {
			t.Fatalf("a shortform directory read whole does not encode to its bytes")
		}
	})
}

// fuzzGeo is synthGeo for a fuzzed block, nil for a buffer larger than
// any directory block (not worth the fuzzer's time).
func fuzzGeo(t *testing.T, buf []byte, flags uint8) *Geometry {
	if len(buf) > MaxBlockSize {
		return nil
	}
	return synthGeo(t, flags)
}

func FuzzData(f *testing.F) {
	g := synthGeo(f, 0)
	b := make([]byte, 4096)
	d := &DataBlock{Hdr: BlkHdr{Magic: Block3Magic, V3: true}, g: g}
	_ = d.EncodeHeader(b)
	f.Add(b, uint8(0), uint16(64))
	for _, b := range realBlocks(f)["data"] {
		f.Add(b, uint8(0), uint16(64))
	}
	f.Fuzz(func(t *testing.T, buf []byte, flags uint8, off uint16) {
		g := fuzzGeo(t, buf, flags)
		if g == nil {
			return
		}
		d, err := DecodeData(g, buf)
		if err != nil {
			return
		}
		_ = d.Fields(false)
		_ = d.Verify(0, 0)
		_ = d.Unused()
		n := 0
		for e := range d.Entries(1) {
			_ = e
			n++
		}
		if n > len(buf)/16 {
			t.Fatalf("%d entries in %d bytes", n, len(buf))
		}
		_, _ = d.EntryAt(0, int(off))
		_ = d.Match(0x2e)
		enc := make([]byte, len(buf))
		if err := d.EncodeHeader(enc); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzLeaf(f *testing.F) {
	b := make([]byte, 4096)
	info := da.BlkInfo{Magic: da.Dir3Leaf1Magic, V3: true}
	_ = info.Encode(b)
	f.Add(b, uint8(0))
	for _, b := range realBlocks(f)["leaf"] {
		f.Add(b, uint8(0))
	}
	f.Fuzz(func(t *testing.T, buf []byte, flags uint8) {
		g := fuzzGeo(t, buf, flags)
		if g == nil {
			return
		}
		l, err := DecodeLeaf(buf)
		if err != nil {
			return
		}
		_ = l.Fields(false)
		_ = l.Verify(g, 0, 0)
		_ = l.Match(0x2e)
	})
}

func FuzzNodeFree(f *testing.F) {
	g := synthGeo(f, 0)
	b := make([]byte, 4096)
	(&BlkHdr{Magic: Free3Magic, V3: true}).encode(b)
	f.Add(b, uint8(0), g.FreeDA())
	rb := realBlocks(f)
	for _, b := range append(rb["free"], rb["node"]...) {
		f.Add(b, uint8(0), g.FreeDA())
	}
	f.Fuzz(func(t *testing.T, buf []byte, flags uint8, dablk uint32) {
		g := fuzzGeo(t, buf, flags)
		if g == nil {
			return
		}
		if fr, err := DecodeFree(g, buf); err == nil {
			_ = fr.Fields(false)
			_ = fr.Verify(dablk, 0, 0)
		}
		if n, err := da.DecodeNode(buf); err == nil {
			_ = NodeFields(n, false)
		}
	})
}

// FuzzLookup: a directory made of fuzzed blocks (the input cut into
// 4 KiB blocks, block dablk being piece dablk modulo their number) must
// not make Lookup panic or loop.
func FuzzLookup(f *testing.F) {
	rb := realBlocks(f)
	var seed []byte
	for _, b := range append(append(rb["data"], rb["node"]...), rb["leaf"]...) {
		seed = append(seed, b...)
	}
	f.Add(seed, []byte("a-rather-long-directory-entry-name-00007"))
	f.Add(make([]byte, 4096), []byte("x"))
	f.Fuzz(func(t *testing.T, blocks, name []byte) {
		if len(blocks) > 64*4096 {
			return
		}
		g := synthGeo(t, 0)
		n := len(blocks) / 4096
		if n == 0 {
			return
		}
		read := func(dablk uint32) ([]byte, error) {
			i := int(dablk % uint32(n))
			return blocks[i*4096 : (i+1)*4096], nil
		}
		_, _ = Lookup(g, read, name)
		// And the whole-directory check over the same blocks, laid at
		// the first offsets of each directory space.
		var at []uint32
		for i := range min(n, 8) {
			at = append(at, uint32(i), g.LeafDA()+uint32(i), g.FreeDA()+uint32(i))
		}
		slices.Sort(at)
		o := CheckOpts{Owner: 128, Daddr: func(uint32) uint64 { return 0 }}
		_ = CheckBlocks(g, at, read, o, func(error) {}, func(Entry) error { return nil })
	})
}

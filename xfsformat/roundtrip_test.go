package xfsformat

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestHeaderRoundTrip decodes every real header sector, re-encodes it
// into a zeroed sector and expects the same bytes, a correct CRC, and no
// verifier complaint.
func TestHeaderRoundTrip(t *testing.T) {
	for _, prof := range fixtureProfiles {
		t.Run(prof, func(t *testing.T) {
			f := loadFixture(t, prof)
			for ag := uint32(0); ag < 2; ag++ {
				dir := filepath.Join(f.dir, fmt.Sprintf("ag%d", ag))
				for _, name := range []string{"sb", "agf", "agi", "agfl"} {
					buf := readFile(t, filepath.Join(dir, name+".bin"))
					if len(buf) != int(f.geo.SectSize) {
						t.Fatalf("%s ag%d: sector is %d bytes, want %d", name, ag, len(buf), f.geo.SectSize)
					}
					out := make([]byte, len(buf))
					var errs []error
					switch name {
					case "sb":
						s, err := DecodeSuperblock(buf)
						must(t, err)
						must(t, s.Encode(out))
						errs = VerifySuperblockCopy(s, buf, f.geo, ag)
					case "agf":
						a, err := DecodeAGF(buf)
						must(t, err)
						must(t, a.Encode(out))
						errs = VerifyAGF(a, buf, f.geo, ag)
					case "agi":
						a, err := DecodeAGI(buf)
						must(t, err)
						must(t, a.Encode(out))
						errs = VerifyAGI(a, buf, f.geo, ag)
					case "agfl":
						a, err := DecodeAGFL(buf)
						must(t, err)
						must(t, a.Encode(out))
						errs = VerifyAGFL(a, buf, f.geo, ag)
					}
					if !bytes.Equal(out, buf) {
						t.Errorf("%s ag%d: re-encoding differs from the original bytes", name, ag)
					}
					if len(errs) > 0 {
						t.Errorf("%s ag%d: healthy header fails verification: %v", name, ag, errs)
					}
				}
			}
		})
	}
}

// TestBlockRoundTrip re-encodes every real btree block's header and
// records from their decoded forms and expects identical bytes.
func TestBlockRoundTrip(t *testing.T) {
	for _, prof := range fixtureProfiles {
		t.Run(prof, func(t *testing.T) {
			f := loadFixture(t, prof)
			for _, b := range f.blocks(t) {
				buf := readFile(t, b.path)
				blk, err := NewBlock(b.typ, buf)
				must(t, err)
				if errs := VerifyBlock(blk, f.geo, 0, b.agbno); len(errs) > 0 {
					t.Errorf("%s %d: healthy block fails verification: %v", b.typ, b.agbno, errs)
				}
				out := make([]byte, len(buf))
				must(t, blk.Hdr.Encode(out))
				if blk.IsLeaf() {
					for i := 0; i < blk.NumRecs(); i++ {
						encodeRec(b.typ, f.geo, blk.Rec(i), out[BtreeHeaderSize+i*blk.Ops.RecLen:])
					}
					// Bytes past the last record are not part of the block's
					// meaning; compare what the records cover.
					n := BtreeHeaderSize + blk.NumRecs()*blk.Ops.RecLen
					if !bytes.Equal(out[:n], buf[:n]) {
						t.Errorf("%s %d: leaf re-encoding differs", b.typ, b.agbno)
					}
				} else {
					if !bytes.Equal(out[:BtreeHeaderSize], buf[:BtreeHeaderSize]) {
						t.Errorf("%s %d: node header re-encoding differs", b.typ, b.agbno)
					}
					// Node keys must be in order and pointers inside the AG.
					for i := 1; i < blk.NumRecs(); i++ {
						if blk.Ops.CmpKeys(blk.Key(i-1), blk.Key(i)) > 0 {
							t.Errorf("%s %d: keys %d and %d out of order", b.typ, b.agbno, i, i+1)
						}
					}
					for i := 0; i < blk.NumRecs(); i++ {
						if p := blk.Ptr(i); p == 0 || p >= f.geo.AGLength(0) {
							t.Errorf("%s %d: ptr %d = %d outside the AG", b.typ, b.agbno, i+1, p)
						}
					}
				}
			}
		})
	}
}

func encodeRec(t BtreeType, g *Geometry, rec, out []byte) {
	switch t {
	case Bnobt, Cntbt:
		DecodeAllocRec(rec).Encode(out)
	case Inobt, Finobt:
		DecodeInobtRec(rec, g.SparseInodes).Encode(out, g.SparseInodes)
	case Rmapbt:
		DecodeRmapRec(rec).Encode(out)
	case Refcountbt:
		DecodeRefcountRec(rec).Encode(out)
	}
}

// TestCRCVerdict flips one byte of a real sector and block and expects
// the CRC verdict to turn bad, then good again after UpdateCRC.
func TestCRCVerdict(t *testing.T) {
	f := loadFixture(t, "allfeatures")
	buf := readFile(t, filepath.Join(f.dir, "ag0", "agf.bin"))
	if !CRCOK(buf, AGFCRCOffset()) {
		t.Fatal("pristine AGF has a bad CRC")
	}
	buf[60] ^= 0x40
	if CRCOK(buf, AGFCRCOffset()) {
		t.Fatal("corrupted AGF still has a correct CRC")
	}
	UpdateCRC(buf, AGFCRCOffset())
	if !CRCOK(buf, AGFCRCOffset()) {
		t.Fatal("UpdateCRC did not fix the CRC")
	}
	a, _ := DecodeAGF(buf)
	if errs := VerifyAGF(a, buf, f.geo, 0); len(errs) != 0 && !errors.Is(errs[0], ErrRange) {
		t.Fatalf("unexpected verdict: %v", errs)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestInobtRecHoles: each holemask bit stands for 4 inodes.
func TestInobtRecHoles(t *testing.T) {
	for _, c := range []struct {
		mask uint16
		want uint64
	}{{0, 0}, {1, 0xf}, {1 << 15, 0xf << 60}, {0x8001, 0xf00000000000000f}, {0xffff, ^uint64(0)}} {
		if got := (InobtRec{HoleMask: c.mask}).Holes(); got != c.want {
			t.Errorf("holemask %#x: %#x, want %#x", c.mask, got, c.want)
		}
	}
}

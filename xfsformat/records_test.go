package xfsformat

import (
	"math/rand/v2"
	"testing"
)

// TestCmpRmapRecKeys: comparing rmap records directly agrees with
// comparing the keys the rmapbt's ops build from them.
func TestCmpRmapRecKeys(t *testing.T) {
	ops := Rmapbt.Ops()
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b [RmapRecLen]byte
	ka, kb := make([]byte, ops.KeyLen), make([]byte, ops.KeyLen)
	for i := 0; i < 100000; i++ {
		for j := range a {
			a[j], b[j] = byte(rng.IntN(3)), byte(rng.IntN(3)) // few values: many ties
		}
		if rng.IntN(2) == 0 {
			a[16] |= 0x20 // the unwritten bit, which keys drop
		}
		ops.RecKey(ka, a[:])
		ops.RecKey(kb, b[:])
		if got, want := CmpRmapRecKeys(a[:], b[:]), ops.CmpKeys(ka, kb); got != want {
			t.Fatalf("records %x and %x: %d, keys compare %d", a, b, got, want)
		}
	}
}

// TestRmapMaxHighKey: the rmapbt's leaf shortcut gives the highest high
// key MaxHighKey's generic loop finds (build each record's key, compare
// keys), over random leaves of special and inode owners, attribute
// forks, bmbt blocks, unwritten extents, zero lengths and ties.
func TestRmapMaxHighKey(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ops := Rmapbt.Ops()
	own := func(o int64) uint64 { return uint64(o) }
	owners := []uint64{own(OwnAG), own(OwnInodes), 131, 132, 1 << 40}
	for round := 0; round < 20000; round++ {
		n := 1 + r.IntN(12)
		recs := make([]byte, n*RmapRecLen)
		for i := 0; i < n; i++ {
			rec := RmapRec{StartBlock: uint32(r.IntN(64)), BlockCount: uint32(r.IntN(6)), Owner: owners[r.IntN(len(owners))]}
			if rec.IsInodeOwner() {
				rec.Offset = uint64(r.IntN(50))
				for _, f := range []uint64{RmapOffAttrFork, RmapOffBmbtBlock, RmapOffUnwritten} {
					if r.IntN(4) == 0 {
						rec.Offset |= f
					}
				}
			}
			rec.Encode(recs[i*RmapRecLen:])
		}
		var want, got, tmp [RmapKeyLen]byte
		for i := 0; i < n; i++ {
			ops.RecHighKey(tmp[:], recs[i*RmapRecLen:(i+1)*RmapRecLen])
			if i == 0 || ops.CmpKeys(tmp[:], want[:]) > 0 {
				want = tmp
			}
		}
		ops.MaxRecHighKey(got[:], recs)
		if ops.CmpKeys(got[:], want[:]) != 0 {
			t.Fatalf("round %d: %x, the generic loop %x, records %x", round, got, want, recs)
		}
	}
}

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

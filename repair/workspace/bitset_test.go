//go:build linux

package workspace

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBitset: bits set at random across many more pages than the cache
// holds read back as a map of the same bits says, evicted pages
// included; bits out of range are refused.
func TestBitset(t *testing.T) {
	ws := newWS(t, Options{})
	const n = 40 * bitsetPage * 8 // 40 pages, the cache holds 16
	s, err := ws.NewBitset(n)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	want := map[int64]bool{}
	r := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 20000; k++ {
		i := r.Int64N(n)
		was, err := s.TestAndSet(i)
		if err != nil {
			t.Fatal(err)
		}
		if was != want[i] {
			t.Fatalf("TestAndSet(%d) = %v, want %v", i, was, want[i])
		}
		want[i] = true
	}
	for i := int64(0); i < n; i += 7 {
		got, err := s.Test(i)
		if err != nil {
			t.Fatal(err)
		}
		if got != want[i] {
			t.Fatalf("Test(%d) = %v, want %v", i, got, want[i])
		}
	}
	for _, i := range []int64{-1, n} {
		if _, err := s.Test(i); !errors.Is(err, ErrInvalid) {
			t.Errorf("Test(%d): %v, want ErrInvalid", i, err)
		}
	}
}

//go:build linux

package workspace

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sort"
	"testing"
)

// recAdapter sorts fixed-size records in one []byte through
// sort.Interface: the alternative pdq.go has to beat to keep its place.
type recAdapter struct {
	buf []byte
	r   int
	cmp func(a, b []byte) int
	tmp []byte
}

func (a *recAdapter) Len() int { return len(a.buf) / a.r }
func (a *recAdapter) Less(i, j int) bool {
	r := a.r
	return a.cmp(a.buf[i*r:i*r+r:i*r+r], a.buf[j*r:j*r+r:j*r+r]) < 0
}
func (a *recAdapter) Swap(i, j int) {
	r := a.r
	x, y := a.buf[i*r:i*r+r], a.buf[j*r:j*r+r]
	copy(a.tmp, x)
	copy(x, y)
	copy(y, a.tmp)
}

// benchRecords are n random 24-byte records (an rmap record's size),
// compared on their first 8 bytes, as the rebuilds sort them.
func benchRecords(n int) []byte {
	rnd := rand.New(rand.NewPCG(7, 11))
	b := make([]byte, 24*n)
	for i := 0; i < len(b); i += 8 {
		binary.BigEndian.PutUint64(b[i:], rnd.Uint64())
	}
	return b
}

func cmpFirst8(a, b []byte) int { return bytes.Compare(a[:8], b[:8]) }

// BenchmarkSortRecords compares pdq.go's sorter with sort.Sort over a
// sort.Interface adapter on the same records (1M random 24-byte records,
// the size of one in-memory sort chunk at the default sort memory).
func BenchmarkSortRecords(b *testing.B) {
	const n = 1 << 20
	src := benchRecords(n)
	buf := make([]byte, len(src))
	b.Run("pdq", func(b *testing.B) {
		s := newRecSorter(context.Background(), 24, cmpFirst8)
		for b.Loop() {
			copy(buf, src)
			if err := s.sort(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sort.Interface", func(b *testing.B) {
		a := &recAdapter{r: 24, cmp: cmpFirst8, tmp: make([]byte, 24)}
		for b.Loop() {
			copy(buf, src)
			a.buf = buf
			sort.Sort(a)
		}
	})
}

// TestSortAdapterAgrees: both sorters give the same order (the
// benchmark compares like with like).
func TestSortAdapterAgrees(t *testing.T) {
	src := benchRecords(5000)
	x, y := bytes.Clone(src), bytes.Clone(src)
	if err := newRecSorter(context.Background(), 24, cmpFirst8).sort(x); err != nil {
		t.Fatal(err)
	}
	sort.Sort(&recAdapter{buf: y, r: 24, cmp: cmpFirst8, tmp: make([]byte, 24)})
	for i := 0; i < len(x); i += 24 {
		if cmpFirst8(x[i:], y[i:]) != 0 {
			t.Fatalf("record %d: pdq %x, sort.Sort %x", i/24, x[i:i+8], y[i:i+8])
		}
	}
}

//go:build linux

package workspace

import (
	"bytes"
	"encoding/binary"
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

// TestVisitPrefix: in an array sorted by an 8-byte key, the records of
// one key, whichever and however many, are visited in order, through a
// buffer smaller than their run; a key absent visits none.
func TestVisitPrefix(t *testing.T) {
	ws := newWS(t, Options{})
	a, err := ws.NewArray(16)
	if err != nil {
		t.Fatal(err)
	}
	// Key k (0, 2, 4, ..., 198) has k%7 records, numbered.
	rec := make([]byte, 16)
	for k := uint64(0); k < 200; k += 2 {
		for i := uint64(0); i < k%7; i++ {
			binary.BigEndian.PutUint64(rec, k)
			binary.BigEndian.PutUint64(rec[8:], i)
			if err := a.Append(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	buf := make([]byte, 2*16)
	for k := uint64(0); k < 201; k++ {
		var got []uint64
		key := binary.BigEndian.AppendUint64(nil, k)
		err := a.VisitPrefix(key, buf, func(r []byte) error {
			if !bytes.Equal(r[:8], key) {
				t.Fatalf("key %d: visited %x", k, r)
			}
			got = append(got, binary.BigEndian.Uint64(r[8:]))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if k%2 == 0 && k < 200 {
			want = int(k % 7)
		}
		if len(got) != want {
			t.Fatalf("key %d: %d records, want %d", k, len(got), want)
		}
		for i, n := range got {
			if n != uint64(i) {
				t.Fatalf("key %d: record %d is number %d", k, i, n)
			}
		}
	}
	if err := a.VisitPrefix(make([]byte, 17), buf, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("a prefix longer than a record: %v", err)
	}
}

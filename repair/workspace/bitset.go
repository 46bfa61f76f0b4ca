//go:build linux

package workspace

import "fmt"

const (
	bitsetPage   = 4096
	bitsetCached = 16
)

// Bitset is a set of bits numbered 0..n-1 in a workspace, the analogue
// of the kernel's xfbitmap: pages of an Array, a few of them cached in
// memory (direct-mapped, written back when evicted), so that its Go
// heap use is fixed whatever n is. A Bitset must be used by one
// goroutine at a time.
type Bitset struct {
	a     *Array
	n     int64
	cache [bitsetCached]struct {
		page  int64
		dirty bool
		b     []byte
	}
}

// NewBitset creates a set of n bits, all clear.
func (ws *Workspace) NewBitset(n int64) (*Bitset, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: bitset of %d bits", ErrInvalid, n)
	}
	a, err := ws.NewArray(bitsetPage)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, bitsetPage)
	for p := int64(0); p*bitsetPage*8 < n; p++ {
		if err := a.Append(zero); err != nil {
			a.Release()
			return nil, err
		}
	}
	return &Bitset{a: a, n: n}, nil
}

// locate returns the cached page of bit i, its byte and mask, and its
// dirty flag.
func (s *Bitset) locate(i int64) ([]byte, byte, *bool, error) {
	if s == nil || s.a == nil {
		return nil, 0, nil, ErrClosed
	}
	if i < 0 || i >= s.n {
		return nil, 0, nil, fmt.Errorf("%w: bit %d of a set of %d", ErrInvalid, i, s.n)
	}
	p := i / (bitsetPage * 8)
	e := &s.cache[p%bitsetCached]
	if e.b == nil || e.page != p {
		if e.b == nil {
			e.b = make([]byte, bitsetPage)
		} else if e.dirty {
			if err := s.a.Store(e.page, e.b); err != nil {
				return nil, 0, nil, err
			}
		}
		e.page, e.dirty = p, false
		if err := s.a.Load(p, e.b); err != nil {
			e.b = nil
			return nil, 0, nil, err
		}
	}
	return e.b[i%(bitsetPage*8)/8:], byte(1) << (i % 8), &e.dirty, nil
}

// TestAndSet sets bit i and reports whether it was set before.
func (s *Bitset) TestAndSet(i int64) (bool, error) {
	b, mask, dirty, err := s.locate(i)
	if err != nil {
		return false, err
	}
	was := b[0]&mask != 0
	if !was {
		b[0] |= mask
		*dirty = true
	}
	return was, nil
}

// Test reports whether bit i is set.
func (s *Bitset) Test(i int64) (bool, error) {
	b, mask, _, err := s.locate(i)
	if err != nil {
		return false, err
	}
	return b[0]&mask != 0, nil
}

// Release frees the set's space; the set is unusable afterwards.
func (s *Bitset) Release() {
	if s == nil || s.a == nil {
		return
	}
	s.a.Release()
	s.a = nil
}

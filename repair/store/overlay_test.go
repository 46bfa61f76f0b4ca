package store

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// overlayFixture is a random "image" file with an anonymous or named
// overlay over it, and a model of what reads should return.
type overlayFixture struct {
	img   *Image
	model []byte
}

func newOverlayFixture(t *testing.T, size int, named string, seed uint64) *overlayFixture {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	model := make([]byte, size)
	for i := range model {
		model[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, model, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := OpenImage(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.AttachOverlay(named); err != nil {
		img.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return &overlayFixture{img, model}
}

func (x *overlayFixture) write(t *testing.T, off int64, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	if err := x.img.WriteAt(p, off); err != nil {
		t.Fatalf("write at %d (+%d): %v", off, n, err)
	}
	copy(x.model[off:], p)
}

func (x *overlayFixture) verify(t *testing.T, model []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	check := func(off int64, n int) {
		got := make([]byte, n)
		if err := x.img.ReadAt(got, off); err != nil {
			t.Fatalf("read at %d (+%d): %v", off, n, err)
		}
		if !bytes.Equal(got, model[off:off+int64(n)]) {
			t.Fatalf("read at %d (+%d) differs from the model", off, n)
		}
	}
	check(0, len(model))
	for i := 0; i < 300; i++ {
		off := r.IntN(len(model))
		check(int64(off), 1+r.IntN(min(len(model)-off, 70000)))
	}
}

// TestOverlayMerge: unaligned writes, partial overlaps, writes inside and
// across earlier ones, large writes over several records and index
// chunks; every read sees the newest bytes over the image's.
func TestOverlayMerge(t *testing.T) {
	x := newOverlayFixture(t, 5<<20, "", 1)
	x.write(t, 100, 1000, 1)              // unaligned
	x.write(t, 600, 1000, 2)              // overlaps the end of the first
	x.write(t, 50, 100, 3)                // overlaps its start
	x.write(t, 300, 10, 4)                // inside
	x.write(t, 0, 4096, 5)                // covers them all
	x.write(t, 4095, 2, 6)                // straddles its end
	x.write(t, 1<<20-7, 3<<20+13, 7)      // large: several records and chunks
	x.write(t, 2<<20+5, 9, 8)             // inside the large one
	x.write(t, 5<<20-1, 1, 9)             // the last byte
	x.write(t, 1<<20-100, indexChunk, 10) // across a chunk boundary
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 500; i++ {
		off := r.IntN(len(x.model) - 1)
		x.write(t, int64(off), 1+r.IntN(min(len(x.model)-off, 9000)), uint64(100+i))
	}
	x.verify(t, x.model)
	n, b := x.img.overlay.Stats()
	t.Logf("%d extents, %d bytes staged", n, b)
	if err := x.img.WriteAt([]byte{1}, int64(len(x.model))); err == nil {
		t.Fatal("a write past the end was staged")
	}
	if err := x.img.overlay.Reset(); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(x.img.Path())
	x.verify(t, raw)
}

// TestOverlayReopen: a named overlay keeps its committed batches across
// a close, drops writes never committed, and refuses another image (or
// an image changed under it) by name.
func TestOverlayReopen(t *testing.T) {
	ovPath := filepath.Join(t.TempDir(), "ov")
	x := newOverlayFixture(t, 1<<20, ovPath, 1)
	x.write(t, 1000, 5000, 1)
	if err := x.img.overlay.Commit([]Write{{Off: 0, Data: []byte("hello")}}); err != nil {
		t.Fatal(err)
	}
	copy(x.model, "hello")
	committed := bytes.Clone(x.model)
	x.write(t, 9000, 100, 2) // never committed
	x.img.overlay.Close()
	x.img.overlay = nil

	if err := x.img.AttachOverlay(ovPath); err != nil {
		t.Fatal(err)
	}
	x.verify(t, committed)
	if x.img.overlay.Dropped == 0 {
		t.Error("the uncommitted write was not reported as dropped")
	}
	x.img.overlay.Close()
	x.img.overlay = nil

	// Another image (another uuid) is refused by name.
	other := newOverlayFixture(t, 1<<20, "", 2)
	other.img.overlay.Close()
	other.img.overlay = nil
	if err := other.img.AttachOverlay(ovPath); !errors.Is(err, ErrOverlayForeign) {
		t.Fatalf("an overlay over another image: %v, want ErrOverlayForeign", err)
	}
	// The same image, changed where the overlay replaced bytes.
	f, _ := os.OpenFile(x.img.Path(), os.O_WRONLY, 0)
	f.WriteAt([]byte{^x.model[1001]}, 1001)
	f.Close()
	if err := x.img.AttachOverlay(ovPath); !errors.Is(err, ErrOverlayForeign) {
		t.Fatalf("an overlay over a changed image: %v, want ErrOverlayForeign", err)
	}
}

// TestOverlayTornTail: cutting the overlay file at every record boundary
// and inside every record (and zero-filling the cut part) leaves it at
// the last complete batch.
func TestOverlayTornTail(t *testing.T) {
	dir := t.TempDir()
	ovPath := filepath.Join(dir, "ov")
	x := newOverlayFixture(t, 64<<10, ovPath, 1)
	raw := bytes.Clone(x.model)
	states := [][]byte{bytes.Clone(raw)} // after batch 0, 1, 2, 3
	var ends []int64                     // file length after each batch
	var bounds []int64                   // every record boundary
	end := func() int64 { return x.img.overlay.end }
	ends = append(ends, end())
	bounds = append(bounds, end())
	for b := 0; b < 3; b++ {
		for i := 0; i < 3; i++ {
			x.write(t, int64(b*5000+i*700+13), 900, uint64(b*10+i))
			bounds = append(bounds, end())
		}
		if err := x.img.overlay.Commit(nil); err != nil {
			t.Fatal(err)
		}
		bounds = append(bounds, end())
		ends = append(ends, end())
		states = append(states, bytes.Clone(x.model))
	}
	x.img.overlay.Close()
	x.img.overlay = nil
	full, err := os.ReadFile(ovPath)
	if err != nil {
		t.Fatal(err)
	}
	var cuts []int64
	for i, b := range bounds {
		cuts = append(cuts, b)
		if i+1 < len(bounds) {
			for _, c := range []int64{b + 1, b + overlayRecHdr - 1, b + overlayRecHdr + 5, bounds[i+1] - 1} {
				if c < bounds[i+1] {
					cuts = append(cuts, c)
				}
			}
		}
	}
	for _, cut := range cuts {
		for _, zeroFill := range []bool{false, true} {
			torn := bytes.Clone(full[:cut])
			if zeroFill {
				torn = append(torn, make([]byte, int64(len(full))-cut)...)
			}
			if err := os.WriteFile(ovPath, torn, 0o600); err != nil {
				t.Fatal(err)
			}
			want := 0
			for i, e := range ends {
				if e <= cut {
					want = i
				}
			}
			if err := x.img.AttachOverlay(ovPath); err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			x.verify(t, states[want])
			if x.img.overlay.batches != uint64(want) {
				t.Fatalf("cut at %d: %d batches, want %d", cut, x.img.overlay.batches, want)
			}
			x.img.overlay.Close()
			x.img.overlay = nil
			if st, _ := os.Stat(ovPath); st.Size() != ends[want] {
				t.Fatalf("cut at %d: the overlay was left at %d bytes, want %d", cut, st.Size(), ends[want])
			}
		}
	}
	t.Logf("%d cuts", len(cuts))
}

// FuzzOpenOverlay: a named overlay file is user input (--overlay FILE).
// A damaged one may be refused or cut back to its last complete batch,
// never panic, and never index bytes outside the image it names; what it
// keeps must read back.
func FuzzOpenOverlay(f *testing.F) {
	const size = 64 << 10
	dir := f.TempDir()
	raw := filepath.Join(dir, "img")
	if err := os.WriteFile(raw, make([]byte, size), 0o600); err != nil {
		f.Fatal(err)
	}
	rawf, err := os.Open(raw)
	if err != nil {
		f.Fatal(err)
	}
	defer rawf.Close()
	id := ImageID{Size: size}
	copy(id.UUID[:], "0123456789abcdef")
	seed := filepath.Join(dir, "seed")
	o, err := OpenOverlay(seed, rawf, id)
	if err != nil {
		f.Fatal(err)
	}
	for i, w := range []Write{{Off: 0, Data: []byte("first")}, {Off: 4096, Data: make([]byte, 600)}, {Off: size - 3, Data: []byte("end")}} {
		if err := o.WriteAt(w.Data, w.Off); err != nil {
			f.Fatal(err)
		}
		if i != 1 {
			if err := o.Commit(nil); err != nil {
				f.Fatal(err)
			}
		}
	}
	o.Close()
	b, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)-7])
	f.Add(b[:overlayHdrLen])
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "ov")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*os.File{nil, rawf} {
			o, err := OpenOverlay(p, r, id)
			if err != nil {
				continue
			}
			err = o.each(func(off int64, data []byte) error {
				if off < 0 || off+int64(len(data)) > size || len(data) == 0 {
					t.Fatalf("overlay kept %d bytes at %d of a %d-byte image", len(data), off, size)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("reading back what the overlay kept: %v", err)
			}
			o.Close()
		}
	})
}

package store

import (
	"errors"
	"os"
	"slices"
	"testing"
)

// sandboxed opens the fixture's image with an anonymous overlay, and
// stages the fixture's writes in it.
func (fx *journalFixture) sandboxed(t *testing.T) *Image {
	t.Helper()
	img := fx.open(t)
	if err := img.AttachOverlay(""); err != nil {
		t.Fatal(err)
	}
	for _, w := range fx.writes {
		if err := img.WriteAt(w.Data, w.Off); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// TestCommitOverlay: an overlay's commit goes through the journal, or,
// larger than journalLimit, through a commit file; a crash while it is
// applied is finished by Recover; nothing stays beside the image.
func TestCommitOverlay(t *testing.T) {
	for _, limit := range []int64{0, 4096} {
		fx := newJournalFixture(t, 7)
		jp := JournalPath(fx.path)
		img := fx.sandboxed(t)
		n, err := img.CommitOverlay(jp, limit, nil)
		if err != nil || fx.state(t) != "new" {
			t.Fatalf("limit %d: %d bytes, %v", limit, n, err)
		}
		if ext, _ := img.Overlay().Stats(); ext != 0 {
			t.Fatalf("limit %d: %d extents staged after the commit", limit, ext)
		}

		fx.reset(t)
		img = fx.sandboxed(t)
		crash := errors.New("crash")
		_, err = img.CommitOverlay(jp, limit, func(step string) error {
			if step == "image-write #1" {
				return crash
			}
			return nil
		})
		if !errors.Is(err, crash) {
			t.Fatalf("limit %d: commit: %v, want the crash", limit, err)
		}
		img.Close()
		left := jp
		if limit != 0 {
			left = fx.path + CommitFileSuffix
		}
		if _, err := os.Stat(left); err != nil {
			t.Fatalf("limit %d: nothing to recover from: %v", limit, err)
		}
		img, err = OpenImage(fx.path, false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := img.Recover(jp)
		img.Close()
		if err != nil || out.Action != JournalReplayed || fx.state(t) != "new" {
			t.Fatalf("limit %d: recover: %v %v", limit, out, err)
		}
		for _, p := range []string{jp, fx.path + CommitFileSuffix} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("limit %d: %s left beside the image", limit, p)
			}
		}
	}
}

// TestMemImage: an image in memory reads and writes its slice, overlays
// anonymously, and refuses by name what needs a file.
func TestMemImage(t *testing.T) {
	b := make([]byte, 64<<10)
	copy(b[32:], "0123456789abcdef")
	img := NewImage(MemDevice(b), int64(len(b)), "mem", true)
	if img.File() != nil || img.Path() != "mem" || img.Size() != int64(len(b)) {
		t.Fatalf("file %v, path %q, size %d", img.File(), img.Path(), img.Size())
	}
	if err := img.WriteAt([]byte("xy"), 1000); err != nil || string(b[1000:1002]) != "xy" {
		t.Fatalf("write: %v", err)
	}
	p := make([]byte, 2)
	if err := img.ReadAt(p, 1000); err != nil || string(p) != "xy" {
		t.Fatalf("read: %q %v", p, err)
	}
	if err := img.ReadAt(p, int64(len(b))-1); !errors.Is(err, ErrBeyondEnd) {
		t.Fatalf("read past the end: %v", err)
	}
	// A device smaller than the image says: a short read is an error.
	short := NewImage(MemDevice(b[:100]), 200, "short", false)
	if err := short.ReadAt(p, 150); err == nil {
		t.Fatal("a read past the device's end succeeded")
	}
	if _, err := (MemDevice(b)).WriteAt(p, int64(len(b))-1); !errors.Is(err, ErrBeyondEnd) {
		t.Fatalf("device write past the end: %v", err)
	}

	if _, err := LockImage(img.File(), img.Path()); !errors.Is(err, ErrNotFile) {
		t.Errorf("lock: %v", err)
	}
	if _, err := img.Recover(JournalPath("mem")); !errors.Is(err, ErrNotFile) {
		t.Errorf("recover: %v", err)
	}
	if err := img.AttachOverlay("x.ovl"); !errors.Is(err, ErrNotFile) {
		t.Errorf("named overlay: %v", err)
	}
	if err := img.AttachOverlay(""); err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(b)
	if err := img.WriteAt([]byte("zz"), 1000); err != nil {
		t.Fatal(err)
	}
	if err := img.ReadAt(p, 1000); err != nil || string(p) != "zz" || !slices.Equal(b, before) {
		t.Fatalf("overlay: read %q, %v; the slice changed: %v", p, err, !slices.Equal(b, before))
	}
	if _, err := img.CommitOverlay(JournalPath("mem"), 0, nil); !errors.Is(err, ErrNotFile) {
		t.Errorf("commit: %v", err)
	}
	view := img.WithOverlay(nil)
	if err := view.ReadAt(p, 1000); err != nil || string(p) != "xy" || view.Writable() {
		t.Fatalf("the view without the overlay: %q %v, writable %v", p, err, view.Writable())
	}
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var errJournalCrash = errors.New("simulated crash")

// journalFixture is a small fake image file with a uuid at bytes 32..48
// and the writes that turn its old contents into new ones. Write #2
// rewrites sector 0 keeping the uuid, as a superblock update does.
type journalFixture struct {
	path     string
	old, new []byte
	writes   []Write
}

func newJournalFixture(t *testing.T, seed uint64, sizes ...int) *journalFixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	old := make([]byte, 64<<10)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	fx := &journalFixture{path: filepath.Join(t.TempDir(), "img"), old: old}
	if len(sizes) == 0 {
		sizes = []int{512, 4096, 512}
	}
	offs := []int64{1024, 8192, 0}
	for i, n := range sizes {
		d := make([]byte, n)
		for j := range d {
			d[j] = byte(rng.Uint32())
		}
		if offs[i%3] == 0 && n >= 48 {
			copy(d[32:48], old[32:48])
		}
		fx.writes = append(fx.writes, Write{Off: offs[i%3] + int64(i/3)*20000, Data: d})
	}
	fx.new = append([]byte(nil), old...)
	for _, w := range fx.writes {
		copy(fx.new[w.Off:], w.Data)
	}
	if bytes.Equal(fx.old, fx.new) {
		t.Fatal("fixture writes change nothing")
	}
	fx.reset(t)
	return fx
}

func (fx *journalFixture) reset(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(fx.path, fx.old, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(JournalPath(fx.path))
}

func (fx *journalFixture) open(t *testing.T) *Image {
	t.Helper()
	img, err := OpenImage(fx.path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// state says whether the image holds the old or the new bytes, and fails
// on anything else: a mix is the one outcome the journal must prevent.
func (fx *journalFixture) state(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case bytes.Equal(b, fx.old):
		return "old"
	case bytes.Equal(b, fx.new):
		return "new"
	}
	t.Fatalf("the image is neither old nor new: a mix of both")
	return ""
}

func journalExists(t *testing.T, path string) bool {
	t.Helper()
	ok, err := PendingJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// journalCrashAt returns a FaultHook failing at step k (counting from 0) and
// recording the steps it saw.
func journalCrashAt(k int, steps *[]string) FaultHook {
	return func(step string) error {
		*steps = append(*steps, step)
		if len(*steps)-1 == k {
			return errJournalCrash
		}
		return nil
	}
}

func TestJournalRoundTrip(t *testing.T) {
	fx := newJournalFixture(t, 1)
	img := fx.open(t)
	var steps []string
	if err := CommitJournal(JournalPath(fx.path), img, fx.writes, journalCrashAt(-1, &steps)); err != nil {
		t.Fatal(err)
	}
	if fx.state(t) != "new" || journalExists(t, JournalPath(fx.path)) {
		t.Fatal("after a commit: want the new image and no journal")
	}
	want := "journal-write journal-sync dir-sync image-write #0 image-write #1 image-write #2 image-sync journal-remove remove-dir-sync"
	if got := strings.Join(steps, " "); got != want {
		t.Errorf("steps:\n got %s\nwant %s", got, want)
	}
	out, err := RecoverJournal(JournalPath(fx.path), img, img, nil)
	if err != nil || out.Action != JournalNone {
		t.Fatalf("recover with no journal: %v %v", out, err)
	}
	if err := CommitJournal(JournalPath(fx.path), img, nil, nil); err != nil || journalExists(t, JournalPath(fx.path)) {
		t.Fatalf("an empty commit: %v", err)
	}
}

// TestJournalEveryCrashPoint stops a commit at every durable step, as a
// crash would, then reopens and recovers: the image must be all old
// (journal never completed) or all new (journal replayed).
func TestJournalEveryCrashPoint(t *testing.T) {
	fx := newJournalFixture(t, 2)
	jp := JournalPath(fx.path)
	var all []string
	if err := CommitJournal(jp, fx.open(t), fx.writes, journalCrashAt(-1, &all)); err != nil {
		t.Fatal(err)
	}
	for k, step := range all {
		t.Run(fmt.Sprintf("%d-%s", k, step), func(t *testing.T) {
			fx.reset(t)
			img := fx.open(t)
			var steps []string
			err := CommitJournal(jp, img, fx.writes, journalCrashAt(k, &steps))
			if !errors.Is(err, errJournalCrash) {
				t.Fatalf("commit crashing at %q returned %v", step, err)
			}
			img.Close() // the process died

			img = fx.open(t)
			out, err := RecoverJournal(jp, img, img, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := fx.state(t)
			// Only a crash before the journal was written leaves the old
			// state: from then on the journal is complete on disk (this
			// test cannot lose unsynced data; TestJournalTruncated covers
			// journals cut short).
			want := "new"
			if step == "journal-write" {
				want = "old"
			}
			if got != want {
				t.Fatalf("crash at %q, then %v: image is %s, want %s", step, out, got, want)
			}
			if journalExists(t, jp) {
				t.Fatal("the journal is still there after recovery")
			}
			t.Logf("crash at %q: %v; image %s", step, out, got)
		})
	}
}

// TestJournalCrashDuringReplay crashes the replay itself at every step:
// replaying again must still reach the new state.
func TestJournalCrashDuringReplay(t *testing.T) {
	fx := newJournalFixture(t, 3)
	jp := JournalPath(fx.path)
	for k := 0; ; k++ {
		fx.reset(t)
		img := fx.open(t)
		var steps []string
		if err := CommitJournal(jp, img, fx.writes, journalCrashAt(4, &steps)); !errors.Is(err, errJournalCrash) || steps[4] != "image-write #1" {
			t.Fatalf("setup: %v at %v", err, steps)
		}
		steps = nil
		_, err := RecoverJournal(jp, img, img, journalCrashAt(k, &steps))
		if err == nil {
			if k < 3 {
				t.Fatalf("replay had only %d steps", k)
			}
			break
		}
		if !errors.Is(err, errJournalCrash) {
			t.Fatal(err)
		}
		img.Close()
		img = fx.open(t)
		out, err := RecoverJournal(jp, img, img, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fx.state(t); got != "new" {
			t.Fatalf("replay crashed at %q, then %v: image is %s", steps[k], out, got)
		}
	}
}

// TestJournalTruncated drops a journal cut at every length, or with its
// tail zeroed (a crash before fsync with delayed allocation), and leaves
// the image untouched.
func TestJournalTruncated(t *testing.T) {
	fx := newJournalFixture(t, 4, 64, 100, 48)
	jp := JournalPath(fx.path)
	id, err := IdentifyImage(fx.open(t))
	if err != nil {
		t.Fatal(err)
	}
	full, err := encodeJournal(id, fx.writes)
	if err != nil {
		t.Fatal(err)
	}
	img := fx.open(t)
	for n := 0; n <= len(full); n++ {
		for _, zeroTail := range []bool{false, true} {
			if zeroTail && n == len(full) {
				continue
			}
			j := full[:n]
			if zeroTail {
				j = append(append([]byte(nil), full[:n]...), make([]byte, len(full)-n)...)
			}
			if err := os.WriteFile(jp, j, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := RecoverJournal(jp, img, img, nil)
			if err != nil {
				t.Fatalf("length %d: %v", n, err)
			}
			want, wantState := JournalDropped, "old"
			if n == len(full) {
				want, wantState = JournalReplayed, "new"
			}
			if out.Action != want {
				t.Fatalf("length %d (zero tail %v): %v", n, zeroTail, out)
			}
			if got := fx.state(t); got != wantState {
				t.Fatalf("length %d: image is %s, want %s", n, got, wantState)
			}
			if journalExists(t, jp) {
				t.Fatalf("length %d: journal left in place", n)
			}
		}
	}
	// Every single flipped bit is caught too.
	for i := 0; i < len(full)*8; i += 7 {
		j := append([]byte(nil), full...)
		j[i/8] ^= 1 << (i % 8)
		fx.reset(t)
		os.WriteFile(jp, j, 0o600)
		if out, err := RecoverJournal(jp, img, img, nil); err != nil || out.Action != JournalDropped {
			t.Fatalf("bit %d flipped: %v %v", i, out, err)
		}
		fx.state(t)
	}
}

func TestJournalForeign(t *testing.T) {
	a := newJournalFixture(t, 5)
	imgA := a.open(t)
	var steps []string
	if err := CommitJournal(JournalPath(a.path), imgA, a.writes, journalCrashAt(3, &steps)); !errors.Is(err, errJournalCrash) {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"other uuid", func(b []byte) []byte { b[40] ^= 0xff; return b }},
		{"other size", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newJournalFixture(t, 5)
			b.old = tc.mutate(append([]byte(nil), b.old...))
			b.reset(t)
			jb := JournalPath(b.path)
			data, err := os.ReadFile(JournalPath(a.path))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(jb, data, 0o600)
			img := b.open(t)
			out, err := RecoverJournal(jb, img, img, nil)
			if !errors.Is(err, ErrJournalForeign) {
				t.Fatalf("foreign journal: %v, %v", out, err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), "left in place") || !journalExists(t, jb) {
				t.Fatal("the foreign journal must stay, and the error say so")
			}
			if got, _ := os.ReadFile(b.path); !bytes.Equal(got, b.old) {
				t.Fatal("the image was written")
			}
		})
	}
	// Its own image still replays it.
	out, err := RecoverJournal(JournalPath(a.path), imgA, imgA, nil)
	if err != nil || out.Action != JournalReplayed || a.state(t) != "new" {
		t.Fatalf("own image: %v %v", out, err)
	}
}

func TestJournalRefusals(t *testing.T) {
	fx := newJournalFixture(t, 6)
	jp := JournalPath(fx.path)
	img := fx.open(t)
	for name, w := range map[string][]Write{
		"outside":  {{Off: int64(len(fx.old)) - 10, Data: make([]byte, 20)}},
		"negative": {{Off: -1, Data: make([]byte, 1)}},
		"empty":    {{Off: 0, Data: nil}},
		"too big":  {{Off: 0, Data: make([]byte, MaxJournalEntry+1)}},
	} {
		if err := CommitJournal(jp, img, w, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if journalExists(t, jp) || fx.state(t) != "old" {
			t.Fatalf("%s: refused commit left traces", name)
		}
	}
	// A pending journal is never overwritten.
	var steps []string
	if err := CommitJournal(jp, img, fx.writes, journalCrashAt(3, &steps)); !errors.Is(err, errJournalCrash) {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(jp)
	if err := CommitJournal(jp, img, fx.writes[:1], nil); !errors.Is(err, ErrJournalPending) {
		t.Fatalf("commit over a pending journal: %v", err)
	}
	if after, _ := os.ReadFile(jp); !bytes.Equal(before, after) {
		t.Fatal("the pending journal changed")
	}
	// A huge file is dropped without being read.
	os.Remove(jp)
	f, _ := os.Create(jp)
	f.Truncate(MaxJournalBytes + 1)
	f.Close()
	out, err := RecoverJournal(jp, img, img, nil)
	if err != nil || out.Action != JournalDropped || journalExists(t, jp) {
		t.Fatalf("huge journal: %v %v", out, err)
	}
	// A directory in its place is an error, not something to remove.
	os.Mkdir(jp, 0o755)
	if _, err := RecoverJournal(jp, img, img, nil); err == nil {
		t.Fatal("a directory was taken for a journal")
	}
	os.Remove(jp)
	// A journal not beside its image needs a writer that names the image.
	if err := CommitJournal(filepath.Join(t.TempDir(), "j"), img, fx.writes, nil); err == nil {
		t.Fatal("committed without knowing the image")
	}
}

func TestJournalPathFor(t *testing.T) {
	if p, err := JournalPathFor("/x/y.img", "/var/j"); err != nil || p != "/var/j/y.img"+JournalSuffix {
		t.Fatalf("%q %v", p, err)
	}
	f := filepath.Join(t.TempDir(), "i")
	os.WriteFile(f, nil, 0o644)
	if p, err := JournalPathFor(f, ""); err != nil || p != f+JournalSuffix {
		t.Fatalf("%q %v", p, err)
	}
	if _, err := os.Stat("/dev/loop0"); err == nil {
		if _, err := JournalPathFor("/dev/loop0", ""); err == nil {
			t.Fatal("a block device's journal placed in /dev")
		}
	}
}

// FuzzDecodeJournal: a damaged journal may be refused, never panic or
// yield a write outside the image it names.
func FuzzDecodeJournal(f *testing.F) {
	id := ImageID{Size: 1 << 20}
	copy(id.UUID[:], "0123456789abcdef")
	j, _ := encodeJournal(id, []Write{{Off: 0, Data: []byte("hello")}, {Off: 4096, Data: make([]byte, 600)}})
	f.Add(j)
	f.Add([]byte(journalMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		jid, writes, err := decodeJournal(b)
		if err != nil {
			return
		}
		for _, w := range writes {
			if w.Off < 0 || w.Off+int64(len(w.Data)) > jid.Size || len(w.Data) == 0 || len(w.Data) > MaxJournalEntry {
				t.Fatalf("write %d+%d accepted for an image of %d bytes", w.Off, len(w.Data), jid.Size)
			}
		}
	})
}

package store

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The bytes of sandbox mode: the image file is opened read-only and an
// overlay put over it takes every write; nothing is written to the
// image, or created beside it, until CommitOverlay.

// AttachOverlay puts an overlay over the image: the named one at path
// (created when missing, its complete batches kept), else an anonymous
// one. A named overlay needs the image to be a file (ErrNotFile).
func (m *Image) AttachOverlay(path string) error {
	if path != "" && m.f == nil {
		return fmt.Errorf("overlay %s: %w", path, ErrNotFile)
	}
	id, err := IdentifyImage(m)
	if err != nil {
		return err
	}
	var ov *Overlay
	if path == "" {
		ov, err = NewAnonOverlay(id, nil)
	} else {
		ov, err = OpenOverlay(path, m.f, id)
	}
	if err != nil {
		return err
	}
	m.overlay = ov
	return nil
}

// imageFile writes the file of a sandboxed image (opened read-only),
// opening it for writing only when a commit or a replay needs it.
type imageFile struct {
	path string
	id   ImageID
	f    *os.File
}

func (w *imageFile) WriteAt(p []byte, off int64) error {
	if w.f == nil {
		f, err := os.OpenFile(w.path, os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the image for writing: %w", err)
		}
		w.f = f
	}
	if off < 0 || off > w.id.Size-int64(len(p)) {
		return &IOError{"write", w.path, off, len(p), ErrBeyondEnd}
	}
	if _, err := w.f.WriteAt(p, off); err != nil {
		return &IOError{"write", w.path, off, len(p), err}
	}
	return nil
}

func (w *imageFile) Sync() error {
	if w.f == nil {
		return nil
	}
	return w.f.Sync()
}

func (w *imageFile) ImageID() (ImageID, error) { return w.id, nil }

func (w *imageFile) Close() {
	if w.f != nil {
		w.f.Close()
	}
}

// JournalWriter is the image as a commit writes it: through WriteAt and
// Sync, saying which image it is (ImageIdentifier) to CommitJournal.
func (m *Image) JournalWriter() Writer { return identified{m} }

type identified struct{ *Image }

func (w identified) ImageID() (ImageID, error) { return IdentifyImage(w.Image) }

// Recover finishes (or drops) an interrupted commit before anything
// reads the metadata: the redo journal at journal, then a large
// commit's file beside it. It writes through the image when that is
// writable, else (a sandbox's image, opened read-only) through its file,
// opened for writing only if a replay needs it: a sandbox finishes them
// too, they are commits already decided. Call it before AttachOverlay.
func (m *Image) Recover(journal string) (JournalOutcome, error) {
	if m.f == nil {
		return JournalOutcome{}, fmt.Errorf("journal %s: %w", journal, ErrNotFile)
	}
	w := m.JournalWriter()
	if !m.writable {
		f := &imageFile{path: m.path, id: ImageID{Size: m.size}} // a replay needs no uuid
		defer f.Close()
		w = f
	}
	out, err := RecoverJournal(journal, w, m, nil)
	if err != nil {
		return out, err
	}
	big, err := recoverLargeCommit(commitFilePath(journal), w, m)
	if big.Action != JournalNone {
		out = big
	}
	return out, err
}

// errNoOverlay is returned by CommitOverlay on an image without one.
var errNoOverlay = errors.New("the image has no overlay to commit")

// CommitOverlay applies the image's overlay to its file crash-safely and
// empties it; it returns how many bytes it wrote. Commits up to
// journalLimit bytes of journal (0: MaxJournalBytes, the most a journal
// holds) go through the redo journal at journal; larger ones through a
// commit file beside it (commit_large.go). A crash before the journal
// (or file) is complete leaves the image as it was and the overlay
// staged; after, the next Recover finishes the commit.
func (m *Image) CommitOverlay(journal string, journalLimit int64, fault FaultHook) (int64, error) {
	ov := m.overlay
	if ov == nil {
		return 0, errNoOverlay
	}
	if m.md != nil {
		return 0, fmt.Errorf("commit: %w", ErrMetadumpReadOnly)
	}
	if m.f == nil {
		return 0, fmt.Errorf("commit: %w", ErrNotFile)
	}
	if journalLimit <= 0 || journalLimit > MaxJournalBytes {
		journalLimit = MaxJournalBytes
	}
	if err := ov.Commit(nil); err != nil { // a failed repair's leftovers join the batch
		return 0, err
	}
	n, total := ov.Stats()
	if n == 0 {
		return 0, nil
	}
	if err := ov.markApplying(); err != nil {
		return 0, err
	}
	w := &imageFile{path: m.path, id: ov.id}
	defer w.Close()
	var err error
	if journalHdrLen+journalTrailer+int64(n)*journalEntHdr+total <= journalLimit {
		var writes []Write
		if writes, err = ov.writes(); err == nil {
			err = CommitJournal(journal, w, writes, fault)
		}
	} else {
		err = commitLarge(commitFilePath(journal), w, ov, fault)
	}
	if err != nil {
		return 0, err
	}
	return total, ov.Reset()
}

package repair

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Sandbox mode: the image file is opened read-only and locked as a
// writer would lock it; every write goes to an overlay (overlay.go), a
// repair's commit becomes one atomic batch of it, and nothing is
// written to the image, or created beside it, until CommitOverlay.

// ErrNotSandbox is wrapped by CommitOverlay and DiscardOverlay outside
// sandbox mode.
var ErrNotSandbox = errors.New("not in sandbox mode (nothing is staged: writes go to the image)")

// Sandboxed reports whether writes go to an overlay.
func (fs *FS) Sandboxed() bool { return fs.Img.overlay != nil }

// Overlay is the sandbox's overlay, nil outside sandbox mode.
func (fs *FS) Overlay() *Overlay { return fs.Img.overlay }

// attachOverlay puts the sandbox's overlay over img: the named one at
// path, else an anonymous one.
func attachOverlay(img *Image, path string) error {
	id, err := IdentifyImage(img)
	if err != nil {
		return err
	}
	var ov *Overlay
	if path == "" {
		ov, err = NewAnonOverlay(id, nil)
	} else {
		ov, err = OpenOverlay(path, img.f, id)
	}
	if err != nil {
		return err
	}
	img.overlay = ov
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

// recoverImage finishes (or drops) an interrupted commit before anything
// reads the metadata: the redo journal, then a large commit's file. A
// sandbox finishes them too: they are commits already decided.
func recoverImage(journal string, img *Image, sandbox bool) (JournalOutcome, error) {
	var w Writer = rawWriter{img}
	if sandbox {
		f := &imageFile{path: img.Path(), id: ImageID{Size: img.Size()}} // a replay needs no uuid
		defer f.Close()
		w = f
	}
	out, err := RecoverJournal(journal, w, img, nil)
	if err != nil {
		return out, err
	}
	big, err := recoverLargeCommit(commitFilePath(journal), w, img)
	if big.Action != JournalNone {
		out = big
	}
	return out, err
}

// CommitOverlay applies the overlay to the image crash-safely and empties
// it; it returns how many bytes it wrote. Up to a journal's worth go
// through the redo journal beside the image; more through a commit file
// there (commit_large.go). A crash before the journal (or file) is
// complete leaves the image as it was and the overlay staged; after, the
// next open finishes the commit.
func (fs *FS) CommitOverlay(fault FaultHook) (int64, error) {
	ov := fs.Img.overlay
	if ov == nil {
		return 0, ErrNotSandbox
	}
	fs.state.Lock()
	defer fs.state.Unlock()
	defer fs.Invalidate()
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
	w := &imageFile{path: fs.Img.Path(), id: ov.id}
	defer w.Close()
	var err error
	if journalHdrLen+journalTrailer+int64(n)*journalEntHdr+total <= journalLimit {
		var writes []Write
		if writes, err = ov.writes(); err == nil {
			err = CommitJournal(fs.journal, w, writes, fault)
		}
	} else {
		err = commitLarge(commitFilePath(fs.journal), w, ov, fault)
	}
	if err != nil {
		return 0, err
	}
	return total, ov.Reset()
}

// DiscardOverlay drops everything staged.
func (fs *FS) DiscardOverlay() error {
	ov := fs.Img.overlay
	if ov == nil {
		return ErrNotSandbox
	}
	fs.state.Lock()
	defer fs.state.Unlock()
	defer fs.Invalidate()
	return ov.Reset()
}

// Plan runs a repair (or, with all, RepairAll) against a throwaway
// overlay over fs (over its own overlay in sandbox mode) and drops it:
// the results say what the repair would rewrite; nothing is written to
// the image or beside it. It works on read-only opens too.
func Plan(ctx context.Context, fs *FS, structures []string, opts RepairOptions, all bool) ([]*RepairResult, error) {
	id, err := IdentifyImage(&Image{f: fs.Img.f, path: fs.Img.path, size: fs.Img.size})
	if err != nil {
		return nil, err
	}
	ov, err := NewAnonOverlay(id, fs.Img.overlay)
	if err != nil {
		return nil, err
	}
	defer ov.Close()
	pfs, err := newFS(&Image{f: fs.Img.f, path: fs.Img.path, size: fs.Img.size, overlay: ov}, OpenOptions{})
	if err != nil {
		return nil, err
	}
	opts.Writer, opts.Fault = nil, nil
	if all {
		return RepairAll(ctx, pfs, structures, opts)
	}
	res, err := Repair(ctx, pfs, structures, opts)
	if res == nil {
		return nil, err
	}
	return []*RepairResult{res}, err
}

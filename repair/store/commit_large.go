package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A sandbox commit larger than one redo journal (MaxJournalBytes) cannot
// be cut into several journals: a crash between two would leave half of
// it in the image. It goes through a commit file instead, a redo log in
// the overlay's own format (overlay.go) beside the image: written as one
// batch and synced, then applied to the image, the image synced, the file
// removed. The next open replays a commit file with a complete batch and
// removes one without (the image was not touched yet).

// CommitFileSuffix is appended to the image's path to name the commit
// file (in the journal's directory when the journal has one).
const CommitFileSuffix = ".xfsbox-commit"

func commitFilePath(journal string) string {
	return strings.TrimSuffix(journal, JournalSuffix) + CommitFileSuffix
}

// commitLarge copies src's staged bytes into a new commit file, makes it
// durable, and applies it; memory stays bounded by one span.
func commitLarge(path string, w Writer, src *Overlay, fault FaultHook) error {
	step := faultSteps("commit file "+path, fault)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("commit file %s: %w (open the image read-write to replay or drop it)", path, ErrJournalPending)
	}
	if err := step("journal-write"); err != nil {
		return err
	}
	cf, err := OpenOverlay(path, nil, src.id)
	if err != nil {
		return err
	}
	defer cf.Close()
	err = src.each(func(off int64, b []byte) error { return cf.WriteAt(b, off) })
	if err == nil {
		err = cf.Commit(nil)
	}
	if err != nil {
		return err
	}
	if err := step("dir-sync"); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("commit file %s: %w", path, err)
	}
	return applyCommitFile(path, cf, w, step)
}

// applyCommitFile is the redo half shared by commit and replay.
func applyCommitFile(path string, cf *Overlay, w Writer, step func(string) error) error {
	i := 0
	err := cf.each(func(off int64, b []byte) error {
		if err := step(fmt.Sprintf("image-write #%d", i)); err != nil {
			return err
		}
		i++
		return w.WriteAt(b, off)
	})
	if err == nil {
		err = step("image-sync")
	}
	if err == nil {
		err = w.Sync()
	}
	if err != nil {
		return fmt.Errorf("%w (the commit file %s stays, to be replayed on the next open)", err, path)
	}
	return removeJournal(path, step)
}

// recoverLargeCommit replays or drops a commit file left by a crash.
func recoverLargeCommit(path string, w Writer, img ImageReader) (JournalOutcome, error) {
	var out JournalOutcome
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	id, err := IdentifyImage(img)
	if err != nil {
		return out, fmt.Errorf("commit file %s: %w", path, err)
	}
	noStep := faultSteps("", nil)
	cf, err := OpenOverlay(path, nil, id)
	if errors.Is(err, ErrOverlayForeign) {
		return out, fmt.Errorf("commit file %s: %w; left in place (move it beside its image, or remove it)", path, err)
	}
	if err != nil {
		return JournalOutcome{Action: JournalDropped, Reason: err.Error()}, removeJournal(path, noStep)
	}
	defer cf.Close()
	if cf.batches == 0 {
		return JournalOutcome{Action: JournalDropped, Reason: "no complete batch"}, removeJournal(path, noStep)
	}
	n, _ := cf.Stats()
	if err := applyCommitFile(path, cf, w, noStep); err != nil {
		return out, err
	}
	return JournalOutcome{Action: JournalReplayed, Writes: n}, nil
}

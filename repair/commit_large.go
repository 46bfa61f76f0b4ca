package repair

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

// journalLimit is the largest commit that goes through the journal
// (tests lower it to take the commit file's path).
var journalLimit = int64(MaxJournalBytes)

func commitFilePath(journal string) string {
	return strings.TrimSuffix(journal, JournalSuffix) + CommitFileSuffix
}

// journalBytes is the size of the journal that would hold writes.
func journalBytes(writes []Write) int64 {
	n := int64(journalHdrLen + journalTrailer)
	for _, w := range writes {
		n += journalEntHdr + int64(len(w.Data))
	}
	return n
}

func commitLarge(path string, w Writer, id ImageID, writes []Write, fault FaultHook) error {
	step := func(name string) error {
		if fault == nil {
			return nil
		}
		if err := fault(name); err != nil {
			return fmt.Errorf("commit file %s: %s: %w", path, name, err)
		}
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("commit file %s: %w (open the image read-write to replay or drop it)", path, ErrJournalPending)
	}
	if err := step("journal-write"); err != nil {
		return err
	}
	cf, err := OpenOverlay(path, nil, id)
	if err != nil {
		return err
	}
	err = cf.Commit(writes)
	cf.Close()
	if err != nil {
		return err
	}
	if err := step("dir-sync"); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("commit file %s: %w", path, err)
	}
	return applyJournal(path, w, writes, step)
}

// recoverLargeCommit replays or drops a commit file left by a crash.
func recoverLargeCommit(path string, w Writer, id ImageID) (JournalOutcome, error) {
	var out JournalOutcome
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	noStep := func(string) error { return nil }
	cf, err := OpenOverlay(path, nil, id)
	if errors.Is(err, ErrOverlayForeign) {
		return out, fmt.Errorf("commit file %s: %w; left in place (move it beside its image, or remove it)", path, err)
	}
	if err != nil || cf.batches == 0 {
		reason := "no complete batch"
		if err != nil {
			reason = err.Error()
		} else {
			cf.Close()
		}
		return JournalOutcome{Action: JournalDropped, Reason: reason}, removeJournal(path, noStep)
	}
	writes, err := cf.writes()
	cf.Close()
	if err != nil {
		return out, err
	}
	if err := applyJournal(path, w, writes, noStep); err != nil {
		return out, err
	}
	return JournalOutcome{Action: JournalReplayed, Writes: len(writes)}, nil
}

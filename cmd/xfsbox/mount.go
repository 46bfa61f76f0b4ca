package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/fusefs"
	"github.com/xfsbox/xfsbox/fusefs/view"
	"github.com/xfsbox/xfsbox/repair"
)

func init() {
	register(&command{
		name:    "mount",
		summary: "mount an image's metadata as a tree of files (FUSE, foreground)",
		usage:   "[--read-only] [--debug-fuse] [--scratch-dir DIR] [--max-workspace SIZE] IMAGE MNT",
		help: `Mounts the metadata of the XFS image IMAGE at the directory MNT and stays
in the foreground until unmounted: Ctrl-C (SIGINT), SIGTERM or
"fusermount3 -u MNT" unmount cleanly.

Every AG's headers (sb, agf, agi, agfl) and btrees (bnobt, cntbt, inobt,
finobt, rmapbt, refcountbt) appear as text (xfs_db's field names), .json
and .raw files; MNT/README explains the tree.

Control files: write a command line, read the JSON result of the last one.
  ctl              check [ag=N] | repair ag=N STRUCT... [force] | cancel
  ag/N/repair      STRUCT... [force]   (bnobt cntbt agf agfl rmapbt refcountbt inobt finobt agi sb all)
  status           what runs now, or how the last command ended
  log              one line per command and per change it made
A write returns when its command has finished; a failure is its errno
(EINVAL bad command, EBUSY another command runs, EROFS read-only mount,
ENOSPC/ENOMEM workspace refused, EIO repair failed, ECANCELED cancelled)
with the reason in ctl, status and log.

Flags:
  --read-only          open the image read-only (views and check only; repairs get EROFS)
  --debug-fuse         log every FUSE request (very verbose)
  --scratch-dir DIR    stage repair records in an unnamed file in DIR (default: memfd)
  --max-workspace SIZE refuse repairs that need more workspace than SIZE

Examples:
  mkdir -p /mnt/x && xfsbox mount --read-only disk.img /mnt/x &
  cat /mnt/x/ag/1/agf
  echo bnobt > /mnt/x/ag/0/repair && cat /mnt/x/ctl
  awk '!/^#/ {s += $2} END {print s}' /mnt/x/ag/0/bnobt/records
  fusermount3 -u /mnt/x
`,
		run: runMount,
	})
}

func runMount(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("mount")
	readOnly := fl.Bool("read-only", false, "")
	debug := fl.Bool("debug-fuse", false, "")
	scratch, maxWS := workspaceFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &usageError{fmt.Sprintf("need IMAGE and MNT, got %d argument(s)", len(pos))}
	}
	if _, err := fusefs.CheckMountpoint(pos[1]); err != nil {
		return &usageError{err.Error()}
	}
	if *maxWS != "" {
		if _, err := parseSize(*maxWS); err != nil {
			return &usageError{err.Error()}
		}
	}
	fs, err := repair.Open(pos[0], repair.OpenOptions{Writable: !*readOnly})
	if err != nil {
		if !*readOnly && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)) {
			return fmt.Errorf("%w (mounts are read-write so that repairs can run; add --read-only to only look)", err)
		}
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	wo, err := workspaceOptions(*scratch, *maxWS)
	if err != nil {
		return err
	}
	tree := view.NewTree(fs)
	tree.Workspace = wo
	srv, err := fusefs.Mount(pos[1], tree, fusefs.Options{ReadOnly: *readOnly, Debug: *debug})
	if err != nil {
		return fmt.Errorf("%w: %v", errMount, err)
	}
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	select {
	case <-done:
		logrus.Info("unmounted")
		return nil
	case <-ctx.Done():
	}
	for attempt := 0; ; attempt++ {
		err := srv.Unmount()
		if err == nil {
			<-done
			return nil
		}
		if attempt == 0 {
			logrus.WithError(err).Warn("unmount failed (busy?); retrying")
		}
		if attempt >= 50 {
			return fmt.Errorf("%w: unmount %s: %v", errMount, srv.Dir, err)
		}
		select {
		case <-done:
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reportJournal tells what opening did with an interrupted repair's
// journal.
func reportJournal(fs *repair.FS) {
	if fs.JournalPending {
		logrus.Warnf("%s: an interrupted repair's journal is pending; opened read-only, the image shows the state before it (open read-write to finish it)", fs.Img.Path())
	}
	if fs.Recovered.Action != repair.JournalNone {
		logrus.Warnf("%s: %s", fs.Img.Path(), fs.Recovered)
	}
}

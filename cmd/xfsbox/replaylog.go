package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/replay"
)

// Replaying a dirty log: before a repair (repair --replay-log), and at
// mount (a sandbox's overlay, or a read-only mount's in memory).

// replayInPlace replays the log of image before a repair: into the
// anonymous overlay of a sandbox, then committed to the image as a
// sandbox's commit is, crash-safely through the journal (or a commit
// file) beside it. A clean log is left alone.
func replayInPlace(ctx context.Context, image string) error {
	fs, err := openFS(image, fsys.OpenOptions{Writable: true, Sandbox: true})
	if err != nil {
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	res, err := repair.ReplayLog(ctx, fs, repair.RepairOptions{})
	if err != nil {
		return fmt.Errorf("replaying the log of %s: %w", image, err)
	}
	if res.AlreadyClean {
		logrus.Infof("%s: the log is clean: nothing to replay", image)
		return nil
	}
	if _, err := fs.CommitOverlay(nil); err != nil {
		return fmt.Errorf("committing the replay of %s's log: %w", image, err)
	}
	logrus.Infof("%s: %s", image, replaySummary(res))
	for _, s := range res.AfterWork {
		// Rebuilt structures are news to whoever asked for a replay.
		logrus.Warnf("%s: after the replay, as the kernel's mount does: %s", image, s)
	}
	return nil
}

// replayThrowaway replays fs's log into a throwaway over it (a dry run
// of repair --replay-log): the FS returned shows the replayed state and
// release drops it. With a clean log it returns fs itself.
func replayThrowaway(ctx context.Context, fs *fsys.FS) (*fsys.FS, func(), error) {
	tfs, release, err := fs.Throwaway()
	if err != nil {
		return nil, nil, err
	}
	res, err := repair.ReplayLog(ctx, tfs, repair.RepairOptions{})
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("replaying the log: %w", err)
	}
	if res.AlreadyClean {
		release()
		return fs, func() {}, nil
	}
	logrus.Infof("plan: would do: %s", replaySummary(res))
	return tfs, release, nil
}

// replayAtMount replays a dirty log at mount so that the views show the
// replayed state: in a sandbox, into its overlay (the next commit
// applies it, the log marked clean); read-only, into a throwaway in
// memory that is never written, the log left as it was for journal/ to
// show, and what the kernel does after the replay (finish intents, free
// the inodes on the unlinked lists, which the view keeps listed as
// unlinked for forensics) left undone and said; in a sandbox, the
// replay and that after-work as repair --replay-log does them. A log
// that cannot be replayed is reported and the image shown as it is. It
// returns the FS the views read and what releases it.
func replayAtMount(ctx context.Context, fs *fsys.FS, readOnly bool) (*fsys.FS, func()) {
	ls, err := fsys.ReadLogState(fs)
	if err != nil || ls.Clean {
		return fs, func() {}
	}
	path := fs.Img.Path()
	if !readOnly && !fs.Sandboxed() {
		logrus.Warnf("%s: the log is dirty (%s): repairs refuse it; mount with --sandbox to replay it into the overlay, or run xfsbox repair --replay-log", path, ls.Reason)
		return fs, func() {}
	}
	target, release := fs, func() {}
	if readOnly {
		tfs, rel, err := fs.Throwaway()
		if err != nil {
			logrus.Warnf("%s: the log is dirty and cannot be replayed in memory: %v; the views show the image as it is on disk", path, err)
			return fs, func() {}
		}
		target, release = tfs, rel
	}
	var res *replay.Result
	if readOnly {
		res, err = replay.Replay(ctx, target, replay.Options{Partial: true, LeaveLogDirty: true})
	} else {
		res, err = repair.ReplayLog(ctx, target, repair.RepairOptions{})
	}
	if err != nil {
		release()
		if errors.Is(err, replay.ErrRefused) {
			logrus.Warnf("%s: the log is dirty and xfsbox does not replay it: %v; the views show the image as it is on disk, before its log", path, err)
		} else {
			logrus.Warnf("%s: replaying the log failed: %v; the views show the image as it is on disk, before its log", path, err)
		}
		return fs, func() {}
	}
	if readOnly {
		logrus.Warnf("%s: the log is dirty: %s, in memory only: the views show the replayed state, journal/ the log as it is on disk", path, replaySummary(res))
		for _, s := range res.Incomplete {
			logrus.Warnf("%s: not done after the replay, in this read-only view: %s (the views show them as the replay leaves them; repair --replay-log or a sandbox mount does it)", path, s)
		}
	} else {
		logrus.Warnf("%s: the log is dirty: %s, into the sandbox's overlay: commit applies it", path, replaySummary(res))
	}
	return target, release
}

// replaySummary says in a line what a replay did.
func replaySummary(res *replay.Result) string {
	c := res.Counts
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.Buffers+c.InodeBuffers, "buffers")
	add(c.Inodes, "inodes")
	add(c.ICreates, "inode chunks created")
	add(c.Dquots, "dquots")
	add(c.BuffersSkipped+c.InodesSkipped+c.DquotsSkipped, "items newer on disk or not replayed")
	add(c.BuffersCancelled+c.InodesCancelled+c.ICreatesCancelled, "cancelled")
	s := fmt.Sprintf("log replayed (blocks %d to %d): %d transactions", res.TailBlock, res.HeadBlock, c.Transactions)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	if res.MarkedClean {
		s += "; marked clean"
	}
	if len(res.AfterWork) > 0 {
		s += "; after the replay: " + strings.Join(res.AfterWork, "; ")
	}
	return s
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/fusefs"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/view"
)

func init() {
	register(&command{
		name:    "mount",
		summary: "mount an image's metadata as a tree of files (FUSE, foreground)",
		usage:   "[--read-only | --sandbox [--overlay FILE]] [--debug-fuse] [--scratch-dir DIR] [--max-workspace SIZE] IMAGE MNT",
		help: `Mounts the metadata of the XFS image IMAGE at the directory MNT and stays
in the foreground until unmounted: Ctrl-C (SIGINT), SIGTERM or
"fusermount3 -u MNT" unmount cleanly.

Every AG's headers (sb, agf, agi, agfl) and btrees (bnobt, cntbt, inobt,
finobt, rmapbt, refcountbt) appear as text (xfs_db's field names), .json
and .raw files; MNT/README explains the tree.

Modes:
  (default)        read-write: a repair commits to the image crash-safely
                   (a dirty log refuses repairs: see below)
  --read-only      views only; every control file refuses writes (EROFS)
                   (xfsbox repair --dry-run plans without a mount)
  --sandbox        repairs are staged in a copy-on-write overlay; the image
                   file is opened read-only and nothing is written to it or
                   beside it until "commit"; views and MNT/image show the
                   staged state, so "xfs_repair -n MNT/image" judges a repair
                   before it is applied; "discard" drops it. The overlay is
                   in memory unless --overlay FILE names a file, which
                   survives unmount and mounts again over the same image.

A dirty log (a crash, a frozen or live copy) is replayed at mount, as the
kernel's mount would, so that files/ and the views show the replayed
state: with --sandbox into the overlay (the log marked clean there;
"commit" applies the replay with everything else); with --read-only in
memory only, nothing written, the log left as it is on disk (journal/
shows it), and what the kernel does after a replay (finish unfinished
intents, free inodes left on the unlinked lists, which stay listed there
for a look) left undone and logged; --sandbox does that after-work as
repair --replay-log does. A log xfsbox cannot replay is logged by name and the
image shown as it is on disk. The default mode does not replay: its
repairs refuse a dirty log (xfsbox repair --replay-log replays it).

Control files: write a command line, read the JSON result of the last one.
  ctl              check [ag=N] | repair ag=N STRUCT... [force] | plan ag=N STRUCT...
                   | commit | discard | cancel   ("repair all", "plan all": every AG)
  ag/N/repair      STRUCT... [force] | plan STRUCT...
                   (bnobt cntbt agf agfl rmapbt refcountbt inobt finobt agi sb all)
  status           what runs now, or how the last command ended (and what is staged)
  log              one line per command and per change it made
  image            the image as it reads now, staged changes included (read-only)
plan runs the repair against a throwaway overlay and reports what it would
rewrite, blocks allocated and freed, counters before and after; it writes
nothing. commit applies the sandbox's overlay through the redo journal
beside the image (replayed on the next open after a crash), then empties it.
A write returns when its command has finished; a failure is its errno
(EINVAL bad command or commit/discard outside --sandbox, EBUSY another
command runs (a second write to the same control file waits for the first
instead), EROFS read-only mount,
ENOSPC/ENOMEM workspace refused, EIO repair failed, ECANCELED cancelled)
with the reason in ctl, status and log. SIGINT/SIGTERM cancel a running
command before its commit point (past it, it finishes), then unmount.

Flags:
{{flags}}

Examples:
  mkdir -p /mnt/x && xfsbox mount --read-only disk.img /mnt/x &
  cat /mnt/x/ag/1/agf
  echo bnobt > /mnt/x/ag/0/repair && cat /mnt/x/ctl
  awk '!/^#/ {s += $2} END {print s}' /mnt/x/ag/0/bnobt/records
  fusermount3 -u /mnt/x
  xfsbox mount --sandbox --overlay disk.ovl disk.img /mnt/x &
  echo 'repair all' > /mnt/x/ctl && xfs_repair -n /mnt/x/image && echo commit > /mnt/x/ctl
`,
		flags: func(fl *flag.FlagSet) { mountFlags(fl) },
		run:   runMount,
	})
}

func mountFlags(fl *flag.FlagSet) (readOnly, debug, sandbox *bool, overlay, scratch, maxWS *string) {
	readOnly = fl.Bool("read-only", false, "open the image read-only (views and check only; repairs get EROFS)")
	debug = fl.Bool("debug-fuse", false, "log every FUSE request (very verbose)")
	sandbox = fl.Bool("sandbox", false, "stage repairs in an overlay; the image changes only on commit")
	overlay = fl.String("overlay", "", "with --sandbox: keep the overlay in `FILE` (created if missing;\nrefused if made over another image or an image changed since)")
	scratch, maxWS = workspaceFlags(fl)
	return
}

func runMount(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("mount")
	readOnly, debug, sandbox, overlay, scratch, maxWS := mountFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &usageError{fmt.Sprintf("need IMAGE and MNT, got %d argument(s)", len(pos))}
	}
	if *sandbox && *readOnly {
		return &usageError{"--sandbox and --read-only exclude each other (a sandbox stages repairs; --read-only refuses them)"}
	}
	if *overlay != "" && !*sandbox {
		return &usageError{"--overlay FILE needs --sandbox"}
	}
	if _, err := fusefs.CheckMountpoint(pos[1]); err != nil {
		return &usageError{err.Error()}
	}
	if *maxWS != "" {
		if _, err := parseSize(*maxWS); err != nil {
			return &usageError{err.Error()}
		}
	}
	wo, err := workspaceOptions(*scratch, *maxWS)
	if err != nil {
		return err
	}
	if v, comp, _ := store.SniffImage(pos[0]); (v != 0 || comp != "") && !*readOnly && !*sandbox {
		// A metadump is never written: read-only unless asked for a
		// sandbox, whose repairs stay in memory.
		logrus.Infof("%s is a metadump: mounting it read-only (--sandbox to try repairs on it)", pos[0])
		*readOnly = true
	}
	fs, err := openFS(pos[0], fsys.OpenOptions{Writable: !*readOnly, Sandbox: *sandbox, Overlay: *overlay, Scratch: wo})
	if err != nil {
		if !*readOnly && !*sandbox && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)) {
			return fmt.Errorf("%w (mounts are read-write so that repairs can run; add --read-only to only look)", err)
		}
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	reportOverlay(fs)
	// A dirty log is replayed first, so that the views show what a mount
	// would: into the sandbox's overlay, or in memory when read-only.
	fs, release := replayAtMount(ctx, fs, *readOnly)
	defer release()
	fs.Scratch = wo // the paths index of inodes/N/paths
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
	// SIGINT or SIGTERM: cancel a running command (one past its commit
	// point runs to its end) and wait for it before unmounting, so that
	// exiting never leaves it half-way; then unmount, lazily if files
	// stay open, rather than leave a dead mount behind.
	srv.Shutdown()
	for attempt := 0; ; attempt++ {
		err := srv.Unmount()
		if err == nil {
			<-done
			return nil
		}
		if attempt == 0 {
			logrus.WithError(err).Warn("unmount failed (busy?); retrying")
		}
		if attempt >= 10 { // a command's writer, if any, has had time to close
			if lerr := unix.Unmount(srv.Dir, unix.MNT_DETACH); lerr != nil {
				if out, ferr := exec.Command("fusermount3", "-u", "-z", srv.Dir).CombinedOutput(); ferr != nil {
					return fmt.Errorf("%w: unmount %s: %v (lazy: %v; %s)", errMount, srv.Dir, err, lerr, bytes.TrimSpace(out))
				}
			}
			logrus.Warnf("%s: files still open under it; detached lazily", srv.Dir)
			return nil
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
func reportJournal(fs *fsys.FS) {
	if fs.JournalPending {
		logrus.Warnf("%s: an interrupted repair's journal is pending; opened read-only, the image shows the state before it (open read-write to finish it)", fs.Img.Path())
	}
	if fs.Recovered.Action != store.JournalNone {
		logrus.Warnf("%s: %s", fs.Img.Path(), fs.Recovered)
	}
}

// reportOverlay tells what a sandbox's named overlay held when opened.
func reportOverlay(fs *fsys.FS) {
	ov := fs.Overlay()
	if ov == nil || ov.Path() == "" {
		return
	}
	ext, n := ov.Stats()
	logrus.Infof("sandbox overlay %s: %d bytes in %d extents staged", ov.Path(), n, ext)
	if ov.Dropped > 0 {
		logrus.Warnf("sandbox overlay %s: %d bytes of an incomplete batch dropped (a crash during a repair's commit)", ov.Path(), ov.Dropped)
	}
	if ov.Applying {
		logrus.Warnf("sandbox overlay %s: a commit to the image was interrupted; the staged state is shown: commit again to finish it", ov.Path())
	}
}

package main

import (
	"context"
	"fmt"
	"io"
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
		usage:   "[--read-only] [--debug-fuse] IMAGE MNT",
		help: `Mounts the metadata of the XFS image IMAGE at the directory MNT and stays
in the foreground until unmounted: Ctrl-C (SIGINT), SIGTERM or
"fusermount3 -u MNT" unmount cleanly.

Every AG's headers (sb, agf, agi, agfl) and btrees (bnobt, cntbt, inobt,
finobt, rmapbt, refcountbt) appear as text (xfs_db's field names), .json
and .raw files; MNT/README explains the tree.

Flags:
  --read-only    open the image read-only (nothing can be written)
  --debug-fuse   log every FUSE request (very verbose)

Examples:
  mkdir -p /mnt/x && xfsbox mount --read-only disk.img /mnt/x &
  cat /mnt/x/ag/1/agf
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
	// Nothing is written yet by any view, so the image is opened
	// read-only whatever the mode; repairs will open it read-write.
	fs, err := repair.Open(pos[0], repair.OpenOptions{})
	if err != nil {
		return err
	}
	defer fs.Close()
	srv, err := fusefs.Mount(pos[1], view.NewTree(fs), fusefs.Options{ReadOnly: *readOnly, Debug: *debug})
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

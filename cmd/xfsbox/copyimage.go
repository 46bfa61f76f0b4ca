package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// errOutputExists refuses an --output that is already there.
var errOutputExists = errors.New("already exists (xfsbox writes the repaired copy to a new file only)")

// copyImage copies the image src to the new file dst without ever opening
// src for writing: a reflink (FICLONE) where the filesystem can, else a
// copy that leaves holes where src has holes (or zero blocks). dst is
// synced. A dst that exists, or is src itself, is refused.
//
// A metadump src is restored into dst instead, as xfs_mdrestore would
// restore it (sparse: what it lacks is a hole), its index and any
// decompressed copy staged as scratch says.
func copyImage(ctx context.Context, src, dst string, scratch workspace.Options) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if dst == "" {
		return &usageError{"--output needs a file name"}
	}
	if dst == src || filepath.Clean(dst) == filepath.Clean(src) {
		return &usageError{fmt.Sprintf("--output %s is the image itself", dst)}
	}
	if dst, err := os.Stat(dst); err == nil && os.SameFile(st, dst) {
		return &usageError{fmt.Sprintf("--output %s is the image itself", dst.Name())}
	}
	// A journal or commit file left beside NEW by an earlier repair of a
	// file of that name would be replayed over the new copy on open.
	for _, p := range copyCompanions(dst) {
		if _, err := os.Lstat(p); err == nil {
			return &usageError{fmt.Sprintf("--output %s: %s exists, left by an earlier repair of a file of that name; remove it first", dst, p)}
		}
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, os.ErrExist) {
		return &usageError{fmt.Sprintf("--output %s: %v", dst, errOutputExists)}
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if md, isMD, err := store.OpenMetadump(ctx, src, scratch); isMD {
		if err != nil {
			return err
		}
		defer md.Close()
		logrus.Infof("%s is a metadump (%s): restoring it into %s", src, md.Info, dst)
		return md.Restore(ctx, out, nil)
	} else if err != nil {
		return err
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		sz, err := unix.IoctlGetUint64(int(in.Fd()), unix.BLKGETSIZE64)
		if err != nil {
			return fmt.Errorf("%s: size: %w", src, err)
		}
		size = int64(sz)
	} else if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		return out.Sync()
	}
	if err := copySparse(in, out, size); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := out.Truncate(size); err != nil {
		return err
	}
	return out.Sync()
}

// copySparse copies the data segments of in (SEEK_DATA/SEEK_HOLE where
// supported, else all of it), skipping all-zero blocks.
func copySparse(in, out *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		end := size
		if err != nil {
			data = off // no SEEK_DATA: copy everything
		} else if h, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE); err == nil {
			end = min(h, size)
		}
		for off = data; off < end; {
			n := int(min(int64(len(buf)), end-off))
			if _, err := in.ReadAt(buf[:n], off); err != nil && err != io.EOF {
				return err
			}
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return err
				}
			}
			off += int64(n)
		}
	}
	return nil
}

// repairTarget is the image repair opens: IMAGE, or with --output the
// copy made of it.
func repairTarget(ctx context.Context, image string, dryRun bool, output string, scratch workspace.Options) (string, error) {
	if output == "" {
		return image, nil
	}
	if dryRun {
		return "", &usageError{"--dry-run and --output exclude each other"}
	}
	if err := copyImage(ctx, image, output, scratch); err != nil {
		return "", err
	}
	logrus.Infof("copied %s to %s; repairing the copy", image, output)
	return output, nil
}

// removeUnfinishedCopy removes the --output copy when its repair failed
// (a bad argument, an error, a signal), so that no half-repaired file
// passes for the result and the same command can be run again. A repair
// that ran to the end but left findings (errCorrupt) keeps its copy: it
// is the best the repair could do, and the findings were printed.
func removeUnfinishedCopy(output string, err error) {
	if err == nil || errors.Is(err, errCorrupt) {
		return
	}
	for _, p := range append(copyCompanions(output), output) {
		if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			logrus.Warnf("the repair of the copy failed; removing %s: %v", p, rerr)
			return
		}
	}
	logrus.Warnf("the repair of the copy failed; removed %s (the image is unchanged)", output)
}

// copyCompanions are the files a repair of the copy may leave beside it:
// its redo journal and its commit file.
func copyCompanions(output string) []string {
	return []string{store.JournalPath(output), output + store.CommitFileSuffix}
}

// planRepair runs repair --dry-run: the repair against a throwaway
// overlay, its log lines marked as a plan's.
func planRepair(ctx context.Context, fs *fsys.FS, what repair.Structures, where fsys.AGs, opts repair.RepairOptions) ([]*repair.RepairResult, error) {
	opts.Log = func(msg string) { logrus.Info("plan: would do: " + msg) }
	return repair.Plan(ctx, fs, what, where, opts)
}

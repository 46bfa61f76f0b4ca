package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/judge"
	"github.com/xfsbox/xfsbox/internal/testimg"
)

// TestFilesMatchKernel: the files/ tree of a read-only mount, read by our
// own decoders, is the kernel's: for every reachable path the type,
// mode, owners, size, link count, st_blocks, the four times to the
// nanosecond (birth time from statx), device numbers, symlink target,
// every extended attribute (ACLs included), the content's sha256, each
// directory's entry names and the inode numbers (hard links included).
// The kernel's side is a loop mount of a copy; on the all-features,
// mkfs-defaults and 1 KiB-block images, and the parent profile (its
// parent pointers hidden from listxattr, as the kernel hides them).
func TestFilesMatchKernel(t *testing.T) {
	testimg.Require(t, "root", "fuse", "loop", "xfsprogs")
	for _, prof := range []string{"allfeatures", "defaults", "1k", "parent"} {
		t.Run(prof, func(t *testing.T) {
			img := testimg.Image(t, prof)
			want := judge.KernelTree(t, img)
			mnt := mountTree(t, img)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			got, err := judge.SnapshotContext(ctx, filepath.Join(mnt, "files"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := judge.Diff(want, got, judge.DiffOptions{}); len(diff) > 0 {
				t.Fatalf("files/ differs from the kernel's mount of %s:\n%s", prof, strings.Join(diff, "\n"))
			}
			t.Logf("%d paths agree", len(want.Entries))
		})
	}
}

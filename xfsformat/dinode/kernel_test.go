package dinode

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// labelPaths are the fixture labels' files in a generated image.
var labelPaths = map[string]string{
	"hello.txt": "ag0/hello.txt", "big.bin": "ag0/big.bin", "_ag0": "ag0", "bigdir": "ag0/bigdir",
	"tree_hello.link": "ag0/tree/hello.link", "tree_long.link": "ag0/tree/long.link",
	"inodes_f000018": "ag0/inodes/f000018", "shared.reflink": "ag0/shared.reflink",
	"xattr_few": "ag0/xattr/few", "xattr_bigval": "ag0/xattr/bigval", "punched": "ag0/punched",
}

// TestVerifyKernel is the kernel's word on TestVerifyRules: each broken
// inode is written into a copy of the allfeatures image, which is then
// mounted read-only; the kernel must refuse to read that inode (stat
// fails with EUCLEAN), as Verify says. The cases that change the
// filesystem's features or break a free inode have no file to stat.
func TestVerifyKernel(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Copy(t, "allfeatures")
	im := openPath(t, img)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// stat of paths on a fresh read-only mount: the first error.
	stat := func(paths ...string) error {
		mnt, umount := testimg.LoopMount(t, img, "ro")
		defer umount()
		for _, p := range paths {
			if _, err := os.Lstat(filepath.Join(mnt, p)); err != nil {
				return err
			}
		}
		return nil
	}
	all := slices.Collect(maps.Values(labelPaths))
	if err := stat(all...); err != nil {
		t.Fatalf("the unbroken copy: %v", err)
	}
	// A change Verify accepts (the generation, the timestamps) the kernel
	// reads: writing an inode back is not what it refuses.
	harmless := verifyCase{name: "harmless", label: "hello.txt", core: func(c *Core) {
		c.Gen++
		c.ATime, c.MTime = c.MTime, c.ATime
	}}
	for _, tc := range append(verifyCases, harmless) {
		path, ok := labelPaths[tc.label]
		if tc.nrext64 || tc.fs != nil || !ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			o, err := xfsdb.Print(img, "path /"+path)
			if err != nil {
				t.Fatal(err)
			}
			ino, err := o.Uint("v3.inumber")
			if err != nil {
				t.Fatal(err)
			}
			agno, agino := im.Geo.SplitIno(ino)
			off := im.Geo.ByteOffset(agno, 0) + int64(agino)*int64(im.Geo.InodeSize)
			orig := im.Inode(t, ino)
			c, err := Decode(append([]byte(nil), orig...))
			if err != nil {
				t.Fatal(err)
			}
			if tc.core != nil {
				tc.core(c)
			}
			m := reencode(t, c, tc.raw)
			errs := Verify(im.fs, m, ino)
			if tc.field == "" && len(errs) > 0 || tc.field != "" && !hasField(errs, tc.field) {
				t.Fatalf("Verify says %v, want a finding on %q", errs, tc.field)
			}
			if _, err := f.WriteAt(m.Buf, off); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := f.WriteAt(orig, off); err != nil {
					t.Fatal(err)
				}
			}()
			err = stat(path)
			switch {
			case tc.field == "" && err != nil:
				t.Errorf("the kernel refuses an inode Verify accepts: %v", err)
			case tc.field != "" && !errors.Is(err, syscall.EUCLEAN):
				t.Errorf("the kernel reads the inode Verify rejects (%s): stat gives %v", tc.field, err)
			}
		})
	}
	if err := stat(all...); err != nil {
		t.Errorf("after the cases, restored: %v", err)
	}
}

func hasField(errs []error, field string) bool {
	for _, e := range errs {
		var fe *xfsformat.FormatError
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

package dir

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// protoImage makes a filesystem with mkfs.xfs -p (no mount needed):
// directories of every format (a shortform one with every file type, a
// block one, a leaf one and a node one at 4 KiB directory blocks), so
// that formats the test images lack (v4, no ftype, ASCII-CI) are judged
// on real blocks too.
func protoImage(t *testing.T, mkfsOpts ...string) string {
	t.Helper()
	dir := t.TempDir()
	var p strings.Builder
	p.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	p.WriteString("sf d--755 0 0\nfile ---644 0 0 /dev/null\nfifo p--644 0 0\nchar c--644 0 0 1 3\nblk b--644 0 0 7 0\nlink l--777 0 0 file\nsub d--755 0 0\n$\n$\n")
	for _, d := range []struct {
		name, prefix string
		n            int
	}{{"block", "file-", 40}, {"leaf", "leaf-entry-name-", 400}, {"node", "Node-Entry-With-A-Longer-Name-", 3000}} {
		fmt.Fprintf(&p, "%s d--755 0 0\n", d.name)
		for i := range d.n {
			fmt.Fprintf(&p, "%s%d ---644 0 0 /dev/null\n", d.prefix, i)
		}
		p.WriteString("$\n")
	}
	p.WriteString("$\n")
	proto := filepath.Join(dir, "proto")
	if err := os.WriteFile(proto, []byte(p.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "proto.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	// mkfs.xfs wants at least 300 MB; the file stays sparse.
	if err := f.Truncate(320 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mkfs, err := testimg.LookTool("mkfs.xfs")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-q", "-f", "-K", "-p", proto}, mkfsOpts...)
	if out, err := testimg.RunTimed(t, 2*time.Minute, mkfs, append(args, img)...); err != nil {
		t.Fatalf("mkfs.xfs %v: %v\n%s", args, err, out)
	}
	return img
}

// TestProtoImages judges the decoders on v4 (dir2) directories with and
// without file types and on an ASCII-CI v5 filesystem, every directory
// printed and listed by xfs_db as in TestImages.
func TestProtoImages(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	const v4 = "crc=0,finobt=0,reflink=0,rmapbt=0,inobtcount=0,bigtime=0"
	for _, c := range []struct {
		name string
		opts []string
	}{
		{"v4", []string{"-m", v4, "-i", "sparse=0"}},
		{"v4noftype", []string{"-m", v4, "-i", "sparse=0", "-n", "ftype=0"}},
		{"v4ci1k", []string{"-m", v4, "-i", "sparse=0", "-n", "version=ci", "-b", "size=1024"}},
		{"v5ci", []string{"-n", "version=ci"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := newStats()
			img := protoImage(t, c.opts...)
			im := openImage(t, img)
			checkImage(t, img, st)
			t.Logf("%s: v5 %v ftype %v ci %v: forms %v, blocks %v, %d entries, %d lookups", c.name, im.g.V5, im.g.Ftype, im.g.ASCIICI, st.forms, st.magics, st.entries, st.lookups)
			for _, f := range []Form{FormShortform, FormBlock, FormLeaf, FormNode} {
				if st.forms[f] == 0 {
					t.Errorf("no %s directory", f)
				}
			}
		})
	}
}

package attr

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// decoded is one attribute as our decoders read it, value assembled.
type decoded struct {
	flags uint8
	name  string
	value []byte
}

func (d decoded) key() string { return NamespaceOf(d.flags).String() + ":" + d.name }

// judgeFork decodes inode ino's whole attr fork and holds every piece
// of it against xfs_db: the shortform fields (`inode N; print a`), or
// every mapped attr block (`inode N; ablock B; print`: node, leaf and
// remote blocks field by field). Every block and the fork must verify
// and every remote value assemble without complaint. It returns the
// attributes.
func judgeFork(t *testing.T, im *image, ino uint64) []decoded {
	t.Helper()
	f := openFork(t, im, ino)
	what := fmt.Sprintf("%s inode %d", filepath.Base(im.path), ino)
	report := func(e error) { t.Errorf("%s: %v", what, e) }
	var attrs []decoded
	collect := func(a *Attr) error {
		if a.Err != nil {
			t.Errorf("%s: %v", what, a.Err)
			return nil
		}
		v := bytes.Clone(a.Value)
		if a.Remote {
			n := RemoteBlocks(a.ValueLen, im.bsize(), im.v5())
			var errs []error
			v, errs = AssembleRemote(f.remoteRuns(t, a.ValueBlk, n), a.ValueLen, im.remoteOpts(ino))
			for _, e := range errs {
				t.Errorf("%s: remote value of %q: %v", what, a.Name, e)
			}
		}
		attrs = append(attrs, decoded{a.Flags, string(a.Name), v})
		return nil
	}
	opts := CheckOpts{V5: im.v5(), UUID: im.uuid(), Owner: ino, Daddr: f.daddr}
	if f.aformat == 1 {
		sf, err := DecodeShortform(f.local)
		if err != nil {
			t.Fatal(err)
		}
		o, err := xfsdb.Print(im.path, "inode "+strconv.FormatUint(ino, 10), "print a")
		if err != nil {
			t.Fatal(err)
		}
		compareFields(t, what+" shortform", sf.Fields("a.sfattr"), o)
		if err := CheckShortform(f.local, opts, report); err != nil {
			t.Fatal(err)
		}
		if err := WalkShortform(f.local, collect); err != nil {
			t.Fatal(err)
		}
		return attrs
	}
	blks := f.blocks()
	var batches [][]string
	for _, b := range blks {
		batches = append(batches, []string{"inode " + strconv.FormatUint(ino, 10), "ablock " + strconv.FormatUint(uint64(b), 10)})
	}
	objs, err := xfsdb.PrintMany(im.path, batches)
	if err != nil {
		t.Fatal(err)
	}
	read := f.reader(t)
	kinds := map[string]int{}
	for i, b := range blks {
		buf, _ := read(b)
		w := fmt.Sprintf("%s ablock %d", what, b)
		crcOK := xfsformat.CRCOK(buf, da.CRCOffset)
		switch magic := binary.BigEndian.Uint16(buf[8:]); {
		case da.IsNodeMagic(magic):
			kinds["node"]++
			n, err := da.DecodeNode(buf)
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, w, NodeFields(n, crcOK), objs[i])
			for _, e := range n.Verify(im.v5(), im.uuid(), f.daddr(b), ino) {
				t.Errorf("%s: %v", w, e)
			}
		case IsLeafMagic(magic):
			kinds["leaf"]++
			l, err := DecodeLeaf(buf)
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, w, l.Fields(crcOK), objs[i])
			if got := l.UsedBytes(); got != int(l.Hdr.UsedBytes) {
				t.Errorf("%s: entries take %d bytes, usedbytes says %d", w, got, l.Hdr.UsedBytes)
			}
		default:
			kinds["remote"]++
			compareFields(t, w, RemoteFields(buf, im.v5()), objs[i])
		}
	}
	t.Logf("%s: %d attr blocks %v", what, len(blks), kinds)
	if err := CheckBlocks(read, opts, report); err != nil {
		t.Fatal(err)
	}
	if err := WalkBlocks(read, collect); err != nil {
		t.Fatal(err)
	}
	return attrs
}

// TestImageForks judges the xattr files of the cached test images
// (shortform, node form, remote value; set by xfs_db attr_set, which
// fills values with 'v') against xfs_db.
func TestImageForks(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, p := range []string{"allfeatures", "defaults", "1k", "64k"} {
		t.Run(p, func(t *testing.T) {
			im := openImage(t, testimg.Image(t, p))
			for _, file := range []string{"few", "many", "bigval"} {
				ino := inodeOf(t, im.path, "/ag0/xattr/"+file)
				attrs := judgeFork(t, im, ino)
				if len(attrs) == 0 {
					t.Errorf("%s: no attributes", file)
				}
				for _, a := range attrs {
					if strings.Trim(string(a.value), "v") != "" {
						t.Errorf("%s: %s is not xfs_db's 'v' fill: %q", file, a.key(), short(string(a.value)))
					}
				}
			}
		})
	}
}

// xfsdbImage makes a filesystem in a sparse file with mkfs.xfs (mkfs
// options opts) holding empty files named by files, from a prototype
// (no mount, no root).
func xfsdbImage(t *testing.T, opts []string, files []string) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	proto := "proto\n0 0\nd--755 0 0\n"
	for _, f := range files {
		proto += f + " ---644 0 0 /dev/null\n"
	}
	proto += "$\n"
	if err := os.WriteFile(filepath.Join(dir, "proto"), []byte(proto), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 320<<20); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-q", "-p", filepath.Join(dir, "proto")}, opts...)
	if out, err := testimg.RunTimed(t, 2*60e9, "mkfs.xfs", append(args, img)...); err != nil {
		t.Fatalf("mkfs.xfs %v: %v\n%s", args, err, out)
	}
	return img
}

// setSpec is one xfs_db attr_set: flag "-u", "-r" or "-s", a name and
// the length of its 'v'-filled value.
type setSpec struct {
	flag string
	name string
	n    int
}

func (s setSpec) flags() uint8 {
	switch s.flag {
	case "-r":
		return FlagRoot
	case "-s":
		return FlagSecure
	}
	return 0
}

// attrSpecs are the attributes TestXfsdbForks sets, per file: a
// shortform fork in all three namespaces (xfs_db cannot set an empty
// value: the kernel test does), one leaf,
// a node form of mixed namespaces, and remote values (the largest a
// value may be, and one just past what a leaf keeps local).
func attrSpecs(blockSize int) map[string][]setSpec {
	m := map[string][]setSpec{
		"sf": {{"-u", "a", 5}, {"-r", "tr", 3}, {"-s", "sec", 1}, {"-u", "same", 1}, {"-r", "same", 2}},
	}
	for i := range 20 {
		m["leaf"] = append(m["leaf"], setSpec{"-u", fmt.Sprintf("leaf%02d", i), 40})
	}
	for i := range 400 {
		m["node"] = append(m["node"], setSpec{[]string{"-u", "-r", "-s"}[i%3], fmt.Sprintf("n%d.%s", i, strings.Repeat("x", i%50)), 1 + i%90})
	}
	m["remote"] = []setSpec{{"-u", "big", MaxValueLen}, {"-s", "mid", LocalMax(blockSize)}, {"-r", "small", 1}}
	return m
}

// TestXfsdbForks builds v5 and v4 filesystems (4 KiB and 1 KiB
// blocks) whose attributes xfs_db's attr_set writes, in every format
// and namespace, and judges our decoding of each fork against xfs_db's
// prints and the attributes that were set.
func TestXfsdbForks(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	for _, c := range []struct {
		name string
		opts []string
		bs   int
	}{
		{"v5", nil, 4096},
		{"v5-1k", []string{"-b", "size=1024"}, 1024},
		{"v4", []string{"-m", "crc=0"}, 4096},
		{"v4-1k", []string{"-m", "crc=0", "-b", "size=1024"}, 1024},
	} {
		t.Run(c.name, func(t *testing.T) {
			specs := attrSpecs(c.bs)
			var files []string
			for f := range specs {
				files = append(files, f)
			}
			img := xfsdbImage(t, c.opts, files)
			var cmds []string
			for f, ss := range specs {
				cmds = append(cmds, "-c", "path /"+f)
				for _, s := range ss {
					cmds = append(cmds, "-c", fmt.Sprintf("attr_set %s -v %d %s", s.flag, s.n, s.name))
				}
			}
			if out, err := exec.Command("xfs_db", append(append([]string{"-x"}, cmds...), img)...).CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("xfs_db attr_set: %v\n%s", err, out)
			}
			im := openImage(t, img)
			for f, ss := range specs {
				got := map[string][]byte{}
				for _, a := range judgeFork(t, im, inodeOf(t, img, "/"+f)) {
					got[a.key()] = a.value
				}
				if len(got) != len(ss) {
					t.Errorf("%s: %d attributes decoded, %d set", f, len(got), len(ss))
				}
				for _, s := range ss {
					k := decoded{flags: s.flags(), name: s.name}.key()
					if v, ok := got[k]; !ok {
						t.Errorf("%s: %s not decoded", f, k)
					} else if want := strings.Repeat("v", s.n); string(v) != want {
						t.Errorf("%s: %s = %d bytes %q, set %d 'v's", f, k, len(v), short(string(v)), s.n)
					}
				}
			}
		})
	}
}

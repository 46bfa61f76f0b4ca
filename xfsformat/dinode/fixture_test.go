package dinode

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// fixture is one profile of testdata/fixtures/dinode.tar.gz (made by
// testdata/mkdinode.sh): inodes and blocks cut from a generated image,
// with what xfs_db printed of them.
type fixture struct {
	profile string
	dir     string
	fs      *FS
	labels  map[string]uint64 // label ("punched", "tree_long.link") -> inode
	inos    []uint64          // in index order
	blocks  map[uint64][]byte // bmbt and symlink blocks by fsb
}

var fixtureDinodeProfiles = []string{"allfeatures", "1k", "nrext64"}

func loadFixtures(t testing.TB) []*fixture {
	t.Helper()
	root := testimg.Fixture(t, "dinode")
	var out []*fixture
	for _, p := range fixtureDinodeProfiles {
		out = append(out, loadFixture(t, root, p))
	}
	return out
}

func loadFixture(t testing.TB, root, profile string) *fixture {
	t.Helper()
	fx := &fixture{profile: profile, dir: filepath.Join(root, profile), labels: map[string]uint64{}, blocks: map[uint64][]byte{}}
	sb, err := xfsformat.DecodeSuperblock(readFile(t, filepath.Join(fx.dir, "sb.bin")))
	if err != nil {
		t.Fatal(err)
	}
	g, err := xfsformat.NewGeometry(sb)
	if err != nil {
		t.Fatal(err)
	}
	fx.fs = NewFS(sb, g)
	for l := range strings.Lines(string(readFile(t, filepath.Join(fx.dir, "index.txt")))) {
		n, label, _ := strings.Cut(strings.TrimSpace(l), " ")
		ino, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			t.Fatalf("index.txt: %q", l)
		}
		fx.labels[label] = ino
		fx.inos = append(fx.inos, ino)
	}
	files, _ := filepath.Glob(filepath.Join(fx.dir, "block", "*.bin"))
	for _, f := range files {
		fsb, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(f), ".bin"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		fx.blocks[fsb] = readFile(t, f)
	}
	return fx
}

// readFile reads the file at the path made of parts, or fails the test.
func readFile(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (fx *fixture) inodeBytes(t testing.TB, ino uint64) []byte {
	return readFile(t, filepath.Join(fx.dir, "inode", strconv.FormatUint(ino, 10)+".bin"))
}

func (fx *fixture) core(t testing.TB, label string) *Core {
	t.Helper()
	ino, ok := fx.labels[label]
	if !ok {
		t.Fatalf("%s: no inode %q in the fixture", fx.profile, label)
	}
	c, err := Decode(fx.inodeBytes(t, ino))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reader serves the fixture's blocks; any other block is an error.
func (fx *fixture) reader() BlockReader { return mapReader(fx.blocks) }

// TestFixtureOracle compares every fixture inode with what xfs_db printed
// of it when the fixture was cut (the same comparison as TestOracle,
// without xfsprogs): fields, the first bmap lines, a clean Verify, the
// bytes encoded back, a full walk of btree forks (every bmbt block is
// in the fixture) and symlink targets and blocks.
func TestFixtureOracle(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.profile, func(t *testing.T) {
			for _, ino := range fx.inos {
				c, err := Decode(fx.inodeBytes(t, ino))
				if err != nil {
					t.Fatal(err)
				}
				base := filepath.Join(fx.dir, "inode", strconv.FormatUint(ino, 10))
				o := xfsdb.Parse(string(readFile(t, base+".txt")))
				o.Messages = nil
				for l := range strings.Lines(string(readFile(t, base+".bmap"))) {
					o.Messages = append(o.Messages, strings.TrimRight(l, "\n"))
				}
				checkFixtureInode(t, fx, c, o)
			}
		})
	}
}

func checkFixtureInode(t *testing.T, fx *fixture, c *Core, o *xfsdb.Object) {
	t.Helper()
	name := fmt.Sprintf("inode %d", c.Ino)
	compareDB(t, fx.fs, c, o, o.Messages, fx.reader())
	for _, attr := range []bool{false, true} {
		if c.ForkFormat(attr) == xfsformat.FmtBtree && (!attr || c.ForkOff != 0) {
			if exts, err := NewMap(fx.fs, c, attr, fx.reader()).Extents(); err != nil || uint64(len(exts)) != c.ForkExtents(attr) {
				t.Errorf("%s: walking the bmbt (attr %v): %d extents, %v", name, attr, len(exts), err)
			}
		}
	}
	if c.FileType() != xfsformat.ModeSymlink {
		return
	}
	target, err := Target(fx.fs, c, fx.reader())
	if err != nil || len(target) != int(c.Size) {
		t.Errorf("%s: target %q: %v", name, target, err)
	}
	if c.Format != xfsformat.FmtExtents {
		return
	}
	recs, _ := c.Extents(false)
	blk, err := DecodeSymlinkBlock(fx.blocks[recs[0].StartBlock])
	if err != nil {
		t.Fatal(err)
	}
	db := xfsdb.Parse(string(readFile(t, filepath.Join(fx.dir, "block", strconv.FormatUint(recs[0].StartBlock, 10)+".txt"))))
	if ours := xfsdb.Parse(render(blk.Fields())); !reflect.DeepEqual(ours.Fields, db.Fields) {
		t.Errorf("%s: symlink block fields differ:\n%s", name, diffFields(ours.Fields, db.Fields))
	}
	if CharsText(target) != db.Value("data") {
		t.Errorf("%s: target %q, xfs_db's block holds %s", name, target, db.Value("data"))
	}
}

package xfsformat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

// fixtureProfiles are the committed fixtures: real sectors and blocks
// cut from generated images, so these tests need no root.
var fixtureProfiles = []string{"allfeatures", "defaults", "1k", "4ksector"}

type fixture struct {
	profile string
	dir     string
	sb      *Superblock
	geo     *Geometry
}

func loadFixture(t testing.TB, profile string) *fixture {
	t.Helper()
	dir := testimg.Fixture(t, profile)
	buf, err := os.ReadFile(filepath.Join(dir, "ag0", "sb.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := DecodeSuperblock(buf)
	if err != nil {
		t.Fatal(err)
	}
	geo, err := NewGeometry(sb)
	if err != nil {
		t.Fatalf("%s: %v", profile, err)
	}
	return &fixture{profile, dir, sb, geo}
}

// blocks lists the fixture's btree blocks: type, agbno, path.
func (f *fixture) blocks(t testing.TB) (out []struct {
	typ   BtreeType
	agbno uint32
	path  string
}) {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(f.dir, "ag0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		typ, ok := ParseBtreeType(d.Name())
		if !ok {
			t.Fatalf("fixture dir %s is no btree type", d.Name())
		}
		files, _ := filepath.Glob(filepath.Join(f.dir, "ag0", d.Name(), "*.bin"))
		for _, p := range files {
			var agbno uint32
			n := strings.TrimSuffix(filepath.Base(p), ".bin")
			for _, c := range n {
				agbno = agbno*10 + uint32(c-'0')
			}
			out = append(out, struct {
				typ   BtreeType
				agbno uint32
				path  string
			}{typ, agbno, p})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: fixture has no btree blocks", f.profile)
	}
	return out
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

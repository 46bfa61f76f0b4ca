package testimg_test

import (
	"bufio"
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
)

// treeLevels are AG 0's btree heights as the AG headers say.
type treeLevels struct {
	bno, cnt, rmap, refcnt, ino, fino uint64
}

func levels(t *testing.T, img string, agno int) treeLevels {
	t.Helper()
	objs, err := xfsdb.PrintMany(img, [][]string{{fmt.Sprintf("agf %d", agno)}, {fmt.Sprintf("agi %d", agno)}})
	if err != nil {
		t.Fatal(err)
	}
	agf, agi := objs[0], objs[1]
	u := func(o *xfsdb.Object, name string) uint64 {
		n, err := o.Uint(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return treeLevels{
		bno: u(agf, "bnolevel"), cnt: u(agf, "cntlevel"), rmap: u(agf, "rmaplevel"),
		refcnt: u(agf, "refcntlevel"), ino: u(agi, "level"), fino: u(agi, "free_level"),
	}
}

// TestImageTrees builds (or takes from the cache) every image of the
// matrix and checks that each of AG 0's btrees is more than one level
// high, that other AGs hold something, and that xfs_repair -n is clean.
func TestImageTrees(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, p := range testimg.Profiles() {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			lv := levels(t, img, 0)
			t.Logf("%-12s AG 0 heights: bnobt %d cntbt %d rmapbt %d refcntbt %d inobt %d finobt %d",
				p, lv.bno, lv.cnt, lv.rmap, lv.refcnt, lv.ino, lv.fino)
			want := map[string]uint64{"bnobt": lv.bno, "cntbt": lv.cnt, "refcntbt": lv.refcnt, "inobt": lv.ino, "finobt": lv.fino}
			if p != "defaults" {
				want["rmapbt"] = lv.rmap
			} else if lv.rmap != 0 {
				t.Errorf("defaults has an rmapbt (level %d)", lv.rmap)
			}
			for tree, h := range want {
				if h < 2 {
					t.Errorf("%s: AG 0 %s is %d level(s) high, want >= 2", p, tree, h)
				}
			}

			sb, err := xfsdb.Print(img, "sb 0")
			if err != nil {
				t.Fatal(err)
			}
			agcount, _ := sb.Uint("agcount")
			if agcount > 1 {
				used := 0
				for ag := 1; ag < int(agcount); ag++ {
					agi, err := xfsdb.Print(img, fmt.Sprintf("agi %d", ag))
					if err != nil {
						t.Fatal(err)
					}
					if n, _ := agi.Uint("count"); n > 0 {
						used++
					}
				}
				if used == 0 {
					t.Errorf("no inodes outside AG 0")
				}
				t.Logf("%-12s %d of %d other AGs hold inodes", p, used, agcount-1)
			}

			hashes := testimg.Hashes(t, p)
			if hashes["ag0/hello.txt"] == "" || hashes["ag0/punched"] == "" || len(hashes) < 1000 {
				t.Errorf("hashes: %d files, hello %q", len(hashes), hashes["ag0/hello.txt"])
			}
			repairClean(t, img, agcount)
		})
	}
}

// repairClean runs xfs_repair -n; a single-AG image needs -o
// force_geometry ("Only one AG detected - cannot validate filesystem
// geometry").
func repairClean(t *testing.T, img string, agcount uint64) {
	t.Helper()
	repair, err := testimg.LookTool("xfs_repair")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-n"}
	if agcount == 1 {
		args = append(args, "-o", "force_geometry")
	}
	out, err := exec.Command(repair, append(args, img)...).CombinedOutput()
	if err != nil {
		t.Errorf("xfs_repair %v %s: %v\n%s", args, img, err, out)
	}
}

func TestCopy(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	src := testimg.Image(t, "allfeatures")
	dst := testimg.Copy(t, "allfeatures")
	a, _ := os.Stat(src)
	b, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size() != b.Size() || b.Mode().Perm()&0o200 == 0 {
		t.Fatalf("copy: size %d vs %d, mode %v", b.Size(), a.Size(), b.Mode())
	}
	s1, _ := xfsdb.Print(src, "sb 0")
	s2, err := xfsdb.Print(dst, "sb 0")
	if err != nil {
		t.Fatal(err)
	}
	if s1.Value("uuid") != s2.Value("uuid") || s1.Value("icount") != s2.Value("icount") {
		t.Errorf("copy differs: %s/%s vs %s/%s", s1.Value("uuid"), s1.Value("icount"), s2.Value("uuid"), s2.Value("icount"))
	}
	if _, err := os.Stat(dst + ".sha256"); err != nil {
		t.Error(err)
	}
}

// magics are the v5 btree block magic numbers.
var magics = map[string]string{
	"bnobt": "AB3B", "cntbt": "AB3C", "inobt": "IAB3", "finobt": "FIB3",
	"rmapbt": "RMB3", "refcntbt": "R3FC",
}

func TestFixtures(t *testing.T) {
	for _, p := range testimg.FixtureProfiles() {
		t.Run(p, func(t *testing.T) {
			dir := testimg.Fixture(t, p)
			geo := xfsdb.Parse(readFile(t, filepath.Join(dir, "geometry.txt")))
			blksz, err1 := geo.Uint("blocksize")
			sectsz, err2 := geo.Uint("sectsize")
			if err1 != nil || err2 != nil {
				t.Fatalf("geometry: %v %v", err1, err2)
			}
			for _, ag := range []string{"ag0", "ag1"} {
				for _, hdr := range []string{"sb", "agf", "agi", "agfl"} {
					bin := filepath.Join(dir, ag, hdr+".bin")
					st, err := os.Stat(bin)
					if err != nil || uint64(st.Size()) != sectsz {
						t.Fatalf("%s: %v, size want %d", bin, err, sectsz)
					}
					o := xfsdb.Parse(readFile(t, filepath.Join(dir, ag, hdr+".txt")))
					magic, _ := o.Uint("magicnum")
					b := readFile(t, bin)
					if uint64(binary.BigEndian.Uint32([]byte(b))) != magic {
						t.Errorf("%s: magic %x, txt says %x", bin, b[:4], magic)
					}
				}
			}
			trees, _ := filepath.Glob(filepath.Join(dir, "ag0", "*", "tree.txt"))
			if len(trees) < 5 {
				t.Fatalf("only %d trees", len(trees))
			}
			for _, tf := range trees {
				typ := filepath.Base(filepath.Dir(tf))
				checkFixtureTree(t, filepath.Dir(tf), typ, blksz)
			}
		})
	}
}

func checkFixtureTree(t *testing.T, dir, typ string, blksz uint64) {
	f, err := os.Open(filepath.Join(dir, "tree.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	kept, leaves, n := 0, 0, 0
	var rootLevel = -1
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			t.Fatalf("%s/tree.txt: %q", typ, sc.Text())
		}
		level, _ := strconv.Atoi(fs[1])
		if rootLevel < 0 {
			rootLevel = level
		}
		n++
		if level == 0 {
			leaves++
		}
		if fs[2] != "1" {
			continue
		}
		kept++
		bin := readFile(t, filepath.Join(dir, fs[0]+".bin"))
		if uint64(len(bin)) != blksz {
			t.Fatalf("%s/%s.bin is %d bytes", typ, fs[0], len(bin))
		}
		if bin[:4] != magics[typ] {
			t.Errorf("%s/%s.bin magic %q", typ, fs[0], bin[:4])
		}
		o := xfsdb.Parse(readFile(t, filepath.Join(dir, fs[0]+".txt")))
		if lv, _ := o.Uint("level"); int(lv) != level {
			t.Errorf("%s/%s: level %d, tree.txt says %d", typ, fs[0], lv, level)
		}
		if _, v := xfsdb.CRCVerdict(o.Value("crc")); v != "correct" {
			t.Errorf("%s/%s: crc %q", typ, fs[0], o.Value("crc"))
		}
		nr, _ := o.Uint("numrecs")
		if uint64(binary.BigEndian.Uint16([]byte(bin[6:8]))) != nr {
			t.Errorf("%s/%s: numrecs differs from the block", typ, fs[0])
		}
	}
	if rootLevel < 1 || kept == 0 || leaves < 2 {
		t.Errorf("%s: root level %d, %d blocks, %d leaves, %d kept", typ, rootLevel, n, leaves, kept)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

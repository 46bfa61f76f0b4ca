package xfsdb_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// roots are where each AG btree's root and height are recorded.
var roots = []struct{ typ, hdr, root, level, magic string }{
	{"bnobt", "agf", "bnoroot", "bnolevel", "0x41423342"},
	{"cntbt", "agf", "cntroot", "cntlevel", "0x41423343"},
	{"rmapbt", "agf", "rmaproot", "rmaplevel", "0x524d4233"},
	{"refcntbt", "agf", "refcntroot", "refcntlevel", "0x52334643"},
	{"inobt", "agi", "root", "level", "0x49414233"},
	{"finobt", "agi", "free_root", "free_level", "0x46494233"},
}

type block struct {
	typ   string
	agbno uint32
}

// walk lists every block of every btree of AG agno, level by level, with
// one xfs_db process per level of all trees together.
func walk(t *testing.T, img string, g xfsdb.Geometry, agno uint32) []block {
	t.Helper()
	hdrs, err := xfsdb.PrintMany(img, [][]string{{fmt.Sprintf("agf %d", agno)}, {fmt.Sprintf("agi %d", agno)}})
	if err != nil {
		t.Fatal(err)
	}
	var all, cur []block
	for _, r := range roots {
		h := hdrs[0]
		if r.hdr == "agi" {
			h = hdrs[1]
		}
		lv, _ := h.Uint(r.level)
		root, _ := h.Uint(r.root)
		if lv == 0 || root == 0 {
			continue
		}
		cur = append(cur, block{r.typ, uint32(root)})
	}
	for len(cur) > 0 {
		all = append(all, cur...)
		var batches [][]string
		for _, b := range cur {
			c, err := xfsdb.BtreeBlockCmds(g, agno, b.agbno, b.typ)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, c)
		}
		objs, err := xfsdb.PrintMany(img, batches)
		if err != nil {
			t.Fatal(err)
		}
		var next []block
		for i, o := range objs {
			if p := o.Array("ptrs"); p != nil {
				for _, row := range p.Rows {
					var n uint32
					fmt.Sscan(row[0], &n)
					next = append(next, block{cur[i].typ, n})
				}
			}
		}
		cur = next
	}
	return all
}

func TestBtreeBlocks(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	for _, p := range []string{"allfeatures", "1k", "4ksector", "defaults"} {
		t.Run(p, func(t *testing.T) {
			img := testimg.Image(t, p)
			g, err := xfsdb.ReadGeometry(img)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			blocks := walk(t, img, g, 0)
			var batches [][]string
			for _, b := range blocks {
				c, _ := xfsdb.BtreeBlockCmds(g, 0, b.agbno, b.typ)
				batches = append(batches, c)
			}
			objs, err := xfsdb.PrintMany(img, batches)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d btree blocks of AG 0 walked and printed in %v", p, len(blocks), time.Since(start).Round(time.Millisecond))
			magic := map[string]string{}
			for _, r := range roots {
				magic[r.typ] = r.magic
			}
			seen := map[string]int{}
			for i, o := range objs {
				b := blocks[i]
				seen[b.typ]++
				if got := o.Value("magic"); got != magic[b.typ] {
					t.Errorf("%s %d: magic %q", b.typ, b.agbno, got)
				}
				// A correct CRC means the whole block was read (1 KiB
				// blocks, 4 KiB sectors).
				if _, v := xfsdb.CRCVerdict(o.Value("crc")); v != "correct" {
					t.Errorf("%s %d: crc %q %q", b.typ, b.agbno, o.Value("crc"), o.Messages)
				}
				if bno, _ := o.Uint("bno"); bno != g.FSBlock(0, b.agbno)*uint64(g.BlockSize/512) {
					t.Errorf("%s %d: bno (daddr) %d", b.typ, b.agbno, bno)
				}
				nr, _ := o.Uint("numrecs")
				lv, _ := o.Uint("level")
				arr := o.Array("recs")
				if lv > 0 {
					arr = o.Array("keys")
				}
				if nr > 0 && (arr == nil || uint64(arr.Len()) != nr || uint64(arr.Last) != nr) {
					t.Errorf("%s %d: numrecs %d, array %+v", b.typ, b.agbno, nr, arr)
				}
				if len(o.Messages) > 0 {
					t.Errorf("%s %d: messages %q", b.typ, b.agbno, o.Messages)
				}
			}
			for _, r := range roots {
				if seen[r.typ] < 2 && !(p == "defaults" && r.typ == "rmapbt") {
					t.Errorf("%s: %d blocks", r.typ, seen[r.typ])
				}
			}

			// The same blocks one xfs_db at a time agree.
			for i := 0; i < len(blocks); i += max(1, len(blocks)/8) {
				b := blocks[i]
				o, err := xfsdb.PrintBtreeBlock(img, 0, b.agbno, b.typ)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(o, objs[i]) {
					t.Errorf("%s %d: Print and PrintMany differ", b.typ, b.agbno)
				}
			}
		})
	}
}

// TestOtherAG checks fsblock addressing outside AG 0 against the AG
// header's own addr.
func TestOtherAG(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "allfeatures")
	g, err := xfsdb.ReadGeometry(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		viaHdr, err := xfsdb.Print(img, fmt.Sprintf("%s %d", r.hdr, g.AGCount-1), "addr "+r.root)
		if err != nil {
			t.Fatal(err)
		}
		h, err := xfsdb.Print(img, fmt.Sprintf("%s %d", r.hdr, g.AGCount-1), "print "+r.root)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := h.Uint(r.root)
		direct, err := xfsdb.PrintBtreeBlock(img, g.AGCount-1, uint32(root), r.typ)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(viaHdr, direct) {
			t.Errorf("%s: addr %s and fsblock disagree:\n%v\n%v", r.typ, r.root, viaHdr, direct)
		}
		if o, _ := direct.Uint("owner"); o != uint64(g.AGCount-1) {
			t.Errorf("%s: owner %d", r.typ, o)
		}
	}
}

func TestPrintErrors(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "allfeatures")
	if _, err := xfsdb.Print(img, "agf 99"); err == nil || !strings.Contains(err.Error(), "bad allocation group number") {
		t.Errorf("agf 99: %v", err)
	}
	if _, err := xfsdb.PrintBtreeBlock(img, 0, 1, "nosuchbt"); err == nil {
		t.Error("unknown type accepted")
	}
	objs, err := xfsdb.PrintMany(img, [][]string{{"agf 0"}, {"agf 99"}, {"agi 0", "print level"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || objs[0].Value("magicnum") != "0x58414746" || !objs[1].Empty() || len(objs[1].Messages) == 0 {
		t.Fatalf("objects %+v", objs)
	}
	if len(objs[2].Fields) != 1 || objs[2].Fields[0].Name != "level" {
		t.Errorf("explicit print: %+v", objs[2])
	}
	// A block read as the wrong type: the verifier's complaint is kept with
	// its object, and the crc is reported bad.
	objs, err = xfsdb.PrintMany(img, [][]string{{"agf 0"}, {"agf 1", "type bnobt"}, {"agi 0"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs[0].Messages) != 0 || len(objs[2].Messages) != 0 || len(objs[1].Messages) == 0 {
		t.Errorf("messages: %q / %q / %q", objs[0].Messages, objs[1].Messages, objs[2].Messages)
	}
	if _, v := xfsdb.CRCVerdict(objs[1].Value("crc")); v != "bad" {
		t.Errorf("crc %q", objs[1].Value("crc"))
	}
}

func TestPrintManyLarge(t *testing.T) {
	testimg.Require(t, "root", "xfsprogs", "loop")
	img := testimg.Image(t, "allfeatures")
	const n = 2000
	batches := make([][]string, n)
	for i := range batches {
		batches[i] = []string{fmt.Sprintf("agfl %d", i%4)}
	}
	start := time.Now()
	objs, err := xfsdb.PrintMany(img, batches)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d objects in one xfs_db: %v", n, time.Since(start).Round(time.Millisecond))
	for i, o := range objs {
		if s, _ := o.Uint("seqno"); s != uint64(i%4) || o.Array("bno") == nil {
			t.Fatalf("object %d: %+v", i, o)
		}
	}
}

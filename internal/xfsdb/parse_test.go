package xfsdb

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func sample(t *testing.T, name string) *Object {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	o := Parse(string(b))
	// ParseReader must agree with Parse.
	o2, err := ParseReader(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(o2.Fields) != len(o.Fields) || len(o2.Arrays) != len(o.Arrays) || len(o2.Messages) != len(o.Messages) {
		t.Fatalf("%s: Parse and ParseReader disagree", name)
	}
	return o
}

func wantField(t *testing.T, o *Object, name, value string) {
	t.Helper()
	got, ok := o.Get(name)
	if !ok {
		t.Errorf("no field %q", name)
		return
	}
	if got != value {
		t.Errorf("%s = %q, want %q", name, got, value)
	}
}

// checkRecords checks a record array: columns, contiguous 1-based indexes
// matching the header range, every row as wide as the columns.
func checkRecords(t *testing.T, o *Object, name, cols string, n int) *Array {
	t.Helper()
	a := o.Array(name)
	if a == nil {
		t.Fatalf("no array %q (arrays %v, messages %q)", name, o.Arrays, o.Messages)
	}
	if got := strings.Join(a.Columns, ","); got != cols {
		t.Errorf("%s columns %q, want %q", name, got, cols)
	}
	if a.Len() != n || a.First != 1 || a.Last != n {
		t.Errorf("%s: %d rows, header [%d-%d], want %d", name, a.Len(), a.First, a.Last, n)
	}
	for i, r := range a.Rows {
		if a.Index[i] != i+1 {
			t.Fatalf("%s row %d has index %d", name, i, a.Index[i])
		}
		if len(r) != len(a.Columns) {
			t.Fatalf("%s row %d: %d values for %d columns", name, a.Index[i], len(r), len(a.Columns))
		}
	}
	return a
}

func numrecs(t *testing.T, o *Object) int {
	t.Helper()
	n, err := o.Uint("numrecs")
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestParseAGF(t *testing.T) {
	o := sample(t, "agf.txt")
	wantField(t, o, "magicnum", "0x58414746")
	wantField(t, o, "bnolevel", "2")
	if v, verdict := CRCVerdict(o.Value("crc")); verdict != "correct" || !strings.HasPrefix(v, "0x") {
		t.Errorf("crc %q: %q %q", o.Value("crc"), v, verdict)
	}
	if len(o.Arrays) != 0 || len(o.Messages) != 0 {
		t.Errorf("arrays %v messages %q", o.Arrays, o.Messages)
	}
	names := []string{}
	for _, f := range o.Fields {
		names = append(names, f.Name)
	}
	want := "magicnum versionnum seqno length bnoroot cntroot rmaproot refcntroot bnolevel cntlevel rmaplevel refcntlevel rmapblocks refcntblocks flfirst fllast flcount freeblks longest btreeblks uuid lsn crc"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("agf fields in order:\n%s\nwant\n%s", got, want)
	}
}

func TestParseAGI(t *testing.T) {
	o := sample(t, "agi.txt")
	wantField(t, o, "dirino", "null")
	wantField(t, o, "free_level", "2")
	u := o.Array("unlinked")
	if u == nil || u.Len() != 0 || u.First != 0 || u.Last != 63 {
		t.Fatalf("unlinked = %+v", u)
	}

	o = sample(t, "agi-unlinked.txt")
	u = o.Array("unlinked")
	if u == nil || u.Len() != 2 {
		t.Fatalf("unlinked = %+v", u)
	}
	m := u.Map()
	if m[3] != "1234" || m[60] != "99" || len(m) != 2 {
		t.Errorf("unlinked map %v", m)
	}
	if u.Columns != nil {
		t.Errorf("scalar array has columns %v", u.Columns)
	}
}

func TestParseAGFL(t *testing.T) {
	for _, tc := range []struct {
		file string
		last int
	}{{"agfl.txt", 118}, {"agfl-4ksector.txt", 1014}} {
		o := sample(t, tc.file)
		a := o.Array("bno")
		if a == nil || a.First != 0 || a.Last != tc.last || a.Len() != tc.last+1 {
			t.Fatalf("%s: bno = %+v", tc.file, a)
		}
		if v, _ := a.Value(0); v != "null" {
			t.Errorf("%s: bno[0] = %q", tc.file, v)
		}
		nonNull := 0
		for i, r := range a.Rows {
			if a.Index[i] != i {
				t.Fatalf("%s: index %d at %d", tc.file, a.Index[i], i)
			}
			if !IsNull(r[0]) {
				if _, err := ParseUint(r[0]); err != nil {
					t.Fatalf("%s: bno[%d] = %q", tc.file, i, r[0])
				}
				nonNull++
			}
		}
		if nonNull == 0 {
			t.Errorf("%s: no AGFL entries", tc.file)
		}
		wantField(t, o, "magicnum", "0x5841464c")
	}
}

func TestParseSB(t *testing.T) {
	o := sample(t, "sb.txt")
	wantField(t, o, "blocksize", "4096")
	wantField(t, o, "uquotino", "null")
	wantField(t, o, "fname", `"\000\000\000\000\000\000\000\000\000\000\000\000"`)
	wantField(t, o, "meta_uuid", "00000000-0000-0000-0000-000000000000")
	if n, err := o.Uint("features_ro_compat"); err != nil || n != 0xf {
		t.Errorf("features_ro_compat = %d, %v", n, err)
	}
}

func TestParseBtreeBlocks(t *testing.T) {
	for _, tc := range []struct {
		file, array, cols string
		ptrs              bool
	}{
		{"bnobt-leaf.txt", "recs", "startblock,blockcount", false},
		{"bnobt-node.txt", "keys", "startblock,blockcount", true},
		{"cntbt-leaf.txt", "recs", "startblock,blockcount", false},
		{"cntbt-node.txt", "keys", "blockcount,startblock", true},
		{"inobt-leaf.txt", "recs", "startino,holemask,count,freecount,free", false},
		{"inobt-node.txt", "keys", "startino", true},
		{"finobt-leaf.txt", "recs", "startino,holemask,count,freecount,free", false},
		{"finobt-node.txt", "keys", "startino", true},
		{"inobt-nosparse-leaf.txt", "recs", "startino,freecount,free", false},
		{"rmapbt-leaf.txt", "recs", "startblock,blockcount,owner,offset,extentflag,attrfork,bmbtblock", false},
		{"rmapbt-node.txt", "keys", "startblock,owner,offset,attrfork,bmbtblock,startblock_hi,owner_hi,offset_hi,attrfork_hi,bmbtblock_hi", true},
		{"rmapbt-1k-root.txt", "keys", "startblock,owner,offset,attrfork,bmbtblock,startblock_hi,owner_hi,offset_hi,attrfork_hi,bmbtblock_hi", true},
		{"refcntbt-leaf.txt", "recs", "startblock,blockcount,refcount,cowflag", false},
		{"refcntbt-node.txt", "keys", "startblock,cowflag", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			o := sample(t, tc.file)
			if len(o.Messages) != 0 {
				t.Errorf("messages %q", o.Messages)
			}
			n := numrecs(t, o)
			a := checkRecords(t, o, tc.array, tc.cols, n)
			for _, r := range a.Rows {
				for _, v := range r {
					if _, err := ParseInt(v); err != nil {
						if _, err := ParseUint(v); err != nil {
							t.Fatalf("value %q: %v", v, err)
						}
					}
				}
			}
			p := o.Array("ptrs")
			if !tc.ptrs {
				if p != nil {
					t.Errorf("leaf has ptrs")
				}
				return
			}
			if p == nil || p.Len() != n || p.First != 1 || p.Last != n || p.Columns != nil {
				t.Fatalf("ptrs = %+v", p)
			}
			for i := 1; i <= n; i++ {
				v, ok := p.Value(i)
				if !ok {
					t.Fatalf("no ptrs[%d]", i)
				}
				if _, err := strconv.ParseUint(v, 10, 32); err != nil {
					t.Fatalf("ptrs[%d] = %q", i, v)
				}
			}
			if lvl, _ := o.Uint("level"); lvl == 0 {
				t.Errorf("node with level 0")
			}
		})
	}
}

func TestParseRmapKeyValues(t *testing.T) {
	o := sample(t, "rmapbt-node.txt")
	k := o.Array("keys")
	if v, _ := k.Get(1, "owner"); v != "-3" {
		t.Errorf("keys[1].owner = %q, want -3 (XFS_RMAP_OWN_FS)", v)
	}
	if _, ok := k.Get(1, "extentflag"); ok {
		t.Errorf("rmapbt keys have no extentflag")
	}
	if k.Column("offset_hi") != 7 {
		t.Errorf("offset_hi at %d", k.Column("offset_hi"))
	}
	l := sample(t, "rmapbt-leaf.txt").Array("recs")
	if v, _ := l.Get(1, "startblock"); v != "0" {
		t.Errorf("first rmap startblock %q", v)
	}
}

func TestParseInobtFree(t *testing.T) {
	a := sample(t, "finobt-leaf.txt").Array("recs")
	v, _ := a.Get(1, "free")
	if !strings.HasPrefix(v, "0x") {
		t.Errorf("free printed as %q, want hex", v)
	}
	if _, err := ParseUint(v); err != nil {
		t.Error(err)
	}
}

func TestParseEmptyLeaf(t *testing.T) {
	o := sample(t, "refcntbt-empty.txt")
	if numrecs(t, o) != 0 || o.Array("recs") != nil || len(o.Messages) != 0 {
		t.Errorf("empty leaf: %+v", o)
	}
}

func TestParseSingle(t *testing.T) {
	p := sample(t, "single-ptr.txt").Array("ptrs")
	if p == nil || p.Len() != 1 || p.First != 2 {
		t.Fatalf("ptrs = %+v", p)
	}
	if v, ok := p.Value(2); !ok || v == "" || strings.Contains(v, ":") {
		t.Errorf("ptrs[2] = %q", v)
	}
	u := sample(t, "single-unlinked.txt").Array("unlinked")
	if v, _ := u.Value(3); v != "1234" {
		t.Errorf("unlinked[3] = %q", v)
	}
	// Synthetic: a single record.
	o := Parse("recs[1] = [startblock,blockcount] \n1:[64989,0]\n")
	if r, ok := o.Array("recs").Row(1); !ok || r[0] != "64989" || r[1] != "0" {
		t.Errorf("recs[1] = %v", r)
	}
}

func TestParseInodes(t *testing.T) {
	o := sample(t, "inode-btree.txt")
	wantField(t, o, "core.format", "3 (btree)")
	wantField(t, o, "core.mode", "0100600")
	wantField(t, o, "next_unlinked", "null")
	wantField(t, o, "a", "(empty)")
	if !strings.Contains(o.Value("core.mtime.sec"), ":") {
		t.Errorf("mtime %q", o.Value("core.mtime.sec"))
	}
	k := o.Array("u3.bmbt.keys")
	p := o.Array("u3.bmbt.ptrs")
	if k == nil || p == nil || k.Len() != p.Len() || k.Len() == 0 {
		t.Fatalf("bmbt keys %+v ptrs %+v", k, p)
	}

	o = sample(t, "inode-attrbmbt.txt")
	if p := o.Array("a.bmbt.ptrs"); p == nil || p.Len() != 1 {
		t.Fatalf("a.bmbt.ptrs = %+v", p)
	}
	if x := o.Array("u3.bmx"); x == nil || x.First != 0 || x.Len() != 1 {
		t.Fatalf("u3.bmx = %+v", x)
	}

	o = sample(t, "inode-extents.txt")
	x := o.Array("u3.bmx")
	if x == nil || x.Len() != 2 || x.Index[0] != 0 {
		t.Fatalf("u3.bmx = %+v", x)
	}
	if v, _ := x.Get(0, "extentflag"); v != "1" {
		t.Errorf("preallocated extent flag %q", v)
	}

	o = sample(t, "inode-sfattr.txt")
	wantField(t, o, "a.sfattr.list[0].name", `"user.few1"`)
	wantField(t, o, "a.sfattr.list[3].root", "1")
	if len(o.Arrays) != 1 { // only u3.bmx
		t.Errorf("arrays %+v", o.Arrays)
	}

	o = sample(t, "inode-sfdir.txt")
	wantField(t, o, "u3.sfdir3.list[2].name", `"hello.link"`)
}

func TestParseMessages(t *testing.T) {
	o := sample(t, "bad-fsblock.txt")
	if !o.Empty() || len(o.Messages) != 3 || o.Messages[0] != "bad fsblock 999999999" {
		t.Errorf("%+v", o)
	}
	o = sample(t, "bad-agno.txt")
	if !o.Empty() || len(o.Messages) == 0 {
		t.Errorf("%+v", o)
	}
	o = sample(t, "coerced-bad-crc.txt")
	if len(o.Messages) != 2 || !strings.Contains(o.Messages[0], "CRC error") || !strings.HasPrefix(o.Messages[1], "Bad btree magic") {
		t.Errorf("messages %q", o.Messages)
	}
	if _, v := CRCVerdict(o.Value("crc")); v != "bad" {
		t.Errorf("crc verdict %q", v)
	}
	checkRecords(t, o, "recs", "startblock,blockcount", 1)
	wantField(t, o, "magic", "0x58414746")
}

func TestParseRobust(t *testing.T) {
	// Oddities that must not panic or mis-file lines.
	for _, in := range []string{
		"", "\n\n", " = ", "x[", "x[] = 1", "x[1-] = 1", "x[a-b] = 1", "recs[1-2] = [a,b]\n1:[1,2]\ngarbage\n2:[3,4]",
		"ptrs[1-3] = 1:1 2:x 3", "keys[1-2] = [a,b] \n1:[1] \n2:[", "name = value = more", "1:[1,2]",
	} {
		o := Parse(in)
		_ = o.Empty()
	}
	o := Parse("recs[1-2] = [a,b]\n1:[1,2]\ngarbage\n2:[3,4]")
	if a := o.Array("recs"); a.Len() != 1 || len(o.Messages) != 2 {
		t.Errorf("rows after garbage: %+v %q", a, o.Messages)
	}
	o = Parse("name = value = more")
	wantField(t, o, "name", "value = more")
	o = Parse("ptrs[1-3] = 1:1 2:x 3")
	if a := o.Array("ptrs"); a == nil || a.Len() != 1 || a.Rows[0][0] != "1:1 2:x 3" {
		t.Errorf("malformed list kept whole: %+v", a)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := Parse(s)
		for _, a := range o.Arrays {
			if len(a.Index) != len(a.Rows) {
				t.Fatalf("index/rows mismatch in %s", a.Name)
			}
		}
	})
}

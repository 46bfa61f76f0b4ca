package dir

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// dirInfo is one directory of an image as our decoders read it.
type dirInfo struct {
	ino     uint64
	path    string
	form    Form
	sf      *Shortform
	inodeV3 bool
	r       *dirReader
	entries []Entry // in listing order, "." and ".." included
}

// walkDirs reads every directory reachable from the root inode with our
// decoders alone (no xfs_db but for the maps of btree-format forks).
func walkDirs(t *testing.T, im *image) []*dirInfo {
	t.Helper()
	g := im.g
	var dirs []*dirInfo
	type item struct {
		ino  uint64
		path string
	}
	queue := []item{{im.sb.RootIno, "/"}}
	seen := map[uint64]bool{}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if seen[it.ino] {
			t.Fatalf("directory %d (%s) reached twice", it.ino, it.path)
		}
		seen[it.ino] = true
		d := loadDir(t, im, it.ino, it.path)
		dirs = append(dirs, d)
		for _, e := range d.entries {
			name := string(e.Name)
			if name == "." || name == ".." {
				continue
			}
			isDir := e.Ftype == FtDir
			if !g.Ftype {
				isDir = im.inode(t, e.Ino).mode&xfsformat.ModeTypeMask == xfsformat.ModeDir
			}
			if isDir {
				queue = append(queue, item{e.Ino, strings.TrimSuffix(it.path, "/") + "/" + name})
			}
		}
	}
	return dirs
}

// loadDir reads directory ino with our decoders: a shortform one whole,
// a block, leaf or node one by its map, every data block's entries.
func loadDir(t testing.TB, im *image, ino uint64, path string) *dirInfo {
	t.Helper()
	g := im.g
	di := im.inode(t, ino)
	if di.mode&xfsformat.ModeTypeMask != xfsformat.ModeDir {
		t.Fatalf("%s (inode %d) is not a directory: mode %#o", path, ino, di.mode)
	}
	d := &dirInfo{ino: ino, path: path, inodeV3: di.v3}
	if di.format == xfsformat.FmtLocal {
		sf, err := DecodeShortform(g, di.fork[:min(int(di.size), len(di.fork))])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		d.form, d.sf = FormShortform, sf
		d.entries = slices.Collect(sf.All(ino))
		return d
	}
	d.r = &dirReader{im: im, t: t, ext: im.bmap(t, di)}
	form, err := FormOf(g, d.r.read)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	d.form = form
	for _, dablk := range d.r.blocks() {
		if dablk >= g.LeafDA() {
			break
		}
		buf, err := d.r.read(dablk)
		if err != nil {
			t.Fatal(err)
		}
		db, err := DecodeData(g, buf)
		if err != nil {
			t.Fatalf("%s block %d: %v", path, dablk, err)
		}
		d.entries = slices.AppendSeq(d.entries, db.Entries(g.DAToDB(dablk)))
	}
	return d
}

// findDir finds a directory by path from the root, looking each name up
// with Lookup (or in the shortform entries).
func findDir(t testing.TB, im *image, path string) *dirInfo {
	t.Helper()
	d := loadDir(t, im, im.sb.RootIno, "/")
	for _, name := range strings.Split(strings.Trim(path, "/"), "/") {
		var ino uint64
		if d.sf != nil {
			i := slices.IndexFunc(d.entries, func(e Entry) bool { return string(e.Name) == name })
			if i < 0 {
				t.Fatalf("%s: no %q in %s", path, name, d.path)
			}
			ino = d.entries[i].Ino
		} else {
			e, err := Lookup(im.g, d.r.read, []byte(name))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ino = e.Ino
		}
		d = loadDir(t, im, ino, strings.TrimSuffix(d.path, "/")+"/"+name)
	}
	return d
}

// lsLine is one line of xfs_db's ls: "cookie inumber type hash namelen
// name (good)".
var lsLine = regexp.MustCompile(`^(\d+)\s+(\d+)\s+(\S+)\s+0x([0-9a-f]+)\s+(\d+) (.*) \((good|corrupt)\)$`)

type lsEntry struct {
	cookie uint64
	ino    uint64
	typ    string
	hash   uint32
	name   string
}

func parseLs(t *testing.T, lines []string) []lsEntry {
	var out []lsEntry
	for _, l := range lines {
		m := lsLine.FindStringSubmatch(l)
		if m == nil {
			if strings.Contains(l, "orrupt") || strings.Contains(l, "rror") {
				t.Errorf("xfs_db ls: %s", l)
			}
			continue
		}
		c, _ := strconv.ParseUint(m[1], 10, 64)
		ino, _ := strconv.ParseUint(m[2], 10, 64)
		h, _ := strconv.ParseUint(m[4], 16, 32)
		n, _ := strconv.Atoi(m[5])
		out = append(out, lsEntry{c, ino, m[3], uint32(h), m[6][:min(n, len(m[6]))]})
	}
	return out
}

// want is what xfs_db's ls prints for an entry of ours. xfs_db 6.1
// prints, for leaf and node directories, the cookie of the offset after
// the entry (list_leafdir advances its offset before emitting), for
// shortform and block directories the entry's own.
func (d *dirInfo) want(g *Geometry, e Entry) lsEntry {
	c := uint64(e.Cookie)
	if d.form == FormLeaf || d.form == FormNode {
		c += uint64(g.EntSize(len(e.Name)) / Align)
	}
	typ := FileTypeName(e.Ftype)
	if !g.Ftype {
		typ = FileTypeName(FtUnknown)
	}
	return lsEntry{c, e.Ino, typ, da.DirHash(e.Name, g.ASCIICI), string(e.Name)}
}

// compareFields checks that our fields and xfs_db's print agree both
// ways: every field we make is printed with the same text, and every
// field xfs_db prints (that keep selects) is one we make.
func compareFields(t *testing.T, what string, ours []xfsformat.Field, o *xfsdb.Object, keep func(string) bool) {
	t.Helper()
	have := map[string]bool{}
	vals := make(map[string]string, len(o.Fields))
	for _, f := range o.Fields {
		vals[f.Name] = f.Value
	}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf("%s: "+format, append([]any{what}, args...)...)
		}
	}
	for _, f := range ours {
		have[f.Name] = true
		want, ok := vals[f.Name]
		if !ok {
			want, ok = xfsdbValue(o, f.Name)
		}
		if !ok {
			report("xfs_db prints no %s (we say %q)", f.Name, f.Text)
		} else if want != f.Text {
			report("%s = %q, xfs_db says %q", f.Name, f.Text, want)
		}
	}
	for _, f := range o.Fields {
		if keep(f.Name) && !have[f.Name] {
			report("xfs_db prints %s = %q, we do not", f.Name, f.Value)
		}
	}
	for _, a := range o.Arrays {
		if !keep(a.Name) {
			continue
		}
		if a.Columns == nil {
			if n := arrayName(a); !have[n] {
				report("xfs_db prints %s, we do not", n)
			}
			continue
		}
		for i, idx := range a.Index {
			for _, c := range a.Columns {
				if n := fmt.Sprintf("%s[%d].%s", a.Name, idx, c); !have[n] {
					report("xfs_db prints %s = %q, we do not", n, a.Rows[i][slices.Index(a.Columns, c)])
				}
			}
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d differences in all", what, bad)
	}
}

func arrayName(a *xfsdb.Array) string {
	if a.First == a.Last {
		return fmt.Sprintf("%s[%d]", a.Name, a.First)
	}
	return fmt.Sprintf("%s[%d-%d]", a.Name, a.First, a.Last)
}

var tableField = regexp.MustCompile(`^(\w+)\[(\d+)\]\.(\w+)$`)

// xfsdbValue finds the value xfs_db printed for one of our field names:
// a scalar, a one-line array ("lbests[0-1]") or a cell of a table
// ("nbtree[3].before", printed as "nbtree[0-8] = [hashval,before]").
func xfsdbValue(o *xfsdb.Object, name string) (string, bool) {
	if v, ok := o.Get(name); ok {
		return v, true
	}
	if m := tableField.FindStringSubmatch(name); m != nil {
		if a := o.Array(m[1]); a != nil && a.Columns != nil {
			i, _ := strconv.Atoi(m[2])
			return a.Get(i, m[3])
		}
	}
	if i := strings.LastIndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		a := o.Array(name[:i])
		if a == nil || a.Columns != nil || arrayName(a) != name {
			return "", false
		}
		var parts []string
		for j, idx := range a.Index {
			if a.First == a.Last {
				parts = append(parts, a.Rows[j][0])
			} else {
				parts = append(parts, fmt.Sprintf("%d:%s", idx, a.Rows[j][0]))
			}
		}
		return strings.Join(parts, " "), true
	}
	return "", false
}

// stats counts what an image's directories exercised.
type stats struct {
	forms   map[Form]int
	magics  map[string]int
	unused  int
	entries int
	lookups int
	stale   int
	i8sf    int
}

// checkImage judges our decoders on every directory of an image by
// xfs_db: every mapped directory block printed field for field, every
// directory's listing (ls) name for name with its inode number, type
// and hash, the shortform directories' inode fields; every block
// verifies clean, every name has its leaf entry, and Lookup finds names.
func checkImage(t *testing.T, path string, st *stats) {
	im := openImage(t, path)
	g := im.g
	dirs := walkDirs(t, im)
	if len(dirs) < 2 {
		t.Fatalf("%s: found %d directories", path, len(dirs))
	}

	// One xfs_db for everything: per directory its inode print and ls,
	// then every directory block.
	type job struct {
		d     *dirInfo
		dablk uint32
		ls    bool
	}
	var jobs []job
	var batches [][]string
	for _, d := range dirs {
		jobs = append(jobs, job{d: d, ls: true})
		batches = append(batches, []string{"inode " + strconv.FormatUint(d.ino, 10), "ls"})
		if d.r == nil {
			continue
		}
		for _, dablk := range d.r.blocks() {
			jobs = append(jobs, job{d: d, dablk: dablk})
			batches = append(batches, []string{"inode " + strconv.FormatUint(d.ino, 10), "dblock " + strconv.FormatUint(uint64(dablk), 10)})
		}
	}
	err := xfsdb.EachObject(path, batches, func(i int, o *xfsdb.Object) error {
		j := jobs[i]
		d := j.d
		what := fmt.Sprintf("%s inode %d (%s)", path, d.ino, d.path)
		if j.ls {
			checkListing(t, what, g, d, o)
			return nil
		}
		what += fmt.Sprintf(" dblock %d", j.dablk)
		for _, m := range o.Messages {
			t.Errorf("%s: xfs_db says %q", what, m)
		}
		checkBlock(t, what, im, d, j.dablk, o, st)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		st.forms[d.form]++
		st.entries += len(d.entries)
		checkHashes(t, im, d, st)
	}
}

// checkListing compares a directory's entries with xfs_db's ls and, for
// a shortform directory, its fields with the inode's print.
func checkListing(t *testing.T, what string, g *Geometry, d *dirInfo, o *xfsdb.Object) {
	ls := parseLs(t, o.Messages)
	if len(ls) != len(d.entries) {
		t.Errorf("%s: xfs_db lists %d names, we %d", what, len(ls), len(d.entries))
	}
	for i := range min(len(ls), len(d.entries)) {
		if w := d.want(g, d.entries[i]); ls[i] != w {
			t.Errorf("%s: entry %d is %+v, xfs_db lists %+v", what, i, w, ls[i])
			break
		}
		if h := da.HashName(d.entries[i].Name); !g.ASCIICI && ls[i].hash != h {
			t.Errorf("%s: %q hashes to %#x, xfs_db says %#x", what, d.entries[i].Name, h, ls[i].hash)
		}
	}
	if d.sf == nil {
		return
	}
	prefix := g.ShortformPrefix(d.inodeV3)
	compareFields(t, what, d.sf.Fields(prefix), o, func(n string) bool { return strings.HasPrefix(n, prefix+".") })
	if errs := d.sf.Verify(); len(errs) != 0 {
		t.Errorf("%s: shortform does not verify: %v", what, errs)
	}
	if !bytes.Equal(d.sf.Encode(), d.sf.Buf) {
		t.Errorf("%s: shortform does not encode to the bytes it was decoded from", what)
	}
}

// checkBlock compares one directory block with xfs_db's print and
// verifies it.
func checkBlock(t *testing.T, what string, im *image, d *dirInfo, dablk uint32, o *xfsdb.Object, st *stats) {
	g := im.g
	buf, err := d.r.read(dablk)
	if err != nil {
		t.Fatal(err)
	}
	daddr := d.r.daddr(dablk)
	all := func(string) bool { return true }
	var errs []error
	switch {
	case dablk < g.LeafDA():
		b, err := DecodeData(g, buf)
		if err != nil {
			t.Fatal(err)
		}
		st.magics[string(buf[:4])]++
		compareFields(t, what, b.Fields(xfsformat.CRCOK(buf, CRCOffset)), o, all)
		errs = b.Verify(daddr, d.ino)
		if (d.form == FormBlock) != b.IsBlock() {
			t.Errorf("%s: a %s directory's data block has magic %q", what, d.form, buf[:4])
		}
		st.unused += len(b.Unused())
		enc := make([]byte, len(buf))
		copy(enc, buf)
		clear(enc[:g.DataHdrSize()])
		if err := b.EncodeHeader(enc); err != nil || !bytes.Equal(enc, buf) {
			t.Errorf("%s: the header does not encode to the bytes it was decoded from (%v)", what, err)
		}
	case dablk < g.FreeDA():
		info, err := da.DecodeBlkInfo(buf)
		if err != nil {
			t.Fatal(err)
		}
		st.magics[xfsformat.HexText(uint64(info.Magic))]++
		if da.IsNodeMagic(info.Magic) {
			n, err := da.DecodeNode(buf)
			if err != nil {
				t.Fatal(err)
			}
			compareFields(t, what, NodeFields(n, xfsformat.CRCOK(buf, da.CRCOffset)), o, all)
			errs = n.Verify(g.V5, g.MetaUUID, daddr, d.ino)
			break
		}
		l, err := DecodeLeaf(buf)
		if err != nil {
			t.Fatal(err)
		}
		if l.IsLeaf1() != (d.form == FormLeaf) {
			t.Errorf("%s: a %s directory has leaf magic %#x", what, d.form, l.Info.Magic)
		}
		compareFields(t, what, l.Fields(xfsformat.CRCOK(buf, da.CRCOffset)), o, all)
		errs = l.Verify(g, daddr, d.ino)
	default:
		f, err := DecodeFree(g, buf)
		if err != nil {
			t.Fatal(err)
		}
		st.magics[string(buf[:4])]++
		compareFields(t, what, f.Fields(xfsformat.CRCOK(buf, CRCOffset)), o, all)
		errs = f.Verify(dablk, daddr, d.ino)
	}
	if len(errs) != 0 {
		t.Errorf("%s: does not verify: %v", what, errs)
	}
}

// checkHashes checks, for a block, leaf or node directory, that the
// leaf entries (the block's own, the LEAF1 block's, or every LEAFN
// leaf's through the da-btree) are exactly the names' (hash, address)
// pairs besides the stale ones, and that Lookup finds a sample of the
// names and not a missing one.
func checkHashes(t *testing.T, im *image, d *dirInfo, st *stats) {
	g := im.g
	if d.r == nil {
		if slices.ContainsFunc(d.sf.Entries, func(e SFEntry) bool { return e.Ino > 0xffffffff }) {
			st.i8sf++
		}
		return
	}
	type pair struct{ hash, addr uint32 }
	leaf := map[pair]int{}
	add := func(e LeafEntry) {
		if e.Stale() {
			st.stale++
			return
		}
		leaf[pair{e.Hash, e.Address}]++
	}
	switch d.form {
	case FormBlock:
		buf, _ := d.r.read(0)
		b, _ := DecodeData(g, buf)
		for i := range b.NumLeafEntries() {
			add(b.LeafEntry(i))
		}
	case FormLeaf:
		buf, _ := d.r.read(g.LeafDA())
		l, _ := DecodeLeaf(buf)
		for i := range l.NumEntries() {
			add(l.Entry(i))
		}
	case FormNode:
		err := da.Leaves(d.r.read, g.LeafDA(), func(_ uint32, buf []byte) error {
			l, err := DecodeLeaf(buf)
			if err != nil {
				return err
			}
			for i := range l.NumEntries() {
				add(l.Entry(i))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", d.path, err)
		}
	}
	n := 0
	for _, e := range d.entries {
		p := pair{da.DirHash(e.Name, g.ASCIICI), e.Cookie}
		if leaf[p] == 0 {
			t.Errorf("%s: no leaf entry %#x -> %#x for %q", d.path, p.hash, p.addr, e.Name)
		}
		leaf[p]--
		n++
	}
	for p, c := range leaf {
		if c > 0 {
			t.Errorf("%s: leaf entry %#x -> %#x names no entry", d.path, p.hash, p.addr)
		}
	}
	// Lookups: the first, the last and every 97th name, and a missing one.
	for i, e := range d.entries {
		if i != 0 && i != len(d.entries)-1 && i%97 != 0 {
			continue
		}
		got, err := Lookup(g, d.r.read, e.Name)
		if err != nil || got.Ino != e.Ino || got.Cookie != e.Cookie {
			t.Errorf("%s: Lookup(%q) = %+v, %v; want inode %d at %#x", d.path, e.Name, got, err, e.Ino, e.Cookie)
		}
		st.lookups++
		if g.ASCIICI {
			// Names match whatever the case of their ASCII letters.
			swapped := bytes.Map(func(r rune) rune {
				switch {
				case r >= 'a' && r <= 'z':
					return r - 'a' + 'A'
				case r >= 'A' && r <= 'Z':
					return r - 'A' + 'a'
				}
				return r
			}, e.Name)
			if got, err := Lookup(g, d.r.read, swapped); err != nil || got.Ino != e.Ino {
				t.Errorf("%s: Lookup(%q) on an ASCII-CI filesystem = %+v, %v; want inode %d", d.path, swapped, got, err, e.Ino)
			}
		}
	}
	if _, err := Lookup(g, d.r.read, []byte("no such name, not here")); !errors.Is(err, ErrNotFound) {
		t.Errorf("%s: Lookup of a missing name: %v", d.path, err)
	}
}

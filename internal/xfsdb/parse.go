// Package xfsdb runs xfs_db (xfsprogs) read-only and parses what its print
// command writes into named fields and arrays, so that oracle tests can
// compare our decoders with the reference decoder field by field. It is a
// test helper: it never opens an image for writing (always xfs_db -r) and
// holds no knowledge of the on-disk format beyond how to address a block.
//
// # What xfs_db 6.1 prints
//
// Every line of `print` output has one of these forms (observed on
// xfsprogs 6.1; samples under testdata/):
//
//  1. Scalar: "NAME = VALUE". NAME may be dotted and indexed inside
//     ("core.mode", "u3.bmbt.level", "a.sfattr.list[0].name"). VALUE is kept
//     verbatim, as printed: decimal ("numrecs = 503"), hex without zero
//     padding ("crc = 0xaf04da4 (correct)", "(bad)" when wrong; "magic =
//     0x41423342", "lsn = 0x100004442"), "null" for null pointers and
//     inode numbers ("leftsib = null", "dirino = null"), octal ("core.mode =
//     0100600"), uuids, quoted strings with \ooo escapes ("fname =
//     "\000..."), annotated values ("core.format = 3 (btree)"), dates
//     ("core.atime.sec = Wed Nov 25 07:09:56 2026"), "(empty)" ("a =
//     (empty)").
//
//  2. Array of records: a header "NAME[FIRST-LAST] = [col1,col2,...] " (one
//     trailing space; "NAME[I]" when it has a single element), then one line
//     per element "I:[v1,v2,...] " (a trailing space on all but the last).
//     Indexes are printed, 1-based for btree records/keys, 0-based for
//     inode fork extents. Columns seen:
//     bnobt recs and keys   [startblock,blockcount]
//     cntbt recs            [startblock,blockcount]
//     cntbt keys            [blockcount,startblock]
//     inobt/finobt recs     [startino,holemask,count,freecount,free]
//     (sparse inodes; without: [startino,freecount,free]), free in hex
//     inobt/finobt keys     [startino]
//     rmapbt recs           [startblock,blockcount,owner,offset,extentflag,attrfork,bmbtblock]
//     rmapbt keys           [startblock,owner,offset,attrfork,bmbtblock,
//     startblock_hi,owner_hi,offset_hi,attrfork_hi,bmbtblock_hi]
//     (low key then high key; no extentflag in keys; owners signed:
//     -3 FS, -5 AG, -6 INOBT, -7 INODES, -8 REFC, ...)
//     refcntbt recs         [startblock,blockcount,refcount,cowflag]
//     refcntbt keys         [startblock,cowflag]
//     inode bmbt keys       u3.bmbt.keys[1-9] = [startoff]
//     inode extents         u3.bmx[0-1] = [startoff,startblock,blockcount,extentflag]
//     A block with numrecs = 0 prints no recs line at all.
//
//  3. Array of scalars, on one line: "NAME[FIRST-LAST] = I:V I:V ...".
//     Node block pointers "ptrs[1-5] = 1:1 2:11 3:4380 4:4386 5:4393"; the
//     AGFL "bno[0-118] = 0:null 1:7 2:8 ..." (every slot, null included;
//     0-1014 with 4 KiB sectors); the AGI "unlinked[0-63] = 3:1234 60:99 "
//     lists only the non-null buckets and is "unlinked[0-63] = " (empty
//     value) when all are null. A single element prints without its index:
//     "a.bmbt.ptrs[1] = 4343", "unlinked[3] = 1234".
//
//  4. Anything else is a message, kept in Object.Messages: xfs_db's own
//     complaints on stdout ("Bad btree magic 0x58414746; coercing to
//     bnobt.", "field recs not found", "bad fsblock 999999999", "bad
//     allocation group number 99", "no current type") and, merged from
//     stderr, the verifiers' ("Metadata CRC error detected at 0x...,
//     xfs_bnobt block 0x80001/0x1000", "Metadata corruption detected at
//     ..."). xfs_db exits 0 after such errors.
package xfsdb

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Field is one scalar line, "Name = Value", Value exactly as printed.
type Field struct {
	Name, Value string
}

// Array is one array field: records/keys (Columns set, one value per
// column in each row) or scalars (Columns nil, one value per row).
type Array struct {
	Name string
	// First and Last are the index range of the header, "recs[1-503]".
	First, Last int
	// Columns are the record's field names, "[startblock,blockcount]".
	Columns []string
	// Index[i] is the printed index of Rows[i].
	Index []int
	Rows  [][]string
}

// Len is the number of elements printed.
func (a *Array) Len() int { return len(a.Rows) }

// Row returns the element printed with index idx.
func (a *Array) Row(idx int) ([]string, bool) {
	for i, x := range a.Index {
		if x == idx {
			return a.Rows[i], true
		}
	}
	return nil, false
}

// Value returns the element printed with index idx of an array of scalars
// (or the first column of a record array).
func (a *Array) Value(idx int) (string, bool) {
	r, ok := a.Row(idx)
	if !ok || len(r) == 0 {
		return "", false
	}
	return r[0], true
}

// Column returns the position of a column name, or -1.
func (a *Array) Column(name string) int {
	for i, c := range a.Columns {
		if c == name {
			return i
		}
	}
	return -1
}

// Get returns column col of the element printed with index idx.
func (a *Array) Get(idx int, col string) (string, bool) {
	c := a.Column(col)
	r, ok := a.Row(idx)
	if c < 0 || !ok || c >= len(r) {
		return "", false
	}
	return r[c], true
}

// Map returns the scalar array as index -> value.
func (a *Array) Map() map[int]string {
	m := make(map[int]string, len(a.Rows))
	for i, x := range a.Index {
		if len(a.Rows[i]) > 0 {
			m[x] = a.Rows[i][0]
		}
	}
	return m
}

// Object is what one print wrote: its scalar fields and arrays, in order,
// and whatever else xfs_db said.
type Object struct {
	Fields   []Field
	Arrays   []*Array
	Messages []string
}

// Empty reports whether nothing was parsed as a field or an array.
func (o *Object) Empty() bool { return len(o.Fields) == 0 && len(o.Arrays) == 0 }

// Get returns the value of scalar field name.
func (o *Object) Get(name string) (string, bool) {
	for _, f := range o.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the value of scalar field name, or "" if there is none.
func (o *Object) Value(name string) string {
	v, _ := o.Get(name)
	return v
}

// Uint parses scalar field name with ParseUint.
func (o *Object) Uint(name string) (uint64, error) {
	v, ok := o.Get(name)
	if !ok {
		return 0, fmt.Errorf("xfsdb: no field %q", name)
	}
	n, err := ParseUint(v)
	if err != nil {
		return 0, fmt.Errorf("xfsdb: field %s: %w", name, err)
	}
	return n, nil
}

// Array returns the array called name ("recs", "keys", "ptrs", "bno",
// "unlinked", "u3.bmx"), or nil.
func (o *Object) Array(name string) *Array {
	for _, a := range o.Arrays {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// ParseUint parses a number as xfs_db prints it: decimal, 0x hex or 0
// octal, ignoring any trailing annotation ("0x1eefb42b (correct)", "3
// (btree)"). "null" is an error: its width depends on the field (see
// IsNull).
func ParseUint(v string) (uint64, error) {
	tok, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	if tok == "null" {
		return 0, fmt.Errorf("value is null")
	}
	return strconv.ParseUint(tok, 0, 64)
}

// ParseInt is ParseUint for signed values (rmap owners such as -5).
func ParseInt(v string) (int64, error) {
	tok, _, _ := strings.Cut(strings.TrimSpace(v), " ")
	if tok == "null" {
		return 0, fmt.Errorf("value is null")
	}
	return strconv.ParseInt(tok, 0, 64)
}

// IsNull reports whether xfs_db printed the value as null (all ones).
func IsNull(v string) bool { return strings.TrimSpace(v) == "null" }

// CRCVerdict splits "0xd645117d (correct)" into the value and the verdict
// ("correct", "bad", or "" when none was printed).
func CRCVerdict(v string) (value, verdict string) {
	value, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		rest = rest[1 : len(rest)-1]
	}
	return value, rest
}

// Parse parses the output of one print.
func Parse(out string) *Object {
	p := &parser{obj: &Object{}}
	for line := range strings.SplitSeq(out, "\n") {
		p.line(line)
	}
	return p.obj
}

// ParseReader is Parse reading from r.
func ParseReader(r io.Reader) (*Object, error) {
	p := &parser{obj: &Object{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		p.line(sc.Text())
	}
	return p.obj, sc.Err()
}

type parser struct {
	obj *Object
	// open is the record array whose "I:[...]" rows are being read.
	open *Array
}

func (p *parser) line(raw string) {
	line := strings.TrimRight(raw, " \t\r")
	if line == "" && p.open == nil {
		return
	}
	if p.open != nil {
		if idx, vals, ok := parseRow(line); ok {
			p.open.Index = append(p.open.Index, idx)
			p.open.Rows = append(p.open.Rows, vals)
			return
		}
		p.open = nil
		if line == "" {
			return
		}
	}
	name, value, ok := strings.Cut(line, " = ")
	if !ok {
		// "NAME[0-63] =" with nothing after it (trailing space trimmed).
		if n, found := strings.CutSuffix(line, " ="); found && !strings.Contains(n, " ") {
			name, value, ok = n, "", true
		}
	}
	if !ok || name == "" || strings.Contains(name, " ") {
		p.obj.Messages = append(p.obj.Messages, line)
		return
	}
	if base, first, last, isArr := splitIndex(name); isArr {
		a := &Array{Name: base, First: first, Last: last}
		p.obj.Arrays = append(p.obj.Arrays, a)
		v := strings.TrimSpace(value)
		switch {
		case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") && !strings.Contains(v, ":"):
			// Record header; rows follow.
			a.Columns = strings.Split(v[1:len(v)-1], ",")
			p.open = a
		case first == last && !hasIndexPrefix(v):
			// A single element prints bare: "ptrs[1] = 4343".
			a.Index = []int{first}
			a.Rows = [][]string{{v}}
		default:
			for tok := range strings.FieldsSeq(v) {
				i, val, ok := strings.Cut(tok, ":")
				n, err := strconv.Atoi(i)
				if !ok || err != nil {
					// Not an "I:V" list after all: keep the text whole.
					a.Index, a.Rows = []int{first}, [][]string{{v}}
					break
				}
				a.Index = append(a.Index, n)
				a.Rows = append(a.Rows, []string{val})
			}
		}
		return
	}
	p.obj.Fields = append(p.obj.Fields, Field{Name: name, Value: value})
}

// splitIndex splits "recs[1-503]" into "recs", 1, 503 and "ptrs[2]" into
// "ptrs", 2, 2. A name whose index is not at its end ("list[0].name") is
// not an array.
func splitIndex(name string) (base string, first, last int, ok bool) {
	if !strings.HasSuffix(name, "]") {
		return "", 0, 0, false
	}
	open := strings.LastIndexByte(name, '[')
	if open <= 0 {
		return "", 0, 0, false
	}
	rng := name[open+1 : len(name)-1]
	a, b, isRange := strings.Cut(rng, "-")
	f, err := strconv.Atoi(a)
	if err != nil {
		return "", 0, 0, false
	}
	l := f
	if isRange {
		if l, err = strconv.Atoi(b); err != nil {
			return "", 0, 0, false
		}
	}
	return name[:open], f, l, true
}

// parseRow parses "12:[1,2,3]".
func parseRow(line string) (int, []string, bool) {
	i, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok || !strings.HasPrefix(rest, "[") || !strings.HasSuffix(rest, "]") {
		return 0, nil, false
	}
	n, err := strconv.Atoi(i)
	if err != nil {
		return 0, nil, false
	}
	return n, strings.Split(rest[1:len(rest)-1], ","), true
}

func hasIndexPrefix(v string) bool {
	i, _, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(i)
	return err == nil
}

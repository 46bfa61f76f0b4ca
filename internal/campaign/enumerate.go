package campaign

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// Plan is everything the campaign will do to one image: the objects it
// found, the fields of each, the fields xfs_db refused, and the cases.
type Plan struct {
	Profile string
	AG      int
	Objects []Object
	// Fields are the fuzzable fields of each object, by object name, in
	// the order xfs_db prints them.
	Fields map[string][]string
	// Rejected are the field names we derived from the print output that
	// xfs_db does not accept as a field argument.
	Rejected []Rejection
	// Notes say what is unusual about this image's objects.
	Notes []string
	Cases []Case
}

// Rejection is a field (or a field with one verb) xfs_db refuses, and
// why.
type Rejection struct {
	Object, Field, Verb, Why string
}

// tree is an AG btree: its xfs_db type, the header that holds its root,
// and the header fields that give the root and height.
type tree struct {
	typ, header, rootField, levelField string
}

var trees = []tree{
	{"bnobt", "agf", "bnoroot", "bnolevel"},
	{"cntbt", "agf", "cntroot", "cntlevel"},
	{"inobt", "agi", "root", "level"},
	{"finobt", "agi", "free_root", "free_level"},
	{"rmapbt", "agf", "rmaproot", "rmaplevel"},
	{"refcntbt", "agf", "refcntroot", "refcntlevel"},
}

// Enumerate finds the objects of AG ag of image (agf, agfl, agi, and the
// root and leftmost leaf of each btree the filesystem has), lists the
// fields xfs_db prints for each, keeps those xfs_db accepts, and returns
// every (object, field, verb) case. It only reads the image.
func Enumerate(ctx context.Context, image, profile string, ag int) (*Plan, error) {
	p := &Plan{Profile: profile, AG: ag, Fields: map[string][]string{}}
	hdrs, err := xfsdb.PrintMany(image, [][]string{
		{fmt.Sprintf("agf %d", ag)}, {fmt.Sprintf("agi %d", ag)}, {fmt.Sprintf("agfl %d", ag)},
	})
	if err != nil {
		return nil, err
	}
	agf, agi := hdrs[0], hdrs[1]
	for i, h := range hdrs {
		if h.Empty() {
			return nil, fmt.Errorf("campaign: %s: header %d of AG %d printed nothing: %v", image, i, ag, h.Messages)
		}
	}
	objs := []Object{
		{Name: "agf", Nav: []string{fmt.Sprintf("agf %d", ag)}},
		{Name: "agfl", Nav: []string{fmt.Sprintf("agfl %d", ag)}},
		{Name: "agi", Nav: []string{fmt.Sprintf("agi %d", ag)}},
	}
	prints := []*xfsdb.Object{agf, hdrs[2], agi}

	for _, tr := range trees {
		hdr := agf
		if tr.header == "agi" {
			hdr = agi
		}
		root := strings.TrimSpace(hdr.Value(tr.rootField))
		level, lerr := hdr.Uint(tr.levelField)
		if root == "" || xfsdb.IsNull(root) || lerr != nil || level == 0 {
			p.Notes = append(p.Notes, fmt.Sprintf("no %s (%s = %q, %s = %q)", tr.typ, tr.rootField, root, tr.levelField, hdr.Value(tr.levelField)))
			continue
		}
		nav := []string{fmt.Sprintf("%s %d", tr.header, ag), "addr " + tr.rootField}
		rootObj, err := xfsdb.Print(image, nav...)
		if err != nil {
			return nil, err
		}
		if err := wantType(rootObj, tr.typ); err != nil {
			return nil, fmt.Errorf("campaign: %s root: %v", tr.typ, err)
		}
		rl, err := rootObj.Uint("level")
		if err != nil {
			return nil, fmt.Errorf("campaign: %s root: %v", tr.typ, err)
		}
		if rl == 0 {
			note := fmt.Sprintf("%s: the root is a leaf (height 1): the leaf object is the root, no %s-leaf", tr.typ, tr.typ)
			p.Notes = append(p.Notes, note)
			objs = append(objs, Object{Name: tr.typ + "-root", Nav: nav, Note: note})
			prints = append(prints, rootObj)
			continue
		}
		objs = append(objs, Object{Name: tr.typ + "-root", Nav: nav})
		prints = append(prints, rootObj)
		leafNav := append([]string(nil), nav...)
		for range rl {
			leafNav = append(leafNav, "addr ptrs[1]")
		}
		leaf, err := xfsdb.Print(image, leafNav...)
		if err != nil {
			return nil, err
		}
		if err := wantType(leaf, tr.typ); err != nil {
			return nil, fmt.Errorf("campaign: %s leaf: %v", tr.typ, err)
		}
		if l, err := leaf.Uint("level"); err != nil || l != 0 {
			return nil, fmt.Errorf("campaign: %s: %v leads to level %q, want 0", tr.typ, leafNav, leaf.Value("level"))
		}
		objs = append(objs, Object{Name: tr.typ + "-leaf", Nav: leafNav})
		prints = append(prints, leaf)
	}

	// The AGFL's live slots are where a fuzz matters most; add them to
	// first, middle and last.
	var agflExtra []int
	for _, f := range []string{"flfirst", "fllast"} {
		if v, err := agf.Uint(f); err == nil {
			agflExtra = append(agflExtra, int(v))
		}
	}
	if err := p.addObjects(ctx, image, objs, prints, map[string][]int{"agfl": agflExtra}); err != nil {
		return nil, err
	}
	return p, nil
}

// addObjects locates the objects, lists the fields xfs_db prints for
// each (prints[i] is objs[i] printed; extra adds array indexes by object
// name), keeps those xfs_db accepts, and adds every (object, field,
// verb) case to the plan.
func (p *Plan) addObjects(ctx context.Context, image string, objs []Object, prints []*xfsdb.Object, extra map[string][]int) error {
	for i := range objs {
		off, n, err := Locate(ctx, image, objs[i].Nav)
		if err != nil {
			return err
		}
		objs[i].Offset, objs[i].Length = off, n
	}
	for i, o := range objs {
		names := FieldNames(prints[i], extra[o.Name])
		ok, rej, err := validate(image, o, names)
		if err != nil {
			return err
		}
		p.Fields[o.Name] = ok
		p.Rejected = append(p.Rejected, rej...)
	}
	p.Objects = append(p.Objects, objs...)
	for i, o := range objs {
		for _, f := range p.Fields[o.Name] {
			for _, v := range Verbs {
				if why := refused(prints[i], f, v); why != "" {
					p.Rejected = append(p.Rejected, Rejection{Object: o.Name, Field: f, Verb: v, Why: why})
					continue
				}
				p.Cases = append(p.Cases, Case{
					Profile: p.Profile, AG: p.AG, Object: o.Name, Field: f, Verb: v,
					Nav: o.Nav, Offset: o.Offset, Length: o.Length,
				})
			}
		}
	}
	return nil
}

// btreeMagic are the v5 magic numbers of the AG btree blocks, and
// btreeMagicV4 v4's (16-byte headers; no rmapbt or refcountbt).
var (
	btreeMagic = map[string]uint64{
		"bnobt": 0x41423342, "cntbt": 0x41423343, "inobt": 0x49414233,
		"finobt": 0x46494233, "rmapbt": 0x524d4233, "refcntbt": 0x52334643,
	}
	btreeMagicV4 = map[string]uint64{"bnobt": 0x41425442, "cntbt": 0x41425443, "inobt": 0x49414254, "finobt": 0x46494254}
)

func wantType(o *xfsdb.Object, typ string) error {
	m, err := o.Uint("magic")
	if err != nil {
		return err
	}
	if m != btreeMagic[typ] && m != btreeMagicV4[typ] {
		return fmt.Errorf("magic %#x, want %#x or v4's %#x (%s)", m, btreeMagic[typ], btreeMagicV4[typ], typ)
	}
	return nil
}

// FieldNames lists the fields of a printed object as xfs_db's fuzz
// command names them: every scalar by name, and of every array the first,
// middle and last element (plus the indexes in extra, when in range): a
// record or key array element by each of its columns
// ("recs[1].startblock"), a scalar array element by itself ("ptrs[3]",
// "bno[0]", "unlinked[63]").
func FieldNames(o *xfsdb.Object, extra []int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, f := range o.Fields {
		add(f.Name)
	}
	for _, a := range o.Arrays {
		idx := []int{a.First, (a.First + a.Last) / 2, a.Last}
		for _, e := range extra {
			if e >= a.First && e <= a.Last {
				idx = append(idx, e)
			}
		}
		for _, i := range idx {
			if len(a.Columns) == 0 {
				add(fmt.Sprintf("%s[%d]", a.Name, i))
				continue
			}
			for _, c := range a.Columns {
				add(fmt.Sprintf("%s[%d].%s", a.Name, i, c))
			}
		}
	}
	return out
}

// validate keeps the fields xfs_db accepts as a field argument: `print
// FIELD` parses its argument as fuzz and write do.
func validate(image string, o Object, fields []string) (ok []string, rej []Rejection, err error) {
	batches := make([][]string, len(fields))
	for i, f := range fields {
		batches[i] = append(append([]string(nil), o.Nav...), "print "+f)
	}
	objs, err := xfsdb.PrintMany(image, batches)
	if err != nil {
		return nil, nil, err
	}
	for i, f := range fields {
		if objs[i].Empty() {
			rej = append(rej, Rejection{Object: o.Name, Field: f, Why: strings.Join(objs[i].Messages, "; ")})
			continue
		}
		ok = append(ok, f)
	}
	return ok, rej, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// refused says why xfs_db would refuse to fuzz field with verb, or "":
// xfs_db 6.1 cannot add to or subtract from a uuid ("unable to fuzz field
// 'uuid'"). Apply still reports any other refusal as ErrRejected.
func refused(o *xfsdb.Object, field, verb string) string {
	if (verb == "add" || verb == "sub") && uuidRE.MatchString(strings.TrimSpace(o.Value(field))) {
		return "xfs_db: unable to fuzz field '" + field + "' (no add/sub on a uuid)"
	}
	return ""
}

var stackRE = regexp.MustCompile(`byte offset (\d+), length (\d+)`)

// Locate returns the byte range of the object nav makes current, from
// xfs_db's stack command (the first entry is the current object).
func Locate(ctx context.Context, image string, nav []string) (offset, length int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	res, err := xfsDB(ctx, image, []string{"-r"}, append(append([]string(nil), nav...), "stack")...)
	if err != nil {
		return 0, 0, err
	}
	m := stackRE.FindStringSubmatch(res.Output)
	if m == nil {
		return 0, 0, fmt.Errorf("campaign: no location for %v in xfs_db's stack output:\n%s", nav, res.Output)
	}
	offset, _ = strconv.ParseInt(m[1], 10, 64)
	length, _ = strconv.ParseInt(m[2], 10, 64)
	if length <= 0 {
		return 0, 0, fmt.Errorf("campaign: %v: length %d", nav, length)
	}
	return offset, length, nil
}

package view

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// renderRecords streams every leaf record of a tree in key order: text is
// a "#"-prefixed header line of column names and one line per record;
// JSON is one object per line, the first describing the stream.
func (t *Tree) renderRecords(ctx context.Context, w io.Writer, agno uint32, bt xfsformat.BtreeType, asJSON bool) error {
	ops := bt.OpsFor(t.FS.Geo)
	cols := ops.RecColumns(t.FS.Geo)
	bw := bufio.NewWriterSize(w, 64<<10)
	if asJSON {
		hdr := (&jsonObject{}).add("ag", agno).add("btree", bt.String()).add("columns", cols)
		if err := writeJSON(bw, "records", hdr); err != nil {
			return err
		}
	} else {
		bw.WriteString("# " + strings.Join(cols, " ") + "\n")
	}
	walk := &fsys.Walk{FS: t.FS, AG: agno, Type: bt}
	err := walk.Records(ctx, func(agbno uint32, idx int, rec []byte) error {
		vals := ops.RecValues(t.FS.Geo, rec)
		if asJSON {
			bw.WriteByte('{')
			for i, v := range vals {
				if i > 0 {
					bw.WriteByte(',')
				}
				bw.WriteString(strconv.Quote(cols[i]) + ":" + jsonScalar(v))
			}
			_, err := bw.WriteString("}\n")
			return err
		}
		for i, v := range vals {
			if i > 0 {
				bw.WriteByte(' ')
			}
			bw.WriteString(v.Text)
		}
		return bw.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

func jsonScalar(v xfsformat.Value) string {
	switch x := v.JSON.(type) {
	case bool:
		return strconv.FormatBool(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return "null"
	}
	return strconv.Quote(v.Text)
}

// levelShape accumulates one level of a tree's shape.
type levelShape struct {
	blocks, entries, capacity int64
}

// renderShape prints height, blocks and fill per level, record count.
func (t *Tree) renderShape(ctx context.Context, w io.Writer, agno uint32, bt xfsformat.BtreeType) error {
	root, levels, _, err := t.FS.BtreeRoot(agno, bt)
	if err != nil {
		return err
	}
	shape := map[int]*levelShape{}
	var problems []string
	walk := &fsys.Walk{FS: t.FS, AG: agno, Type: bt, OnProblem: func(e error) { problems = append(problems, e.Error()) }}
	err = walk.Run(ctx, func(v *fsys.Visit) error {
		s := shape[v.Level]
		if s == nil {
			s = &levelShape{}
			shape[v.Level] = s
		}
		s.blocks++
		s.entries += int64(v.Block.NumRecs())
		s.capacity += int64(v.Block.MaxRecs())
		return nil
	})
	if err != nil {
		return err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "btree = %s\nag = %d\nroot = %d\nheight = %d\nmaxheight = %d\n", bt, agno, root, levels, bt.OpsFor(t.FS.Geo).MaxLevels(t.FS.Geo))
	// The header's height is shown as it is, but only levels a tree can
	// have are listed: a hostile header may claim billions.
	shown := min(int64(levels), int64(fsys.MaxBtreeHeight))
	if int64(levels) > shown {
		fmt.Fprintf(&sb, "note = the header's height %d exceeds any tree's (%d); levels above %d are not listed\n", levels, fsys.MaxBtreeHeight, shown-1)
	}
	var total int64
	for l := int(shown) - 1; l >= 0; l-- {
		s := shape[l]
		if s == nil {
			s = &levelShape{}
		}
		total += s.blocks
		fill := 0.0
		if s.capacity > 0 {
			fill = 100 * float64(s.entries) / float64(s.capacity)
		}
		kind := "node"
		if l == 0 {
			kind = "leaf"
		}
		fmt.Fprintf(&sb, "level[%d] = blocks %d, %s entries %d, fill %.1f%%\n", l, s.blocks, kind, s.entries, fill)
	}
	recs := int64(0)
	if s := shape[0]; s != nil {
		recs = s.entries
	}
	fmt.Fprintf(&sb, "blocks = %d\nrecords = %d\nproblems = %d\n", total, recs, len(problems))
	for _, p := range problems {
		sb.WriteString("problem = " + p + "\n")
	}
	_, err = io.WriteString(w, sb.String())
	return err
}

// renderBlock prints one block as xfs_db does (or its raw bytes).
func (t *Tree) renderBlock(w io.Writer, agno uint32, bt xfsformat.BtreeType, agbno uint32, raw bool) error {
	buf, err := t.FS.ReadBlock(agno, agbno)
	if err != nil {
		return err
	}
	if raw {
		_, err := w.Write(buf)
		return err
	}
	blk, err := xfsformat.NewBlockOps(bt.OpsFor(t.FS.Geo), buf)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	if err := writeFields(bw, blk.Hdr.HeaderFields(blk.CRCOK())); err != nil {
		return err
	}
	WriteBlockBody(bw, t.FS.Geo, blk)
	if err := writeVerdict(bw, xfsformat.VerifyBlock(blk, t.FS.Geo, agno, agbno)); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteBlockBody writes a block's records, or its keys and pointers, in
// xfs_db's forms: "recs[1-N] = [cols]" then "i:[v,...]" lines; "keys[1-N]"
// likewise (overlapping trees add the high key's columns with "_hi");
// "ptrs[1-N] = 1:p 2:q".
func WriteBlockBody(bw *bufio.Writer, g *xfsformat.Geometry, blk *xfsformat.Block) {
	n := blk.NumRecs()
	if n == 0 {
		return
	}
	ops := blk.Ops
	rng := "[1]"
	if n > 1 {
		rng = "[1-" + strconv.Itoa(n) + "]"
	}
	row := func(i int, vals []xfsformat.Value) {
		bw.WriteString(strconv.Itoa(i+1) + ":[")
		for j, v := range vals {
			if j > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(v.Text)
		}
		// xfs_db ends every row but the last with a space.
		if i+1 < n {
			bw.WriteString("] \n")
		} else {
			bw.WriteString("]\n")
		}
	}
	if blk.IsLeaf() {
		bw.WriteString("recs" + rng + " = [" + strings.Join(ops.RecColumns(g), ",") + "] \n")
		for i := 0; i < n; i++ {
			row(i, ops.RecValues(g, blk.Rec(i)))
		}
		return
	}
	cols := ops.KeyColumns
	if ops.Overlapping {
		cols = append(append([]string{}, cols...), hiColumns(cols)...)
	}
	bw.WriteString("keys" + rng + " = [" + strings.Join(cols, ",") + "] \n")
	for i := 0; i < n; i++ {
		vals := ops.KeyValues(blk.Key(i))
		if ops.Overlapping {
			vals = append(vals, ops.KeyValues(blk.HighKey(i))...)
		}
		row(i, vals)
	}
	bw.WriteString("ptrs" + rng + " =")
	for i := 0; i < n; i++ {
		bw.WriteString(" " + strconv.Itoa(i+1) + ":" + strconv.FormatUint(uint64(blk.Ptr(i)), 10))
	}
	bw.WriteByte('\n')
}

func hiColumns(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c + "_hi"
	}
	return out
}

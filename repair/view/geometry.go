package view

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// geometryFields is the xfs_info-style summary, shared by text and JSON.
func (t *Tree) geometryFields() []xfsformat.Field {
	g, s := t.FS.Geo, t.FS.SB
	f := func(name string, v any) xfsformat.Field {
		return xfsformat.Field{Name: name, Text: fmt.Sprint(v), JSON: v}
	}
	logAG, logAGBno, internal := g.InternalLogAG()
	logLoc := "external"
	var logJSON any
	if internal {
		logLoc = fmt.Sprintf("internal, ag %d agbno %d", logAG, logAGBno)
		logJSON = map[string]any{"ag": logAG, "agbno": logAGBno}
	}
	feats := s.FeatureNames()
	logState := xfsformat.Field{Name: "log_state", Text: "unknown", JSON: nil}
	if ls, err := fsys.ReadLogState(t.FS); err != nil {
		logState.Text = "unknown (" + err.Error() + ")"
	} else if ls.Clean {
		logState.Text, logState.JSON = "clean", map[string]any{"clean": true, "head": ls.HeadBlock, "tail": ls.TailBlock, "cycle": ls.Cycle}
	} else {
		logState.Text, logState.JSON = "dirty ("+ls.Reason+")", map[string]any{"clean": false, "head": ls.HeadBlock, "tail": ls.TailBlock, "cycle": ls.Cycle, "reason": ls.Reason}
	}
	// A row a value, like Superblock.Fields (xfsformat/sb.go) in shape
	// only: this is xfs_info's summary, partly derived, not the sb's fields.
	fields := []xfsformat.Field{
		f("image", t.FS.Img.Path()),
		f("image_bytes", t.FS.Img.Size()),
	}
	if md := t.FS.Img.Metadump(); md != nil {
		i := md.Info
		fields = append(fields,
			xfsformat.Field{Name: "metadump", Text: i.String(), JSON: map[string]any{
				"version": i.Version, "flags": i.HasFlags, "obfuscated": i.Obfuscated, "full_blocks": i.FullBlocks,
				"dirty_log": i.DirtyLog, "source": md.Source, "sectors_held": md.Sectors}},
			xfsformat.Field{Name: "contents", Text: "metadata only: file contents and free space read as absent (EIO)", JSON: "metadata only"})
		if i.Obfuscated {
			fields = append(fields, xfsformat.Field{Name: "names", Text: "obfuscated by xfs_metadump (not the filesystem's own)", JSON: "obfuscated"})
		}
	}
	return append(fields, []xfsformat.Field{
		f("uuid", s.UUID.String()),
		f("version", int(s.VersionNum&0xf)),
		f("blocksize", g.BlockSize),
		f("sectsize", g.SectSize),
		f("inodesize", g.InodeSize),
		f("dblocks", g.DBlocks),
		f("agcount", g.AGCount),
		f("agblocks", g.AGBlocks),
		f("last_ag_blocks", g.AGLength(g.AGCount-1)),
		f("logblocks", g.LogBlocks),
		{Name: "log", Text: logLoc, JSON: logJSON},
		logState,
		{Name: "features", Text: strings.Join(feats, " "), JSON: feats},
		f("icount", s.ICount),
		f("ifree", s.IFree),
		f("fdblocks", s.FDBlocks),
	}...)
}

func (t *Tree) renderGeometry(_ context.Context, w io.Writer) error {
	return writeFields(w, t.geometryFields())
}

func (t *Tree) renderGeometryJSON(_ context.Context, w io.Writer) error {
	return writeJSON(w, "geometry", (&jsonObject{}).add("fields", fieldsObject(t.geometryFields())))
}

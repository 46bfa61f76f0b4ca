package view

import (
	"context"
	"io"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// header is one decoded AG header sector, ready to render.
type header struct {
	name     string
	sector   []byte
	fields   []xfsformat.Field
	crcOK    bool
	problems []error
}

func (t *Tree) loadHeader(agno uint32, name string) (*header, error) {
	h := &header{name: name}
	var err error
	switch name {
	case "sb":
		err = fillHeader(t, h, agno, t.FS.ReadSB, xfsformat.SBCRCOffset(), xfsformat.VerifySuperblockCopy)
	case "agf":
		err = fillHeader(t, h, agno, t.FS.ReadAGF, xfsformat.AGFCRCOffset(), xfsformat.VerifyAGF)
	case "agi":
		err = fillHeader(t, h, agno, t.FS.ReadAGI, xfsformat.AGICRCOffset(), xfsformat.VerifyAGI)
	case "agfl":
		err = fillHeader(t, h, agno, t.FS.ReadAGFL, xfsformat.AGFLCRCOffset(), xfsformat.VerifyAGFL)
	default:
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// fielder is what every decoded header sector has.
type fielder interface {
	Fields(crcOK bool) []xfsformat.Field
}

// fillHeader reads one header sector of AG agno with read and fills h
// with the sector, its CRC verdict, its fields and what verify finds.
func fillHeader[T fielder](t *Tree, h *header, agno uint32, read func(agno uint32) (T, []byte, error),
	crcOff int, verify func(s T, sector []byte, g *xfsformat.Geometry, agno uint32) []error) error {
	s, buf, err := read(agno)
	if err != nil {
		return err
	}
	h.sector, h.crcOK = buf, xfsformat.CRCOK(buf, crcOff)
	h.fields = s.Fields(h.crcOK)
	if !t.FS.Geo.CRC {
		h.crcOK = true // nothing to check
		h.fields = xfsformat.UncheckedCRC(h.fields)
	}
	h.problems = verify(s, buf, t.FS.Geo, agno)
	return nil
}

// headerRenderer returns the renderer of sb/agf/agi/agfl[.json|.raw] of
// AG agno, or nil when name is not a header view.
func (t *Tree) headerRenderer(agno uint32, name string) func(context.Context, io.Writer) error {
	base, ext, _ := strings.Cut(name, ".")
	known := false
	for _, h := range headerNames {
		known = known || h == base
	}
	if !known || (ext != "" && ext != "json" && ext != "raw") {
		return nil
	}
	return func(_ context.Context, w io.Writer) error {
		h, err := t.loadHeader(agno, base)
		if err != nil {
			return err
		}
		switch ext {
		case "raw":
			_, err := w.Write(h.sector)
			return err
		case "json":
			identity, _ := verdict(h.problems)
			o := (&jsonObject{}).add("ag", agno).add("crc_ok", h.crcOK).
				add("identity_ok", len(identity) == 0).add("fields", fieldsObject(h.fields)).
				add("problems", problemStrings(h.problems))
			return writeJSON(w, base, o)
		}
		if err := writeFields(w, h.fields); err != nil {
			return err
		}
		return writeVerdict(w, h.problems)
	}
}

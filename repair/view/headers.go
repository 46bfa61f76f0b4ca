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
	g := t.FS.Geo
	h := &header{name: name}
	switch name {
	case "sb":
		s, buf, err := t.FS.ReadSB(agno)
		if err != nil {
			return nil, err
		}
		h.sector, h.crcOK = buf, xfsformat.CRCOK(buf, xfsformat.SBCRCOffset())
		h.fields = s.Fields(h.crcOK)
		h.problems = xfsformat.VerifySuperblockCopy(s, buf, g, agno)
	case "agf":
		a, buf, err := t.FS.ReadAGF(agno)
		if err != nil {
			return nil, err
		}
		h.sector, h.crcOK = buf, xfsformat.CRCOK(buf, xfsformat.AGFCRCOffset())
		h.fields = a.Fields(h.crcOK)
		h.problems = xfsformat.VerifyAGF(a, buf, g, agno)
	case "agi":
		a, buf, err := t.FS.ReadAGI(agno)
		if err != nil {
			return nil, err
		}
		h.sector, h.crcOK = buf, xfsformat.CRCOK(buf, xfsformat.AGICRCOffset())
		h.fields = a.Fields(h.crcOK)
		h.problems = xfsformat.VerifyAGI(a, buf, g, agno)
	case "agfl":
		a, buf, err := t.FS.ReadAGFL(agno)
		if err != nil {
			return nil, err
		}
		h.sector, h.crcOK = buf, xfsformat.CRCOK(buf, xfsformat.AGFLCRCOffset())
		h.fields = a.Fields(h.crcOK)
		h.problems = xfsformat.VerifyAGFL(a, buf, g, agno)
	default:
		return nil, notFound(name)
	}
	return h, nil
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

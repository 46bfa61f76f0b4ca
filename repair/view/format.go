package view

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// writeFields writes "name = value" lines as xfs_db prints them.
func writeFields(w io.Writer, fields []xfsformat.Field) error {
	bw := bufio.NewWriter(w)
	for _, f := range fields {
		bw.WriteString(f.Name)
		bw.WriteString(" = ")
		bw.WriteString(f.Text)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// verdict splits verifier problems into identity problems and the rest.
func verdict(problems []error) (identity, other []string) {
	for _, p := range problems {
		if errors.Is(p, xfsformat.ErrIdentity) {
			identity = append(identity, p.Error())
		} else if !errors.Is(p, xfsformat.ErrCRC) {
			other = append(other, p.Error())
		}
	}
	return identity, other
}

// writeVerdict writes the identity verdict line and one line per other
// problem after the fields.
func writeVerdict(w io.Writer, problems []error) error {
	identity, other := verdict(problems)
	var sb strings.Builder
	if len(identity) == 0 {
		sb.WriteString("identity = ok\n")
	} else {
		sb.WriteString("identity = bad: " + strings.Join(identity, "; ") + "\n")
	}
	for _, o := range other {
		sb.WriteString("problem = " + o + "\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// jsonObject writes an object with keys in the given order (the body of
// a view's Envelope).
type jsonObject struct {
	keys []string
	vals []any
}

func (o *jsonObject) add(k string, v any) *jsonObject {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
	return o
}

func (o *jsonObject) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		sb.Write(kb)
		sb.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		sb.Write(vb)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

func fieldsObject(fields []xfsformat.Field) *jsonObject {
	o := &jsonObject{}
	for _, f := range fields {
		o.add(f.Name, f.JSON)
	}
	return o
}

// writeJSON writes the view kind's Envelope around body, on one line.
func writeJSON(w io.Writer, kind string, body any) error {
	b, err := json.Marshal(Envelope{Kind: kind, Body: body})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

func problemStrings(problems []error) []string {
	out := []string{}
	for _, p := range problems {
		out = append(out, p.Error())
	}
	return out
}

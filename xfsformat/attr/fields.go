package attr

import (
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

var (
	fdec = xfsformat.FieldDec
	fhex = xfsformat.FieldHex
)

func itoa(v int) string { return strconv.Itoa(v) }

// charns quotes a name or value as xfs_db does (xfsformat.CharsText).
func charns(b []byte) string { return xfsformat.CharsText(b) }

// fieldChars is a character-array field (name, value, data). xfs_db
// prints nothing for an empty one (a counted field with count 0), and
// neither do we: appendChars appends it only when b is not empty.
func fieldChars(name string, b []byte) xfsformat.Field {
	return xfsformat.Field{Name: name, Text: charns(b), JSON: string(b)}
}

func appendChars(fs []xfsformat.Field, name string, b []byte) []xfsformat.Field {
	if len(b) == 0 {
		return fs
	}
	return append(fs, fieldChars(name, b))
}

// fieldBit is a one-bit flag field as xfs_db prints it (0 or 1).
func fieldBit(name string, flags, bit uint8) xfsformat.Field {
	v := uint64(0)
	if flags&bit != 0 {
		v = 1
	}
	return fdec(name, v)
}

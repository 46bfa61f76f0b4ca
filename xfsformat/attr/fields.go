package attr

import (
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
)

var (
	fdec = xfsformat.FieldDec
	fhex = xfsformat.FieldHex
)

func itoa(v int) string { return strconv.Itoa(v) }

// charns prints bytes as xfs_db's FLDT_CHARNS fields do (fp_charns):
// quoted; \ ' " ? escaped with a backslash; printable ASCII and space as
// is; the C escapes \a \b \f \n \r \t \v as xfs_db writes them (it adds
// 'a'-'\a' to the byte, so a newline comes out as \d and a tab as \c);
// every other byte as a 3-digit octal escape.
func charns(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + 2)
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '\\' || c == '\'' || c == '"' || c == '?':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c > ' ' && c < 0x7f || c == ' ':
			sb.WriteByte(c)
		case c >= '\a' && c <= '\r':
			sb.WriteByte('\\')
			sb.WriteByte(c + ('a' - '\a'))
		default:
			sb.WriteByte('\\')
			sb.WriteByte('0' + c>>6)
			sb.WriteByte('0' + c>>3&7)
			sb.WriteByte('0' + c&7)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

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

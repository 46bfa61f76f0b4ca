package xfsformat

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Field is one named value as xfs_db prints it (Text) and as JSON carries
// it (JSON: a number, string, bool or nil).
type Field struct {
	Name string
	Text string
	JSON any
}

// UUID is a 16-byte filesystem UUID.
type UUID [16]byte

func (u UUID) String() string {
	b := u[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IsZero reports whether the UUID is all zeroes.
func (u UUID) IsZero() bool { return u == UUID{} }

// hexText formats like C's "%#x": 0 is "0", others "0x..".
func hexText(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

func fDec(name string, v uint64) Field {
	return Field{name, strconv.FormatUint(v, 10), v}
}

func fHex(name string, v uint64) Field {
	return Field{name, hexText(v), v}
}

// fNull32 prints "null" for NULLAGBLOCK/NULLAGINO as xfs_db does.
func fNull32(name string, v uint32) Field {
	if v == NullAGBlock {
		return Field{name, "null", nil}
	}
	return fDec(name, uint64(v))
}

// fNonZero prints nothing for 0, as xfs_db's FLDT_AGBLOCKNZ fields
// (rmaproot, refcntroot) do.
func fNonZero(name string, v uint32) Field {
	if v == 0 {
		return Field{name, "", nil}
	}
	return fDec(name, uint64(v))
}

func fUUID(name string, u UUID) Field {
	return Field{name, u.String(), u.String()}
}

// fCRC prints a CRC as xfs_db does: the four stored bytes read
// big-endian (the CRC itself is stored little-endian), and the verdict.
func fCRC(name string, stored uint32, ok bool) Field {
	verdict := "bad"
	if ok {
		verdict = "correct"
	}
	shown := bits.ReverseBytes32(stored)
	return Field{name, hexText(uint64(shown)) + " (" + verdict + ")", map[string]any{"value": shown, "correct": ok}}
}

// UncheckedCRC is fields with every CRC verdict (fCRC's) made
// "unchecked", as xfs_db prints the CRC fields of a v4 filesystem's
// superblock, AGF and AGI: the bytes exist, nothing computes them.
func UncheckedCRC(fields []Field) []Field {
	out := make([]Field, len(fields))
	for i, f := range fields {
		if m, ok := f.JSON.(map[string]any); ok {
			if v, ok := m["value"].(uint32); ok {
				if _, isCRC := m["correct"]; isCRC {
					f = Field{f.Name, hexText(uint64(v)) + " (unchecked)", map[string]any{"value": v, "correct": nil}}
				}
			}
		}
		out[i] = f
	}
	return out
}

// NullFSIno is NULLFSINO, "no inode" in 64-bit inode fields.
const NullFSIno = ^uint64(0)

func fIno64(name string, v uint64) Field {
	if v == NullFSIno {
		return Field{name, "null", nil}
	}
	return fDec(name, v)
}

// cString prints a fixed char array as xfs_db does: quoted, with
// non-printable bytes as 3-digit octal escapes.
func cString(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\%03o", c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// The field makers, for the packages that decode the structures above
// the AG (xfsformat/da, dir, attr, dinode): every structure prints its
// numbers, CRCs and UUIDs the same way xfs_db does.

// FieldDec is a decimal field.
func FieldDec(name string, v uint64) Field { return fDec(name, v) }

// FieldHex is a hex field, printed as C's "%#x".
func FieldHex(name string, v uint64) Field { return fHex(name, v) }

// FieldCRC is a CRC with xfs_db's verdict: stored is the CRC as read
// (little-endian) from the block.
func FieldCRC(name string, stored uint32, ok bool) Field { return fCRC(name, stored, ok) }

// FieldUUID is a UUID field.
func FieldUUID(name string, u UUID) Field { return fUUID(name, u) }

// FieldIno64 is a 64-bit inode number field ("null" for NULLFSINO).
func FieldIno64(name string, v uint64) Field { return fIno64(name, v) }

// HexText formats v as C's "%#x": 0 is "0", others "0x..".
func HexText(v uint64) string { return hexText(v) }

// FieldChars is a byte string (a directory entry's or attribute's
// name) as xfs_db's charns printer shows it (CharsText).
func FieldChars(name string, b []byte) Field { return Field{name, CharsText(b), string(b)} }

// CharsText quotes bytes as xfs_db prints a char array (fp_charns):
// backslash before \ ' " and ?, printable ASCII as itself, 3-digit octal
// for other bytes but the control characters 7 to 13, which xfs_db
// prints as a backslash and c + ('a' - '\a'): \a \b, then \c for a tab,
// \d for a newline, \e \f \g for \v \f \r (its own quirk, kept so that
// the output compares). The one printer of names for every package.
func CharsText(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + 2)
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '\\' || c == '\'' || c == '"' || c == '?':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		case c >= '\a' && c <= '\r':
			sb.WriteByte('\\')
			sb.WriteByte(c + ('a' - '\a'))
		default:
			fmt.Fprintf(&sb, "\\%03o", c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

package xfsformat

import (
	"errors"
	"fmt"
)

// NullAGBlock is NULLAGBLOCK: "no block" in 32-bit AG block fields.
const NullAGBlock = 0xffffffff

// NullAGIno is NULLAGINO: "no inode" in 32-bit AG inode fields.
const NullAGIno = 0xffffffff

// Sentinel errors that FormatError wraps, so callers can classify.
var (
	ErrShort       = errors.New("buffer too short")
	ErrMagic       = errors.New("bad magic number")
	ErrCRC         = errors.New("bad CRC")
	ErrIdentity    = errors.New("identity mismatch")
	ErrRange       = errors.New("value out of range")
	ErrUnsupported = errors.New("unsupported filesystem")
	ErrNotXFS      = errors.New("not an XFS filesystem")
)

// FormatError says what is wrong with an on-disk structure and where.
// AG and Block are -1 when unknown or not applicable.
type FormatError struct {
	Struct string // "sb", "agf", "bnobt", ...
	AG     int64  // allocation group, or -1
	Block  int64  // AG block number, or -1
	Field  string // xfs_db field name, or ""
	Value  string // the offending value as printed, or ""
	Msg    string // what is wrong
	Kind   error  // one of the Err* sentinels
}

func (e *FormatError) Error() string {
	s := e.Struct
	if e.AG >= 0 {
		s += fmt.Sprintf(" (ag %d", e.AG)
		if e.Block >= 0 {
			s += fmt.Sprintf(" agbno %d", e.Block)
		}
		s += ")"
	} else if e.Block >= 0 {
		s += fmt.Sprintf(" (block %d)", e.Block)
	}
	if e.Field != "" {
		s += " " + e.Field
		if e.Value != "" {
			s += " = " + e.Value
		}
	}
	return s + ": " + e.Msg
}

func (e *FormatError) Unwrap() error { return e.Kind }

func ferr(kind error, st string, ag, blk int64, field, value, format string, args ...any) *FormatError {
	return &FormatError{Struct: st, AG: ag, Block: blk, Field: field, Value: value, Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// Errorf makes a FormatError for the packages that decode the structures
// above the AG (xfsformat/da, dir, attr, dinode): one error type, so
// callers classify them all the same way.
func Errorf(kind error, st string, ag, blk int64, field, value, format string, args ...any) *FormatError {
	return ferr(kind, st, ag, blk, field, value, format, args...)
}

// errShort is the error of a decoder or encoder given fewer than the need
// bytes its structure takes.
func errShort(st string, need, have int) error {
	return ferr(ErrShort, st, -1, -1, "", "", "need %d bytes, have %d", need, have)
}

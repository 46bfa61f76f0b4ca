package campaign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// ErrRejected is wrapped when xfs_db refuses a fuzz command (unknown
// field, index out of range, ...).
var ErrRejected = errors.New("xfs_db rejected the fuzz")

// Applied is what Apply did.
type Applied struct {
	// Restore writes back the bytes saved before the fuzz (the object's
	// range and its AG's header sectors) and verifies them by sha256.
	Restore func() error
	// Changed is false when the object's bytes are identical after the
	// fuzz (fuzzing a crc with -d, setting a zero field to zero, ...).
	Changed bool
	// Value is the fuzzed field as xfs_db printed it afterwards ("bnoroot
	// = 0"): with it, a random fuzz can be replayed with `write -d`.
	Value string
	// Output is all xfs_db said.
	Output string
}

// Apply fuzzes case c into image: xfs_db -x -c NAV... -c 'fuzz -d FIELD
// VERB'. It saves the bytes it may change first; restore puts them back
// and checks they are back. restore is non-nil whenever the image may have
// been written, even with an error: call it.
func Apply(ctx context.Context, image string, c Case) (restore func() error, changed bool, err error) {
	a, err := ApplyDetail(ctx, image, c)
	if a == nil {
		return nil, false, err
	}
	return a.Restore, a.Changed, err
}

// ApplyDetail is Apply returning everything it learned. The result is
// non-nil (with Restore set) whenever the image may have been written.
func ApplyDetail(ctx context.Context, image string, c Case) (*Applied, error) {
	if c.Length == 0 {
		off, n, err := Locate(ctx, image, c.Nav)
		if err != nil {
			return nil, err
		}
		c.Offset, c.Length = off, n
	}
	ranges, err := saveRanges(image, c)
	if err != nil {
		return nil, err
	}
	snap, err := takeSnapshot(image, ranges)
	if err != nil {
		return nil, err
	}
	a := &Applied{Restore: snap.restore}

	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	cmds := append(append([]string(nil), c.Nav...), c.edit())
	res, err := xfsDB(ctx, image, []string{"-x"}, cmds...)
	a.Output = res.Output
	if err != nil {
		return a, err
	}
	a.Value = fuzzedValue(res.Output, c.Field)
	if a.Value == "" {
		return a, fmt.Errorf("%w: %s: %s", ErrRejected, c, dbMessages(res.Output))
	}
	after, err := readRange(image, ranges[0])
	if err != nil {
		return a, err
	}
	a.Changed = !bytes.Equal(after, snap.data[0])
	return a, nil
}

// fuzzedValue finds "FIELD = VALUE" in xfs_db's output after a fuzz
// (a record printed whole spans several lines; its header is enough).
func fuzzedValue(out, field string) string {
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, field+" = ") || strings.TrimRight(l, " ") == field+" =" {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// byteRange is [Off, Off+Len) of an image.
type byteRange struct{ Off, Len int64 }

// saveRanges are the object's range, first, then its AG's header
// sectors (sb, agf, agi, agfl), where xfs_db could write besides.
func saveRanges(image string, c Case) ([]byteRange, error) {
	g, err := xfsdb.ReadGeometry(image)
	if err != nil {
		return nil, err
	}
	agStart := int64(c.AG) * int64(g.AGBlocks) * int64(g.BlockSize)
	return []byteRange{{c.Offset, c.Length}, {agStart, 4 * int64(g.SectSize)}}, nil
}

type snapshot struct {
	image  string
	ranges []byteRange
	data   [][]byte
	sums   [][32]byte
}

func takeSnapshot(image string, ranges []byteRange) (*snapshot, error) {
	s := &snapshot{image: image, ranges: ranges}
	for _, r := range ranges {
		b, err := readRange(image, r)
		if err != nil {
			return nil, err
		}
		s.data = append(s.data, b)
		s.sums = append(s.sums, sha256.Sum256(b))
	}
	return s, nil
}

// restore writes the saved bytes back (the last range first, so that the
// object's own bytes win where ranges overlap, as saved) and verifies
// every range by sha256.
func (s *snapshot) restore() error {
	f, err := os.OpenFile(s.image, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for i := len(s.ranges) - 1; i >= 0; i-- {
		if _, err := f.WriteAt(s.data[i], s.ranges[i].Off); err != nil {
			return fmt.Errorf("campaign: restoring %s at %d: %v", s.image, s.ranges[i].Off, err)
		}
	}
	for i, r := range s.ranges {
		b := make([]byte, r.Len)
		if _, err := f.ReadAt(b, r.Off); err != nil {
			return fmt.Errorf("campaign: verifying %s at %d: %v", s.image, r.Off, err)
		}
		if sha256.Sum256(b) != s.sums[i] {
			return fmt.Errorf("campaign: %s: bytes %d+%d differ after restore", s.image, r.Off, r.Len)
		}
	}
	return nil
}

func readRange(image string, r byteRange) ([]byte, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, r.Len)
	if _, err := f.ReadAt(b, r.Off); err != nil {
		return nil, fmt.Errorf("campaign: reading %s at %d+%d: %v", image, r.Off, r.Len, err)
	}
	return b, nil
}

// dbMessages is xfs_db's output on one line, without its "Allowing fuzz
// of corrupted data" banner.
func dbMessages(out string) string {
	var ms []string
	for l := range strings.SplitSeq(out, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "Allowing ") {
			ms = append(ms, l)
		}
	}
	return strings.Join(ms, "; ")
}

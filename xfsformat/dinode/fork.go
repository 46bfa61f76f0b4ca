package dinode

import (
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// Root is the bmbt root a btree-format fork holds (xfs_bmdr_block):
// level and numrecs, then numrecs keys (file offsets) and child
// pointers (filesystem blocks). Keys and Ptrs are bounded by what the
// fork holds (MaxRecs), whatever numrecs says.
type Root struct {
	Level, NumRecs uint16
	Keys, Ptrs     []uint64
	MaxRecs        int
}

// DecodeRoot decodes the bmbt root of a btree-format fork (the fork's
// bytes: the pointers start after room for MaxRecs keys).
func DecodeRoot(fork []byte) (*Root, error) {
	b, err := xfsformat.NewBmbtRoot(fork)
	if err != nil {
		return nil, err
	}
	r := &Root{Level: b.Hdr.Level, NumRecs: b.Hdr.NumRecs, MaxRecs: b.MaxRecs()}
	n := b.NumRecs()
	r.Keys, r.Ptrs = make([]uint64, n), make([]uint64, n)
	for i := range n {
		r.Keys[i], r.Ptrs[i] = b.Key(i), b.Ptr(i)
	}
	return r, nil
}

// forkName is the xfs_db prefix of a fork's fields on v5: "u3" or "a".
func forkName(attr bool) string {
	if attr {
		return "a"
	}
	return "u3"
}

// Extents decodes an extents-format fork: the number of records the core
// says, bounded by what the fork holds. When the core claims more, the
// records that fit come back with an error.
func (c *Core) Extents(attr bool) ([]xfsformat.BmbtRec, error) {
	n, err := c.ExtentCount(attr)
	recs := make([]xfsformat.BmbtRec, n)
	for i := range recs {
		recs[i] = c.Extent(attr, i)
	}
	return recs, err
}

// ExtentCount is how many records Extents decodes, and its error: the
// verifier and the map walk read them one by one (Extent), not into a
// slice an inode.
func (c *Core) ExtentCount(attr bool) (int, error) {
	n, capacity := c.ForkExtents(attr), uint64(len(c.Fork(attr))/xfsformat.BmbtRecLen)
	if n > capacity {
		return int(capacity), c.err(xfsformat.ErrRange, extentsField(attr), strconv.FormatUint(n, 10),
			"more extents than the fork holds (%d)", capacity)
	}
	return int(n), nil
}

// Extent decodes record i of an extents-format fork (i below
// ExtentCount).
func (c *Core) Extent(attr bool, i int) xfsformat.BmbtRec {
	return xfsformat.DecodeBmbtRec(c.Fork(attr)[i*xfsformat.BmbtRecLen:])
}

func extentsField(attr bool) string {
	if attr {
		return "core.naextents"
	}
	return "core.nextents"
}

// ExtentProblem says what is wrong with one extent of a fork, as the
// kernel's xfs_bmap_validate_extent checks it, or "" when nothing is:
// a zero length or file range past the largest file offset, blocks
// outside one AG's data area (or the realtime device for a realtime
// file's data), an unwritten extent in an attr fork.
func ExtentProblem(fs *FS, realtime, attr bool, r xfsformat.BmbtRec) string {
	end := r.StartOff + uint64(r.BlockCount)
	switch {
	case r.BlockCount == 0:
		return "zero-length extent"
	case end-1 > xfsformat.MaxFileOff:
		return "extent ends past the largest file offset"
	case realtime && !attr:
		if r.StartBlock+uint64(r.BlockCount) > fs.RBlocks || r.StartBlock+uint64(r.BlockCount) < r.StartBlock {
			return "extent outside the realtime device"
		}
	default:
		if _, _, ok := xfsformat.CheckFSBExtent(fs.Geo, r.StartBlock, uint64(r.BlockCount)); !ok {
			return "extent blocks outside an AG's data area"
		}
	}
	if attr && r.Unwritten {
		return "unwritten extent in an attr fork"
	}
	return ""
}

// recText is an extent as xfs_db prints a bmx row.
func recText(r xfsformat.BmbtRec) string {
	return fmt.Sprintf("[%d,%d,%d,%d]", r.StartOff, r.StartBlock, r.BlockCount, b2u(r.Unwritten))
}

// err makes a FormatError about this inode, located by its number when
// the inode knows it.
func (c *Core) err(kind error, field, value, format string, args ...any) *xfsformat.FormatError {
	return &xfsformat.FormatError{Struct: "inode", AG: -1, Block: -1, Field: field, Value: value,
		Msg: "inode " + strconv.FormatUint(c.Ino, 10) + ": " + fmt.Sprintf(format, args...), Kind: kind}
}

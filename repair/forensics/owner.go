package forensics

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/forensics/history"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Who owns a block. The rmapbt says it directly where the filesystem has
// one. Without it, the owner index is what the check builds of every
// AG it scans: the rmap records of everything it found in use (headers,
// log, btrees, inode chunks, every fork's extents and bmbt blocks),
// sorted in the workspace, so memory stays bounded however large the
// filesystem. A free block's last owner comes from the log: the latest
// inode item mapping it, or the latest metadata buffer written there.

// Ownership is what is known of one block.
type Ownership struct {
	FSBlock    uint64 `json:"fsblock"`
	AG         uint32 `json:"ag"`
	AGBlock    uint32 `json:"agblock"`
	Daddr      uint64 `json:"daddr"`
	ByteOffset int64  `json:"byte_offset"`
	// Free says the bnobt holds the block as free space.
	Free bool `json:"free"`
	// Owners are the block's owners now (several for shared blocks).
	Owners []string `json:"owners,omitempty"`
	// Source says where Owners came from: "rmapbt" or "inode scan".
	Source string `json:"source"`
	// LastOwner, for a free block, is who held it last as far as the log
	// shows, with the LSN; empty when the log does not say.
	LastOwner string `json:"last_owner,omitempty"`
}

// Owners answers for each filesystem block of fsbs, in order. ws holds
// the owner index of a filesystem without an rmapbt.
func Owners(ctx context.Context, fs *fsys.FS, ws *workspace.Workspace, fsbs []uint64) ([]Ownership, error) {
	out := make([]Ownership, len(fsbs))
	var qs []*spaceQuery
	ags := map[uint32]bool{}
	for i, fsb := range fsbs {
		agno, agbno, ok := xfsformat.CheckFSBExtent(fs.Geo, fsb, 1)
		if !ok {
			return nil, fmt.Errorf("block %d is not a block of the filesystem (%d AGs of %d blocks)", fsb, fs.Geo.AGCount, fs.Geo.AGBlocks)
		}
		out[i] = Ownership{FSBlock: fsb, AG: agno, AGBlock: agbno, Daddr: fs.Geo.FSBToDaddr(fsb), ByteOffset: fs.Geo.ByteOffset(agno, agbno)}
		qs = append(qs, &spaceQuery{agno: agno, start: agbno, length: 1})
		ags[agno] = true
	}
	// The bnobt for every block, then the owners of the used ones.
	if err := judgeSpace(ctx, fs, qs); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Free = qs[i].free
	}
	if fs.HasBtree(xfsformat.Rmapbt) {
		for agno := range ags {
			var list []*spaceQuery
			idx := map[*spaceQuery]int{}
			for i, q := range qs {
				if q.agno == agno {
					list = append(list, q)
					idx[q] = i
				}
			}
			sortQueries(list)
			err := overlapping(ctx, fs, agno, xfsformat.Rmapbt, list, 1, func(b []byte) (uint32, uint32) {
				r := xfsformat.DecodeRmapRec(b)
				return r.StartBlock, r.BlockCount
			}, func(q *spaceQuery, _, _ uint32, b []byte) {
				o := &out[idx[q]]
				o.Owners = append(o.Owners, ownerText(agno, xfsformat.DecodeRmapRec(b)))
			})
			if err != nil {
				return nil, fmt.Errorf("rmapbt of AG %d: %w", agno, err)
			}
		}
		for i := range out {
			out[i].Source = "rmapbt"
		}
	} else if err := ownersByScan(ctx, fs, ws, ags, out); err != nil {
		return nil, err
	}
	return out, lastOwners(ctx, fs, out)
}

// scanUsed builds the owner index of ags (the check's used space: one
// inode scan for them all, staged in ws) and hands fn its records.
func scanUsed(ctx context.Context, fs *fsys.FS, ws *workspace.Workspace, ags []uint32, fn func(agno uint32, r xfsformat.RmapRec)) error {
	checks, err := check.Collect(ctx, fs, ags, ws, &check.Findings{}, nil, check.CollectLight)
	if err != nil {
		return fmt.Errorf("building the owner index: %w", err)
	}
	for agno, c := range checks {
		err := c.Used().Iterate(ctx, func(_ int64, b []byte) error {
			fn(agno, xfsformat.DecodeRmapRec(b))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ownersByScan answers from the owner index of the AGs asked about.
func ownersByScan(ctx context.Context, fs *fsys.FS, ws *workspace.Workspace, ags map[uint32]bool, out []Ownership) error {
	var list []uint32
	for agno := range ags {
		list = append(list, agno)
	}
	err := scanUsed(ctx, fs, ws, list, func(agno uint32, r xfsformat.RmapRec) {
		for i := range out {
			if o := &out[i]; o.AG == agno && r.StartBlock <= o.AGBlock && o.AGBlock-r.StartBlock < r.BlockCount {
				o.Owners = append(o.Owners, ownerText(agno, r))
			}
		}
	})
	for i := range out {
		out[i].Source = "inode scan (the filesystem has no rmapbt)"
	}
	return err
}

// lastOwners fills LastOwner for the free blocks of out from the log.
func lastOwners(ctx context.Context, fs *fsys.FS, out []Ownership) error {
	need := false
	for _, o := range out {
		need = need || o.Free
	}
	if !need {
		return nil
	}
	bb := uint64(fs.Geo.BlockSize) / 512
	_, err := history.Scan(ctx, fs, history.Visitor{
		Inode: func(s *history.InodeSnapshot) error {
			for _, e := range s.Extents {
				for i := range out {
					if o := &out[i]; o.Free && e.StartBlock <= o.FSBlock && o.FSBlock-e.StartBlock < uint64(e.BlockCount) {
						o.LastOwner = fmt.Sprintf("inode %d (file block %d), logged at LSN %s", s.Ino, e.StartOff+o.FSBlock-e.StartBlock, xlog.LSNText(s.LSN))
					}
				}
			}
			return nil
		},
		Buffer: func(b *history.BufferSnapshot) error {
			for i := range out {
				if o := &out[i]; o.Free && b.Daddr <= o.Daddr && o.Daddr < b.Daddr+max(uint64(b.Len), bb) {
					o.LastOwner = fmt.Sprintf("metadata buffer at daddr %d (%s), logged at LSN %s", b.Daddr, bufKind(b), xlog.LSNText(b.LSN))
				}
			}
			// A btree-format file's mappings are logged in its bmbt
			// leaves: the records of a logged leaf that map the block.
			bmbtLeafRecords(b, func(owner uint64, e xfsformat.BmbtRec) {
				for i := range out {
					if o := &out[i]; o.Free && e.StartBlock <= o.FSBlock && o.FSBlock-e.StartBlock < uint64(e.BlockCount) {
						o.LastOwner = fmt.Sprintf("inode %d (file block %d), its bmbt leaf logged at LSN %s", owner, e.StartOff+o.FSBlock-e.StartBlock, xlog.LSNText(b.LSN))
					}
				}
			})
			return nil
		},
	})
	return err
}

// bufKind names a logged buffer by its magic number when its first
// region holds it.
func bufKind(b *history.BufferSnapshot) string {
	for _, r := range b.Regions {
		if r.Offset == 0 && len(r.Data) >= 4 {
			m := r.Data[:4]
			if m[0] >= 0x20 && m[0] < 0x7f && m[1] >= 0x20 && m[1] < 0x7f && m[2] >= 0x20 && m[2] < 0x7f && m[3] >= 0x20 && m[3] < 0x7f {
				return "magic " + string(m)
			}
			return fmt.Sprintf("magic 0x%x", m)
		}
	}
	return "header not logged"
}

// bmbtLeafRecords calls fn with the records a logged buffer holds when
// it is a v5 bmbt leaf whose header region was logged with it (magic
// BMA3, level 0, the owner): every whole 16-byte record slot of its
// logged regions below numrecs.
func bmbtLeafRecords(b *history.BufferSnapshot, fn func(owner uint64, e xfsformat.BmbtRec)) {
	var hdr *xfsformat.BmbtBlock
	for _, r := range b.Regions {
		if r.Offset == 0 && len(r.Data) >= xfsformat.BmbtHeaderSize {
			hdr, _ = xfsformat.NewBmbtBlock(r.Data)
		}
	}
	if hdr == nil || hdr.Hdr.Magic != xfsformat.BmapCRCMagic || hdr.Hdr.Level != 0 {
		return
	}
	for _, r := range b.Regions {
		const h, n = xfsformat.BmbtHeaderSize, xfsformat.BmbtRecLen
		first := (max(r.Offset, h) - h + n - 1) / n // the first whole slot
		for i := first; i < int(hdr.Hdr.NumRecs) && h+(i+1)*n <= r.Offset+len(r.Data); i++ {
			fn(hdr.Hdr.Owner, xfsformat.DecodeBmbtRec(r.Data[h+i*n-r.Offset:]))
		}
	}
}

// WriteOwnership writes o as one line of text, as xfsbox owner prints
// it.
func WriteOwnership(w io.Writer, o Ownership) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "fsblock %d (AG %d block %d, daddr %d, byte %d): ", o.FSBlock, o.AG, o.AGBlock, o.Daddr, o.ByteOffset)
	switch {
	case o.Free && o.LastOwner != "":
		fmt.Fprintf(b, "free; last held by %s", o.LastOwner)
	case o.Free:
		b.WriteString("free; the log does not say who held it last")
	case len(o.Owners) == 0:
		fmt.Fprintf(b, "in use, but no owner found (%s)", o.Source)
	default:
		fmt.Fprintf(b, "%s (%s)", strings.Join(o.Owners, "; "), o.Source)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

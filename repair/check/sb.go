package check

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// checkSuperblocks compares the primary superblock's counters with the
// sums over the AGs (only when every AG was checked).
func checkSuperblocks(fs *fsys.FS, checks map[uint32]*AG, all bool, findings *Findings) {
	if !all {
		return
	}
	var icount, ifree, fdblocks uint64
	for _, c := range checks {
		if !c.agfOK || !c.agiOK {
			return // the AG's own findings say why; the sums would only echo them
		}
		icount += c.inodeCount
		ifree += c.inodeFree
		fdblocks += c.freeBlocks + uint64(c.agf.FLCount) + c.btreeBlocks
	}
	sb := fs.SB
	add := func(field string, have, want uint64) {
		if have != want {
			findings.Addf("sb."+field, XrefMismatch, 0, "sb", 0, "%s %d, but the AGs count %d", field, have, want)
		}
	}
	add("icount", sb.ICount, icount)
	add("ifree", sb.IFree, ifree)
	add("fdblocks", sb.FDBlocks, fdblocks)
}

// quotaInodes are the user, group and project quota inodes the
// superblock names (0 for none), when its quota bit is set.
func quotaInodes(sb *xfsformat.Superblock) []uint64 {
	if sb.VersionNum&xfsformat.VersionQuotaBit == 0 {
		return nil
	}
	q := []uint64{sb.UQuotIno, sb.GQuotIno, sb.PQuotIno}
	for i, ino := range q {
		if ino == xfsformat.NullFSIno {
			q[i] = 0
		}
	}
	return q
}

// noteQuotaInodes names the quota inodes the superblock names: their
// dquot blocks, and the usage they count, are not checked (the realtime
// device's are refused at open: fsys.Open).
func noteQuotaInodes(fs *fsys.FS, findings *Findings) {
	for i, ino := range quotaInodes(fs.SB) {
		if ino != 0 {
			findings.Add(Finding{Code: "quota.present", Severity: Warning, AG: -1, Structure: "sb", Block: -1, Ino: ino,
				Message: fmt.Sprintf("%s quota inode %d: its dquot blocks and the usage they count are not checked", [...]string{"user", "group", "project"}[i], ino)})
		}
	}
}

// scanForCheck reads every inode and adds the blocks their forks use to
// the used-space arrays of the AGs being checked, and compares each
// chunk's in-use inodes with the inobt's free mask.
func scanForCheck(ctx context.Context, fs *fsys.FS, checks map[uint32]*AG, findings *Findings, content *contentCheck) error {
	sink := func(agno uint32, r xfsformat.RmapRec) error {
		c := checks[agno]
		if c == nil {
			return nil
		}
		return c.addUsed(r.StartBlock, r.BlockCount, int64(r.Owner), r.Offset)
	}
	onChunk := func(cu ChunkUse) error {
		c := checks[cu.AG]
		if c == nil {
			return nil
		}
		holes := cu.Rec.Holes()
		valid := ^holes &^ cu.Bad
		if bad := cu.InUse & cu.Rec.Free & valid; bad != 0 {
			c.addNoBlock("inobt.free", XrefMismatch, "chunk %d marks %d in-use inode(s) free (first: inode %d)",
				cu.Rec.StartIno, bits.OnesCount64(bad), fs.Geo.Ino(cu.AG, cu.Rec.StartIno+uint32(bits.TrailingZeros64(bad))))
		}
		if bad := ^cu.InUse &^ cu.Rec.Free & valid; bad != 0 {
			c.addNoBlock("inobt.free", XrefMismatch, "chunk %d marks %d free inode(s) in use (first: inode %d)",
				cu.Rec.StartIno, bits.OnesCount64(bad), fs.Geo.Ino(cu.AG, cu.Rec.StartIno+uint32(bits.TrailingZeros64(bad))))
		}
		return nil
	}
	return scanInodes(ctx, fs, nil, sink, onChunk, findings, content)
}

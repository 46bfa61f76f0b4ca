package repair

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// rebuildAGI rewrites AG agno's AGI from its inode btrees: identity
// (magic, version, seqno, length, uuid), count and freecount from the
// inobt's records, ino_blocks and fino_blocks from the trees' sizes,
// invalid unlinked buckets and newino/dirino hints set to null, lsn 0;
// and the superblock's icount and ifree recounted over the AGs. The
// trees' roots are kept: this rebuild needs sound inode btrees (their
// own rebuild is still to come) and refuses otherwise.
func rebuildAGI(ctx context.Context, fs *fsys.FS, opts RepairOptions) (*RepairResult, error) {
	g, agno := fs.Geo, opts.ag
	ws, c, res, err := checkAG(ctx, fs, opts, false, nil)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	if err := refuseCorruptSources(res.Before, "inobt", "finobt"); err != nil {
		return res, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if !opts.Force && !needsRebuild(res.Before, []string{"agi"}) {
		res.NothingToDo = true
		return res, nil
	}
	old := *c.AGI()
	agi := old
	count, free := c.Inodes()
	agi.Count, agi.FreeCount = uint32(count), uint32(free)
	if g.InobtCount {
		agi.IBlocks = uint32(c.TreeBlocks(xfsformat.Inobt))
		agi.FBlocks = uint32(c.TreeBlocks(xfsformat.Finobt))
	}
	sbSector, err := fs.ReadSector(0, fsys.SectorSB)
	if err != nil {
		return res, err
	}
	sbBuf := append([]byte(nil), sbSector...)
	sb, err := xfsformat.DecodeSuperblock(sbBuf)
	if err != nil {
		return res, err
	}
	agiBuf, err := finishAGI(fs, agno, &agi, sbBuf)
	if err != nil {
		return res, err
	}
	icount, ifree := binary.BigEndian.Uint64(sbBuf[128:]), binary.BigEndian.Uint64(sbBuf[136:])
	res.Counters = []Counter{{"count", uint64(old.Count), uint64(agi.Count)}, {"freecount", uint64(old.FreeCount), uint64(agi.FreeCount)},
		{"ino_blocks", uint64(old.IBlocks), uint64(agi.IBlocks)}, {"fino_blocks", uint64(old.FBlocks), uint64(agi.FBlocks)},
		{"icount", sb.ICount, icount}, {"ifree", sb.IFree, ifree}}

	opts.progress("commit")
	if err := fs.Commit(opts.writer(fs), []store.Write{{Off: g.SectorOffset(agno, fsys.SectorAGI), Data: agiBuf}, {Off: 0, Data: sbBuf}}, opts.Fault); err != nil {
		return res, err
	}
	res.Rewritten = []Rewrite{{"agi", "identity, counters and hints recomputed from the inode btrees"}, {"sb", "icount and ifree recounted over the AGs"}}
	for _, ct := range res.Counters {
		if ct.Before != ct.After {
			opts.logf("ag %d: %s %d -> %d", agno, ct.Name, ct.Before, ct.After)
		}
	}
	opts.progress("verify")
	after, err := check.Check(context.Background(), fs, check.CheckOptions{AGs: fsys.OneAG(agno), Workspace: opts.Workspace})
	if err != nil {
		return res, err
	}
	for _, f := range after.Findings.List() {
		if s, _, _ := strings.Cut(f.Code, "."); s == "agi" {
			res.After = append(res.After, f)
		}
	}
	return res, nil
}

// rebuildSecondarySB rewrites AG agno's superblock copy from the primary
// (as xfs_repair does: the primary's sector, byte for byte).
func rebuildSecondarySB(ctx context.Context, fs *fsys.FS, opts RepairOptions) (*RepairResult, error) {
	agno := opts.ag
	res := &RepairResult{AG: agno}
	if agno == 0 {
		return res, fmt.Errorf("%w: AG 0's superblock is the primary; xfsbox rewrites only the secondary copies", ErrUnknownStruct)
	}
	primary, err := fs.ReadSector(0, fsys.SectorSB)
	if err != nil {
		return res, err
	}
	copyBuf, err := fs.ReadSector(agno, fsys.SectorSB)
	if err != nil {
		return res, err
	}
	if string(primary) == string(copyBuf) && !opts.Force {
		res.NothingToDo = true
		return res, nil
	}
	if err := fs.Commit(opts.writer(fs), []store.Write{{Off: fs.Geo.SectorOffset(agno, fsys.SectorSB), Data: append([]byte(nil), primary...)}}, opts.Fault); err != nil {
		return res, err
	}
	res.Rewritten = []Rewrite{{"sb", "this AG's secondary superblock copied from the primary"}}
	opts.logf("ag %d: secondary superblock rewritten from the primary", agno)
	return res, nil
}

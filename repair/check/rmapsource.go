package check

import (
	"context"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// xrefRmapSource is the cross-reference of CollectRmap mode, where no
// inode is read and the rmapbt is to stand in for the inode scan. It is
// sound (c.rmapSound) when
//
//   - its records for the AG's own metadata (headers, log, free-space
//     trees and AGFL, inode btrees and chunks, refcountbt, CoW staging)
//     equal, merged as the kernel merges them, what the walk of those
//     structures found (c.used holds nothing else in this mode), and
//   - the space it maps is exactly the complement of the bnobt's free
//     extents: two independent structures agree on every block.
//
// Then c.used becomes the rmapbt's records, file mappings included, and
// they are cross-referenced as the full check's used space is (cross-
// links, refcounts). A
// single corruption cannot make both agree on a wrong picture; the
// rebuild falls back to the full inode scan otherwise (package repair's
// checkAG).
func (c *AG) xrefRmapSource(ctx context.Context) error {
	tr := c.trees[xfsformat.Rmapbt]
	if tr == nil || tr.recs == nil || c.trees[xfsformat.Bnobt] == nil || c.trees[xfsformat.Bnobt].recs == nil {
		return nil // nothing to compare: not sound
	}
	if err := tr.recs.SortBy(ctx, RmapSortKey...); err != nil {
		return err
	}
	meta, err := c.ws.NewArray(xfsformat.RmapRecLen)
	if err != nil {
		return err
	}
	defer meta.Release()
	// One pass over the rmapbt's records feeds every comparison: its
	// metadata records, staged for the comparison with the walk's, and
	// its used space against the bnobt's free space and against itself
	// (cross-links, refcounts). The last two count only if the first
	// finds the rmapbt right, so their findings are held until then.
	var heldSpace, heldUsed []Finding
	space := c.newSpaceXref(ctx, func(f Finding) { heldSpace = append(heldSpace, f) })
	used, err := c.newUsedXref(func(f Finding) { heldUsed = append(heldUsed, f) })
	if err != nil {
		return err
	}
	defer used.release()
	err = tr.recs.Iterate(ctx, func(_ int64, rec []byte) error {
		r := xfsformat.DecodeRmapRec(rec)
		if !r.IsInodeOwner() {
			if err := meta.Append(rec); err != nil {
				return err
			}
		}
		space.addUsed(rec)
		used.add(r)
		return used.refc.err
	})
	if err != nil {
		return err
	}
	differ, err := c.compareRmaps(ctx, c.used, meta)
	if err != nil || differ > 0 {
		return err
	}
	overlaps, err := space.finish()
	if err != nil {
		return err
	}
	for _, f := range heldSpace {
		c.findings.Add(f)
	}
	if overlaps > 0 {
		return nil
	}
	c.used.Release()
	c.used = tr.recs
	c.rmapSound = true
	// What the full check would compare against the used space and can
	// still: no cross-linked space, and the refcountbt against the
	// overlaps of the rmapbt's file mappings (as the kernel's scrub
	// cross-references it).
	for _, f := range heldUsed {
		c.findings.Add(f)
	}
	return used.finish(ctx)
}

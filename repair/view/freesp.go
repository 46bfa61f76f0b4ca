package view

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// renderFreesp prints the AG's free-extent size histogram in the form of
// xfs_db's "freesp -s -a N": power-of-two bins over the bnobt's extents
// plus, as xfs_db counts them, the AGFL's blocks (one-block extents).
func (t *Tree) renderFreesp(ctx context.Context, w io.Writer, agno uint32) error {
	var extents, blocks [33]uint64
	var totalExt, totalBlk uint64
	walk := &fsys.Walk{FS: t.FS, AG: agno, Type: xfsformat.Bnobt}
	add := func(n uint32) {
		if n == 0 {
			return
		}
		bin := bits.Len32(n) - 1
		extents[bin]++
		blocks[bin] += uint64(n)
		totalExt++
		totalBlk += uint64(n)
	}
	err := walk.Records(ctx, func(_ uint32, _ int, rec []byte) error {
		add(xfsformat.DecodeAllocRec(rec).BlockCount)
		return nil
	})
	if err != nil {
		return err
	}
	if agf, _, err := t.FS.ReadAGF(agno); err == nil {
		if agfl, _, err := t.FS.ReadAGFL(agno); err == nil {
			active, _ := agfl.Active(agf.FLFirst, agf.FLLast, agf.FLCount)
			for range active {
				add(1)
			}
		}
	}
	agLen := uint64(t.FS.Geo.AGLength(agno))
	var sb strings.Builder
	fmt.Fprintf(&sb, "%7s %7s %7s %7s %6s\n", "from", "to", "extents", "blocks", "pct")
	for i := range extents {
		if extents[i] == 0 {
			continue
		}
		lo, hi := uint64(1)<<i, min(uint64(1)<<(i+1)-1, agLen)
		fmt.Fprintf(&sb, "%7d %7d %7d %7d %6.2f\n", lo, hi, extents[i], blocks[i], 100*float64(blocks[i])/float64(totalBlk))
	}
	fmt.Fprintf(&sb, "total free extents %d\ntotal free blocks %d\n", totalExt, totalBlk)
	if totalExt > 0 {
		fmt.Fprintf(&sb, "average free extent size %s\n", strconv.FormatFloat(float64(totalBlk)/float64(totalExt), 'g', 6, 64))
	}
	_, err = io.WriteString(w, sb.String())
	return err
}

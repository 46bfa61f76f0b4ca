package forensics

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/forensics/history"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// The extent map of a deleted file whose data fork was a btree: the
// root as the log last held it (the inode's in-memory root: a long-form
// block of if_broot_bytes), and below it the file's bmbt blocks as they
// were at the file's last live state, rebuilt as recovery would: the
// block as the disk holds it when it is the owner's and was written no
// later than that state (else zeroes), with every region the log holds
// of it up to that state laid over it in LSN order. A freed bmbt block
// is never written back (the kernel invalidates its buffer), so the
// disk holds its last written version and the log the changes since. A
// block that does not come out as the owner's bmbt block at the right
// level (magic, owner, level, its own address, the filesystem's uuid)
// leaves the map unknown: a partial map would read as holes where the
// data was.

// loggedBuf is one logged state of a block.
type loggedBuf struct {
	lsn       uint64
	cancelled bool
	regions   []history.Region
}

// bmbtTree is one deleted file's tree being rebuilt.
type bmbtTree struct {
	ino   uint64
	until uint64 // the life's last live state
	recs  []xfsformat.BmbtRec
	level []*xfsformat.BmbtBlock // the blocks of the level being read
	err   error
}

// bmbtMaps rebuilds the trees under the logged roots, level by level:
// each level's blocks are known only from the level above, and one
// pass over the log collects the logged states of those blocks alone.
func bmbtMaps(ctx context.Context, fs *fsys.FS, trees []*bmbtTree, roots [][]byte) error {
	maxLevels := xfsformat.BmbtMaxLevels(fs.Geo, false, true)
	for i, t := range trees {
		r, err := xfsformat.NewBmbtBlock(roots[i])
		switch {
		case err != nil:
			t.err = fmt.Errorf("the logged bmbt root: %w", err)
		case r.Hdr.Level == 0 || int(r.Hdr.Level) > maxLevels:
			t.err = fmt.Errorf("the logged bmbt root has level %d", r.Hdr.Level)
		default:
			t.level = []*xfsformat.BmbtBlock{r}
		}
	}
	for range maxLevels {
		want := map[uint64]bool{}
		for _, t := range trees {
			for _, b := range t.level {
				for i := range b.NumRecs() {
					want[fs.Geo.FSBToDaddr(b.Ptr(i))] = true
				}
			}
		}
		if len(want) == 0 {
			return nil
		}
		logged := map[uint64][]loggedBuf{}
		_, err := history.Scan(ctx, fs, history.Visitor{Buffer: func(b *history.BufferSnapshot) error {
			if want[b.Daddr] && b.Len*512 == fs.Geo.BlockSize {
				logged[b.Daddr] = append(logged[b.Daddr], loggedBuf{b.LSN, b.Cancelled, b.Regions})
			}
			return nil
		}})
		if err != nil {
			return err
		}
		for _, t := range trees {
			t.descend(fs, logged)
		}
	}
	return nil
}

// descend reads the blocks under t's current level, collecting the
// records of a leaf level.
func (t *bmbtTree) descend(fs *fsys.FS, logged map[uint64][]loggedBuf) {
	var next []*xfsformat.BmbtBlock
	for _, b := range t.level {
		for i := range b.NumRecs() {
			c, err := rebuildBmbtBlock(fs, b.Ptr(i), t.ino, t.until, b.Hdr.Level-1, logged)
			if err != nil {
				t.err, t.level = err, nil
				return
			}
			if c.IsLeaf() {
				for j := range c.NumRecs() {
					t.recs = append(t.recs, c.Rec(j))
				}
				continue
			}
			next = append(next, c)
		}
	}
	t.level = next
}

// rebuildBmbtBlock is block fsb as it was at until.
func rebuildBmbtBlock(fs *fsys.FS, fsb, owner, until uint64, level uint16, logged map[uint64][]loggedBuf) (*xfsformat.BmbtBlock, error) {
	agno, agbno, ok := xfsformat.CheckFSBExtent(fs.Geo, fsb, 1)
	if !ok {
		return nil, fmt.Errorf("bmbt pointer %d is not a block of the filesystem", fsb)
	}
	disk, err := fs.ReadBlock(agno, agbno)
	if err != nil {
		return nil, err
	}
	buf := bytes.Clone(disk)
	if b, err := xfsformat.NewBmbtBlock(buf); err != nil || b.Hdr.Magic != xfsformat.BmapCRCMagic || b.Hdr.Owner != owner || b.Hdr.LSN > until {
		clear(buf)
	}
	for _, l := range logged[fs.Geo.FSBToDaddr(fsb)] {
		if l.lsn > until {
			break
		}
		if l.cancelled {
			clear(buf)
			continue
		}
		for _, r := range l.regions {
			if r.Offset >= 0 && r.Offset < len(buf) {
				copy(buf[r.Offset:], r.Data)
			}
		}
	}
	b, err := xfsformat.NewBmbtBlock(buf)
	if err != nil {
		return nil, err
	}
	// The CRC is not logged (recovery computes it): every other identity
	// check holds.
	for _, e := range xfsformat.VerifyBmbtBlock(b, fs.Geo, fsb, owner) {
		if !isCRC(e) {
			return nil, fmt.Errorf("bmbt block %d as of LSN %s: %w", fsb, xlog.LSNText(until), e)
		}
	}
	if b.Hdr.Level != level {
		return nil, fmt.Errorf("bmbt block %d as of LSN %s has level %d, not %d", fsb, xlog.LSNText(until), b.Hdr.Level, level)
	}
	return b, nil
}

// isCRC reports whether a block finding is its CRC's.
func isCRC(err error) bool {
	var fe *xfsformat.FormatError
	return errors.As(err, &fe) && errors.Is(fe.Kind, xfsformat.ErrCRC)
}

// btreeFileMaps gives the regular files whose life ended in btree
// format their extent maps from their bmbt trees (bmbtMaps).
func btreeFileMaps(ctx context.Context, fs *fsys.FS, files map[uint64]*DeletedFile, lives map[uint64]*Life) error {
	var trees []*bmbtTree
	var roots [][]byte
	for ino, l := range lives {
		if f := files[ino]; f != nil && !f.Unlinked && l.BtreeRoot != nil && l.Mode&xfsformat.ModeTypeMask == xfsformat.ModeRegular {
			trees = append(trees, &bmbtTree{ino: ino, until: l.SizeLSN})
			roots = append(roots, l.BtreeRoot)
		}
	}
	if len(trees) == 0 {
		return nil
	}
	if err := bmbtMaps(ctx, fs, trees, roots); err != nil {
		return err
	}
	for _, t := range trees {
		f, l := files[t.ino], lives[t.ino]
		if t.err == nil {
			t.err = inOrder(t.recs)
		}
		if t.err == nil && uint64(len(t.recs)) != l.Nextents {
			t.err = fmt.Errorf("the rebuilt tree maps %d extents, the inode's count is %d", len(t.recs), l.Nextents)
		}
		if t.err != nil {
			f.Notes = append(f.Notes, "extent map unknown: "+t.err.Error())
			continue
		}
		f.MapFrom = fmt.Sprintf("bmbt root logged at LSN %s; bmbt blocks from the disk and the log as of LSN %s", xlog.LSNText(l.RootLSN), xlog.LSNText(t.until))
		setExtents(f, t.recs)
	}
	return nil
}

// inOrder checks that extents are in file order and do not overlap.
func inOrder(es []xfsformat.BmbtRec) error {
	for i := 1; i < len(es); i++ {
		if es[i].StartOff < es[i-1].StartOff+uint64(es[i-1].BlockCount) {
			return fmt.Errorf("the recovered extents overlap or are out of order at file block %d", es[i].StartOff)
		}
	}
	return nil
}

// freedLeafMaps gives deleted files the log has no map for the map of
// their freed bmbt leaves found in free space, when those leaves make
// exactly one whole sibling chain: from a leaf with no left sibling,
// each right sibling found and pointing back, to one with no right
// sibling. Leaves freed earlier in the file's life (a tree that shrank)
// would make a second, broken chain; then nothing is claimed. The size
// stays unknown (the freed core's is zeroed), and with no log to say
// what happened since, free extents get the verdict unknown. Only files
// an entry names as regular are given one (a large directory's map is a
// bmbt too).
func freedLeafMaps(files map[uint64]*DeletedFile, leaves map[uint64][]FreeLeaf) {
	for ino, ls := range leaves {
		f := files[ino]
		if f == nil || f.Unlinked || len(f.Extents) > 0 || f.Kind != "regular" {
			continue
		}
		byFSB := map[uint64]*FreeLeaf{}
		var heads []*FreeLeaf
		for i := range ls {
			byFSB[ls[i].FSB] = &ls[i]
			if ls[i].Left == xfsformat.NullFSBlock {
				heads = append(heads, &ls[i])
			}
		}
		if len(heads) != 1 {
			continue
		}
		var recs []xfsformat.BmbtRec
		prev, whole := xfsformat.NullFSBlock, false
		for l, n := heads[0], 0; l != nil && n <= len(ls); n++ {
			if l.Left != prev {
				break
			}
			recs = append(recs, l.Recs...)
			if l.Right == xfsformat.NullFSBlock {
				whole = n+1 == len(ls)
				break
			}
			prev, l = l.FSB, byFSB[l.Right]
		}
		if !whole || inOrder(recs) != nil || len(recs) == 0 {
			continue
		}
		f.MapFrom = fmt.Sprintf("%d freed bmbt leaves found in free space, one whole sibling chain", len(ls))
		f.Notes = append(f.Notes, "size unknown: recovered to the end of the last extent")
		setExtents(f, recs)
	}
}

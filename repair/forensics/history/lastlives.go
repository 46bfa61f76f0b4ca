package history

import (
	"context"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// An inode's lives in the log. An inode number is used by a file from
// its allocation to its freeing, then maybe by another; the log holds
// inode items (InodeSnapshot) of the lives it covers. What an item holds
// is the inode as the checkpoint left it: since delayed logging, every
// transaction of a checkpoint that logs the inode reformats its one item
// (xfs_inode_item_format), so only the last state of each checkpoint
// reaches the log. The rules that pick out a file's last state before its
// deletion follow from what the kernel logs, and when:
//
//   - The core is always logged. The data fork is logged only when a
//     transaction since the inode was last written back changed it:
//     ili_fields accumulates the XFS_ILOG_* bits until xfs_iflush clears
//     them, and xfs_inode_item_format_data_fork logs the extent list
//     (DEXT) only in extents format with at least one extent, the bmbt
//     root (DBROOT) only in btree format, inline data (DDATA) only in
//     local format. So a CORE-only item leaves the last logged list
//     standing (an extent change would have set DEXT); an extents-format
//     core with no extents means an empty list, which is never logged.
//   - Extents are logged when they are allocated (delayed allocation is
//     converted at writeback, xfs_bmapi_convert_delalloc; direct I/O
//     allocates at the write, xfs_iomap_write_direct), the size when the
//     write completes (xfs_setfilesize, xfs_iomap_write_unwritten), CORE
//     only if the inode was written back in between: the list may come
//     from an item older than the size.
//   - A truncation logs the new size first, CORE only, then unmaps the
//     extents from the end, a few per rolled transaction, each logging
//     the shrinking list: xfs_setattr_size, and on the last unlink
//     xfs_inactive_truncate, which sets di_size = 0 and calls
//     xfs_itruncate_extents (xfs_bunmapi_range, XFS_ITRUNC_MAX_EXTENTS
//     at a time). A remote symlink goes through xfs_inactive_symlink_rmt,
//     which also zeroes the size and turns the mode into S_IFREG. So
//     items with size 0 and a shrinking list (nlink 0 on the way to the
//     freeing) follow the last live state and must not replace it.
//   - The unlink itself (xfs_remove, xfs_droplink) logs the core with
//     nlink 0 and the size intact, and the fork too if it changed since
//     the inode was last written back.
//   - The freeing, xfs_ifree, logs the core (CORE only) with mode 0, the
//     fork reset to extents format with none, and the generation bumped
//     (i_generation++); the di_ctime of that item is the deletion time.
//
// Hence, per inode, in LSN order:
//
//  0. A life starts at a snapshot with a nonzero mode, unless it is
//     both empty and unlinked (size 0, nlink 0): that is a truncation
//     whose live state the log no longer holds (the life began before
//     the oldest record), and the life is left unknown rather than
//     guessed. (An O_TMPFILE file starts unlinked and empty, and is
//     missed so.)
//  1. A snapshot with mode 0 ends the life (the freeing): what the life
//     left becomes the inode's last dead life, freed at its LSN. Mode-0
//     snapshots with no live one since change nothing.
//  2. A snapshot with nonzero mode and size 0 after a live one with a
//     nonzero size is a truncation to zero (the inactivation's, if nlink
//     is 0): ignored, and the life is marked cut. So is one with size 0
//     and nlink 0 after a live one with nlink 0 and more blocks
//     (di_nblocks): the inactivation of a file whose blocks lay past a
//     zero size (fallocate's KEEP_SIZE); only a truncation or a hole
//     punched through a descriptor still open takes blocks from an
//     unlinked file besides, and is taken for it.
//  3. Any other snapshot with nonzero mode is the live state. Its fork,
//     where logged, is the life's latest (a cut is healed by a newly
//     logged list); an extents-format core with no extents empties the
//     list; another format clears it; a CORE-only item of a cut life
//     with extents leaves the list unknown (it was logged before the
//     truncation). The list is known only when its length is the core's
//     extent count.

// Life is what the log says of one inode's last life: its last
// live state before the last freeing the log shows (or before the log's
// end, if none).
type Life struct {
	Ino uint64
	// Live is the life's last live snapshot (rule 3): its Core has the
	// mode, size, times, link count and generation.
	Live *InodeSnapshot
	// Extents is the data fork's extent list as last logged in the life
	// (at ExtentsLSN), when ExtentsKnown: the life logged one (or an
	// empty one) that is still current and whose length is Live's
	// extent count.
	Extents      []xfsformat.BmbtRec
	ExtentsLSN   uint64
	ExtentsKnown bool
	// BtreeRoot (at BtreeRootLSN) and Local are the life's last logged
	// bmbt root and inline data, as in InodeSnapshot; nil if none.
	BtreeRoot    []byte
	BtreeRootLSN uint64
	Local        []byte
	// Generation is Live's di_gen.
	Generation uint32
	// Cut is the first truncation to zero after Live (rule 2), nil if
	// none. With nlink 0 it is the inactivation's: Live is the file as
	// it was deleted. With a nonzero nlink the file was truncated while
	// linked and was empty when deleted: Live is what it held before.
	Cut *InodeSnapshot
	// FreedLSN is the LSN of the freeing snapshot (mode 0) that ended
	// the life, and Freed its core (its ctime is the deletion time, its
	// generation Generation+1); 0 and nil when the log shows the life
	// not ended.
	FreedLSN uint64
	Freed    *xlog.LogDinode
	// Reborn says the inode number was allocated again after FreedLSN.
	Reborn bool
}

// life is one inode's state as the snapshots go by.
type life struct {
	cur  *Life // the life in progress, nil before its first snapshot
	dead *Life // the last ended life
	cut  bool
}

// LastLives scans the log (Scan) and returns, for every inode want
// accepts (every inode when want is nil) that has a live snapshot in the
// log, its last life by the rules above.
func LastLives(ctx context.Context, fs *fsys.FS, want func(ino uint64) bool) (map[uint64]*Life, Stats, error) {
	lives := map[uint64]*life{}
	st, err := Scan(ctx, fs, Visitor{Inode: func(s *InodeSnapshot) error {
		if want != nil && !want(s.Ino) {
			return nil
		}
		l := lives[s.Ino]
		if l == nil {
			l = &life{}
			lives[s.Ino] = l
		}
		l.see(s)
		return nil
	}})
	if err != nil {
		return nil, st, err
	}
	out := map[uint64]*Life{}
	for ino, l := range lives {
		if h := l.result(); h != nil {
			out[ino] = h
		}
	}
	return out, st, nil
}

// result is the last ended life, else the life in progress, else nil.
func (l *life) result() *Life {
	if l.dead != nil {
		l.dead.Reborn = l.cur != nil
		return l.dead
	}
	return l.cur
}

// see applies one snapshot.
func (l *life) see(s *InodeSnapshot) {
	c := s.Core
	if c.Mode == 0 {
		if l.cur != nil {
			l.cur.FreedLSN, l.cur.Freed = s.LSN, c
			l.dead, l.cur, l.cut = l.cur, nil, false
		}
		return
	}
	h := l.cur
	if h != nil && c.Size == 0 && (h.Live.Core.Size > 0 || c.Nlink == 0 && h.Live.Core.Nlink == 0 && c.Nblocks < h.Live.Core.Nblocks) {
		if h.Cut == nil {
			h.Cut = s
		}
		l.cut = true
		return
	}
	if h == nil {
		if c.Size == 0 && c.Nlink == 0 {
			// A life never starts unlinked and empty: the log begins
			// in a truncation whose live state is lost.
			return
		}
		h = &Life{Ino: s.Ino}
		l.cur = h
	}
	h.Live, h.Generation, h.Cut = s, c.Gen, nil
	switch {
	case s.Fields&xlog.ILogDExt != 0:
		h.Extents, h.ExtentsLSN, h.ExtentsKnown = s.Extents, s.LSN, true
		l.cut = false
	case c.Format == xfsformat.FmtExtents && c.DataExtents() == 0:
		h.Extents, h.ExtentsLSN, h.ExtentsKnown = nil, s.LSN, true
		l.cut = false
	case c.Format != xfsformat.FmtExtents, l.cut:
		h.Extents, h.ExtentsLSN, h.ExtentsKnown = nil, 0, false
	}
	if h.ExtentsKnown && uint64(len(h.Extents)) != c.DataExtents() {
		h.ExtentsKnown = false
	}
	if s.Fields&xlog.ILogDBroot != 0 {
		h.BtreeRoot, h.BtreeRootLSN = s.BtreeRoot, s.LSN
	}
	if s.Fields&xlog.ILogDData != 0 {
		h.Local = s.Local
	}
}

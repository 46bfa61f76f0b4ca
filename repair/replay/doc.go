// Package replay replays the internal log of an XFS image in user space,
// as the kernel's mount does (xlog_recover in fs/xfs/xfs_log_recover.c
// and the item recovery of xfs_buf_item_recover.c,
// xfs_inode_item_recover.c, xfs_icreate_item.c and
// xfs_dquot_item_recover.c): it walks the records from the tail to the
// head twice, the first time to learn which buffers were cancelled, the
// second to apply every committed transaction in log order (buffers by
// their dirty chunks, inode cores and forks, inode chunk creation,
// dquots), skipping what the disk already holds newer (the LSN of v5
// metadata), and stamping replayed buffers with the transaction's LSN
// and a fresh CRC as the kernel's write verifiers do. Then, as a mount
// after a crash does, it recounts the superblock's summary counters from
// the AG headers, and, as an unmount does, marks the log clean with an
// unmount record at its head.
//
// It writes only into an overlay (sandbox mode, or an FS's Throwaway),
// never the image itself, and all of it as one batch, so that the
// sandbox's commit applies the replay crash-safely, whole or not at all.
// Work the kernel does after replaying (finish intents left without
// their done items, free inodes left on the unlinked lists, free
// leftover copy-on-write staging extents) refuses the replay by name,
// unless the caller asks for a partial replay for a view, or finishes
// it (Options.Finish: the inodes are freed here, and the caller,
// repair.ReplayLog, rebuilds the AGs' space structures that work
// touches, see finish.go). Every length and count read from the log is bounded before it
// sizes anything; a damaged log is refused, never replayed in part.
//
// Import order: above repair/fsys (the image, its log records and its
// commits) and xfsformat/log (the decoded items); below repair/check and
// repair, which refuse dirty logs and, with a replay first, repair what
// it leaves.
package replay

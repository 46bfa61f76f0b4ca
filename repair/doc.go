// Package repair is xfsbox's engine above the filesystem as read: it
// checks every AG header and btree against itself and against
// everything else (with a full scan of the inodes), and rebuilds AG
// metadata through a bulk loader (free-space btrees, rmapbt, refcountbt,
// inode btrees, AGI, secondary superblocks); Plan runs a repair against
// a throwaway overlay.
//
// Below it, package repair/fsys is the filesystem as read: opening an
// image as an FS, its headers, the one btree walker, the log's state and
// the sandbox's accessors. Package repair/store holds the bytes and
// durability: the image and its devices, the block cache, the sandbox's
// overlay, the redo journal and commit file that make a repair's writes
// crash-safe, the image locks and the detection of kernel mounts. repair
// decides what to write; fsys and store carry it out safely. Records a
// check or a rebuild stages live in repair/workspace.
//
// It knows nothing of FUSE: everything here is reachable from the
// command line too. Errors carry where they happened as typed values;
// they become errnos or exit codes only at the edges.
package repair

// Package repair is xfsbox's engine: the filesystem as read. It opens
// an image as an FS (the primary superblock verified, the geometry
// derived), walks its btrees through one generic walker, checks every
// AG header and btree against itself and against everything else (with
// a full scan of the inodes), rebuilds AG metadata through a bulk loader
// (free-space btrees, rmapbt, refcountbt, inode btrees, AGI, secondary
// superblocks) and reads the log's state. Sandbox commits and plans are
// FS-level operations here too.
//
// Below it, package repair/store holds the bytes and durability: the
// image and its devices (a file, a block device, or memory), the bounded
// block cache, the sandbox's overlay, the redo journal and commit file
// that make a repair's writes crash-safe, the image locks and the
// detection of kernel mounts. repair decides what to write; store
// decides how it reaches the image safely. Records a check or a rebuild
// stages live in repair/workspace.
//
// It knows nothing of FUSE: everything here is reachable from the
// command line too. Errors carry where they happened as typed values;
// they become errnos or exit codes only at the edges.
package repair

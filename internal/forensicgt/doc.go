// Package forensicgt is the ground truth of xfsbox's forensics (issue 17):
// a generator that writes a known tree into a fresh v5 XFS image through
// the kernel (a loop mount), deletes a known subset of it and records
// everything a recovery could be asked about, and a scorer that holds a
// recovery manifest (repair/forensics.Manifest) and the files it wrote to
// that truth.
//
// Generate makes the image and its Truth: every file, directory and
// symlink with its path, inode number, generation, kind, size, sha256 (as
// read back through the kernel), extent map (xfs_db bmap), the format of
// its parent directory and its own (as xfs_db prints them: shortform,
// block, leaf, node), and, for the deleted ones, the deletion order and
// what became of their blocks and log items by the end. The tree holds
// directories of every format, files of many sizes, files of more than 21
// extents (bmbt format), sparse and preallocated files, inline and remote
// symlinks and files with local, leaf and remote xattrs. File content is
// a function of (seed, path) (Content), so the scorer regenerates the
// true bytes instead of storing them. The Spec chooses the image (size,
// block size, log size, rmapbt) and the variant: fresh (unmounted right
// after the deletions: the log still holds them), wrapped (the log
// churned past them) or aged (new files written over part of the freed
// space).
//
// Score compares a manifest with the truth: names recovered, content
// recovered byte-exact, and false claims (a path attached to the wrong
// inode, an extent called intact whose bytes are wrong, a wrong size, a
// complete recovery whose sha256 is wrong), which must be zero.
//
// It is test tooling: it mounts, runs mkfs.xfs, xfs_db and xfs_logprint,
// and needs root and loop devices; it imports repair/forensics only for
// the manifest's types, and nothing of the project imports it but tests.
// Cached (for tests) keeps generated images in testimg's cache, keyed by
// the Spec and the generator's own source.
package forensicgt

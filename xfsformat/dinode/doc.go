// Package dinode decodes, verifies and encodes what an XFS inode holds
// above the light decode the inode scan uses (xfsformat.Inode): the whole
// core as xfs_db prints it (timestamps, flags by name, v3 fields), the
// data and attribute forks in every format (local bytes, extent lists,
// the bmbt root and, through a caller's block reader, the bmbt below
// it), the bmap of a file range (mapped pieces, holes, unwritten
// extents) and symlink targets, inline or in remote XSLM blocks. Its
// checks are the kernel's inode verifier's (xfs_dinode_verify and the
// fork checks of xfs_iformat_*), returned as typed errors that name the
// xfs_db field.
//
// It does no I/O: bytes in, structs out, and back. Where blocks beyond
// the inode are needed (bmbt blocks, symlink blocks) the caller passes a
// BlockReader, and every walk through them is bounded: a block visited
// twice, levels that do not step down by one or keys out of order end
// it with an error, never a hang. Directory and attribute local forks
// are handed out as raw bytes; their formats belong to other packages.
// Decoding is lenient, so damaged inodes can still be shown; Verify says
// what is wrong.
package dinode

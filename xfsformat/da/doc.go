// Package da decodes what directories and extended attributes share: the
// name hash that orders their entries (xfs_da_hashname and its
// case-insensitive and parent-pointer variants), the block header every
// dir/attr block starts with (xfs_da_blkinfo, xfs_da3_blkinfo on v5), and
// the nodes of the da-btree (XDN3/XFS_DA3_NODE) that index leaf blocks by
// hash above them.
//
// Like xfsformat it does no I/O and keeps no state: bytes in, structs out.
// Decoding is lenient (damaged blocks must still be shown); counts read
// from disk are clamped to what the buffer holds before they size
// anything, and Verify reports what is wrong as xfsformat.FormatErrors.
// The directory and attribute formats live in xfsformat/dir and
// xfsformat/attr, which import this package; it imports neither.
package da

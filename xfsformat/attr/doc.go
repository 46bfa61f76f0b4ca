// Package attr decodes XFS extended attributes in every format an
// inode's attribute fork takes: shortform in the inode (xfs_attr_sf_hdr
// and its entries), a single leaf block (XFS_ATTR3_LEAF_MAGIC on v5,
// XFS_ATTR_LEAF_MAGIC on v4), a da-btree of node blocks above leaves
// (the nodes are xfsformat/da's), and remote values in blocks of their
// own (one xfs_attr3_rmt_hdr per block on v5, bare data on v4).
//
// It also knows what the names mean: the namespace bits (user, trusted
// = ROOT, security = SECURE, parent pointers = PARENT), how the kernel
// lists them as Linux xattr names (POSIX ACLs are the trusted names
// SGI_ACL_FILE and SGI_ACL_DEFAULT, shown as system.posix_acl_access
// and system.posix_acl_default), and how the XFS on-disk ACL becomes the
// posix_acl_xattr value getxattr returns.
//
// Like xfsformat it does no I/O and keeps no state: the caller reads
// blocks (a da.ReadFunc over the attr fork) and the walk hands out one
// attribute at a time, so a large fork never has to sit in memory.
// Decoding is lenient, because damaged forks must still be shown: counts
// read from disk are clamped to the bytes at hand before they size
// anything, an entry that cannot be decoded is reported in Attr.Err, and
// Verify methods return what the kernel's verifiers
// (xfs_attr_shortform_verify, xfs_attr3_leaf_verify,
// xfs_attr3_rmt_verify) would reject as xfsformat.FormatErrors naming the
// xfs_db field.
package attr

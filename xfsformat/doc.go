// Package xfsformat decodes and encodes the on-disk structures of XFS v5
// (CRC) filesystems that xfsbox shows and rebuilds: the superblock, the AG
// headers (AGF, AGI, AGFL), short-form btree blocks and the records and
// keys of the six AG btrees.
//
// It does no I/O and keeps no state: bytes in, structs out, and back.
// Decoding is lenient so that damaged metadata can still be shown (this is
// a forensics tool): Decode functions fail only when the buffer is too
// short, and the Verify methods report what is wrong as typed errors that
// say where. Every count read from disk is bounded before it sizes an
// allocation. Field names follow xfs_db.
//
// Layouts: each structure's Go type, Decode, Encode and Fields are
// written out one line a field, at the offsets of its C struct in
// xfs_format.h and in xfs_db's print order. The superblock's, the AGF's,
// the AGI's, the short and long btree block headers' and the inode's look
// alike in shape (a length check, then a load or a store or a row a
// field), and runs of one list look like runs of another, but no two
// lay out the same fields: they are kept apart, not driven by one table,
// so that each reads line by line against its C struct and the hot
// decoders stay plain loads.
package xfsformat

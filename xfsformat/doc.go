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
package xfsformat

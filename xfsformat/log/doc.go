// Package log decodes the XFS journal (the "log") as
// fs/xfs/libxfs/xfs_log_format.h lays it out and as the kernel's recovery
// and xfs_logprint read it: record headers with their extended headers
// and the cycle numbers stamped into every sector, the record CRC,
// operation headers, the reassembly of regions split across records into
// transactions (START to COMMIT, by transaction id), and every log item
// by its type (buffers, inodes with their logged core, dquots, inode
// creation, the intent and done items of deferred work, the transaction
// header, the unmount record).
//
// It does no I/O and keeps no state beyond what a caller feeds it: the
// caller reads records (from the tail to the head, across the wrap) and
// hands each to DecodeRecord and an Assembler, which gives back committed
// transactions one at a time. Every length read from the log is bounded
// before it sizes anything; damaged input gives an error or a problem
// attached to what it damaged, never a panic. Unknown item types are
// reported by their number, never guessed.
//
// Byte order: record and operation headers are big-endian. Log item
// formats (and the logged inode core) are in the byte order of the CPU
// that wrote them, which the record header's h_fmt names (little-endian
// on x86); buffer contents and the data of inode forks are on-disk
// (big-endian) bytes, copied as they are.
//
// It imports nothing of xfsbox but xfsformat. Replaying transactions is
// not done here: the decoded items carry what a replay needs (the buffer
// regions and where they go, the logged inode core as on-disk bytes).
package log

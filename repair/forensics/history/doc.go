// Package history reads the internal log whole, as a history rather than
// as work to replay: every record still on disk (the previous cycle's
// behind the head, the records behind the tail after a clean unmount),
// in LSN order, as inode snapshots, logged buffers and intents
// (Scan), and each inode's last life in it (LastLives: its last live
// state before the freeing, by rules from the kernel's inode logging).
// Package forensics builds deleted files, names and verdicts on it.
//
// It never writes, and streams: one record at a time, a transaction held
// from its start to its commit. It imports repair/fsys and the
// xfsformat packages only.
package history

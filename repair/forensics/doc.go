// Package forensics finds what the filesystem no longer shows: deleted
// files (their names carved from directory blocks, their sizes and
// extent maps mined from the log and from freed bmbt blocks, each extent
// judged intact, reused or unknown), open-but-unlinked files, who owns a
// block, and a timeline of live and deleted files.
//
// It is read-only by construction: it reads through repair/fsys and
// never asks for a writer, a sandbox or a journal, and it imports
// neither package repair (the rebuilds) nor anything that writes.
//
// The evidence, and where it comes from:
//   - history.go: the physical log read whole, not only from the tail to
//     the head: every record still on disk (the previous cycle's, behind
//     the tail, included), as a stream of inode snapshots, logged buffers
//     and intents, each with its LSN.
//   - lastlives.go: each inode's last life as the log shows it (its last
//     live state before its freeing, the extent list logged last, the
//     freeing's LSN and time), by rules that follow from what the kernel
//     logs and when.
//   - carve.go: removed directory entries left in the free space of live
//     directories' data blocks, and the data blocks of deleted
//     directories (v5 headers name their owner).
//   - deleted.go: the inventory that joins them, and the verdicts.
//
// Import order: repair/check (the owner index), repair/forensics/history,
// repair/fsys and the xfsformat packages below it; the views, fusefs and
// cmd above it.
package forensics

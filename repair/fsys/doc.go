// Package fsys is the filesystem as read: it opens an image as an FS
// (the primary superblock verified, the geometry derived, a writer's
// lock taken and an interrupted repair's journal replayed), reads its AG
// headers and blocks through the bounded cache, walks any AG btree
// through the one generic walker (Walk, which survives cycles, bad
// pointers and impossible heights), and reads the internal log: its state
// (ReadLogState: head, tail, clean or dirty, as the kernel finds them)
// and its records from the tail to the head (LogRecords), which
// xfsformat/log decodes and assembles into transactions. The FS-level plumbing of writes is here too, because
// it needs the FS's own locks: the sandbox's accessors (Sandboxed,
// Overlay, CommitOverlay, DiscardOverlay, Throwaway) and Commit, the one
// way a rebuild's header sectors become durable. Readers of inodes,
// directories, attributes and file data belong here as they come.
//
// It does not judge or change metadata: whether a structure is right is
// package check's business (findings), and what to write to fix it is
// package repair's (rebuilds, plans). It never decides to write: it
// carries out a commit it is handed.
//
// Import order, one way: xfsformat and repair/store (bytes and
// durability) below it; repair/check above it, then repair (the
// rebuilds), then fusefs and cmd. It imports neither check nor repair,
// nor logrus or go-fuse: errors are typed values (OpenError, ErrNotXFS,
// ErrBadAG, ErrRefused, ...), for the callers to log or translate.
package fsys

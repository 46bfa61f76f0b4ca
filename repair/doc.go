// Package repair rebuilds XFS AG metadata: the free-space btrees with
// the AGFL, the rmapbt's closure and the AGF (from the complement of
// used space), the refcountbt (from the overlaps of file data), the
// inode btrees with the AGI (from the inode chunks found without
// trusting the old inobt), the AGI's counters, and secondary
// superblocks. New trees are written by a bulk loader into blocks nobody
// uses, then the headers are committed crash-safely. Repair rebuilds
// a set of Structures in one AG or in every AG (fsys.AGs; every AG in
// parallel), and Plan runs the same against a throwaway overlay to say
// what it would rewrite. Both report their phases through one
// fsys.Progress, as check does. ReplayLog replays a dirty log (package
// replay, below this one) and does what the kernel's mount does after
// it with these rebuilds: the space the freed unlinked inodes held,
// unfinished EFI/RUI/CUI intents, copy-on-write staging extents.
//
// Every rebuild starts from package check: its findings say whether a
// rebuild is needed and refuse one whose sources are corrupt (ErrRefused,
// ErrSourceCorrupt), and its per-AG state (check.AG) is the rebuild's
// source of used space and records. What a rebuild judges itself is how
// far to trust those sources (the rmapbt instead of the inode scan, the
// rmapbt, old inobt or a search for the inode chunks).
//
// It does not judge metadata on its own (that is check's), and it does
// not make writes durable itself: the FS, its headers and Commit are
// package repair/fsys's; the journal, overlay and locks repair/store's.
//
// Import order, one way: xfsformat; repair/store; repair/fsys (the
// filesystem as read); repair/check (findings, checks, the inode scan);
// repair (the rebuilds); then fusefs and cmd. It knows nothing of FUSE
// and imports neither logrus nor go-fuse: errors carry where they
// happened as typed values; they become errnos or exit codes only at
// the edges.
package repair

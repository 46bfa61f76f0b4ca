// Package store is the bytes and durability layer under the engine
// (repair/fsys, repair/check and repair): it reads and writes an image's
// bytes (a file, a block device, or any Device, such as a MemDevice in
// memory), caches blocks within a bound, stages writes in a
// copy-on-write overlay (sandbox mode), makes them durable crash-safely
// (the redo journal beside the image, or a commit file for commits
// larger than a journal, replayed by the next open), locks an image
// against a second writer and tells whether the kernel has it mounted
// (one mountinfo parser, Mounts, for the whole project).
//
// It does not interpret XFS metadata: the only bytes it reads with a
// meaning are the superblock's uuid and the image's size, the identity
// it stamps in journals, commit files and overlays so that they are
// never applied to another image. Everything else is offsets and
// lengths. It imports nothing of the project but xfsformat (for that
// uuid's type), and neither logrus nor go-fuse: errors are typed values
// (IOError, LockError, ErrBeyondEnd, ErrNotFile, ...), for the callers
// to log or translate.
package store

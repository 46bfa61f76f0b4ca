// Package fusefs serves xfsbox's view tree through FUSE: one node type
// per kind of entry (directory, view file), views rendered on open into a
// spool and served with direct I/O, and the one function that turns
// engine errors into errnos. It holds no XFS logic of its own: rendering
// lives in fusefs/view, everything else in repair/fsys (the filesystem
// as read), repair/check and repair.
package fusefs

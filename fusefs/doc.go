// Package fusefs serves xfsbox's view tree through FUSE: one node type
// per kind of entry (directory, view file), views rendered on open into a
// spool and served with direct I/O, the one function that turns engine
// errors into errnos, and the controller of a mount's control files
// (each mount's own: no registry). It holds no XFS logic of its own:
// rendering lives in repair/view, everything else in repair/fsys (the
// filesystem as read), repair/check and repair. It is the only package
// besides cmd that imports go-fuse; it logs through log/slog, whose
// destination the program sets (cmd sends it to logrus).
package fusefs

package fsys

import "github.com/xfsbox/xfsbox/repair/store"

// Commit makes writes (header sectors a rebuild computed) durable in one
// crash-safe step, holding off readers of whole views meanwhile (see
// ReadLock): in sandbox mode as one atomic batch of the overlay, nothing
// written beside the image; otherwise through the redo journal beside
// the image, w writing the image and fault, if set, called before every
// durable step (store.CommitJournal). Everything cached is dropped
// afterwards, failure or not.
func (fs *FS) Commit(w store.Writer, writes []store.Write, fault store.FaultHook) error {
	fs.state.Lock()
	defer fs.state.Unlock()
	var err error
	if ov := fs.Img.Overlay(); ov != nil {
		err = ov.Commit(writes)
	} else {
		err = store.CommitJournal(fs.journal, w, writes, fault)
	}
	fs.Invalidate()
	return err
}

// LockCommits makes the commits of writers that recount the superblock
// over every AG one at a time (AGs rebuilt in parallel each read the
// other AGs' headers, then commit): hold it from the reading to the end
// of the commit, then call unlock.
func (fs *FS) LockCommits() (unlock func()) {
	fs.commitMu.Lock()
	return fs.commitMu.Unlock
}

// Invalidate drops everything cached about the image after a write
// (callers hold the state lock) and rereads the primary superblock.
func (fs *FS) Invalidate() {
	fs.Cache.Clear()
	fs.mapCache.clear()
	fs.inodeCache.clear()
	fs.pathsMu.Lock()
	fs.paths.close()
	fs.paths = nil
	fs.pathsMu.Unlock()
	if s, buf, err := fs.ReadSB(0); err == nil && len(buf) > 0 {
		fs.SB = s
	}
}

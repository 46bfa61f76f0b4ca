package fsys

import (
	"errors"

	"github.com/xfsbox/xfsbox/repair/store"
)

// Sandbox mode: the image file is opened read-only and locked as a
// writer would lock it; every write goes to an overlay (store.Overlay),
// a repair's commit becomes one atomic batch of it, and nothing is
// written to the image, or created beside it, until CommitOverlay.

// ErrNotSandbox is wrapped by CommitOverlay and DiscardOverlay outside
// sandbox mode.
var ErrNotSandbox = errors.New("not in sandbox mode (nothing is staged: writes go to the image)")

// Sandboxed reports whether writes go to an overlay.
func (fs *FS) Sandboxed() bool { return fs.Img.Overlay() != nil }

// Overlay is the sandbox's overlay, nil outside sandbox mode.
func (fs *FS) Overlay() *store.Overlay { return fs.Img.Overlay() }

// CommitOverlay applies the overlay to the image crash-safely and empties
// it (store.Image.CommitOverlay, through the journal beside the image or
// a commit file there), holding off readers of whole views meanwhile; it
// returns how many bytes it wrote.
func (fs *FS) CommitOverlay(fault store.FaultHook) (int64, error) {
	if fs.Img.Overlay() == nil {
		return 0, ErrNotSandbox
	}
	fs.state.Lock()
	defer fs.state.Unlock()
	defer fs.Invalidate()
	return fs.Img.CommitOverlay(fs.journal, fs.journalLimit, fault)
}

// DiscardOverlay drops everything staged.
func (fs *FS) DiscardOverlay() error {
	ov := fs.Img.Overlay()
	if ov == nil {
		return ErrNotSandbox
	}
	fs.state.Lock()
	defer fs.state.Unlock()
	defer fs.Invalidate()
	return ov.Reset()
}

// Throwaway returns an FS over an anonymous overlay stacked on fs's image
// (on its own overlay in sandbox mode): whatever is written through it
// goes to that overlay only, never to the image or beside it, and
// release drops the overlay. It works on read-only opens too (a repair's
// plan runs this way). Do not Close the FS it returns: it shares fs's
// image; call release.
func (fs *FS) Throwaway() (tfs *FS, release func(), err error) {
	id, err := store.IdentifyImage(fs.Img.WithOverlay(nil))
	if err != nil {
		return nil, nil, err
	}
	ov, err := store.NewAnonOverlay(id, fs.Img.Overlay())
	if err != nil {
		return nil, nil, err
	}
	if tfs, err = newFS(fs.Img.WithOverlay(ov), OpenOptions{}); err != nil {
		ov.Close()
		return nil, nil, err
	}
	return tfs, func() { ov.Close() }, nil
}

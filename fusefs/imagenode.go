package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// imageNode is the root's "image": the image's bytes as they read now,
// staged changes included in sandbox mode, read-only, so that tools such
// as xfs_repair -n can judge a staged repair.
type imageNode struct {
	fs.Inode
	fs *fsys.FS
}

const imageName = "image"

func (n *imageNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillFileAttr(&out.Attr)
	out.Size = uint64(n.fs.Img.Size())
	out.Blocks = (out.Size + 511) / 512
	return 0
}

func (n *imageNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	// Direct I/O: no page cache to go stale across repairs, commits and
	// discards.
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

// Read serves bytes under the read lock: a read sees the image before or
// after a commit, never half of one.
func (n *imageNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	size := n.fs.Img.Size()
	if off < 0 || off >= size {
		return fuse.ReadResultData(nil), 0
	}
	buf := dest[:min(int64(len(dest)), size-off)]
	release := n.fs.ReadLock()
	err := n.fs.Img.ReadAt(buf, off)
	release()
	if err != nil {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(buf), 0
}

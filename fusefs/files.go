package fusefs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// filesName is the directory under the mount's root that shows the
// filesystem's own tree.
const filesName = "files"

// fileNode is one XFS inode of files/: its st_ino is the inode number,
// so hard links are one node, and everything it shows is read by our
// decoders from the image (never through the kernel's XFS). files/ is
// read-only in every mode: what would change it gets EROFS.
type fileNode struct {
	fs.Inode
	fsys *fsys.FS
	ctl  *Controller
	ino  uint64
}

// errno translates a reader's error, and says in the mount's log why an
// entry could not be read (a damaged inode or block gives EIO on that
// entry only).
func (n *fileNode) errno(err error) syscall.Errno {
	switch {
	case errors.Is(err, fsys.ErrNoEntry), errors.Is(err, fsys.ErrNoInode):
		return syscall.ENOENT
	case errors.Is(err, fsys.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, fsys.ErrNotRegular):
		return syscall.EISDIR
	case errors.Is(err, fsys.ErrCorrupt):
		if n.ctl != nil {
			n.ctl.logf("files: %v", err)
		}
		return syscall.EIO
	}
	return toErrno(err)
}

func (n *fileNode) inode() (*fsys.Inode, syscall.Errno) {
	in, err := n.fsys.Inode(n.ino)
	if err != nil {
		return nil, n.errno(err)
	}
	return in, 0
}

// fillAttr is stat(2) of the inode, as the kernel's XFS reports it.
func (n *fileNode) fillAttr(in *fsys.Inode, a *fuse.Attr) {
	a.Ino = in.Ino
	a.Mode = uint32(in.Mode)
	a.Nlink = in.LinkCount()
	a.Owner = fuse.Owner{Uid: in.UID, Gid: in.GID}
	a.Size = in.Size
	a.Blocks = in.NBlocks << (n.fsys.Geo.BlockLog - 9)
	a.Blksize = n.fsys.Geo.BlockSize
	major, minor := in.Rdev()
	a.Rdev = minor&0xff | major<<8 | (minor&^0xff)<<12 // new_encode_dev
	bt := in.HasBigtime()
	sec, nsec := in.ATime.Unix(bt)
	a.Atime, a.Atimensec = uint64(sec), nsec
	sec, nsec = in.MTime.Unix(bt)
	a.Mtime, a.Mtimensec = uint64(sec), nsec
	sec, nsec = in.CTime.Unix(bt)
	a.Ctime, a.Ctimensec = uint64(sec), nsec
}

func (n *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, errno := n.inode()
	if errno != 0 {
		return errno
	}
	n.fillAttr(in, &out.Attr)
	return 0
}

// Statx adds the birth time (di_crtime) to what Getattr says.
func (n *fileNode) Statx(ctx context.Context, f fs.FileHandle, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	in, errno := n.inode()
	if errno != 0 {
		return errno
	}
	var a fuse.Attr
	n.fillAttr(in, &a)
	sx := &out.Statx
	sx.Mask = 0x7ff | 0x800 // STATX_BASIC_STATS | STATX_BTIME
	sx.Blksize, sx.Nlink, sx.Uid, sx.Gid = a.Blksize, a.Nlink, a.Uid, a.Gid
	sx.Mode, sx.Ino, sx.Size, sx.Blocks = uint16(a.Mode), a.Ino, a.Size, a.Blocks
	sx.Atime = fuse.SxTime{Sec: a.Atime, Nsec: a.Atimensec}
	sx.Mtime = fuse.SxTime{Sec: a.Mtime, Nsec: a.Mtimensec}
	sx.Ctime = fuse.SxTime{Sec: a.Ctime, Nsec: a.Ctimensec}
	sec, nsec := in.CrTime.Unix(in.HasBigtime())
	sx.Btime = fuse.SxTime{Sec: uint64(sec), Nsec: nsec}
	sx.RdevMajor, sx.RdevMinor = in.Rdev()
	return 0
}

func (n *fileNode) child(ctx context.Context, ino uint64, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	cn := &fileNode{fsys: n.fsys, ctl: n.ctl, ino: ino}
	in, errno := cn.inode()
	if errno != 0 {
		return nil, errno
	}
	cn.fillAttr(in, &out.Attr)
	return n.NewInode(ctx, cn, fs.StableAttr{Mode: uint32(in.FileType()), Ino: ino, Gen: uint64(in.Gen)}), 0
}

func (n *fileNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d, errno := n.inode()
	if errno != 0 {
		return nil, errno
	}
	e, err := n.fsys.Lookup(d, []byte(name))
	if err != nil {
		return nil, n.errno(err)
	}
	return n.child(ctx, e.Ino, out)
}

// fileDir is an open directory of files/: it lists one directory block
// at a time from the position (cookie) of the next entry, so a
// directory of millions of entries never sits in memory, and seekdir
// and telldir positions stay valid.
type fileDir struct {
	n    *fileNode
	d    *fsys.Inode
	next uint32      // cookie of the next entry to read
	buf  []dir.Entry // entries read ahead, from next on
	done bool
}

func (n *fileNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	d, errno := n.inode()
	if errno != 0 {
		return nil, 0, errno
	}
	if d.FileType() != xfsformat.ModeDir {
		return nil, 0, syscall.ENOTDIR
	}
	return &fileDir{n: n, d: d}, 0, 0
}

// fill reads ahead up to a batch of entries from fd.next.
func (fd *fileDir) fill() syscall.Errno {
	const batch = 512
	fd.buf = fd.buf[:0]
	err := fd.n.fsys.ReadDir(fd.d, fd.next, func(e dir.Entry) error {
		e.Name = append([]byte(nil), e.Name...)
		fd.buf = append(fd.buf, e)
		if len(fd.buf) == batch {
			return errBatch
		}
		return nil
	})
	if err == nil {
		fd.done = true
	} else if !errors.Is(err, errBatch) {
		if len(fd.buf) == 0 {
			return fd.n.errno(err)
		}
		fd.n.errno(err) // logged; the entries read stand
		fd.done = true
	}
	return 0
}

var errBatch = errors.New("batch full")

func (fd *fileDir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if len(fd.buf) == 0 {
		if fd.done {
			return nil, 0
		}
		if errno := fd.fill(); errno != 0 {
			return nil, errno
		}
		if len(fd.buf) == 0 {
			return nil, 0
		}
	}
	e := fd.buf[0]
	fd.buf = fd.buf[1:]
	fd.next = e.Cookie + 1
	return &fuse.DirEntry{Name: string(e.Name), Ino: e.Ino, Mode: fsys.FtypeMode(e.Ftype), Off: uint64(e.Cookie) + 1}, 0
}

func (fd *fileDir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	fd.next, fd.buf, fd.done = uint32(off), fd.buf[:0], false
	return 0
}

func (fd *fileDir) Releasedir(ctx context.Context, releaseFlags uint32) {}

// fileHandle is an open regular file of files/.
type fileHandle struct{ in *fsys.Inode }

func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	in, errno := n.inode()
	if errno != 0 {
		return nil, 0, errno
	}
	if in.FileType() != xfsformat.ModeRegular {
		return nil, 0, syscall.EINVAL
	}
	return &fileHandle{in: in}, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *fileNode) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := f.(*fileHandle)
	if !ok {
		return nil, syscall.EBADF
	}
	m, err := n.fsys.ReadFileAt(h.in, dest, off)
	if err != nil && m == 0 && off < int64(h.in.Size) {
		return nil, n.errno(err)
	}
	return fuse.ReadResultData(dest[:m]), 0
}

func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	in, errno := n.inode()
	if errno != 0 {
		return nil, errno
	}
	t, err := n.fsys.Readlink(in)
	if err != nil {
		return nil, n.errno(err)
	}
	return t, 0
}

func (n *fileNode) Getxattr(ctx context.Context, name string, dest []byte) (uint32, syscall.Errno) {
	in, errno := n.inode()
	if errno != 0 {
		return 0, errno
	}
	v, err := n.fsys.Xattr(in, name)
	if errors.Is(err, fsys.ErrNoXattr) {
		return 0, syscall.ENODATA
	} else if err != nil {
		return 0, n.errno(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Listxattr gives the names NUL-terminated, as listxattr(2) does; with a
// buffer too small, the size it needs and ERANGE.
func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	in, errno := n.inode()
	if errno != 0 {
		return 0, errno
	}
	var list []byte
	err := n.fsys.Xattrs(in, false, func(x fsys.Xattr) error {
		list = append(append(list, x.Name...), 0)
		return nil
	})
	if err != nil {
		return 0, n.errno(err)
	}
	if len(dest) < len(list) {
		return uint32(len(list)), syscall.ERANGE
	}
	return uint32(copy(dest, list)), 0
}

// What would change files/ is refused: it shows the image as it is.

func (n *fileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}
func (n *fileNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (n *fileNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (n *fileNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (n *fileNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
func (n *fileNode) Rmdir(ctx context.Context, name string) syscall.Errno  { return syscall.EROFS }
func (n *fileNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (n *fileNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (n *fileNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno { return syscall.EROFS }

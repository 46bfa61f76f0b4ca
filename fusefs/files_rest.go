package fusefs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// The rest of fuse.RawFileSystem for filesFS: what would change files/
// is refused with EROFS (it shows the image as it is), what files/ does
// not do gets ENOSYS, and every request about another node goes to
// go-fuse's node tree. Each method is written out, not promoted from an
// embedded next: go-fuse panics on a node ID it did not hand out, so a
// method a newer go-fuse adds must fail to compile here, not pass one of
// ours through.

func (f *filesFS) String() string          { return f.next.String() }
func (f *filesFS) SetDebug(debug bool)     { f.next.SetDebug(debug) }
func (f *filesFS) Init(s *fuse.Server)     { f.next.Init(s) }
func (f *filesFS) OnUnmount()              { f.next.OnUnmount() }
func (f *filesFS) either(a, b uint64) bool { return f.ours(a) || f.ours(b) }

func (f *filesFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.SetAttr(cancel, in, out)
}

func (f *filesFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.Mknod(cancel, in, name, out)
}

func (f *filesFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.Mkdir(cancel, in, name, out)
}

func (f *filesFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if f.ours(h.NodeId) {
		return fuse.EROFS
	}
	return f.next.Unlink(cancel, h, name)
}

func (f *filesFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if f.ours(h.NodeId) {
		return fuse.EROFS
	}
	return f.next.Rmdir(cancel, h, name)
}

func (f *filesFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if f.either(in.NodeId, in.Newdir) {
		return fuse.EROFS
	}
	return f.next.Rename(cancel, in, oldName, newName)
}

func (f *filesFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	if f.either(in.NodeId, in.Oldnodeid) {
		return fuse.EROFS
	}
	return f.next.Link(cancel, in, name, out)
}

func (f *filesFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	if f.ours(h.NodeId) {
		return fuse.EROFS
	}
	return f.next.Symlink(cancel, h, target, name, out)
}

func (f *filesFS) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, name string, data []byte) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.SetXAttr(cancel, in, name, data)
}

func (f *filesFS) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	if f.ours(h.NodeId) {
		return fuse.EROFS
	}
	return f.next.RemoveXAttr(cancel, h, name)
}

func (f *filesFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.Create(cancel, in, name, out)
}

func (f *filesFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.Tmpfile(cancel, in, out)
}

func (f *filesFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	if f.ours(in.NodeId) {
		return 0, fuse.EROFS
	}
	return f.next.Write(cancel, in, data)
}

func (f *filesFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if f.ours(in.NodeId) {
		return 0, fuse.EROFS
	}
	return f.next.Writev(cancel, in, data)
}

func (f *filesFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	if f.either(in.NodeId, in.NodeIdOut) {
		return 0, fuse.EROFS
	}
	return f.next.CopyFileRange(cancel, in)
}

func (f *filesFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.EROFS
	}
	return f.next.Fallocate(cancel, in)
}

func (f *filesFS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.ENOSYS // the kernel then seeks by itself
	}
	return f.next.Lseek(cancel, in, out)
}

func (f *filesFS) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return f.next.GetLk(cancel, in, out)
}

func (f *filesFS) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return f.next.SetLk(cancel, in)
}

func (f *filesFS) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.ENOSYS
	}
	return f.next.SetLkw(cancel, in)
}

func (f *filesFS) Ioctl(cancel <-chan struct{}, in *fuse.IoctlIn, inbuf []byte, out *fuse.IoctlOut, outbuf []byte) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.Status(syscall.ENOTTY)
	}
	return f.next.Ioctl(cancel, in, inbuf, out, outbuf)
}

func (f *filesFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.OK
	}
	return f.next.Flush(cancel, in)
}

func (f *filesFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.OK
	}
	return f.next.Fsync(cancel, in)
}

func (f *filesFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if f.ours(in.NodeId) {
		return fuse.OK
	}
	return f.next.FsyncDir(cancel, in)
}

// StatFs of files/ is the mount's (go-fuse's answer for its root).
func (f *filesFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	if f.ours(h.NodeId) {
		root := *h
		root.NodeId = fuse.FUSE_ROOT_ID
		return f.next.StatFs(cancel, &root, out)
	}
	return f.next.StatFs(cancel, h, out)
}

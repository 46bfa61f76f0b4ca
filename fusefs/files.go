package fusefs

import (
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// filesName is the directory under the mount's root that shows the
// filesystem's own tree.
const filesName = "files"

// filesFS serves files/, the filesystem's own tree, at the FUSE protocol
// level, and passes every other request to go-fuse's node tree (next).
//
// files/ keeps no state per file. Its FUSE node IDs are the XFS inode
// numbers plus filesBase, so a request names the inode it is about and
// everything it answers is read from the image (through fsys's caches)
// at that moment; FORGET has nothing to drop. A node tree would keep a
// node for every name the kernel holds, and the kernel holds every name
// tar or find ever looked up: half a gigabyte for a directory of a
// million files. READDIRPLUS answers with the attributes of each entry
// it lists, one request for dozens of entries instead of a LOOKUP each.
//
// st_ino is the XFS inode number, so hard links are one file. files/ is
// read-only in every mode: what would change it gets EROFS.
type filesFS struct {
	next fuse.RawFileSystem
	fsys *fsys.FS
	ctl  *Controller
	// timeout is how long the kernel may keep what files/ told it.
	timeout time.Duration
}

// filesTimeout is files/'s timeout on a read-only mount, where the image
// never changes: long, so that names and attributes that READDIRPLUS
// gave stay good until the tool that listed a directory of a million
// entries gets to stat them (find and tar read a directory whole
// first). Elsewhere a commit can change what files/ shows, and it is
// entryTimeout.
const filesTimeout = time.Hour

// filesBase is added to an XFS inode number to make its node ID: above
// every ID go-fuse hands out (a counter from 1), below go-fuse's own
// poll node (all ones). Inode numbers of 2^62 and more (an exabyte
// filesystem) are refused with EOVERFLOW.
const filesBase = 1 << 62

func (f *filesFS) ours(id uint64) bool { return id >= filesBase && id != ^uint64(0) }

// status translates a reader's error, and says in the mount's log why an
// entry could not be read (a damaged inode or block gives EIO on that
// entry only).
func (f *filesFS) status(err error) fuse.Status {
	switch {
	case err == nil:
		return fuse.OK
	case errors.Is(err, fsys.ErrNoEntry), errors.Is(err, fsys.ErrNoInode):
		return fuse.ENOENT
	case errors.Is(err, fsys.ErrNotDir):
		return fuse.ENOTDIR
	case errors.Is(err, fsys.ErrNotRegular):
		return fuse.EISDIR
	case errors.Is(err, fsys.ErrCorrupt), errors.Is(err, store.ErrNotInMetadump):
		// A metadump holds no file contents: the read fails, and the
		// log says so.
		if f.ctl != nil {
			f.ctl.logf("files: %v", err)
		}
		return fuse.EIO
	}
	return fuse.Status(toErrno(err))
}

// inode is the inode a node ID of files/ names.
func (f *filesFS) inode(id uint64) (*fsys.Inode, fuse.Status) {
	in, err := f.fsys.Inode(id - filesBase)
	if err != nil {
		return nil, f.status(err)
	}
	return in, fuse.OK
}

// entry fills out with inode ino as a lookup's answer.
func (f *filesFS) entry(ino uint64, out *fuse.EntryOut) fuse.Status {
	if ino >= filesBase {
		return fuse.Status(syscall.EOVERFLOW)
	}
	in, st := f.inode(ino + filesBase)
	if !st.Ok() {
		return st
	}
	out.NodeId, out.Generation = ino+filesBase, uint64(in.Gen)
	fillAttr(f.fsys, in, &out.Attr)
	out.SetEntryTimeout(f.timeout)
	out.SetAttrTimeout(f.timeout)
	return fuse.OK
}

// fillAttr is stat(2) of the inode, as the kernel's XFS reports it.
func fillAttr(fs *fsys.FS, in *fsys.Inode, a *fuse.Attr) {
	a.Ino = in.Ino
	a.Mode = uint32(in.Mode)
	a.Nlink = in.LinkCount()
	a.Owner = fuse.Owner{Uid: in.UID, Gid: in.GID}
	a.Size = in.Size
	a.Blocks = in.NBlocks << (fs.Geo.BlockLog - 9)
	a.Blksize = fs.Geo.BlockSize
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

func (f *filesFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if h.NodeId == fuse.FUSE_ROOT_ID && name == filesName {
		return f.entry(f.fsys.RootIno(), out)
	}
	if !f.ours(h.NodeId) {
		return f.next.Lookup(cancel, h, name, out)
	}
	d, st := f.inode(h.NodeId)
	if !st.Ok() {
		return st
	}
	e, err := f.fsys.Lookup(d, []byte(name))
	if errors.Is(err, fsys.ErrNoEntry) {
		// A negative entry the kernel may keep for a while.
		*out = fuse.EntryOut{}
		out.SetEntryTimeout(f.timeout)
		return fuse.OK
	}
	if err != nil {
		return f.status(err)
	}
	return f.entry(e.Ino, out)
}

// Forget: files/ keeps nothing per node.
func (f *filesFS) Forget(id, nlookup uint64) {
	if !f.ours(id) {
		f.next.Forget(id, nlookup)
	}
}

func (f *filesFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.GetAttr(cancel, in, out)
	}
	ino, st := f.inode(in.NodeId)
	if !st.Ok() {
		return st
	}
	fillAttr(f.fsys, ino, &out.Attr)
	out.SetTimeout(f.timeout)
	return fuse.OK
}

// Statx adds the birth time (di_crtime) to what GetAttr says.
func (f *filesFS) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.Statx(cancel, in, out)
	}
	ino, st := f.inode(in.NodeId)
	if !st.Ok() {
		return st
	}
	var a fuse.Attr
	fillAttr(f.fsys, ino, &a)
	sx := &out.Statx
	sx.Mask = 0x7ff | 0x800 // STATX_BASIC_STATS | STATX_BTIME
	sx.Blksize, sx.Nlink, sx.Uid, sx.Gid = a.Blksize, a.Nlink, a.Uid, a.Gid
	sx.Mode, sx.Ino, sx.Size, sx.Blocks = uint16(a.Mode), a.Ino, a.Size, a.Blocks
	sx.Atime = fuse.SxTime{Sec: a.Atime, Nsec: a.Atimensec}
	sx.Mtime = fuse.SxTime{Sec: a.Mtime, Nsec: a.Mtimensec}
	sx.Ctime = fuse.SxTime{Sec: a.Ctime, Nsec: a.Ctimensec}
	sec, nsec := ino.CrTime.Unix(ino.HasBigtime())
	sx.Btime = fuse.SxTime{Sec: uint64(sec), Nsec: nsec}
	sx.RdevMajor, sx.RdevMinor = ino.Rdev()
	out.SetTimeout(f.timeout)
	return fuse.OK
}

func (f *filesFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	if !f.ours(h.NodeId) {
		return f.next.Readlink(cancel, h)
	}
	in, st := f.inode(h.NodeId)
	if !st.Ok() {
		return nil, st
	}
	t, err := f.fsys.Readlink(in)
	return t, f.status(err)
}

func (f *filesFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.Access(cancel, in)
	}
	if in.Mask&2 != 0 { // W_OK
		return fuse.EROFS
	}
	_, st := f.inode(in.NodeId)
	return st
}

func (f *filesFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, name string, dest []byte) (uint32, fuse.Status) {
	if !f.ours(h.NodeId) {
		return f.next.GetXAttr(cancel, h, name, dest)
	}
	in, st := f.inode(h.NodeId)
	if !st.Ok() {
		return 0, st
	}
	v, err := f.fsys.Xattr(in, name)
	if errors.Is(err, fsys.ErrNoXattr) {
		return 0, fuse.ENOATTR
	} else if err != nil {
		return 0, f.status(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), fuse.ERANGE
	}
	return uint32(copy(dest, v)), fuse.OK
}

// ListXAttr gives the names NUL-terminated, as listxattr(2) does; with a
// buffer too small, the size it needs and ERANGE.
func (f *filesFS) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	if !f.ours(h.NodeId) {
		return f.next.ListXAttr(cancel, h, dest)
	}
	in, st := f.inode(h.NodeId)
	if !st.Ok() {
		return 0, st
	}
	var list []byte
	err := f.fsys.Xattrs(in, false, func(x fsys.Xattr) error {
		list = append(append(list, x.Name...), 0)
		return nil
	})
	if err != nil {
		return 0, f.status(err)
	}
	if len(dest) < len(list) {
		return uint32(len(list)), fuse.ERANGE
	}
	return uint32(copy(dest, list)), fuse.OK
}

// Open opens a regular file for reading; Read finds the inode by the
// node ID again (from the inode cache), so there is no handle to keep.
func (f *filesFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.Open(cancel, in, out)
	}
	if in.Flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return fuse.EROFS
	}
	ino, st := f.inode(in.NodeId)
	if !st.Ok() {
		return st
	}
	if ino.FileType() != xfsformat.ModeRegular {
		return fuse.EINVAL
	}
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE
	return fuse.OK
}

func (f *filesFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if !f.ours(in.NodeId) {
		return f.next.Read(cancel, in, buf)
	}
	ino, st := f.inode(in.NodeId)
	if !st.Ok() {
		return nil, st
	}
	n, err := f.fsys.ReadFileAt(ino, buf, int64(in.Offset))
	if err != nil && n == 0 && in.Offset < ino.Size {
		return nil, f.status(err)
	}
	return fuse.ReadResultData(buf[:n]), fuse.OK
}

func (f *filesFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if !f.ours(in.NodeId) {
		f.next.Release(cancel, in)
	}
}

func (f *filesFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.OpenDir(cancel, in, out)
	}
	d, st := f.inode(in.NodeId)
	if !st.Ok() {
		return st
	}
	if d.FileType() != xfsformat.ModeDir {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

func (f *filesFS) ReleaseDir(in *fuse.ReleaseIn) {
	if !f.ours(in.NodeId) {
		f.next.ReleaseDir(in)
	}
}

func (f *filesFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.ReadDir(cancel, in, out)
	}
	return f.readDir(in, out, false)
}

func (f *filesFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	if !f.ours(in.NodeId) {
		return f.next.ReadDirPlus(cancel, in, out)
	}
	return f.readDir(in, out, true)
}

// readDir lists a directory from the offset the kernel gives, which is
// the position (cookie) of the next entry plus one: each request reads
// from there, one directory block at a time, as many entries as fit, so
// a directory of millions of entries never sits in memory, and seekdir
// and telldir positions stay valid. With plus, each entry carries its
// inode's attributes; an entry whose inode cannot be read goes without
// (the kernel looks it up when asked, and gets EIO then).
func (f *filesFS) readDir(in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	d, st := f.inode(in.NodeId)
	if !st.Ok() {
		return st
	}
	from := uint32(0)
	if in.Offset > 0 {
		if in.Offset > 1<<32 {
			return fuse.OK // past the end
		}
		from = uint32(in.Offset)
	}
	listed := 0
	err := f.fsys.ReadDir(d, from, func(e dir.Entry) error {
		de := fuse.DirEntry{Name: string(e.Name), Ino: e.Ino, Mode: fsys.FtypeMode(e.Ftype), Off: uint64(e.Cookie) + 1}
		if !plus {
			if !out.AddDirEntry(de) {
				return errFull
			}
			listed++
			return nil
		}
		eo := out.AddDirLookupEntry(de)
		if eo == nil {
			return errFull
		}
		listed++
		if de.Name != "." && de.Name != ".." && f.entry(e.Ino, eo) != fuse.OK {
			*eo = fuse.EntryOut{}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		st := f.status(err) // logged; the entries listed stand
		if listed == 0 {
			return st
		}
	}
	return fuse.OK
}

var errFull = errors.New("reply full")

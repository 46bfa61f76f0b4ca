package fusefs

import (
	"context"
	"fmt"
	"hash/fnv"
	"path"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

// dirNode is a directory of the view tree.
type dirNode struct {
	fs.Inode
	tree *view.Tree
	ctl  *Controller
	path string
	// deleted is deleted/'s examination, on the root only.
	deleted *deletedTree
}

// controlFiles are the control files of a directory: ctl, status and log
// at the root, repair in each AG.
func (d *dirNode) controlFiles() []*controlNode {
	if d.ctl == nil {
		return nil
	}
	if d.path == "" {
		return []*controlNode{{ctl: d.ctl, kind: "ctl"}, {ctl: d.ctl, kind: "status"}, {ctl: d.ctl, kind: "log"}}
	}
	var ag uint32
	if n, _ := fmt.Sscanf(d.path, "ag/%d", &ag); n == 1 && d.path == fmt.Sprintf("ag/%d", ag) {
		return []*controlNode{{ctl: d.ctl, kind: "repair", ag: fsys.OneAG(ag)}}
	}
	return nil
}

// viewNode is a file of the view tree, rendered on open.
type viewNode struct {
	fs.Inode
	tree *view.Tree
	path string
}

// viewHandle is one open of a view: its rendered bytes.
type viewHandle struct {
	sp *spool
}

func (d *dirNode) child(name string) string { return path.Join(d.path, name) }

// stable is the identity of the node at path p (relative to the mount's
// root): its inode number is a hash of the path, so every lookup of a
// path finds the same inode (go-fuse keeps one Inode per number) and a
// file keeps its number while the kernel forgets and finds it again
// (find, tar and rsync rely on st_ino). The top bit is always set: the
// nodes of files/ use the XFS inode numbers, which never have it (0 and
// 1, go-fuse's and the root's, are below it too).
func stable(p string, mode uint32) fs.StableAttr {
	h := fnv.New64a()
	h.Write([]byte(p))
	return fs.StableAttr{Mode: mode, Ino: h.Sum64() | 1<<63}
}

// entryTimeout is how long the kernel keeps a name it looked up before
// asking again.
const entryTimeout = time.Second

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ctx = context.WithoutCancel(ctx) // see viewNode.Open
	for _, cn := range d.controlFiles() {
		if cn.kind == name {
			cn.Getattr(ctx, nil, &fuse.AttrOut{Attr: out.Attr})
			fillFileAttr(&out.Attr)
			return d.NewInode(ctx, cn, stable(d.child(name), syscall.S_IFREG)), 0
		}
	}
	if d.path == "" && name == filesName {
		// files/ is filesFS's, which answers its LOOKUP before go-fuse
		// sees it; this is READDIRPLUS of the root asking, and the entry
		// goes without attributes, so the kernel looks it up.
		return nil, syscall.ENOENT
	}
	if d.path == "" && name == imageName {
		in := &imageNode{fs: d.tree.FS}
		var ao fuse.AttrOut
		in.Getattr(ctx, nil, &ao)
		out.Attr = ao.Attr
		return d.NewInode(ctx, in, stable(name, syscall.S_IFREG)), 0
	}
	if d.path == "" && name == deletedName && d.deleted != nil {
		fillDirAttr(&out.Attr)
		return d.NewInode(ctx, &deletedDir{t: d.deleted}, stable(deletedName, syscall.S_IFDIR)), 0
	}
	p := d.child(name)
	isDir, err := d.tree.Stat(ctx, p)
	if err != nil {
		return nil, toErrno(err)
	}
	if isDir {
		fillDirAttr(&out.Attr)
		return d.NewInode(ctx, &dirNode{tree: d.tree, ctl: d.ctl, path: p}, stable(p, syscall.S_IFDIR)), 0
	}
	fillFileAttr(&out.Attr)
	return d.NewInode(ctx, &viewNode{tree: d.tree, path: p}, stable(p, syscall.S_IFREG)), 0
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ctx = context.WithoutCancel(ctx) // see viewNode.Open
	if d.path == "inodes" {
		return newInodeStream(d, d.tree), 0
	}
	ents, err := d.tree.List(ctx, d.path)
	if err != nil {
		return nil, toErrno(err)
	}
	out := make([]fuse.DirEntry, 0, len(ents)+3)
	entry := func(name string, mode uint32) fuse.DirEntry {
		return fuse.DirEntry{Name: name, Mode: mode, Ino: stable(d.child(name), mode).Ino}
	}
	for _, cn := range d.controlFiles() {
		out = append(out, entry(cn.kind, syscall.S_IFREG))
	}
	if d.path == "" {
		out = append(out, entry(imageName, syscall.S_IFREG),
			fuse.DirEntry{Name: filesName, Mode: syscall.S_IFDIR, Ino: d.tree.FS.RootIno()})
		if d.deleted != nil {
			out = append(out, entry(deletedName, syscall.S_IFDIR))
		}
	}
	for _, e := range ents {
		mode := uint32(syscall.S_IFREG)
		if e.Dir {
			mode = syscall.S_IFDIR
		}
		out = append(out, entry(e.Name, mode))
	}
	return fs.NewListDirStream(out), 0
}

func (d *dirNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillDirAttr(&out.Attr)
	return 0
}

func (n *viewNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillFileAttr(&out.Attr)
	if h, ok := fh.(*viewHandle); ok {
		out.Size = uint64(h.sp.size)
	}
	return 0
}

func (n *viewNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	f, err := n.tree.Open(ctx, n.path)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	sp := &spool{}
	release := n.tree.FS.ReadLock()
	// Not cancelled by FUSE interrupts: any signal to the reader (Go's
	// preemption signals included) interrupts the request, and a view
	// is bounded work whose result is simply dropped if nobody waits.
	err = f.Render(context.WithoutCancel(ctx), sp)
	release()
	if err != nil {
		sp.Close()
		return nil, 0, toErrno(err)
	}
	return &viewHandle{sp: sp}, fuse.FOPEN_DIRECT_IO, 0
}

func (h *viewHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.sp.ReadAt(dest, off)
	if err != nil && n == 0 && off < h.sp.size {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *viewHandle) Release(ctx context.Context) syscall.Errno {
	h.sp.Close()
	return 0
}

var mountTime = time.Now()

func fillDirAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFDIR | 0o555
	a.Nlink = 2
	a.SetTimes(nil, &mountTime, &mountTime)
}

func fillFileAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o444
	a.Nlink = 1
	a.SetTimes(nil, &mountTime, &mountTime)
}

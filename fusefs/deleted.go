package fusefs

import (
	"context"
	"encoding/json"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/fsys"
)

// deleted/: the deleted files forensics finds, one entry per
// recoverable file at its recovered path (files/PATH, or by-inode/INO),
// reading as its recovered bytes, and manifest.json beside them, so that
// `cp -r MNT/deleted DEST` is a recovery. The examination runs once, on
// the first look inside, and is read-only like every forensic view.

const deletedName = "deleted"

// deletedTree is the examination and the tree it lays out.
type deletedTree struct {
	fs   *fsys.FS
	once sync.Once
	err  error
	ex   *forensics.Examination
	// dirs maps a directory's path (relative to deleted/, "" for itself)
	// to its children's names; files maps a file's path to what it holds.
	dirs     map[string][]string
	files    map[string]forensics.Placed
	manifest []byte
}

func (t *deletedTree) load() error {
	t.once.Do(func() {
		ctx := context.Background()
		release := t.fs.ReadLock()
		defer release()
		ex, err := forensics.Examine(ctx, t.fs, forensics.Options{})
		if err != nil {
			t.err = err
			return
		}
		t.ex, t.dirs, t.files = ex, map[string][]string{"": nil}, map[string]forensics.Placed{}
		add := func(p string) {
			for p != "" {
				parent, name := path.Dir(p), path.Base(p)
				if parent == "." {
					parent = ""
				}
				_, known := t.dirs[parent]
				if !known {
					t.dirs[parent] = nil
				}
				if !slices.Contains(t.dirs[parent], name) {
					t.dirs[parent] = append(t.dirs[parent], name)
				}
				p = parent
			}
		}
		for _, p := range ex.Layout() {
			rf, err := ex.Recovered(ctx, p)
			if err != nil {
				p.File.Notes = append(p.File.Notes, "not recoverable: "+err.Error())
				continue
			}
			p.File.Recovery = rf
			t.files[p.Rel] = p
			add(p.Rel)
		}
		add("manifest.json")
		for d := range t.dirs {
			sort.Strings(t.dirs[d])
		}
		t.manifest, t.err = json.MarshalIndent(&ex.Manifest, "", "  ")
		t.manifest = append(t.manifest, '\n')
	})
	return t.err
}

// deletedDir is a directory of deleted/.
type deletedDir struct {
	fs.Inode
	t    *deletedTree
	path string
}

// deletedFile is a recovered file of deleted/, or its manifest.
type deletedFile struct {
	fs.Inode
	t    *deletedTree
	path string
}

func (d *deletedDir) child(name string) string { return strings.TrimPrefix(d.path+"/"+name, "/") }

func (d *deletedDir) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	fillDirAttr(&out.Attr)
	return 0
}

func (d *deletedDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := d.t.load(); err != nil {
		return nil, toErrno(err)
	}
	p := d.child(name)
	if _, ok := d.t.dirs[p]; ok {
		fillDirAttr(&out.Attr)
		return d.NewInode(ctx, &deletedDir{t: d.t, path: p}, stable(deletedName+"/"+p, syscall.S_IFDIR)), 0
	}
	f := &deletedFile{t: d.t, path: p}
	if !f.exists() {
		return nil, syscall.ENOENT
	}
	f.attr(&out.Attr)
	return d.NewInode(ctx, f, stable(deletedName+"/"+p, syscall.S_IFREG)), 0
}

func (d *deletedDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	if err := d.t.load(); err != nil {
		return nil, toErrno(err)
	}
	var out []fuse.DirEntry
	for _, name := range d.t.dirs[d.path] {
		p, mode := d.child(name), uint32(syscall.S_IFREG)
		if _, ok := d.t.dirs[p]; ok {
			mode = syscall.S_IFDIR
		}
		out = append(out, fuse.DirEntry{Name: name, Mode: mode, Ino: stable(deletedName+"/"+p, mode).Ino})
	}
	return fs.NewListDirStream(out), 0
}

func (f *deletedFile) exists() bool {
	_, ok := f.t.files[f.path]
	return ok || f.path == "manifest.json"
}

// attr fills a recovered file's attributes: its recovered length, and
// the deletion time as its times.
func (f *deletedFile) attr(a *fuse.Attr) {
	fillFileAttr(a)
	if p, ok := f.t.files[f.path]; ok {
		a.Size = uint64(f.t.ex.Length(p.File))
		if t, err := time.Parse(time.RFC3339Nano, p.File.DeletedAt); err == nil {
			a.SetTimes(&t, &t, &t)
		}
	} else {
		a.Size = uint64(len(f.t.manifest))
	}
	a.Blocks = (a.Size + 511) / 512
}

func (f *deletedFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.attr(&out.Attr)
	return 0
}

func (f *deletedFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, 0, 0
}

func (f *deletedFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	p, ok := f.t.files[f.path]
	if !ok {
		if off >= int64(len(f.t.manifest)) {
			return fuse.ReadResultData(nil), 0
		}
		return fuse.ReadResultData(f.t.manifest[off:min(int(off)+len(dest), len(f.t.manifest))]), 0
	}
	release := f.t.fs.ReadLock()
	defer release()
	n, err := f.t.ex.Reader(p.File).ReadAt(dest, off)
	if err != nil && n == 0 && off < f.t.ex.Length(p.File) {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

package fsys

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Paths returns every path from the root that names inode ino (more than
// one for a hard link), sorted. The first call walks the directory tree
// from the root once, each directory once (a directory loop cannot make
// it go round; directories that cannot be read are passed over), and
// keeps an index of who names whom in a workspace (FS.Scratch: a memfd,
// or an unnamed file in a directory the user names), sorted by the inode
// named, so the Go heap holds only the set of directories seen; later
// calls look the inode up there and follow the names to the root.
// Invalidate drops it. The root is "/".
//
// On a filesystem with parent pointers (the parent feature) no index
// is built: each inode's names come from its own parent pointers, so a
// path costs one inode read per directory on the way up.
func (fs *FS) Paths(ctx context.Context, ino uint64) ([]string, error) {
	fs.pathsMu.Lock()
	defer fs.pathsMu.Unlock()
	namesOf := fs.parentRefs
	if !fs.HasParentPointers() {
		idx, err := fs.pathIndex(ctx)
		if err != nil {
			return nil, err
		}
		namesOf = idx.namesOf
	}
	root := fs.RootIno()
	var out []string
	// up follows the names of ino to the root; onPath guards against a
	// loop of directories naming each other (the inode asked for is not
	// on it: a path may go through it once, as one turn of a loop does).
	onPath := map[uint64]bool{}
	start := ino
	var up func(ino uint64, suffix string) error
	up = func(ino uint64, suffix string) error {
		if ino == root {
			if suffix == "" {
				suffix = "/"
			}
			out = append(out, suffix)
			return nil
		}
		// A path goes through each directory once; the inode asked for
		// is marked when met again (one turn of a loop, or a directory
		// that names itself), not at the start.
		if onPath[ino] || len(out) > 10000 {
			return nil
		}
		if ino != start || suffix != "" {
			onPath[ino] = true
			defer delete(onPath, ino)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		refs, err := namesOf(ino)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if err := up(r.parent, "/"+r.name+suffix); err != nil {
				return err
			}
		}
		return nil
	}
	if err := up(ino, ""); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// NameCount is the number of directory entries that name inode ino
// ("." and ".." not counted), from the paths index.
func (fs *FS) NameCount(ctx context.Context, ino uint64) (int, error) {
	names, err := fs.Names(ctx, ino)
	return len(names), err
}

// Name is a directory entry that names an inode.
type Name struct {
	Dir  uint64
	Name string
}

// Names are the directory entries that name inode ino ("." and ".."
// not counted), from the paths index: a walk of the tree, whatever the
// inode's parent pointers say.
func (fs *FS) Names(ctx context.Context, ino uint64) ([]Name, error) {
	fs.pathsMu.Lock()
	defer fs.pathsMu.Unlock()
	idx, err := fs.pathIndex(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := idx.namesOf(ino)
	out := make([]Name, len(refs))
	for i, r := range refs {
		out[i] = Name{Dir: r.parent, Name: r.name}
	}
	return out, err
}

// dirRef is one directory entry naming an inode: the directory and the name.
type dirRef struct {
	parent uint64
	name   string
}

// pathIndex is the index Paths follows: one 24-byte record per directory
// entry (the inode named, the directory, the name's cookie in names),
// sorted by the inode named.
type pathIndex struct {
	ws    *workspace.Workspace
	refs  *workspace.Array
	names *workspace.Blobs
	rec   [24]byte
}

func (x *pathIndex) close() {
	if x != nil {
		x.ws.Close()
	}
}

// namesOf returns the entries that name ino, by binary search.
func (x *pathIndex) namesOf(ino uint64) ([]dirRef, error) {
	child := func(i int64) (uint64, error) {
		if err := x.refs.Load(i, x.rec[:]); err != nil {
			return 0, err
		}
		return binary.BigEndian.Uint64(x.rec[:]), nil
	}
	lo, hi := int64(0), x.refs.Len()
	for lo < hi {
		mid := lo + (hi-lo)/2
		c, err := child(mid)
		if err != nil {
			return nil, err
		}
		if c < ino {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	var out []dirRef
	for i := lo; i < x.refs.Len(); i++ {
		c, err := child(i)
		if err != nil {
			return nil, err
		}
		if c != ino {
			break
		}
		name, err := x.names.Get(workspace.Cookie(binary.BigEndian.Uint64(x.rec[16:])))
		if err != nil {
			return nil, err
		}
		out = append(out, dirRef{parent: binary.BigEndian.Uint64(x.rec[8:]), name: string(name)})
	}
	return out, nil
}

// pathIndex returns the index, walking the tree to build it the first
// time (fs.pathsMu held).
func (fs *FS) pathIndex(ctx context.Context) (*pathIndex, error) {
	if fs.paths != nil {
		return fs.paths, nil
	}
	ws, err := workspace.New(ctx, fs.Scratch)
	if err != nil {
		return nil, fmt.Errorf("paths index: %w", err)
	}
	x := &pathIndex{ws: ws}
	if err := fs.buildPathIndex(ctx, x); err != nil {
		ws.Close()
		return nil, fmt.Errorf("paths index: %w", err)
	}
	fs.paths = x
	return x, nil
}

func (fs *FS) buildPathIndex(ctx context.Context, x *pathIndex) error {
	var err error
	if x.refs, err = x.ws.NewArray(len(x.rec)); err != nil {
		return err
	}
	if x.names, err = x.ws.NewBlobs(); err != nil {
		return err
	}
	root := fs.RootIno()
	seen := map[uint64]bool{root: true}
	queue := []uint64{root}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := queue[0]
		queue = queue[1:]
		din, err := fs.Inode(d)
		if err != nil || din.FileType() != xfsformat.ModeDir {
			continue
		}
		var werr error
		_ = fs.ReadDir(din, 0, func(e dir.Entry) error {
			name := string(e.Name)
			if name == "." || name == ".." {
				return nil
			}
			c, err := x.names.Put(e.Name)
			if err != nil {
				werr = err
				return err
			}
			var rec [24]byte
			binary.BigEndian.PutUint64(rec[:], e.Ino)
			binary.BigEndian.PutUint64(rec[8:], d)
			binary.BigEndian.PutUint64(rec[16:], uint64(c))
			if err := x.refs.Append(rec[:]); err != nil {
				werr = err
				return err
			}
			isDir := e.Ftype == dir.FtDir
			if e.Ftype == dir.FtUnknown { // no ftype feature: ask the inode
				if in, err := fs.Inode(e.Ino); err == nil {
					isDir = in.FileType() == xfsformat.ModeDir
				}
			}
			if isDir && !seen[e.Ino] {
				seen[e.Ino] = true
				queue = append(queue, e.Ino)
			}
			return nil
		})
		if werr != nil {
			return werr
		}
	}
	return x.refs.SortKey(ctx, 16)
}

// ErrSymlinkInPath: a path goes through a symlink, which Resolve does not
// follow (a path names what is in the image, not where a link points).
var ErrSymlinkInPath = errors.New("path goes through a symbolic link")

// Resolve finds the inode a path names, from the root ("/" or "" is the
// root; "." and ".." are directory entries like any other), looking each
// component up by its hash. Symlinks are not followed: a symlink as the
// last component is returned, in the middle it is ErrSymlinkInPath.
func (fs *FS) Resolve(p string) (*Inode, error) {
	in, err := fs.Inode(fs.RootIno())
	if err != nil {
		return nil, err
	}
	walked := ""
	for _, name := range strings.Split(strings.Trim(p, "/"), "/") {
		if name == "" {
			continue
		}
		switch in.FileType() {
		case xfsformat.ModeDir:
		case xfsformat.ModeSymlink:
			return nil, fmt.Errorf("%s: %w", walked, ErrSymlinkInPath)
		default:
			return nil, fmt.Errorf("%s: %w", walked, ErrNotDir)
		}
		e, err := fs.Lookup(in, []byte(name))
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", walked, name, err)
		}
		walked += "/" + name
		if in, err = fs.Inode(e.Ino); err != nil {
			return nil, fmt.Errorf("%s: %w", walked, err)
		}
	}
	return in, nil
}

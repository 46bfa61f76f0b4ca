package fsys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Paths returns every path from the root that names inode ino (more than
// one for a hard link), sorted. The first call walks the directory tree
// from the root once, each directory once (a directory loop cannot make
// it go round; directories that cannot be read are passed over), and
// keeps an index of who names whom; later calls follow it up to the
// root. Invalidate drops it. The root is "/".
//
// The index lives in memory: about 40 bytes and the name per directory
// entry. Parent pointers (the parent feature) would answer from the
// inode itself, and an index in the workspace would bound the memory;
// both are left for later.
func (fs *FS) Paths(ctx context.Context, ino uint64) ([]string, error) {
	idx, err := fs.pathIndex(ctx)
	if err != nil {
		return nil, err
	}
	root := fs.RootIno()
	var out []string
	// up follows the names of ino to the root; onPath guards against a
	// loop of directories naming each other (the inode asked for is not
	// on it: a path may go through it once, as one turn of a loop does).
	onPath := map[uint64]bool{}
	start := ino
	var up func(ino uint64, suffix string)
	up = func(ino uint64, suffix string) {
		if ino == root {
			if suffix == "" {
				suffix = "/"
			}
			out = append(out, suffix)
			return
		}
		if onPath[ino] || len(out) > 10000 {
			return
		}
		if ino != start {
			onPath[ino] = true
			defer delete(onPath, ino)
		}
		for _, r := range idx[ino] {
			up(r.parent, "/"+r.name+suffix)
		}
	}
	up(ino, "")
	slices.Sort(out)
	return slices.Compact(out), nil
}

// dirRef is one directory entry naming an inode: the directory and the name.
type dirRef struct {
	parent uint64
	name   string
}

// pathIndex walks the tree once and keeps, for every inode, the entries
// that name it.
func (fs *FS) pathIndex(ctx context.Context) (map[uint64][]dirRef, error) {
	fs.pathsMu.Lock()
	defer fs.pathsMu.Unlock()
	if fs.paths != nil {
		return fs.paths, nil
	}
	idx := map[uint64][]dirRef{}
	root := fs.RootIno()
	seen := map[uint64]bool{root: true}
	queue := []uint64{root}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := queue[0]
		queue = queue[1:]
		din, err := fs.Inode(d)
		if err != nil || din.FileType() != xfsformat.ModeDir {
			continue
		}
		_ = fs.ReadDir(din, 0, func(e dir.Entry) error {
			name := string(e.Name)
			if name == "." || name == ".." {
				return nil
			}
			idx[e.Ino] = append(idx[e.Ino], dirRef{d, name})
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
	}
	fs.paths = idx
	return idx, nil
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

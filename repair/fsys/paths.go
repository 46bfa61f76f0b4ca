package fsys

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Paths returns every path from the root that names inode ino (more than
// one for a hard link), sorted. It walks the directory tree from the
// root, each directory once (a directory loop cannot make it go round),
// reading one directory block at a time; directories that cannot be
// read are passed over. The root is "/".
//
// This walks the whole tree for one inode. Parent pointers (the parent
// feature) would answer from the inode itself, and a directory index
// built once in the workspace would answer many inodes at once; both
// are left for later.
func (fs *FS) Paths(ctx context.Context, ino uint64) ([]string, error) {
	root := fs.RootIno()
	if ino == root {
		return []string{"/"}, nil
	}
	var out []string
	seen := map[uint64]bool{root: true}
	type todo struct {
		ino uint64
		p   string
	}
	queue := []todo{{root, "/"}}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := queue[0]
		queue = queue[1:]
		din, err := fs.Inode(d.ino)
		if err != nil || din.FileType() != xfsformat.ModeDir {
			continue
		}
		_ = fs.ReadDir(din, 0, func(e dir.Entry) error {
			name := string(e.Name)
			if name == "." || name == ".." {
				return nil
			}
			p := path.Join(d.p, name)
			if e.Ino == ino {
				out = append(out, p)
			}
			isDir := e.Ftype == dir.FtDir
			if e.Ftype == dir.FtUnknown { // no ftype feature: ask the inode
				if in, err := fs.Inode(e.Ino); err == nil {
					isDir = in.FileType() == xfsformat.ModeDir
				}
			}
			if isDir && !seen[e.Ino] {
				seen[e.Ino] = true
				queue = append(queue, todo{e.Ino, p})
			}
			return nil
		})
	}
	slices.Sort(out)
	return out, nil
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

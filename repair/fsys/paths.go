package fsys

import (
	"context"
	"path"
	"slices"

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

package campaign

import (
	"context"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// fileObject is an object above the AG: what to make current after
// `path PATH` (nothing: the inode itself), under the tree every test
// image has (testdata/mkimage.sh, populate_formats), or the root.
type fileObject struct {
	name, path string
	// block is the xfs_db command that goes from the inode to the block
	// ("dblock %d", with %d the fork offset from leafOrFree), or "".
	block string
	// at is the directory's leaf (1) or free-index (2) space, whose
	// first block is at 32 GiB or 64 GiB of the fork, or 0.
	at int
	// more are commands after block (a btree's child).
	more []string
	// child, when set, names the directory block the object is, in the
	// block reached so far: reached with "dblock VALUE".
	child *childRef
}

// childRef is a cell of an array xfs_db prints for a block: row idx,
// column col (a da node's nbtree[1].before).
type childRef struct {
	array string
	idx   int
	col   string
}

// fileObjects are one object of each format above the AG: inode cores
// of each kind, every directory block format (a node directory's node,
// leaf and free-index blocks among them), attribute leaf and node
// blocks and a remote value block, a bmbt node and leaf, a remote
// symlink block. The corruption of each must never make the read layer
// panic or hang (the files issue) and must be found by the check (the
// inode-level check issue).
var fileObjects = []fileObject{
	{name: "inode-root", path: "/"},
	{name: "inode-regular-btree", path: "files/alternating"},
	{name: "inode-dir-short", path: "dirs/short"},
	{name: "inode-dir-node", path: "dirs/node"},
	{name: "inode-symlink-inline", path: "links/short"},
	{name: "inode-attr-sf", path: "xattr/sf"},
	{name: "inode-chrdev", path: "dirs/short/chr"},
	{name: "dir-block", path: "dirs/block", block: "dblock 0"},
	{name: "dir-leaf-data", path: "dirs/leaf", block: "dblock 0"},
	{name: "dir-leaf-leaf", path: "dirs/leaf", block: "dblock %d", at: 1},
	{name: "dir-node-node", path: "dirs/node", block: "dblock %d", at: 1},
	{name: "dir-node-free", path: "dirs/node", block: "dblock %d", at: 2},
	// A node directory's leaf (XDL3 leafn): the da node's second child,
	// 252 entries on every profile (fewer cases than the fullest).
	{name: "dir-node-leaf", path: "dirs/node", block: "dblock %d", at: 1, child: &childRef{"nbtree", 1, "before"}},
	{name: "attr-leaf", path: "xattr/leaf", block: "ablock 0"},
	{name: "attr-node", path: "xattr/node", block: "ablock 0"},
	{name: "attr-node-leaf", path: "xattr/node", block: "ablock 1"},
	{name: "attr-remote", path: "xattr/remote", block: "ablock 1"},
	{name: "bmbt-node", path: "files/alternating", block: "addr u3.bmbt.ptrs[1]"},
	{name: "bmbt-leaf", path: "files/alternating", block: "addr u3.bmbt.ptrs[1]", more: []string{"addr ptrs[1]"}},
	{name: "symlink-remote", path: "links/long", block: "dblock 0"},
}

// FileObjectsRoot is where the objects live in every test image; an
// object's absolute path ("/", the root directory) is its own.
const FileObjectsRoot = "/ag0/fmt/"

// EnumerateFiles is Enumerate for the objects above the AG (fileObjects)
// of image: each located, its fields listed and kept where xfs_db
// accepts them, every (object, field, verb) a case. An object the image
// lacks (a format its geometry never makes) is a note, not an error. It
// only reads the image.
func EnumerateFiles(ctx context.Context, image, profile string) (*Plan, error) {
	p := &Plan{Profile: profile, Fields: map[string][]string{}}
	sb, err := xfsdb.Print(image, "sb 0")
	if err != nil {
		return nil, err
	}
	blocklog, err := sb.Uint("blocklog")
	if err != nil {
		return nil, err
	}
	var objs []Object
	var prints []*xfsdb.Object
	for _, fo := range fileObjects {
		where := fo.path
		if !strings.HasPrefix(where, "/") {
			where = FileObjectsRoot + where
		}
		nav := []string{"path " + where}
		if fo.block != "" {
			cmd := fo.block
			if fo.at != 0 {
				cmd = fmt.Sprintf(fo.block, uint64(fo.at)<<35>>blocklog)
			}
			nav = append(append(nav, cmd), fo.more...)
		}
		if c := fo.child; c != nil {
			parent, err := xfsdb.Print(image, nav...)
			if err != nil {
				return nil, err
			}
			v, ok := "", false
			if a := parent.Array(c.array); a != nil {
				v, ok = a.Get(c.idx, c.col)
			}
			n, err := xfsdb.ParseUint(v)
			if !ok || err != nil {
				p.Notes = append(p.Notes, fmt.Sprintf("%s: %v has no %s[%d].%s", fo.name, nav, c.array, c.idx, c.col))
				continue
			}
			nav = append(nav, fmt.Sprintf("dblock %d", n))
		}
		o, err := xfsdb.Print(image, nav...)
		if err != nil {
			return nil, err
		}
		if o.Empty() {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: %v printed nothing: %v", fo.name, nav, o.Messages))
			continue
		}
		objs = append(objs, Object{Name: fo.name, Nav: nav})
		prints = append(prints, o)
	}
	if err := p.addObjects(ctx, image, objs, prints, nil); err != nil {
		return nil, err
	}
	return p, nil
}

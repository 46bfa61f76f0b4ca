package fsys

import (
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/attr"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// Parent is one parent pointer (the parent feature): the directory Dir,
// of generation Gen, holds an entry Name that names the inode.
type Parent struct {
	Dir  uint64
	Gen  uint32
	Name []byte
}

// HasParentPointers reports whether the filesystem keeps parent
// pointers: every name a directory holds (but "." and "..") is
// mirrored by an attribute of the inode it names.
func (fs *FS) HasParentPointers() bool {
	return fs.SB.FeaturesIncompat&xfsformat.IncompatParent != 0
}

// Parents calls fn with every parent pointer of in, in the order its
// attribute fork holds them; Name is valid during the call only. A
// parent pointer that is not one (an incomplete entry, a name a
// directory cannot hold, a value other than a 12-byte parent record, a
// remote value) is a CorruptError, as the kernel's getparents calls it.
func (fs *FS) Parents(in *Inode, fn func(Parent) error) error {
	return fs.walkAttrs(in, func(a *attr.Attr, _ *dinode.Map) error {
		if a.Flags&attr.FlagParent == 0 {
			return nil
		}
		if a.Remote || !attr.NameOK(a.Flags, a.Name) {
			return corrupt(in.Ino, "attributes", fmt.Errorf("parent pointer %q: not a directory entry's name, or a remote value", a.Name))
		}
		rec, err := attr.DecodeParentRec(a.Value)
		if err != nil {
			return corrupt(in.Ino, "attributes", err)
		}
		return fn(Parent{Dir: rec.Ino, Gen: rec.Gen, Name: a.Name})
	})
}

// walkAttrs calls visit with every attribute of in's fork (and the
// fork's block map, nil for a local fork), a leaf or node fork a block
// at a time; an entry that cannot be decoded, and a
// fork that cannot be walked, is a CorruptError.
func (fs *FS) walkAttrs(in *Inode, visit func(*attr.Attr, *dinode.Map) error) error {
	local, read, m, ok, err := fs.attrFork(in)
	if err != nil || !ok {
		return err
	}
	each := func(a *attr.Attr) error {
		if a.Err != nil {
			return corrupt(in.Ino, "attributes", a.Err)
		}
		return visit(a, m)
	}
	if read == nil {
		err = attr.WalkShortform(local, each)
	} else {
		err = attr.WalkBlocks(read, each)
	}
	var ce *CorruptError
	var fe *xfsformat.FormatError
	if err != nil && !errors.As(err, &ce) && (errors.As(err, &fe) || errors.Is(err, attr.ErrNotLeaf)) {
		return corrupt(in.Ino, "attributes", err)
	}
	return err
}

// parentRefs are the names of ino its parent pointers give.
func (fs *FS) parentRefs(ino uint64) ([]dirRef, error) {
	in, err := fs.Inode(ino)
	if err != nil {
		return nil, err
	}
	var out []dirRef
	err = fs.Parents(in, func(p Parent) error {
		out = append(out, dirRef{parent: p.Dir, name: string(p.Name)})
		return nil
	})
	return out, err
}

package fsys

import (
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/attr"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// ErrNoXattr: the inode has no attribute of that name.
var ErrNoXattr = errors.New("no such extended attribute")

// Xattr is one extended attribute as listxattr and getxattr show it.
type Xattr struct {
	Name  string // the Linux name: user.x, trusted.x, security.x, system.posix_acl_*
	Value []byte // the value getxattr returns (an ACL converted to posix_acl_xattr)
}

// attrFork says how to read in's attribute fork: its local bytes, or a
// reader of its blocks. ok is false when the inode has no attribute fork.
func (fs *FS) attrFork(in *Inode) (local []byte, read func(uint32) ([]byte, error), m *dinode.Map, ok bool, err error) {
	// xfs_inode_hasattr: an extents fork with no extents (what removing
	// the last attribute of a leaf fork leaves) holds none.
	if in.ForkOff == 0 || in.AFormat == xfsformat.FmtExtents && in.ANExtents == 0 {
		return nil, nil, nil, false, nil
	}
	switch in.AFormat {
	case xfsformat.FmtLocal:
		return in.Fork(true), nil, nil, true, nil
	case xfsformat.FmtExtents, xfsformat.FmtBtree:
		m = fs.fork(in, true)
		read = func(dablk uint32) ([]byte, error) {
			buf, _, err := fs.forkBlock(m, dablk, 1)
			return buf, err
		}
		return nil, read, m, true, nil
	}
	return nil, nil, nil, false, corrupt(in.Ino, "attributes", fmt.Errorf("attr fork format %d", in.AFormat))
}

// value is a's value: local, or assembled from its remote blocks (each
// verified as the kernel's getxattr does).
func (fs *FS) value(in *Inode, m *dinode.Map, a *attr.Attr) ([]byte, error) {
	if !a.Remote {
		return append([]byte(nil), a.Value...), nil
	}
	if m == nil || a.ValueLen > attr.MaxValueLen {
		return nil, corrupt(in.Ino, "attributes", fmt.Errorf("remote value of %q (%d bytes) in a local fork", a.Name, a.ValueLen))
	}
	n := attr.RemoteBlocks(a.ValueLen, int(fs.Geo.BlockSize), fs.inodeFS().CRC)
	var runs []attr.RemoteRun
	for i := range n {
		buf, daddr, err := fs.forkBlock(m, a.ValueBlk+uint32(i), 1)
		if err != nil {
			return nil, corrupt(in.Ino, "attributes", fmt.Errorf("remote value of %q: %w", a.Name, err))
		}
		runs = append(runs, attr.RemoteRun{Buf: buf, Daddr: daddr})
	}
	v, errs := attr.AssembleRemote(runs, a.ValueLen, attr.RemoteOpts{V5: fs.inodeFS().CRC, BlockSize: int(fs.Geo.BlockSize), UUID: fs.metaUUID(), Owner: in.Ino})
	if len(errs) > 0 {
		return nil, corrupt(in.Ino, "attributes", errs...)
	}
	return v, nil
}

// metaUUID is the UUID metadata blocks carry.
func (fs *FS) metaUUID() xfsformat.UUID {
	if fs.SB.FeaturesIncompat&xfsformat.IncompatMetaUUID != 0 {
		return fs.SB.MetaUUID
	}
	return fs.SB.UUID
}

// Xattrs calls fn with every attribute listxattr shows (parent pointers
// and incomplete attributes are not), each under every Linux name it has
// (an ACL under system.posix_acl_* and trusted.SGI_ACL_*), with the
// value getxattr gives; values are read only when withValues is set.
// Leaf and node forks are walked a block at a time.
func (fs *FS) Xattrs(in *Inode, withValues bool, fn func(Xattr) error) error {
	return fs.walkAttrs(in, func(a *attr.Attr, m *dinode.Map) error {
		names := a.LinuxNames()
		if len(names) == 0 {
			return nil
		}
		var v []byte
		var err error
		if withValues {
			if v, err = fs.value(in, m, a); err != nil {
				return err
			}
		}
		for _, name := range names {
			x := Xattr{Name: name}
			if withValues {
				if x.Value, err = attr.LinuxValue(name, v, fs.inodeFS().CRC); err != nil {
					return corrupt(in.Ino, "attributes", err)
				}
			}
			if err := fn(x); err != nil {
				return err
			}
		}
		return nil
	})
}

// Xattr returns the value getxattr gives for the Linux name: looked up
// by the name's hash in leaf and node forks.
func (fs *FS) Xattr(in *Inode, name string) ([]byte, error) {
	ns, raw, ok := attr.ParseLinuxName(name)
	if !ok {
		return nil, fmt.Errorf("inode %d: %q: %w", in.Ino, name, ErrNoXattr)
	}
	local, read, m, ok, err := fs.attrFork(in)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("inode %d: %q: %w", in.Ino, name, ErrNoXattr)
	}
	var a *attr.Attr
	if read == nil {
		a, err = attr.LookupShortform(local, ns, raw)
	} else {
		a, err = attr.LookupBlocks(read, ns, raw)
	}
	if errors.Is(err, attr.ErrNoAttr) {
		return nil, fmt.Errorf("inode %d: %q: %w", in.Ino, name, ErrNoXattr)
	}
	if err != nil {
		return nil, corrupt(in.Ino, "attributes", err)
	}
	v, err := fs.value(in, m, a)
	if err != nil {
		return nil, err
	}
	if v, err = attr.LinuxValue(name, v, fs.inodeFS().CRC); err != nil {
		return nil, corrupt(in.Ino, "attributes", err)
	}
	return v, nil
}

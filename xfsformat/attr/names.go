package attr

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// The flag bits of an attribute entry (xfs_attr_leaf_entry.flags and
// xfs_attr_sf_entry.flags, xfs_da_format.h).
const (
	FlagLocal      = 1 << 0 // XFS_ATTR_LOCAL: the value is in the leaf block
	FlagRoot       = 1 << 1 // XFS_ATTR_ROOT: the trusted namespace
	FlagSecure     = 1 << 2 // XFS_ATTR_SECURE: the security namespace
	FlagParent     = 1 << 3 // XFS_ATTR_PARENT: a parent pointer
	FlagIncomplete = 1 << 7 // XFS_ATTR_INCOMPLETE: being set or removed

	// NamespaceMask is XFS_ATTR_NSP_ONDISK_MASK.
	NamespaceMask = FlagRoot | FlagSecure | FlagParent
)

// Limits of names and values.
const (
	MaxNameLen  = 255   // MAXNAMELEN-1: names are at most 255 bytes
	MaxValueLen = 65536 // XFS_XATTR_SIZE_MAX
)

// Namespace is an attribute's namespace: its flags' namespace bits.
// A valid one has at most one bit set.
type Namespace uint8

// The namespaces.
const (
	User    Namespace = 0
	Trusted Namespace = FlagRoot
	Secure  Namespace = FlagSecure
	Parent  Namespace = FlagParent
)

// NamespaceOf returns the namespace bits of flags.
func NamespaceOf(flags uint8) Namespace { return Namespace(flags & NamespaceMask) }

// Valid reports whether at most one namespace bit is set
// (xfs_attr_check_namespace).
func (n Namespace) Valid() bool { return bits.OnesCount8(uint8(n)&NamespaceMask) < 2 }

// String is the namespace's name: "user", "trusted", "security",
// "parent", or the bits in hex for an invalid combination.
func (n Namespace) String() string {
	switch n {
	case User:
		return "user"
	case Trusted:
		return "trusted"
	case Secure:
		return "security"
	case Parent:
		return "parent"
	}
	return "namespace(" + xfsformat.HexText(uint64(n)) + ")"
}

// linuxPrefix is the Linux xattr prefix of the namespaces the kernel
// lists (parent pointers are private and have none).
func (n Namespace) linuxPrefix() (string, bool) {
	switch n {
	case User:
		return "user.", true
	case Trusted:
		return "trusted.", true
	case Secure:
		return "security.", true
	}
	return "", false
}

// The names under which XFS stores POSIX ACLs (xfs_acl.h), in the
// trusted namespace, and the Linux names the kernel shows them as.
const (
	ACLFileName     = "SGI_ACL_FILE"
	ACLDefaultName  = "SGI_ACL_DEFAULT"
	LinuxACLAccess  = "system.posix_acl_access"
	LinuxACLDefault = "system.posix_acl_default"
)

// ACLKind says whether an attribute is a POSIX ACL and which one:
// LinuxACLAccess, LinuxACLDefault, or "".
func ACLKind(flags uint8, name []byte) string {
	if NamespaceOf(flags) != Trusted {
		return ""
	}
	switch string(name) {
	case ACLFileName:
		return LinuxACLAccess
	case ACLDefaultName:
		return LinuxACLDefault
	}
	return ""
}

// LinuxNames are the names listxattr(2) shows for an attribute, in the
// kernel's order (xfs_xattr_put_listent): an ACL appears both as its
// system.posix_acl_* name and as trusted.SGI_ACL_*; parent pointers
// and incomplete attributes are not listed. (The kernel lists trusted
// names only to CAP_SYS_ADMIN.)
func LinuxNames(flags uint8, name []byte) []string {
	if flags&FlagIncomplete != 0 {
		return nil
	}
	ns := NamespaceOf(flags)
	prefix, ok := ns.linuxPrefix()
	if !ok {
		return nil
	}
	var names []string
	if acl := ACLKind(flags, name); acl != "" {
		names = append(names, acl)
	}
	return append(names, prefix+string(name))
}

// ParseLinuxName maps a Linux xattr name back to where XFS keeps it:
// the namespace and the on-disk name. system.posix_acl_access and
// _default map to the trusted SGI_ACL_* names. ok is false for names
// XFS does not store (other system.* names, unknown prefixes, empty or
// over-long names).
func ParseLinuxName(s string) (ns Namespace, name []byte, ok bool) {
	switch s {
	case LinuxACLAccess:
		return Trusted, []byte(ACLFileName), true
	case LinuxACLDefault:
		return Trusted, []byte(ACLDefaultName), true
	}
	for _, n := range []Namespace{User, Trusted, Secure} {
		p, _ := n.linuxPrefix()
		if rest, found := strings.CutPrefix(s, p); found {
			if rest == "" || len(rest) > MaxNameLen {
				return 0, nil, false
			}
			return n, []byte(rest), true
		}
	}
	return 0, nil, false
}

// NameOK is xfs_attr_namecheck: one namespace at most, a name of 1 to
// 255 bytes without NULs; a parent pointer's name is a directory entry
// name (no '/' either) and is never incomplete.
func NameOK(flags uint8, name []byte) bool {
	if !NamespaceOf(flags).Valid() || len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	if flags&FlagParent != 0 {
		return flags&FlagIncomplete == 0 && bytes.IndexByte(name, '/') < 0 && bytes.IndexByte(name, 0) < 0
	}
	return bytes.IndexByte(name, 0) < 0
}

// ParentRec is the value of a parent pointer attribute (xfs_parent_rec):
// the directory holding the entry whose name is the attribute's name.
type ParentRec struct {
	Ino uint64
	Gen uint32
}

// ParentRecSize is sizeof(struct xfs_parent_rec).
const ParentRecSize = 12

// DecodeParentRec decodes a parent pointer's value; it must be exactly
// 12 bytes (xfs_parent_valuecheck).
func DecodeParentRec(value []byte) (ParentRec, error) {
	if len(value) != ParentRecSize {
		return ParentRec{}, xfsformat.Errorf(xfsformat.ErrRange, "parent pointer", -1, -1, "valuelen", itoa(len(value)), "a parent pointer's value is %d bytes", ParentRecSize)
	}
	return ParentRec{binary.BigEndian.Uint64(value), binary.BigEndian.Uint32(value[8:])}, nil
}

// Encode returns the 12 on-disk bytes of the record.
func (p ParentRec) Encode() []byte {
	b := make([]byte, ParentRecSize)
	binary.BigEndian.PutUint64(b, p.Ino)
	binary.BigEndian.PutUint32(b[8:], p.Gen)
	return b
}

// Hash is the hash an attribute is filed under (xfs_attr_hashval): the
// name's da hash, or for a parent pointer the directory hash of the
// name (case-folded on ASCII-CI filesystems) mixed with the parent's
// inode number from the value. A parent pointer whose value is not a
// parent record hashes to 0, as in the kernel.
func Hash(flags uint8, name, value []byte, asciiCI bool) uint32 {
	if flags&FlagParent == 0 {
		return da.HashName(name)
	}
	rec, err := DecodeParentRec(value)
	if err != nil {
		return 0
	}
	return da.ParentHash(name, asciiCI, rec.Ino)
}

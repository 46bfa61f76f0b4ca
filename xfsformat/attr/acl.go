package attr

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// POSIX ACL entry tags, the same numbers on XFS disks (xfs_acl_entry
// ae_tag) and in Linux's posix_acl_xattr.
const (
	ACLUserObj  = 0x01
	ACLUser     = 0x02
	ACLGroupObj = 0x04
	ACLGroup    = 0x08
	ACLMask     = 0x10
	ACLOther    = 0x20

	// ACLUndefinedID is the id of entries that name no user or group.
	ACLUndefinedID = 0xffffffff
	// LinuxACLVersion is POSIX_ACL_XATTR_VERSION.
	LinuxACLVersion = 2
)

// Sizes of the two formats: XFS's xfs_acl (a big-endian count, then
// 12-byte entries tag, id, perm, pad) and Linux's posix_acl_xattr (a
// little-endian version, then 8-byte entries tag, perm, id).
const (
	xfsACLHdr     = 4
	xfsACLEntry   = 12
	linuxACLHdr   = 4
	linuxACLEntry = 8
)

// ACLEntry is one ACL entry.
type ACLEntry struct {
	Tag  uint32 // ACLUserObj ... ACLOther (16 bits in Linux's format)
	ID   uint32 // uid or gid for ACLUser and ACLGroup
	Perm uint16 // rwx bits
	Pad  uint16 // xfs_acl_entry's ae_pad
}

// ACL is a POSIX ACL, entries in on-disk order.
type ACL []ACLEntry

// MaxACLEntries is XFS_ACL_MAX_ENTRIES: what fits a maximal value on v5,
// 25 on v4.
func MaxACLEntries(v5 bool) int {
	if v5 {
		return (MaxValueLen - xfsACLHdr) / xfsACLEntry
	}
	return 25
}

func tagOK(tag uint32) bool {
	switch tag {
	case ACLUserObj, ACLUser, ACLGroupObj, ACLGroup, ACLMask, ACLOther:
		return true
	}
	return false
}

// DecodeACL decodes an XFS on-disk ACL (the value of SGI_ACL_FILE or
// SGI_ACL_DEFAULT) as the kernel's xfs_acl_from_disk does: the count
// within MaxACLEntries and the value exactly its size, each tag one of
// the six.
func DecodeACL(value []byte, v5 bool) (ACL, error) {
	const st = "xfs acl"
	if len(value) < xfsACLHdr {
		return nil, xfsformat.Errorf(xfsformat.ErrShort, st, -1, -1, "acl_cnt", "", "a %d-byte value holds no count", len(value))
	}
	cnt := binary.BigEndian.Uint32(value)
	if uint64(cnt) > uint64(MaxACLEntries(v5)) || xfsACLHdr+uint64(cnt)*xfsACLEntry != uint64(len(value)) {
		return nil, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "acl_cnt", strconv.FormatUint(uint64(cnt), 10), "count does not fit the %d-byte value (at most %d entries)", len(value), MaxACLEntries(v5))
	}
	acl := make(ACL, cnt)
	be := binary.BigEndian
	for i := range acl {
		b := value[xfsACLHdr+i*xfsACLEntry:]
		acl[i] = ACLEntry{Tag: be.Uint32(b), ID: be.Uint32(b[4:]), Perm: be.Uint16(b[8:]), Pad: be.Uint16(b[10:])}
		if !tagOK(acl[i].Tag) {
			return nil, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, fmt.Sprintf("acl_entry[%d].ae_tag", i), xfsformat.HexText(uint64(acl[i].Tag)), "not an ACL tag")
		}
	}
	return acl, nil
}

// Encode is the ACL in XFS's on-disk format, ids as they are (the
// kernel's xfs_acl_to_disk writes ACLUndefinedID for entries that name
// nobody, as DecodeLinuxACL sets them).
func (a ACL) Encode() []byte {
	b := make([]byte, xfsACLHdr+len(a)*xfsACLEntry)
	be := binary.BigEndian
	be.PutUint32(b, uint32(len(a)))
	for i, e := range a {
		p := b[xfsACLHdr+i*xfsACLEntry:]
		be.PutUint32(p, e.Tag)
		be.PutUint32(p[4:], e.ID)
		be.PutUint16(p[8:], e.Perm)
		be.PutUint16(p[10:], e.Pad)
	}
	return b
}

// namedID is the id an entry carries out of the kernel: the uid or gid
// for named entries, ACLUndefinedID for the others.
func namedID(e ACLEntry) uint32 {
	if e.Tag == ACLUser || e.Tag == ACLGroup {
		return e.ID
	}
	return ACLUndefinedID
}

// LinuxXattr is the ACL as getxattr returns it for
// system.posix_acl_access/default (posix_acl_to_xattr, in the initial
// user namespace): version 2, then little-endian tag, perm and id per
// entry, in the stored order.
func (a ACL) LinuxXattr() []byte {
	b := make([]byte, linuxACLHdr+len(a)*linuxACLEntry)
	le := binary.LittleEndian
	le.PutUint32(b, LinuxACLVersion)
	for i, e := range a {
		p := b[linuxACLHdr+i*linuxACLEntry:]
		le.PutUint16(p, uint16(e.Tag))
		le.PutUint16(p[2:], e.Perm)
		le.PutUint32(p[4:], namedID(e))
	}
	return b
}

// DecodeLinuxACL reads a posix_acl_xattr value (what setxattr of
// system.posix_acl_* takes): version 2 and whole entries with known
// tags.
func DecodeLinuxACL(b []byte) (ACL, error) {
	if len(b) < linuxACLHdr || (len(b)-linuxACLHdr)%linuxACLEntry != 0 {
		return nil, fmt.Errorf("attr: a posix_acl_xattr of %d bytes", len(b))
	}
	le := binary.LittleEndian
	if v := le.Uint32(b); v != LinuxACLVersion {
		return nil, fmt.Errorf("attr: posix_acl_xattr version %d", v)
	}
	acl := make(ACL, (len(b)-linuxACLHdr)/linuxACLEntry)
	for i := range acl {
		p := b[linuxACLHdr+i*linuxACLEntry:]
		acl[i] = ACLEntry{Tag: uint32(le.Uint16(p)), Perm: le.Uint16(p[2:]), ID: le.Uint32(p[4:])}
		if !tagOK(acl[i].Tag) {
			return nil, fmt.Errorf("attr: posix_acl_xattr entry %d has tag %#x", i, acl[i].Tag)
		}
		acl[i].ID = namedID(acl[i])
	}
	return acl, nil
}

// LinuxValue is the value getxattr(2) returns under linuxName (one of
// LinuxNames) for an attribute whose stored value is value: the
// system.posix_acl_* names convert the XFS ACL to posix_acl_xattr;
// every other name returns the bytes as stored.
func LinuxValue(linuxName string, value []byte, v5 bool) ([]byte, error) {
	if linuxName != LinuxACLAccess && linuxName != LinuxACLDefault {
		return value, nil
	}
	acl, err := DecodeACL(value, v5)
	if err != nil {
		return nil, err
	}
	return acl.LinuxXattr(), nil
}

package da

import "math/bits"

// HashName is xfs_da_hashname: the hash that orders directory leaf
// entries and attribute entries. It folds the name seven bits a byte.
func HashName(name []byte) uint32 {
	var h uint32
	for ; len(name) >= 4; name = name[4:] {
		h = uint32(name[0])<<21 ^ uint32(name[1])<<14 ^ uint32(name[2])<<7 ^ uint32(name[3]) ^ bits.RotateLeft32(h, 7*4)
	}
	switch len(name) {
	case 3:
		return uint32(name[0])<<14 ^ uint32(name[1])<<7 ^ uint32(name[2]) ^ bits.RotateLeft32(h, 7*3)
	case 2:
		return uint32(name[0])<<7 ^ uint32(name[1]) ^ bits.RotateLeft32(h, 7*2)
	case 1:
		return uint32(name[0]) ^ bits.RotateLeft32(h, 7)
	}
	return h
}

// FoldCI is xfs_ascii_ci_xfrm, how ASCII-CI directories hash and
// compare names: A-Z and the Latin-1 capitals with accents (0xc0-0xd6,
// 0xd8-0xde) fold to lower case; nothing else does.
func FoldCI(c byte) byte {
	if c >= 'A' && c <= 'Z' || c >= 0xc0 && c <= 0xd6 || c >= 0xd8 && c <= 0xde {
		return c + ('a' - 'A')
	}
	return c
}

// HashNameCI is xfs_ascii_ci_hashname, the directory hash of
// filesystems made with -n version=ci (sb features2 ASCII_CI).
func HashNameCI(name []byte) uint32 {
	var h uint32
	for _, c := range name {
		h = uint32(FoldCI(c)) ^ bits.RotateLeft32(h, 7)
	}
	return h
}

// DirHash is the hash a directory on this filesystem uses for name:
// HashNameCI on ASCII-CI filesystems, else HashName.
func DirHash(name []byte, asciiCI bool) uint32 {
	if asciiCI {
		return HashNameCI(name)
	}
	return HashName(name)
}

// ParentHash is xfs_parent_hashval: a parent pointer attribute is hashed
// as the directory entry's name, mixed with the parent's inode number so
// that hard links of one name in different directories do not collide.
func ParentHash(name []byte, asciiCI bool, parentIno uint64) uint32 {
	return DirHash(name, asciiCI) ^ uint32(parentIno>>32) ^ uint32(parentIno)
}

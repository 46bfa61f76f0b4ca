package dinode

import "github.com/xfsbox/xfsbox/xfsformat"

// Superblock feature bits this package needs beyond xfsformat's.
const (
	features2FType = 0x200 // XFS_SB_VERSION2_FTYPE (v4 filesystems)
	dirSpaceSize   = 1 << 35
	dirMaxSpaces   = 3
)

// FS is what decoding and checking an inode needs of its filesystem:
// geometry and the features that change the inode's rules.
type FS struct {
	Geo *xfsformat.Geometry // required
	// CRC is a v5 filesystem: v3 inodes, printed with "v3." and "u3."
	// fields.
	CRC bool
	// FType: directory entries carry a file type (xfs_db prints a local
	// directory as sfdir3 rather than sfdir2).
	FType   bool
	Bigtime bool
	Nrext64 bool
	Reflink bool
	Metadir bool
	// RBlocks is the size of the realtime device in blocks (0: none);
	// RExtSize its extent size in blocks.
	RBlocks  uint64
	RExtSize uint32
	// RBMIno is the realtime bitmap inode (sb_rbmino), the one inode
	// that may carry the newrtbm flag.
	RBMIno uint64
}

// NewFS takes the features from the superblock sb and the geometry g
// made from it.
func NewFS(sb *xfsformat.Superblock, g *xfsformat.Geometry) *FS {
	v5 := sb.VersionNum&0xf == 5
	return &FS{
		Geo:      g,
		CRC:      v5,
		FType:    (v5 && sb.FeaturesIncompat&xfsformat.IncompatFtype != 0) || sb.Features2&features2FType != 0,
		Bigtime:  v5 && sb.FeaturesIncompat&xfsformat.IncompatBigtime != 0,
		Nrext64:  v5 && sb.FeaturesIncompat&xfsformat.IncompatNrext64 != 0,
		Reflink:  v5 && sb.FeaturesROCompat&xfsformat.ROCompatReflink != 0,
		Metadir:  v5 && sb.FeaturesIncompat&xfsformat.IncompatMetadir != 0,
		RBlocks:  sb.RBlocks,
		RExtSize: sb.RExtSize,
		RBMIno:   sb.RBMIno,
	}
}

// dirMaxExtents is the most extents a directory's data fork may have
// (the three 32 GiB directory spaces in blocks: m_dir_geo->max_extents).
func (fs *FS) dirMaxExtents() uint64 {
	return dirMaxSpaces * dirSpaceSize >> fs.Geo.BlockLog
}

package xfsformat

import (
	"fmt"
	"math/bits"
	"strings"
)

// Superblock feature bits (xfs_format.h).
const (
	// VersionAlignBit (XFS_SB_VERSION_ALIGNBIT, in sb_versionnum): inode
	// chunks are aligned to sb_inoalignmt blocks.
	VersionAlignBit = 0x0080
	// VersionQuotaBit (XFS_SB_VERSION_QUOTABIT): the superblock's quota
	// inode numbers mean something.
	VersionQuotaBit = 0x0040

	IncompatFtype       = 0x1
	IncompatSpinodes    = 0x2
	IncompatMetaUUID    = 0x4
	IncompatBigtime     = 0x8
	IncompatNeedsRepair = 0x10
	IncompatNrext64     = 0x20
	IncompatExchrange   = 0x40
	IncompatParent      = 0x80
	IncompatMetadir     = 0x100
	IncompatZoned       = 0x200

	ROCompatFinobt     = 0x1
	ROCompatRmapbt     = 0x2
	ROCompatReflink    = 0x4
	ROCompatInobtCount = 0x8
)

var incompatNames = map[uint32]string{
	IncompatFtype: "ftype", IncompatSpinodes: "sparse", IncompatMetaUUID: "metauuid",
	IncompatBigtime: "bigtime", IncompatNeedsRepair: "needsrepair", IncompatNrext64: "nrext64",
	IncompatExchrange: "exchange", IncompatParent: "parent", IncompatMetadir: "metadir",
	IncompatZoned: "zoned",
}

var roCompatNames = map[uint32]string{
	ROCompatFinobt: "finobt", ROCompatRmapbt: "rmapbt", ROCompatReflink: "reflink",
	ROCompatInobtCount: "inobtcount",
}

// incompatSupported are the incompat features whose AG metadata xfsbox
// understands. metadir and zoned change where AG-level metadata lives
// (realtime groups, metadata directory) and are refused by name.
const incompatSupported = IncompatFtype | IncompatSpinodes | IncompatMetaUUID |
	IncompatBigtime | IncompatNeedsRepair | IncompatNrext64 | IncompatExchrange | IncompatParent

const roCompatKnown = ROCompatFinobt | ROCompatRmapbt | ROCompatReflink | ROCompatInobtCount

func featureNames(v uint32, names map[uint32]string) []string {
	var out []string
	for v != 0 {
		b := uint32(1) << bits.TrailingZeros32(v)
		v &^= b
		if n, ok := names[b]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("unknown(%#x)", b))
		}
	}
	return out
}

// FeatureNames lists the superblock's v5 feature bits by name, as
// mkfs.xfs/xfs_info call them.
func (s *Superblock) FeatureNames() []string {
	out := featureNames(s.FeaturesROCompat, roCompatNames)
	out = append(out, featureNames(s.FeaturesIncompat, incompatNames)...)
	return out
}

// checkFeatures refuses filesystems whose AG metadata xfsbox does not
// understand, naming the feature.
func (s *Superblock) checkFeatures() error {
	if bad := s.FeaturesIncompat &^ incompatSupported; bad != 0 {
		return ferr(ErrUnsupported, "sb", -1, -1, "features_incompat", hexText(uint64(s.FeaturesIncompat)),
			"incompatible feature(s) not supported: %s", strings.Join(featureNames(bad, incompatNames), ", "))
	}
	return nil
}

// UnknownROCompat returns read-only-compatible feature bits xfsbox does
// not know; such a filesystem may be inspected but must not be written.
func (s *Superblock) UnknownROCompat() uint32 { return s.FeaturesROCompat &^ roCompatKnown }

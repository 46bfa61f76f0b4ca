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

// v4 feature bits: sb_versionnum above the version number, and
// sb_features2 (xfs_format.h's XFS_SB_VERSION_* and XFS_SB_VERSION2_*).
const (
	VersionAttrBit     = 0x0010
	VersionNlinkBit    = 0x0020
	VersionDalignBit   = 0x0100
	VersionSharedBit   = 0x0200
	VersionLogV2Bit    = 0x0400
	VersionSectorBit   = 0x0800
	VersionExtFlgBit   = 0x1000
	VersionDirV2Bit    = 0x2000
	VersionBorgBit     = 0x4000
	VersionMoreBitsBit = 0x8000

	Version2LazySBCount = 0x0002
	Version2Attr2       = 0x0008
	Version2Parent      = 0x0010
	Version2ProjID32    = 0x0080
	Version2CRC         = 0x0100
	Version2Ftype       = 0x0200
)

var versionNames = map[uint32]string{
	VersionAttrBit: "attr", VersionNlinkBit: "nlink", VersionQuotaBit: "quota", VersionAlignBit: "align",
	VersionDalignBit: "dalign", VersionSharedBit: "shared", VersionLogV2Bit: "logv2", VersionSectorBit: "sector",
	VersionExtFlgBit: "extflg", VersionDirV2Bit: "dirv2", VersionBorgBit: "borg", VersionMoreBitsBit: "morebits",
}

var version2Names = map[uint32]string{
	Version2LazySBCount: "lazysbcount", Version2Attr2: "attr2", Version2Parent: "parent",
	Version2ProjID32: "projid32bit", Version2CRC: "crc", Version2Ftype: "ftype",
}

// The v4 bits the kernel accepts (XFS_SB_VERSION_OKBITS,
// XFS_SB_VERSION2_OKBITS): a v4 filesystem with any other is refused.
const (
	versionOKBits = 0xf | VersionAttrBit | VersionNlinkBit | VersionQuotaBit | VersionAlignBit | VersionDalignBit |
		VersionLogV2Bit | VersionSectorBit | VersionExtFlgBit | VersionDirV2Bit | VersionMoreBitsBit
	version2OKBits = Version2LazySBCount | Version2Attr2 | Version2ProjID32 | Version2Ftype
)

// checkV4Features refuses, by name, what the kernel refuses of a v4
// superblock (xfs_sb_validate_v4_features): unknown bits, version 1
// directories, no extent flag.
func (s *Superblock) checkV4Features() error {
	if bad := uint32(s.VersionNum) &^ versionOKBits; bad != 0 {
		return ferr(ErrUnsupported, "sb", -1, -1, "versionnum", hexText(uint64(s.VersionNum)),
			"v4 feature(s) not supported: %s", strings.Join(featureNames(bad, versionNames), ", "))
	}
	if s.VersionNum&VersionMoreBitsBit != 0 {
		if bad := s.Features2 &^ version2OKBits; bad != 0 {
			return ferr(ErrUnsupported, "sb", -1, -1, "features2", hexText(uint64(s.Features2)),
				"v4 feature(s) not supported: %s", strings.Join(featureNames(bad, version2Names), ", "))
		}
	}
	if s.VersionNum&VersionDirV2Bit == 0 {
		return ferr(ErrUnsupported, "sb", -1, -1, "versionnum", hexText(uint64(s.VersionNum)),
			"version 1 directories (no dirv2 bit): neither the kernel nor xfsbox reads them")
	}
	if s.VersionNum&VersionExtFlgBit == 0 {
		return ferr(ErrUnsupported, "sb", -1, -1, "versionnum", hexText(uint64(s.VersionNum)),
			"no extent flag (extflg): neither the kernel nor xfsbox reads such filesystems")
	}
	return nil
}

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

// FeatureNames lists the superblock's feature bits by name, as
// mkfs.xfs/xfs_info call them: a v4 superblock's versionnum and
// features2 bits, a v5's compat, ro-compat and incompat bits.
func (s *Superblock) FeatureNames() []string {
	if s.VersionNum&0xf == 4 {
		out := featureNames(uint32(s.VersionNum)&^0xf, versionNames)
		if s.VersionNum&VersionMoreBitsBit != 0 {
			out = append(out, featureNames(s.Features2, version2Names)...)
		}
		return out
	}
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

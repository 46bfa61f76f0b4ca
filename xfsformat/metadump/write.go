package metadump

import (
	"encoding/binary"
	"fmt"
	"io"
)

// V2Writer writes a v2 metadump (XMD2) by the format's definition:
// xfsprogs 6.1, this machine's, cannot write one, so the v2 reader is
// judged on metadumps this writes from v1 ones that xfs_metadump wrote.
type V2Writer struct {
	w     io.Writer
	first bool
}

// NewV2Writer writes the header, with the flags of info.
func NewV2Writer(w io.Writer, info Info) (*V2Writer, error) {
	var h [v2HeaderSize]byte
	binary.BigEndian.PutUint32(h[0:], MagicV2)
	binary.BigEndian.PutUint32(h[4:], 2)
	var compat, incompat uint32
	for _, f := range []struct {
		on  bool
		bit uint32
	}{{info.Obfuscated, v2CompatObfuscated}, {info.FullBlocks, v2CompatFullBlocks}, {info.DirtyLog, v2CompatDirtyLog}, {info.ExternalLog, v2CompatExternalLog}} {
		if f.on {
			compat |= f.bit
		}
	}
	if info.RTDevice {
		incompat |= v2IncompatRTDevice
	}
	binary.BigEndian.PutUint32(h[8:], compat)
	binary.BigEndian.PutUint32(h[12:], incompat)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &V2Writer{w: w, first: true}, nil
}

// Extent writes data (a whole number of sectors) as held at sector
// daddr of dev. The first extent must be the primary superblock.
func (v *V2Writer) Extent(dev Device, daddr uint64, data []byte) error {
	if len(data) == 0 || len(data)%SectorSize != 0 || uint64(len(data)>>SectorLog) > MaxExtentSectors-1 {
		return fmt.Errorf("metadump: extent of %d bytes (a whole number of sectors, at least one)", len(data))
	}
	if daddr > v2DaddrMask || dev > RTDevice {
		return fmt.Errorf("metadump: extent at %s sector %d cannot be addressed", dev, daddr)
	}
	if v.first && (daddr != 0 || dev != DataDevice) {
		return fmt.Errorf("metadump: the first extent must be the primary superblock")
	}
	v.first = false
	var h [v2ExtentSize]byte
	binary.BigEndian.PutUint64(h[0:], uint64(dev)<<v2DeviceShift|daddr)
	binary.BigEndian.PutUint32(h[8:], uint32(len(data)>>SectorLog))
	if _, err := v.w.Write(h[:]); err != nil {
		return err
	}
	_, err := v.w.Write(data)
	return err
}

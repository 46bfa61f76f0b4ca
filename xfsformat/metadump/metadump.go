// Package metadump reads the files xfs_metadump writes: the metadata
// blocks of a filesystem (with names obfuscated unless -o, stale bytes
// zeroed unless -a), in one of two formats, as defined by xfsprogs'
// include/xfs_metadump.h and read by mdrestore/xfs_mdrestore.c:
//
//   - v1 ("XFSM", every xfsprogs): a run of metablocks. A metablock is
//     1<<blocklog bytes (blocklog is 9 in every metadump xfsprogs
//     writes): an 8-byte header (magic, count, blocklog, info flags), an
//     index of count big-endian sector addresses (daddrs, 512-byte
//     units), then count blocks of 1<<blocklog bytes, the i-th written at
//     index[i]<<9. A metablock with fewer than the index's capacity
//     ((1<<blocklog - 8) / 8: 63 entries) ends the file, as does a
//     count of 0; xfs_metadump always writes one last (a full
//     metablock at the end of the file means it was cut, and
//     xfs_mdrestore refuses it). The first entry is the primary
//     superblock (daddr 0).
//   - v2 ("XMD2", xfsprogs 6.5 and later): a 24-byte header (magic,
//     version 2, compat and incompat flags, a reserved zero), then
//     extents to the end of the file, each a 12-byte packed header (an
//     address whose low 54 bits are the daddr and next 2 bits the device:
//     data, external log, realtime; a length in 512-byte units) and its
//     bytes. The first extent is the primary superblock.
//
// Scan walks a metadump once, streaming, and reports where every extent
// of the data device lies in the file; it holds one metablock (v1) or one
// extent header (v2) at a time, whatever the metadump's size.
package metadump

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Magics of the two formats, and the sector size their addresses count.
const (
	MagicV1    = 0x5846534d // "XFSM"
	MagicV2    = 0x584d4432 // "XMD2"
	SectorLog  = 9
	SectorSize = 1 << SectorLog
)

// v1 info flags (mb_info): informational, only when InfoFlags is set.
const (
	v1InfoFlags  = 1 << 0
	v1Obfuscated = 1 << 1
	v1FullBlocks = 1 << 2
	v1DirtyLog   = 1 << 3
)

// v2 flags.
const (
	v2CompatObfuscated  = 1 << 0
	v2CompatFullBlocks  = 1 << 1
	v2CompatDirtyLog    = 1 << 2
	v2CompatExternalLog = 1 << 3
	v2IncompatRTDevice  = 1 << 0
	v2IncompatAll       = v2IncompatRTDevice

	v2HeaderSize  = 24
	v2ExtentSize  = 12
	v2DeviceShift = 54
	v2DaddrMask   = 1<<v2DeviceShift - 1
)

// Device is where a v2 extent was copied from.
type Device int

const (
	DataDevice Device = iota
	LogDevice         // an external log
	RTDevice          // the realtime device
)

func (d Device) String() string {
	return [...]string{"data", "log", "realtime", "device 3"}[d&3]
}

// Info is what a metadump's header says about it.
type Info struct {
	Version int // 1 or 2
	// HasFlags is false for a v1 metadump written before xfsprogs
	// recorded flags (then Obfuscated, FullBlocks and DirtyLog are
	// unknown, and reported false).
	HasFlags   bool
	Obfuscated bool // names obfuscated, attribute values zeroed (no -o)
	FullBlocks bool // stale bytes kept (-a)
	DirtyLog   bool // the log was dirty when dumped
	// ExternalLog and RTDevice (v2): the metadump holds an external
	// log's or a realtime device's blocks.
	ExternalLog bool
	RTDevice    bool
	// BlockLog is a v1 metadump's block size (log2): every extent is one
	// block of this size.
	BlockLog int
}

// String describes the metadump as xfs_mdrestore -i does.
func (i Info) String() string {
	if !i.HasFlags {
		return fmt.Sprintf("metadump v%d, no informational flags", i.Version)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "metadump v%d, ", i.Version)
	if !i.Obfuscated {
		b.WriteString("not ")
	}
	b.WriteString("obfuscated, ")
	if i.DirtyLog {
		b.WriteString("dirty log, ")
	} else {
		b.WriteString("clean log, ")
	}
	if i.FullBlocks {
		b.WriteString("full metadata blocks")
	} else {
		b.WriteString("zeroed metadata blocks")
	}
	if i.ExternalLog {
		b.WriteString(", with an external log")
	}
	if i.RTDevice {
		b.WriteString(", with a realtime device")
	}
	return b.String()
}

// Extent is a run of sectors the metadump holds: Sectors sectors of
// Device from sector Daddr, stored at byte Offset of the metadump.
type Extent struct {
	Device  Device
	Daddr   uint64
	Sectors uint64
	Offset  int64
}

// ErrNotMetadump is returned by Sniff and Scan for a file that starts
// with neither magic.
var ErrNotMetadump = errors.New("not a metadump (no XFSM or XMD2 magic)")

// ErrCorrupt is wrapped by the errors of a metadump that breaks its
// format (a bad count, a truncated block, an unknown flag).
var ErrCorrupt = errors.New("corrupt metadump")

// Sniff reports whether head (the first bytes of a file, at least 4)
// starts a metadump, and which version.
func Sniff(head []byte) (version int, ok bool) {
	if len(head) < 4 {
		return 0, false
	}
	switch binary.BigEndian.Uint32(head) {
	case MagicV1:
		return 1, true
	case MagicV2:
		return 2, true
	}
	return 0, false
}

func corrupt(off int64, format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrCorrupt, off, fmt.Sprintf(format, args...))
}

// MaxExtentSectors bounds one v2 extent (xfs_metadump writes none larger
// than a maximal extent of 64 KiB blocks: 2^21 blocks); a larger length
// is taken for corruption rather than trusted to size a read.
const MaxExtentSectors = 1 << 32

// Scan reads the metadump r (of size bytes) from its start, once, and
// calls fn for every extent in file order; fn's error stops it. It
// returns the header's Info. The first extent is checked to be the
// primary superblock (daddr 0 of the data device), as xfs_mdrestore
// checks it. Scan reads through a buffer and never seeks, so r may be a
// pipe.
func Scan(r io.Reader, size int64, fn func(Extent) error) (Info, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var head [8]byte
	if _, err := io.ReadFull(br, head[:4]); err != nil {
		return Info{}, fmt.Errorf("%w (%d bytes)", ErrNotMetadump, size)
	}
	switch binary.BigEndian.Uint32(head[:4]) {
	case MagicV1:
		return scanV1(br, size, fn)
	case MagicV2:
		return scanV2(br, size, fn)
	}
	return Info{}, ErrNotMetadump
}

func scanV1(br *bufio.Reader, size int64, fn func(Extent) error) (Info, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return Info{}, corrupt(4, "the first metablock's header is cut short")
	}
	info := Info{Version: 1, BlockLog: int(h[2])}
	flags := h[3]
	if flags&v1InfoFlags != 0 {
		info.HasFlags = true
		info.Obfuscated = flags&v1Obfuscated != 0
		info.FullBlocks = flags&v1FullBlocks != 0
		info.DirtyLog = flags&v1DirtyLog != 0
	}
	if info.BlockLog < SectorLog || info.BlockLog > 16 {
		return info, corrupt(6, "block size 2^%d (xfs_mdrestore reads 2^9 to 2^16)", info.BlockLog)
	}
	bsize := int64(1) << info.BlockLog
	maxIdx := int((bsize - 8) / 8)
	index := make([]byte, bsize-8)
	count := int(binary.BigEndian.Uint16(h[:2]))
	pos := int64(0) // of the current metablock
	for first := true; ; first = false {
		if count == 0 && !first {
			return info, nil
		}
		if count == 0 || count > maxIdx {
			return info, corrupt(pos+4, "metablock index count %d (1 to %d)", count, maxIdx)
		}
		if _, err := io.ReadFull(br, index); err != nil {
			return info, corrupt(pos+8, "metablock index cut short")
		}
		data := pos + bsize
		if data+int64(count)*bsize > size {
			return info, corrupt(data, "metablock of %d blocks of %d bytes runs past the end of the file (%d bytes)", count, bsize, size)
		}
		for i := range count {
			daddr := binary.BigEndian.Uint64(index[i*8:])
			if first && i == 0 && daddr != 0 {
				return info, corrupt(pos+8, "the first block is at sector %d, not the primary superblock's 0", daddr)
			}
			if err := fn(Extent{Device: DataDevice, Daddr: daddr, Sectors: uint64(bsize >> SectorLog), Offset: data + int64(i)*bsize}); err != nil {
				return info, err
			}
		}
		if _, err := br.Discard(count * int(bsize)); err != nil {
			return info, corrupt(data, "metablock data cut short")
		}
		if count < maxIdx {
			return info, nil
		}
		pos = data + int64(count)*bsize
		var mh [8]byte
		if _, err := io.ReadFull(br, mh[:]); err != nil {
			if pos >= size {
				// xfs_metadump ends every metadump with a metablock of
				// fewer than maxIdx blocks (of none, after a full one),
				// and xfs_mdrestore fails on a file without it.
				return info, corrupt(pos, "the file ends after a full metablock, without the short one xfs_metadump ends a metadump with: cut short")
			}
			return info, corrupt(pos, "metablock header cut short")
		}
		if m := binary.BigEndian.Uint32(mh[:]); m != MagicV1 {
			return info, corrupt(pos, "metablock magic %#08x, want XFSM", m)
		}
		count = int(binary.BigEndian.Uint16(mh[4:]))
	}
}

func scanV2(br *bufio.Reader, size int64, fn func(Extent) error) (Info, error) {
	var h [v2HeaderSize - 4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return Info{}, corrupt(4, "the header is cut short")
	}
	info := Info{Version: 2, HasFlags: true, BlockLog: SectorLog}
	if v := binary.BigEndian.Uint32(h[0:]); v != 2 {
		return info, corrupt(4, "version %d in an XMD2 header", v)
	}
	compat, incompat := binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:])
	if incompat&^v2IncompatAll != 0 {
		return info, corrupt(12, "unknown incompatible flags %#x", incompat&^v2IncompatAll)
	}
	if r := binary.BigEndian.Uint64(h[12:]); r != 0 {
		return info, corrupt(16, "reserved field %#x is not zero", r)
	}
	info.Obfuscated = compat&v2CompatObfuscated != 0
	info.FullBlocks = compat&v2CompatFullBlocks != 0
	info.DirtyLog = compat&v2CompatDirtyLog != 0
	info.ExternalLog = compat&v2CompatExternalLog != 0
	info.RTDevice = incompat&v2IncompatRTDevice != 0
	pos := int64(v2HeaderSize)
	for first := true; ; first = false {
		var xh [v2ExtentSize]byte
		n, err := io.ReadFull(br, xh[:])
		if n == 0 && err == io.EOF {
			if first {
				return info, corrupt(pos, "no extents (the primary superblock is missing)")
			}
			return info, nil
		}
		if err != nil {
			return info, corrupt(pos, "extent header cut short")
		}
		addr, sectors := binary.BigEndian.Uint64(xh[:]), uint64(binary.BigEndian.Uint32(xh[8:]))
		dev := Device(addr >> v2DeviceShift & 3)
		daddr := addr & v2DaddrMask
		if addr>>(v2DeviceShift+2) != 0 {
			return info, corrupt(pos, "extent address %#x has bits above the device set", addr)
		}
		if dev == 3 {
			return info, corrupt(pos, "extent of unknown device 3")
		}
		if first && addr != 0 {
			return info, corrupt(pos, "the first extent is at %s sector %d, not the primary superblock", dev, daddr)
		}
		if first && (sectors < 1 || sectors > 1<<(15-SectorLog)) {
			return info, corrupt(pos, "the primary superblock's extent is %d sectors (1 to 64)", sectors)
		}
		if sectors == 0 {
			return info, corrupt(pos, "extent of 0 sectors")
		}
		data := pos + v2ExtentSize
		bytes := int64(sectors) << SectorLog
		if sectors > MaxExtentSectors || data+bytes > size || daddr+sectors > v2DaddrMask+1 {
			return info, corrupt(pos, "extent of %d sectors at %s sector %d runs past the end of the file (%d bytes)", sectors, dev, daddr, size)
		}
		if err := fn(Extent{Device: dev, Daddr: daddr, Sectors: sectors, Offset: data}); err != nil {
			return info, err
		}
		if _, err := br.Discard(int(bytes)); err != nil {
			return info, corrupt(data, "extent data cut short")
		}
		pos = data + bytes
	}
}

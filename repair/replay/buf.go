package replay

import (
	"encoding/binary"
	"math/bits"

	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Buffer items (xfs_buf_item_recover.c).

// Buffer types (enum xfs_blft, the top bits of blf_flags).
const (
	blftBtree    = 4
	blftAGF      = 5
	blftAGFL     = 6
	blftAGI      = 7
	blftSymlink  = 9
	blftDirBlock = 10
	blftDirData  = 11
	blftDirFree  = 12
	blftDirLeaf1 = 13
	blftDirLeafN = 14
	blftDANode   = 15
	blftAttrLeaf = 16
	blftAttrRmt  = 17
	blftSB       = 18
	blftRTBitmap = 19
	blftRTSum    = 20

	bufDquotFlags = xlog.BufUDquotBuf | xlog.BufPDquotBuf | xlog.BufGDquotBuf
)

// Magic numbers the replay tells buffers apart by.
const (
	magicABTB3   = 0x41423342 // AB3B
	magicABTC3   = 0x41423343 // AB3C
	magicABTB    = 0x41425442
	magicABTC    = 0x41425443
	magicRmap3   = 0x524d4233
	magicRefc3   = 0x52334643
	magicIBT3    = 0x49414233
	magicIBT     = 0x49414254
	magicFIBT3   = 0x46494233
	magicFIBT    = 0x46494254
	magicBmap3   = 0x424d4133
	magicBmap    = 0x424d4150
	magicSymlink = 0x58534c4d
	magicDir3Blk = 0x58444233
	magicDir3Dat = 0x58444433
	magicDir3Fre = 0x58444633
	magicAttrRmt = 0x5841524d
	magicDir3L1  = 0x3df1
	magicDir3LN  = 0x3dff
	magicAttr3L  = 0x3bee
	magicDA3Node = 0x3ebe
)

// headerAt says where a block's header keeps its LSN and its uuid.
type headerAt struct{ lsn, uuid int }

// lsnByMagic is xlog_recover_get_buf_lsn's table: where a v5 metadata
// block keeps its LSN and uuid, by its 32-bit magic.
var lsnByMagic = map[uint32]headerAt{
	magicABTB3: {24, 32}, magicABTC3: {24, 32}, magicABTB: {24, 32}, magicABTC: {24, 32},
	magicRmap3: {24, 32}, magicRefc3: {24, 32}, magicFIBT3: {24, 32}, magicFIBT: {24, 32},
	magicIBT3: {24, 32}, magicIBT: {24, 32},
	magicBmap3: {32, 40}, magicBmap: {32, 40},
	xfsformat.AGFMagic: {208, 64}, xfsformat.AGFLMagic: {24, 8}, xfsformat.AGIMagic: {320, 296},
	magicSymlink: {48, 16},
	magicDir3Blk: {16, 24}, magicDir3Dat: {16, 24}, magicDir3Fre: {16, 24},
}

// noLSN is what bufLSN returns for a block to replay over whatever its
// LSN: -1, as the kernel has it.
const noLSN = ^uint64(0)

// bufLSN is the LSN of what is in a buffer now, found by its magic, not
// by the type the log gives it (xlog_recover_get_buf_lsn): noLSN when
// the block has none, belongs to another filesystem (its uuid), or is
// of a kind always replayed (inodes, dquots, remote attribute values,
// unknown contents).
func (e *engine) bufLSN(buf []byte, blft uint16) uint64 {
	if len(buf) < 8 || blft == blftRTBitmap || blft == blftRTSum {
		return noLSN
	}
	be := binary.BigEndian
	m := be.Uint32(buf)
	at, ok := lsnByMagic[m]
	uuid := e.geo.MetaUUID
	switch {
	case ok:
	case m == xfsformat.SBMagic:
		at = headerAt{240, 32}
		if e.sb.FeaturesIncompat&xfsformat.IncompatMetaUUID != 0 {
			at.uuid = 248
		}
	default:
		switch be.Uint16(buf[8:]) {
		case magicDir3L1, magicDir3LN, magicAttr3L, magicDA3Node:
			at, ok = headerAt{24, 32}, true
		}
		if !ok {
			return noLSN
		}
	}
	if at.uuid+16 > len(buf) || at.lsn+8 > len(buf) || [16]byte(buf[at.uuid:at.uuid+16]) != uuid {
		return noLSN
	}
	return be.Uint64(buf[at.lsn:])
}

// stampFor is xlog_recover_validate_buf_type: the write verifier a
// replayed buffer gets by its logged type and its magic, and so what
// its write stamps (the LSN, the CRC). nil: nothing (inodes, dquots,
// realtime blocks, v4 blocks, a magic that does not match the type).
func (e *engine) stampFor(buf []byte, blft uint16) *stamp {
	if len(buf) < 12 {
		return nil
	}
	be := binary.BigEndian
	m32, mda := be.Uint32(buf), be.Uint16(buf[8:])
	s := func(lsnOff, crcOff int) *stamp { return &stamp{lsn: e.cur, lsnOff: lsnOff, crcOff: crcOff} }
	switch blft {
	case blftBtree:
		switch m32 {
		case magicABTB3, magicABTC3, magicIBT3, magicFIBT3, magicRmap3, magicRefc3:
			return s(24, xfsformat.BtreeCRCOffset())
		case magicBmap3:
			return s(32, xfsformat.BmbtCRCOffset())
		}
	case blftAGF:
		if m32 == xfsformat.AGFMagic {
			return s(208, xfsformat.AGFCRCOffset())
		}
	case blftAGFL:
		if m32 == xfsformat.AGFLMagic {
			return s(24, xfsformat.AGFLCRCOffset())
		}
	case blftAGI:
		if m32 == xfsformat.AGIMagic {
			return s(320, xfsformat.AGICRCOffset())
		}
	case blftSymlink:
		if m32 == magicSymlink {
			return s(48, 12)
		}
	case blftDirBlock, blftDirData, blftDirFree:
		if m32 == map[uint16]uint32{blftDirBlock: magicDir3Blk, blftDirData: magicDir3Dat, blftDirFree: magicDir3Fre}[blft] {
			return s(16, 4)
		}
	case blftDirLeaf1, blftDirLeafN, blftDANode, blftAttrLeaf:
		if mda == map[uint16]uint16{blftDirLeaf1: magicDir3L1, blftDirLeafN: magicDir3LN, blftDANode: magicDA3Node, blftAttrLeaf: magicAttr3L}[blft] {
			return s(24, 12)
		}
	case blftAttrRmt:
		// Remote values carry no LSN; their verifier sums every block.
		if m32 == magicAttrRmt {
			return &stamp{lsnOff: -1, crcOff: 12, perBlock: int(e.geo.BlockSize)}
		}
	case blftSB:
		if m32 == xfsformat.SBMagic {
			return s(240, xfsformat.SBCRCOffset())
		}
	}
	return nil
}

// buffer replays a buffer item (xlog_recover_buf_commit_pass2).
func (e *engine) buffer(it *xlog.BufItem) error {
	f := &it.Format
	k := bufKey{f.Blkno, int(f.Len)}
	if it.Cancelled() {
		// The last cancel item of a buffer lets later items of it
		// replay (xlog_put_buffer_cancelled).
		if n := e.cancels[k]; n > 1 {
			e.cancels[k] = n - 1
		} else {
			delete(e.cancels, k)
		}
		return nil
	}
	if e.cancels[k] > 0 {
		e.res.Counts.BuffersCancelled++
		return nil
	}
	buf, err := e.c.read(k)
	if err != nil {
		return err
	}
	if lsn := e.bufLSN(buf, f.BufType()); lsn != 0 && lsn != noLSN && lsn >= e.cur {
		e.res.Counts.BuffersSkipped++
		return nil
	}
	switch {
	case f.Flags&xlog.BufInodeBuf != 0:
		if err := e.inodeBuffer(it, buf); err != nil {
			return err
		}
		e.res.Counts.InodeBuffers++
		e.c.undue(k)
		return e.c.write(k.daddr, buf)
	case f.Flags&bufDquotFlags != 0:
		// Replayed only with quotas on, and not for a type a quotaoff
		// item turned off; never stamped.
		var types uint32
		if f.Flags&xlog.BufUDquotBuf != 0 {
			types |= 1
		}
		if f.Flags&xlog.BufPDquotBuf != 0 {
			types |= 2
		}
		if f.Flags&xlog.BufGDquotBuf != 0 {
			types |= 4
		}
		if !e.quotaOn || e.quotaOff&types != 0 {
			e.res.Counts.DquotsSkipped++
			return nil
		}
		if err := copyRegions(it, buf, dquotOK); err != nil {
			return err
		}
		e.c.undue(k) // a dquot buffer's verifier stamps nothing
	default:
		if err := copyRegions(it, buf, nil); err != nil {
			return err
		}
		if s := e.stampFor(buf, f.BufType()); s != nil {
			e.c.due(k, *s)
		}
	}
	e.res.Counts.Buffers++
	return e.c.write(k.daddr, buf)
}

// copyRegions copies the item's regions into buf where its bitmap puts
// them (xlog_recover_do_reg_buffer); with ok set, only the regions it
// accepts (a dquot buffer's whose first dquot verifies).
func copyRegions(it *xlog.BufItem, buf []byte, ok func([]byte) bool) error {
	for _, p := range it.Placements {
		r := it.Raw().Regions[p.Region]
		if p.Offset+p.Len > len(buf) || p.Len > len(r.Data) {
			return refusef("buffer at daddr %d: a region of %d bytes at byte %d of a %d-byte buffer", it.Format.Blkno, p.Len, p.Offset, len(buf))
		}
		if ok != nil && !ok(r.Data) {
			continue
		}
		copy(buf[p.Offset:], r.Data[:p.Len])
	}
	return nil
}

// inodeBuffer replays an inode buffer item: only the di_next_unlinked
// fields the logged chunks hold, each inode's CRC recomputed
// (xlog_recover_do_inode_buffer). The logged runs are the bitmap's, one
// region each.
func (e *engine) inodeBuffer(it *xlog.BufItem, buf []byte) error {
	f := &it.Format
	isize := int(e.geo.InodeSize)
	regions := it.Raw().Regions
	region, bit, nbits := 0, 0, 0
	regOff, regBytes := 0, 0
	for i := 0; i < len(buf)/isize; i++ {
		nextOff := i*isize + dinodeNextUnlinked
		for nextOff >= regOff+regBytes {
			bit = nextBit(f.DataMap, bit+nbits)
			if bit < 0 {
				return nil
			}
			nbits = contigBits(f.DataMap, bit)
			regOff, regBytes = bit*xlog.BufChunk, nbits*xlog.BufChunk
			region++
		}
		if nextOff < regOff {
			continue
		}
		if region >= len(regions) || nextOff-regOff+4 > len(regions[region].Data) || nextOff+4 > len(buf) {
			return refusef("inode buffer at daddr %d: its logged chunks and regions disagree", f.Blkno)
		}
		v := regions[region].Data[nextOff-regOff : nextOff-regOff+4]
		if binary.BigEndian.Uint32(v) == 0 {
			return refusef("inode buffer at daddr %d: a logged di_next_unlinked of 0", f.Blkno)
		}
		copy(buf[nextOff:], v)
		xfsformat.UpdateCRC(buf[i*isize:(i+1)*isize], xfsformat.InodeCRCOffset())
	}
	return nil
}

// nextBit is the first set bit of the map at or after bit, or -1
// (xfs_next_bit).
func nextBit(m []uint32, bit int) int {
	for w := bit / 32; w >= 0 && w < len(m); w++ {
		v := m[w]
		if w == bit/32 {
			v &= ^uint32(0) << (bit % 32)
		}
		if v != 0 {
			return 32*w + bits.TrailingZeros32(v)
		}
	}
	return -1
}

// contigBits is how many bits are set from bit on (xfs_contig_bits).
func contigBits(m []uint32, bit int) int {
	n := 0
	for b := bit; b/32 < len(m) && m[b/32]&(1<<(b%32)) != 0; b++ {
		n++
	}
	return n
}

// dinodeNextUnlinked is the offset of di_next_unlinked in an inode.
const dinodeNextUnlinked = 96

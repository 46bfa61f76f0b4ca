package attr

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// The remote value block header (xfs_attr3_rmt_hdr), one at the start
// of every block of a remote value on v5 filesystems. v4 remote blocks
// are bare data.
const (
	RemoteMagic     = 0x5841524d // XFS_ATTR3_RMT_MAGIC, "XARM"
	RemoteHdrSize   = 56
	RemoteCRCOffset = 12 // XFS_ATTR3_RMT_CRC_OFF
	// NullCommitLSN is what the kernel stamps in rm_lsn: remote blocks
	// are written synchronously, outside the log.
	NullCommitLSN = ^uint64(0)
)

// RemoteHdr is an xfs_attr3_rmt_hdr.
type RemoteHdr struct {
	Magic  uint32
	Offset uint32 // where this block's bytes start in the value
	Bytes  uint32 // value bytes in this block
	CRC    uint32 // as stored (little-endian on disk)
	UUID   xfsformat.UUID
	Owner  uint64 // the inode
	Blkno  uint64 // the block's own daddr
	LSN    uint64
}

// DecodeRemoteHdr reads the header at the start of a remote block.
func DecodeRemoteHdr(buf []byte) (RemoteHdr, error) {
	var h RemoteHdr
	if len(buf) < RemoteHdrSize {
		return h, xfsformat.Errorf(xfsformat.ErrShort, "attr remote", -1, -1, "", "", "need %d bytes, have %d", RemoteHdrSize, len(buf))
	}
	be := binary.BigEndian
	h.Magic, h.Offset, h.Bytes = be.Uint32(buf), be.Uint32(buf[4:]), be.Uint32(buf[8:])
	h.CRC = binary.LittleEndian.Uint32(buf[RemoteCRCOffset:])
	copy(h.UUID[:], buf[16:32])
	h.Owner, h.Blkno, h.LSN = be.Uint64(buf[32:]), be.Uint64(buf[40:]), be.Uint64(buf[48:])
	return h, nil
}

// Encode writes the header (the CRC as it stands; the caller updates
// it once the block's data is in place). The symlink block header
// (xfsformat/dinode SymlinkHeader.Encode) has the same layout of fields
// and is written the same way; they stay two: different structures.
func (h *RemoteHdr) Encode(dst []byte) error {
	if len(dst) < RemoteHdrSize {
		return xfsformat.Errorf(xfsformat.ErrShort, "attr remote", -1, -1, "", "", "need %d bytes, have %d", RemoteHdrSize, len(dst))
	}
	be := binary.BigEndian
	be.PutUint32(dst, h.Magic)
	be.PutUint32(dst[4:], h.Offset)
	be.PutUint32(dst[8:], h.Bytes)
	binary.LittleEndian.PutUint32(dst[RemoteCRCOffset:], h.CRC)
	copy(dst[16:32], h.UUID[:])
	be.PutUint64(dst[32:], h.Owner)
	be.PutUint64(dst[40:], h.Blkno)
	be.PutUint64(dst[48:], h.LSN)
	return nil
}

// Verify is xfs_attr3_rmt_verify for one block: the magic, the
// filesystem's (meta) uuid, the block's own daddr, a byte count that
// fits the block, a value end within XFS_XATTR_SIZE_MAX, and an owner.
// The CRC is the caller's (xfsformat.CRCOK over the block at
// RemoteCRCOffset).
func (h *RemoteHdr) Verify(blockSize int, uuid xfsformat.UUID, daddr uint64) []error {
	const st = "attr remote"
	if h.Magic != RemoteMagic {
		return []error{xfsformat.Errorf(xfsformat.ErrMagic, st, -1, -1, "hdr.magic", xfsformat.HexText(uint64(h.Magic)), "not a remote attr block (want %#x)", RemoteMagic)}
	}
	var errs []error
	if h.UUID != uuid {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, "hdr.uuid", h.UUID.String(), "uuid is not the filesystem's (%s)", uuid))
	}
	if h.Blkno != daddr {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, st, -1, -1, "hdr.bno", strconv.FormatUint(h.Blkno, 10), "block says it lives at daddr %d, read from %d", h.Blkno, daddr))
	}
	if int64(h.Bytes) > int64(blockSize-RemoteHdrSize) {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.bytes", strconv.FormatUint(uint64(h.Bytes), 10), "more than the %d bytes a block holds", blockSize-RemoteHdrSize))
	}
	if uint64(h.Offset)+uint64(h.Bytes) > MaxValueLen {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.offset", strconv.FormatUint(uint64(h.Offset), 10), "offset + bytes (%d) past the largest value (%d)", uint64(h.Offset)+uint64(h.Bytes), MaxValueLen))
	}
	if h.Owner == 0 {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "hdr.owner", "0", "a remote block has an owner"))
	}
	return errs
}

// RemoteFields are a remote block as xfs_db prints it (`ablock N`):
// on v5 the header (hdr.magic, offset, bytes, crc, uuid, owner, bno,
// lsn) and data, the header's byte count (at most what a block holds)
// of value bytes; on v4, data, the whole block. A v5 block without the
// magic prints nothing, as in xfs_db.
func RemoteFields(buf []byte, v5 bool) []xfsformat.Field {
	if !v5 {
		return appendChars(nil, "data", buf)
	}
	h, err := DecodeRemoteHdr(buf)
	if err != nil || h.Magic != RemoteMagic {
		return nil
	}
	n := min(uint64(h.Bytes), uint64(len(buf)-RemoteHdrSize))
	fs := []xfsformat.Field{
		fhex("hdr.magic", uint64(h.Magic)), fdec("hdr.offset", uint64(h.Offset)), fdec("hdr.bytes", uint64(h.Bytes)),
		xfsformat.FieldCRC("hdr.crc", h.CRC, xfsformat.CRCOK(buf, RemoteCRCOffset)),
		xfsformat.FieldUUID("hdr.uuid", h.UUID), fdec("hdr.owner", h.Owner), fdec("hdr.bno", h.Blkno), fhex("hdr.lsn", h.LSN),
	}
	return appendChars(fs, "data", buf[RemoteHdrSize:RemoteHdrSize+int(n)])
}

// RemoteSpace is the value bytes one block of blockSize holds
// (xfs_attr3_rmt_buf_space): all of it on v4, less the header on v5.
func RemoteSpace(blockSize int, v5 bool) int {
	if v5 {
		return blockSize - RemoteHdrSize
	}
	return blockSize
}

// RemoteBlocks is how many blocks a remote value of valueLen bytes
// spans (xfs_attr3_rmt_blocks): the value is cut into RemoteSpace
// pieces, the last one short, each in a block of its own.
func RemoteBlocks(valueLen uint32, blockSize int, v5 bool) int {
	space := RemoteSpace(blockSize, v5)
	if space <= 0 {
		return 0
	}
	return int((uint64(valueLen) + uint64(space) - 1) / uint64(space))
}

// RemoteOpts say what a remote value's blocks must agree with.
type RemoteOpts struct {
	V5        bool
	BlockSize int            // the filesystem block size
	UUID      xfsformat.UUID // sb_meta_uuid (sb_uuid without the metauuid feature)
	Owner     uint64         // the inode
}

// RemoteRun is blocks of a remote value read in one piece: Buf holds
// one or more whole filesystem blocks, the first at Daddr.
type RemoteRun struct {
	Buf   []byte
	Daddr uint64
}

// AssembleRemote puts a remote value of valueLen bytes together from
// its blocks, given in order from the entry's valueblk on, as the kernel
// does (xfs_attr_rmtval_get): on v5 each block must verify (CRC, then
// xfs_attr3_rmt_verify) and carry the next piece of the value
// (rm_offset the bytes before it, rm_bytes the piece's length, rm_owner
// the inode; xfs_attr3_rmt_hdr_ok). It is lenient: the value comes back
// with whatever the blocks hold (zeros where blocks are missing), and
// errs says everything that is wrong. Blocks after the value's last are
// ignored.
func AssembleRemote(runs []RemoteRun, valueLen uint32, o RemoteOpts) (value []byte, errs []error) {
	const st = "attr remote"
	if valueLen > MaxValueLen {
		return nil, []error{xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, "valuelen", strconv.FormatUint(uint64(valueLen), 10), "larger than the largest value (%d)", MaxValueLen)}
	}
	space := RemoteSpace(o.BlockSize, o.V5)
	if space <= 0 || o.BlockSize%512 != 0 {
		return nil, []error{fmt.Errorf("attr: remote value: block size %d", o.BlockSize)}
	}
	value = make([]byte, valueLen)
	off, blk := 0, 0
	for _, r := range runs {
		daddr := r.Daddr
		for b := r.Buf; len(b) >= o.BlockSize && off < len(value); b, daddr = b[o.BlockSize:], daddr+uint64(o.BlockSize/512) {
			n := min(space, len(value)-off)
			data := b[:o.BlockSize]
			if o.V5 {
				errs = append(errs, checkRemoteBlock(data, blk, daddr, off, n, o)...)
				data = data[RemoteHdrSize:]
			}
			copy(value[off:off+n], data)
			off += n
			blk++
		}
	}
	if off < len(value) {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrShort, st, -1, -1, "", "", "a %d-byte value spans %d blocks, %d given", valueLen, RemoteBlocks(valueLen, o.BlockSize, o.V5), blk))
	}
	return value, errs
}

// checkRemoteBlock checks block i of a value: its verifier, then that
// it holds the piece of n bytes at offset off of the owner's value.
func checkRemoteBlock(b []byte, i int, daddr uint64, off, n int, o RemoteOpts) []error {
	wrap := func(es []error) []error {
		for j, e := range es {
			if fe, ok := e.(*xfsformat.FormatError); ok {
				fe.Msg = fmt.Sprintf("value block %d: %s", i, fe.Msg)
				es[j] = fe
			}
		}
		return es
	}
	if !xfsformat.CRCOK(b, RemoteCRCOffset) {
		return wrap([]error{xfsformat.Errorf(xfsformat.ErrCRC, "attr remote", -1, -1, "hdr.crc", xfsformat.HexText(uint64(xfsformat.StoredCRC(b, RemoteCRCOffset))), "CRC does not match the block")})
	}
	h, _ := DecodeRemoteHdr(b)
	errs := h.Verify(o.BlockSize, o.UUID, daddr)
	if h.Magic != RemoteMagic {
		return wrap(errs)
	}
	if int(h.Offset) != off {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, "attr remote", -1, -1, "hdr.offset", strconv.FormatUint(uint64(h.Offset), 10), "the piece starts at %d of the value", off))
	}
	if int(h.Bytes) != n {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, "attr remote", -1, -1, "hdr.bytes", strconv.FormatUint(uint64(h.Bytes), 10), "the piece is %d bytes", n))
	}
	if h.Owner != o.Owner && h.Owner != 0 {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrIdentity, "attr remote", -1, -1, "hdr.owner", strconv.FormatUint(h.Owner, 10), "block belongs to inode %d, read for inode %d", h.Owner, o.Owner))
	}
	return wrap(errs)
}

// EncodeRemote writes a value into the blocks that hold it, as the
// kernel does (xfs_attr_rmtval_copyin): on v5 a header per block with
// its piece's offset and length, the owner, uuid and the block's daddr
// (daddr(i) for block i) and NullCommitLSN, the rest of the last block
// zeroed, each block's CRC set.
func EncodeRemote(value []byte, o RemoteOpts, daddr func(i int) uint64) ([][]byte, error) {
	if len(value) > MaxValueLen {
		return nil, fmt.Errorf("attr: a %d-byte value is larger than %d", len(value), MaxValueLen)
	}
	space := RemoteSpace(o.BlockSize, o.V5)
	if space <= 0 {
		return nil, fmt.Errorf("attr: remote value: block size %d", o.BlockSize)
	}
	var blocks [][]byte
	for off := 0; off < len(value); off += space {
		n := min(space, len(value)-off)
		b := make([]byte, o.BlockSize)
		if !o.V5 {
			copy(b, value[off:off+n])
			blocks = append(blocks, b)
			continue
		}
		h := RemoteHdr{Magic: RemoteMagic, Offset: uint32(off), Bytes: uint32(n), UUID: o.UUID, Owner: o.Owner, Blkno: daddr(len(blocks)), LSN: NullCommitLSN}
		if err := h.Encode(b); err != nil {
			return nil, err
		}
		copy(b[RemoteHdrSize:], value[off:off+n])
		xfsformat.UpdateCRC(b, RemoteCRCOffset)
		blocks = append(blocks, b)
	}
	return blocks, nil
}

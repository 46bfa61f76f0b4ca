package xfsformat

import (
	"cmp"
	"encoding/binary"
	"fmt"
)

var be = binary.BigEndian

// AllocRec is a bnobt/cntbt record (and key): a free extent.
type AllocRec struct {
	StartBlock uint32
	BlockCount uint32
}

// AllocRecLen is the size of a bnobt/cntbt record.
const AllocRecLen = 8

// DecodeAllocRec decodes a bnobt/cntbt record.
func DecodeAllocRec(b []byte) AllocRec {
	return AllocRec{be.Uint32(b[0:]), be.Uint32(b[4:])}
}

// Encode writes the record into b.
func (r AllocRec) Encode(b []byte) {
	be.PutUint32(b[0:], r.StartBlock)
	be.PutUint32(b[4:], r.BlockCount)
}

// InobtRec is an inobt/finobt record: one 64-inode chunk. On filesystems
// without sparse inodes HoleMask is 0 and Count 64; FreeCount then comes
// from a 32-bit field.
type InobtRec struct {
	StartIno  uint32
	HoleMask  uint16 // one bit per 4 inodes not allocated on disk
	Count     uint8  // inodes with disk space
	FreeCount uint8
	Free      uint64 // bit i set: inode StartIno+i is free
}

// InobtRecLen is the size of an inobt/finobt record.
const InobtRecLen = 16

// InodesPerChunk is XFS_INODES_PER_CHUNK.
const InodesPerChunk = 64

// DecodeInobtRec decodes an inobt/finobt record; sparse selects the
// sparse-inode layout.
func DecodeInobtRec(b []byte, sparse bool) InobtRec {
	r := InobtRec{StartIno: be.Uint32(b[0:]), Free: be.Uint64(b[8:])}
	if sparse {
		r.HoleMask = be.Uint16(b[4:])
		r.Count = b[6]
		r.FreeCount = b[7]
	} else {
		r.Count = InodesPerChunk
		fc := be.Uint32(b[4:])
		r.FreeCount = uint8(min(fc, 255))
		if fc > 255 {
			r.FreeCount = 255
		}
	}
	return r
}

// Holes expands HoleMask (one bit per 4 inodes) to one bit per inode:
// bit i set when inode StartIno+i is in a sparse hole.
func (r InobtRec) Holes() uint64 {
	var m uint64
	for i := 0; i < 16; i++ {
		if r.HoleMask&(1<<i) != 0 {
			m |= 0xf << (4 * i)
		}
	}
	return m
}

// Encode writes the record into b.
func (r InobtRec) Encode(b []byte, sparse bool) {
	be.PutUint32(b[0:], r.StartIno)
	if sparse {
		be.PutUint16(b[4:], r.HoleMask)
		b[6] = r.Count
		b[7] = r.FreeCount
	} else {
		be.PutUint32(b[4:], uint32(r.FreeCount))
	}
	be.PutUint64(b[8:], r.Free)
}

// Rmap owner special values (as signed 64-bit, XFS_RMAP_OWN_*).
const (
	OwnNull    int64 = -1
	OwnUnknown int64 = -2
	OwnFS      int64 = -3
	OwnLog     int64 = -4
	OwnAG      int64 = -5
	OwnInobt   int64 = -6
	OwnInodes  int64 = -7
	OwnRefc    int64 = -8
	OwnCow     int64 = -9
)

// RmapOwnerName names a special rmap owner in words ("the log", "inode
// chunks"), or says "owner N" for a value that is none of them.
func RmapOwnerName(owner uint64) string {
	switch int64(owner) {
	case OwnNull:
		return "no owner (null)"
	case OwnUnknown:
		return "an unknown owner"
	case OwnFS:
		return "the filesystem's headers"
	case OwnLog:
		return "the log"
	case OwnAG:
		return "the free-space and reverse-mapping btrees"
	case OwnInobt:
		return "the inode btrees"
	case OwnInodes:
		return "inode chunks"
	case OwnRefc:
		return "the refcount btree"
	case OwnCow:
		return "CoW staging"
	}
	return fmt.Sprintf("owner %d", int64(owner))
}

// Rmap offset flag bits.
const (
	RmapOffAttrFork  = uint64(1) << 63
	RmapOffBmbtBlock = uint64(1) << 62
	RmapOffUnwritten = uint64(1) << 61
	RmapOffMask      = (uint64(1) << 54) - 1
)

// RmapRec is an rmapbt record: who owns [StartBlock, StartBlock+BlockCount).
type RmapRec struct {
	StartBlock uint32
	BlockCount uint32
	Owner      uint64
	Offset     uint64 // file offset with the flag bits (RmapOff*)
}

// RmapRecLen and RmapKeyLen are the rmapbt record and key sizes.
const (
	RmapRecLen = 24
	RmapKeyLen = 20
)

// DecodeRmapRec decodes an rmapbt record.
func DecodeRmapRec(b []byte) RmapRec {
	return RmapRec{be.Uint32(b[0:]), be.Uint32(b[4:]), be.Uint64(b[8:]), be.Uint64(b[16:])}
}

// Encode writes the record into b.
func (r RmapRec) Encode(b []byte) {
	be.PutUint32(b[0:], r.StartBlock)
	be.PutUint32(b[4:], r.BlockCount)
	be.PutUint64(b[8:], r.Owner)
	be.PutUint64(b[16:], r.Offset)
}

// IsInodeOwner reports whether the owner is an inode (not a special owner).
func (r RmapRec) IsInodeOwner() bool { return int64(r.Owner) >= 0 }

// FileOffset is the file offset without the flag bits.
func (r RmapRec) FileOffset() uint64 { return r.Offset & RmapOffMask }

// RefcountRec is a refcountbt record.
type RefcountRec struct {
	StartBlock uint32 // without the CoW domain bit
	BlockCount uint32
	RefCount   uint32
	Cow        bool // CoW staging domain (bit 31 of the on-disk startblock)
}

// RefcountRecLen is the size of a refcountbt record.
const RefcountRecLen = 12

// RefcountCowFlag is the CoW domain bit of the on-disk startblock.
const RefcountCowFlag = uint32(1) << 31

// DecodeRefcountRec decodes a refcountbt record.
func DecodeRefcountRec(b []byte) RefcountRec {
	sb := be.Uint32(b[0:])
	return RefcountRec{sb &^ RefcountCowFlag, be.Uint32(b[4:]), be.Uint32(b[8:]), sb&RefcountCowFlag != 0}
}

// Encode writes the record into b.
func (r RefcountRec) Encode(b []byte) {
	sb := r.StartBlock
	if r.Cow {
		sb |= RefcountCowFlag
	}
	be.PutUint32(b[0:], sb)
	be.PutUint32(b[4:], r.BlockCount)
	be.PutUint32(b[8:], r.RefCount)
}

func cmpU32At(a, b []byte, off int) int { return cmp.Compare(be.Uint32(a[off:]), be.Uint32(b[off:])) }

// rmap key: startblock u32, owner u64, offset u64 (flags included except
// unwritten, which keys never carry).
func rmapKeyFromRec(key, rec []byte) {
	copy(key[0:12], rec[0:4])
	copy(key[4:12], rec[8:16])
	be.PutUint64(key[12:], be.Uint64(rec[16:])&^RmapOffUnwritten)
}

func rmapHighKeyFromRec(key, rec []byte) {
	end, owner, off := rmapHigh(rec)
	be.PutUint32(key[0:], end)
	be.PutUint64(key[4:], owner)
	be.PutUint64(key[12:], off)
}

// rmapHigh is the high key of an rmap record as numbers: its last
// block, its owner, and (for file data) the file offset of its last
// block, the unwritten flag dropped.
func rmapHigh(rec []byte) (end uint32, owner, off uint64) {
	adj := be.Uint32(rec[4:])
	if adj > 0 {
		adj--
	}
	owner, off = be.Uint64(rec[8:]), be.Uint64(rec[16:])&^RmapOffUnwritten
	if int64(owner) >= 0 && off&RmapOffBmbtBlock == 0 {
		off = ((off & RmapOffMask) + uint64(adj)) | (off &^ RmapOffMask)
	}
	return be.Uint32(rec) + adj, owner, off
}

// rmapMaxHighKey is the highest rmapHighKeyFromRec of the records of
// recs, compared as cmpRmapKeys compares keys, without a key built and
// compared per record.
func rmapMaxHighKey(key, recs []byte) {
	var bestEnd uint32
	var bestOwner, bestOff uint64
	for i := 0; i+RmapRecLen <= len(recs); i += RmapRecLen {
		end, owner, off := rmapHigh(recs[i : i+RmapRecLen])
		if i == 0 || end > bestEnd || (end == bestEnd && (owner > bestOwner || (owner == bestOwner && off > bestOff))) {
			bestEnd, bestOwner, bestOff = end, owner, off
		}
	}
	be.PutUint32(key[0:], bestEnd)
	be.PutUint64(key[4:], bestOwner)
	be.PutUint64(key[12:], bestOff)
}

// CmpRmapRecKeys compares two rmap records as rmapKeyFromRec's keys of
// them compare (cmpRmapKeys), without building the keys: the order
// check of every record of an rmapbt.
func CmpRmapRecKeys(a, b []byte) int {
	if c := cmpU32At(a, b, 0); c != 0 {
		return c
	}
	if c := cmp.Compare(be.Uint64(a[8:]), be.Uint64(b[8:])); c != 0 {
		return c
	}
	return cmp.Compare(be.Uint64(a[16:])&^RmapOffUnwritten, be.Uint64(b[16:])&^RmapOffUnwritten)
}

func cmpRmapKeys(a, b []byte) int {
	if c := cmpU32At(a, b, 0); c != 0 {
		return c
	}
	if c := cmp.Compare(be.Uint64(a[4:]), be.Uint64(b[4:])); c != 0 {
		return c
	}
	return cmp.Compare(be.Uint64(a[12:])&^RmapOffUnwritten, be.Uint64(b[12:])&^RmapOffUnwritten)
}

func allocValues(b []byte) []Value {
	r := DecodeAllocRec(b)
	return []Value{vDec(uint64(r.StartBlock)), vDec(uint64(r.BlockCount))}
}

func inoKeyValues(b []byte) []Value { return []Value{vDec(uint64(be.Uint32(b)))} }

func inobtColumns(g *Geometry) []string {
	if g != nil && g.SparseInodes {
		return []string{"startino", "holemask", "count", "freecount", "free"}
	}
	return []string{"startino", "freecount", "free"}
}

func inobtValues(g *Geometry, b []byte) []Value {
	sparse := g != nil && g.SparseInodes
	r := DecodeInobtRec(b, sparse)
	if sparse {
		return []Value{vDec(uint64(r.StartIno)), vDec(uint64(r.HoleMask)), vDec(uint64(r.Count)), vDec(uint64(r.FreeCount)), vHex(r.Free)}
	}
	return []Value{vDec(uint64(r.StartIno)), vDec(uint64(be.Uint32(b[4:]))), vHex(r.Free)}
}

func rmapKeyValues(k []byte) []Value {
	off := be.Uint64(k[12:])
	return []Value{vDec(uint64(be.Uint32(k[0:]))), vSigned(int64(be.Uint64(k[4:]))), vDec(off & RmapOffMask),
		vBool(off&RmapOffAttrFork != 0), vBool(off&RmapOffBmbtBlock != 0)}
}

var btreeOps = withHeaderSize([NumBtreeTypes]BtreeOps{
	Bnobt: {
		Type: Bnobt, Name: "bnobt", DBType: "bnobt", Magic: 0x41423342, RecLen: AllocRecLen, KeyLen: AllocRecLen,
		RecKey:     func(k, r []byte) { copy(k, r[:AllocRecLen]) },
		CmpKeys:    func(a, b []byte) int { return cmpU32At(a, b, 0) },
		RecColumns: func(*Geometry) []string { return []string{"startblock", "blockcount"} },
		RecValues:  func(_ *Geometry, b []byte) []Value { return allocValues(b) },
		KeyColumns: []string{"startblock", "blockcount"},
		KeyValues:  allocValues,
	},
	Cntbt: {
		Type: Cntbt, Name: "cntbt", DBType: "cntbt", Magic: 0x41423343, RecLen: AllocRecLen, KeyLen: AllocRecLen,
		RecKey: func(k, r []byte) { copy(k, r[:AllocRecLen]) },
		CmpKeys: func(a, b []byte) int {
			if c := cmpU32At(a, b, 4); c != 0 {
				return c
			}
			return cmpU32At(a, b, 0)
		},
		RecColumns: func(*Geometry) []string { return []string{"startblock", "blockcount"} },
		RecValues:  func(_ *Geometry, b []byte) []Value { return allocValues(b) },
		// xfs_db prints cntbt keys in their sort order.
		KeyColumns: []string{"blockcount", "startblock"},
		KeyValues: func(b []byte) []Value {
			v := allocValues(b)
			return []Value{v[1], v[0]}
		},
	},
	Inobt:  inodeTreeOps(Inobt, "inobt", 0x49414233),
	Finobt: inodeTreeOps(Finobt, "finobt", 0x46494233),
	Rmapbt: {
		Type: Rmapbt, Name: "rmapbt", DBType: "rmapbt", Magic: 0x524d4233, RecLen: RmapRecLen, KeyLen: RmapKeyLen,
		Overlapping: true,
		RecKey:      rmapKeyFromRec, RecHighKey: rmapHighKeyFromRec, CmpKeys: cmpRmapKeys,
		MaxRecHighKey: rmapMaxHighKey,
		RecColumns: func(*Geometry) []string {
			return []string{"startblock", "blockcount", "owner", "offset", "extentflag", "attrfork", "bmbtblock"}
		},
		RecValues: func(_ *Geometry, b []byte) []Value {
			r := DecodeRmapRec(b)
			return []Value{vDec(uint64(r.StartBlock)), vDec(uint64(r.BlockCount)), vSigned(int64(r.Owner)),
				vDec(r.FileOffset()), vBool(r.Offset&RmapOffUnwritten != 0), vBool(r.Offset&RmapOffAttrFork != 0),
				vBool(r.Offset&RmapOffBmbtBlock != 0)}
		},
		KeyColumns: []string{"startblock", "owner", "offset", "attrfork", "bmbtblock"},
		KeyValues:  rmapKeyValues,
	},
	Refcountbt: {
		Type: Refcountbt, Name: "refcountbt", DBType: "refcntbt", Magic: 0x52334643, RecLen: RefcountRecLen, KeyLen: 4,
		RecKey:  func(k, r []byte) { copy(k, r[:4]) },
		CmpKeys: func(a, b []byte) int { return cmpU32At(a, b, 0) },
		RecColumns: func(*Geometry) []string {
			return []string{"startblock", "blockcount", "refcount", "cowflag"}
		},
		RecValues: func(_ *Geometry, b []byte) []Value {
			r := DecodeRefcountRec(b)
			return []Value{vDec(uint64(r.StartBlock)), vDec(uint64(r.BlockCount)), vDec(uint64(r.RefCount)), vBool(r.Cow)}
		},
		KeyColumns: []string{"startblock", "cowflag"},
		KeyValues: func(k []byte) []Value {
			v := be.Uint32(k)
			return []Value{vDec(uint64(v &^ RefcountCowFlag)), vBool(v&RefcountCowFlag != 0)}
		},
	},
})

// withHeaderSize gives v5's tables their header size.
func withHeaderSize(ops [NumBtreeTypes]BtreeOps) [NumBtreeTypes]BtreeOps {
	for i := range ops {
		ops[i].HeaderSize = BtreeHeaderSize
	}
	return ops
}

// inodeTreeOps is the table of the inobt and of the finobt: the same
// records and keys, told apart by type, name and magic only.
func inodeTreeOps(t BtreeType, name string, magic uint32) BtreeOps {
	return BtreeOps{
		Type: t, Name: name, DBType: name, Magic: magic, RecLen: InobtRecLen, KeyLen: 4,
		RecKey:     func(k, r []byte) { copy(k, r[:4]) },
		CmpKeys:    func(a, b []byte) int { return cmpU32At(a, b, 0) },
		RecColumns: inobtColumns, RecValues: inobtValues,
		KeyColumns: []string{"startino"}, KeyValues: inoKeyValues,
	}
}

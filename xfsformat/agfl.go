package xfsformat

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// AGFLMagic is "XAFL".
const AGFLMagic = 0x5841464c

const (
	agflHeaderSize = 36
	agflCRCOff     = 32
)

// AGFL is xfs_agfl: the AG free list (sector 3 of each AG), a circular
// array of AG blocks reserved for btree growth, described by the AGF's
// flfirst, fllast and flcount.
type AGFL struct {
	MagicNum uint32
	SeqNo    uint32
	UUID     UUID
	LSN      uint64
	CRC      uint32
	Bno      []uint32 // every slot, (sectsize-36)/4 of them (v4: sectsize/4)
	// V4 is a v4 AGFL: a bare array of slots filling the sector, with
	// no header (no magic, seqno, uuid, lsn or CRC).
	V4 bool
}

// AGFLSlots is the number of AGFL slots in a v5 sector of this size.
func AGFLSlots(sectSize int) int {
	if sectSize <= agflHeaderSize {
		return 0
	}
	return (sectSize - agflHeaderSize) / 4
}

// AGFLSlots is the number of AGFL slots of the filesystem: v5's header
// takes 36 bytes of the sector, v4 has none.
func (g *Geometry) AGFLSlots() int {
	if !g.CRC {
		return int(g.SectSize) / 4
	}
	return AGFLSlots(int(g.SectSize))
}

// DecodeAGFL decodes a v5 AGFL sector; the slot count comes from len(buf).
func DecodeAGFL(buf []byte) (*AGFL, error) { return decodeAGFL(buf, false) }

// DecodeAGFLV4 decodes a v4 AGFL sector: slots from its first byte.
func DecodeAGFLV4(buf []byte) (*AGFL, error) { return decodeAGFL(buf, true) }

func decodeAGFL(buf []byte, v4 bool) (*AGFL, error) {
	if len(buf) < agflHeaderSize || len(buf) > MaxSectSize {
		return nil, ferr(ErrShort, "agfl", -1, -1, "", "", "sector of %d bytes is not a valid AGFL size", len(buf))
	}
	be := binary.BigEndian
	a := &AGFL{V4: v4}
	hdr, n := 0, len(buf)/4
	if !v4 {
		a.MagicNum, a.SeqNo, a.LSN, a.CRC = be.Uint32(buf[0:]), be.Uint32(buf[4:]), be.Uint64(buf[24:]), binary.LittleEndian.Uint32(buf[32:])
		copy(a.UUID[:], buf[8:24])
		hdr, n = agflHeaderSize, AGFLSlots(len(buf))
	}
	a.Bno = make([]uint32, n)
	for i := range a.Bno {
		a.Bno[i] = be.Uint32(buf[hdr+4*i:])
	}
	return a, nil
}

// Encode writes the AGFL into dst, which must hold every slot.
func (a *AGFL) Encode(dst []byte) error {
	hdr := agflHeaderSize
	if a.V4 {
		hdr = 0
	}
	if len(dst) < hdr+4*len(a.Bno) {
		return errShort("agfl", hdr+4*len(a.Bno), len(dst))
	}
	be := binary.BigEndian
	if !a.V4 {
		be.PutUint32(dst[0:], a.MagicNum)
		be.PutUint32(dst[4:], a.SeqNo)
		copy(dst[8:24], a.UUID[:])
		be.PutUint64(dst[24:], a.LSN)
		binary.LittleEndian.PutUint32(dst[32:], a.CRC)
	}
	for i, v := range a.Bno {
		be.PutUint32(dst[hdr+4*i:], v)
	}
	return nil
}

// AGFLCRCOffset is where the AGFL's CRC lives in its sector.
func AGFLCRCOffset() int { return agflCRCOff }

// Active returns the AGFL entries that the AGF's flfirst/fllast/flcount
// name, in list order. ok is false when those values are inconsistent
// with each other or with the slot count; the entries returned are then
// the best reading (at most len(Bno) of them).
func (a *AGFL) Active(flfirst, fllast, flcount uint32) (blocks []uint32, ok bool) {
	n := uint32(len(a.Bno))
	if n == 0 {
		return nil, flcount == 0
	}
	if flcount == 0 {
		return nil, true
	}
	if flfirst >= n || fllast >= n || flcount > n {
		return nil, false
	}
	want := (fllast+n-flfirst)%n + 1
	ok = want == flcount
	cnt := min(flcount, n)
	for i := uint32(0); i < cnt; i++ {
		blocks = append(blocks, a.Bno[(flfirst+i)%n])
	}
	return blocks, ok
}

// Fields lists the AGFL as xfs_db's "agfl" print does.
func (a *AGFL) Fields(crcOK bool) []Field {
	var txt strings.Builder
	js := make([]any, len(a.Bno))
	for i, v := range a.Bno {
		if i > 0 {
			txt.WriteByte(' ')
		}
		txt.WriteString(strconv.Itoa(i) + ":")
		if v == NullAGBlock {
			txt.WriteString("null")
		} else {
			txt.WriteString(strconv.FormatUint(uint64(v), 10))
			js[i] = v
		}
	}
	name := "bno[0-" + strconv.Itoa(len(a.Bno)-1) + "]"
	if a.V4 {
		return []Field{{name, txt.String(), js}}
	}
	return []Field{
		fHex("magicnum", uint64(a.MagicNum)),
		fDec("seqno", uint64(a.SeqNo)),
		fUUID("uuid", a.UUID),
		fHex("lsn", a.LSN),
		fCRC("crc", a.CRC, crcOK),
		{name, txt.String(), js},
	}
}

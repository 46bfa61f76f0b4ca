package log

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// packRecord builds a record the way the kernel writes one (xlog_pack_data
// then xlog_cksum): hblks header blocks and nbb BBs of data whose first
// words are saved in cycle_data and replaced by the cycle. It returns the
// header blocks, the data as written, and the data before stamping.
func packRecord(t testing.TB, rng *rand.Rand, cycle uint32, hblks, nbb int) (hdr, data, orig []byte) {
	t.Helper()
	hdr = make([]byte, hblks*BBSize)
	be := binary.BigEndian
	be.PutUint32(hdr, HeaderMagic)
	be.PutUint32(hdr[4:], cycle)
	be.PutUint32(hdr[8:], Version2)
	be.PutUint32(hdr[12:], uint32(nbb*BBSize))
	be.PutUint64(hdr[16:], uint64(cycle)<<32|100)
	be.PutUint64(hdr[24:], uint64(cycle)<<32|50)
	be.PutUint32(hdr[36:], 90)
	be.PutUint32(hdr[40:], 3)
	be.PutUint32(hdr[300:], 1)
	copy(hdr[304:320], "0123456789abcdef")
	be.PutUint32(hdr[320:], uint32(hblks*HeaderCycleSize))
	for j := 1; j < hblks; j++ {
		be.PutUint32(hdr[j*BBSize:], cycle)
	}
	data = make([]byte, nbb*BBSize)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	orig = append([]byte(nil), data...)
	for i := 0; i < nbb; i++ {
		j, k := i/CycleDataSize, i%CycleDataSize
		off := j*BBSize + 4 + 4*k
		if j == 0 {
			off = 44 + 4*k
		}
		if off+4 <= len(hdr) { // else a deliberately short header
			copy(hdr[off:off+4], data[i*BBSize:])
		}
		be.PutUint32(data[i*BBSize:], cycle)
	}
	binary.LittleEndian.PutUint32(hdr[32:], RecordCRC(hdr, data))
	return hdr, data, orig
}

func TestRecordRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ hblks, nbb int }{{1, 1}, {1, 64}, {2, 65}, {8, 512}, {8, 300}} {
		hdr, data, orig := packRecord(t, rng, 7, tc.hblks, tc.nbb)
		h, err := DecodeRecHeader(hdr)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Verify(true); err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if h.Cycle != 7 || LSNBlock(h.LSN) != 100 || LSNCycle(h.TailLSN) != 7 || h.NumLogOps != 3 || string(h.FSUUID[:]) != "0123456789abcdef" {
			t.Fatalf("decoded %+v", h)
		}
		if got := h.HeaderBlocks(true); got != tc.hblks && !(tc.hblks == 1 && got == 1) {
			t.Fatalf("%+v: HeaderBlocks = %d", tc, got)
		}
		if h.DataBlocks() != tc.nbb {
			t.Fatalf("DataBlocks = %d, want %d", h.DataBlocks(), tc.nbb)
		}
		if BlockCycle(hdr) != 7 || BlockCycle(data) != 7 || !IsRecHeader(hdr) || IsRecHeader(data) {
			t.Fatal("cycle stamps")
		}
		if !RecordCRCOK(hdr, data) {
			t.Fatalf("%+v: CRC does not check", tc)
		}
		data[len(data)-1] ^= 1
		if RecordCRCOK(hdr, data) {
			t.Fatal("CRC checks after a flipped bit")
		}
		data[len(data)-1] ^= 1
		if err := Unpack(hdr, data); err != nil {
			t.Fatal(err)
		}
		if string(data) != string(orig) {
			t.Fatalf("%+v: unpacked data differ from the original", tc)
		}
	}
}

func TestRecordRefusals(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	hdr, data, _ := packRecord(t, rng, 1, 1, 65)
	if err := Unpack(hdr, data); err == nil {
		t.Fatal("unpacked 65 data blocks with one header block")
	}
	if _, err := DecodeRecHeader(hdr[:100]); !errors.Is(err, xfsformat.ErrShort) {
		t.Fatalf("short header: %v", err)
	}
	bad := append([]byte(nil), hdr...)
	bad[0] = 0
	if _, err := DecodeRecHeader(bad); !errors.Is(err, xfsformat.ErrMagic) {
		t.Fatalf("bad magic: %v", err)
	}
	for name, mut := range map[string]func(h *RecHeader){
		"version 0":  func(h *RecHeader) { h.Version = 0 },
		"version 4":  func(h *RecHeader) { h.Version = 4 },
		"len 0":      func(h *RecHeader) { h.Len = 0 },
		"len > size": func(h *RecHeader) { h.Size = 64 << 10; h.Len = 65 << 10 },
		"size huge":  func(h *RecHeader) { h.Size = 1 << 30 },
	} {
		h, _ := DecodeRecHeader(hdr)
		mut(h)
		if err := h.Verify(true); !errors.Is(err, xfsformat.ErrRange) {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
	h, _ := DecodeRecHeader(hdr)
	h.Size = 1 << 30
	if n := h.HeaderBlocks(true); n > MaxHeaderBlocks {
		t.Fatalf("HeaderBlocks unbounded: %d", n)
	}
	op, err := DecodeOpHeader([]byte{0, 0, 0, 1, 0, 0, 0, 0, ClientLog, OpUnmount, 0, 0})
	if err != nil || op.TID != 1 || op.ClientID != ClientLog || op.Flags != OpUnmount {
		t.Fatalf("op header %+v %v", op, err)
	}
	if _, err := DecodeOpHeader(make([]byte, 11)); !errors.Is(err, xfsformat.ErrShort) {
		t.Fatal("short op header accepted")
	}
}

// FuzzRecHeader: no header, however damaged, may panic the decoder or
// make the record helpers index out of range.
func FuzzRecHeader(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ hblks, nbb int }{{1, 1}, {2, 70}, {8, 512}} {
		hdr, data, _ := packRecord(f, rng, 3, tc.hblks, tc.nbb)
		f.Add(append(hdr, data[:min(len(data), 2048)]...))
	}
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = BlockCycle(b)
		h, err := DecodeRecHeader(b)
		if err != nil {
			return
		}
		for _, v2 := range []bool{false, true} {
			if h.Verify(v2) != nil {
				continue
			}
			hb := h.HeaderBlocks(v2)
			if hb < 1 || hb > MaxHeaderBlocks || h.DataBlocks() > MaxRecordSize/BBSize {
				t.Fatalf("verified header sizes out of bounds: %d header blocks, %d data blocks", hb, h.DataBlocks())
			}
			hdr := b[:min(len(b), hb*BBSize)]
			data := b[len(hdr):]
			data = data[:min(len(data), int(h.Len))]
			_ = RecordCRCOK(hdr, data)
			_ = Unpack(hdr, append([]byte(nil), data...))
		}
		_, _ = DecodeOpHeader(b[min(len(b), 512):])
	})
}

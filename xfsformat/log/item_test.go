package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// fieldText is an item's fields as "name=text" pairs.
func fieldText(it Item) string {
	var out []string
	for _, f := range it.Fields() {
		out = append(out, f.Name+"="+f.Text)
	}
	return strings.Join(out, " ")
}

// bufFormat is an xfs_buf_log_format region of map words.
func bufFormat(nregs, flags, blen uint16, blkno uint64, words ...uint32) []byte {
	b := fields(bufFormatBase+4*len(words), 0, uint16(ItemBuf), 2, nregs, 4, flags, 6, blen, 8, blkno, 16, uint32(len(words)))
	for i, w := range words {
		le.PutUint32(b[bufFormatBase+4*i:], w)
	}
	return b
}

func TestBufItem(t *testing.T) {
	chunks := func(n int) []byte { return bytes.Repeat([]byte{0xab}, n*BufChunk) }
	for _, tc := range []struct {
		name    string
		raw     *RawItem
		place   string
		problem string
	}{
		// Chunks 0-1 and 5-7 of an 8-block (4 KiB) buffer of AGF type.
		{"two runs", rawItem(bufFormat(3, 5<<bufTypeShift, 8, 0x40, 0b11100011), chunks(2), chunks(3)), "[{1 0 256} {2 640 384}]", ""},
		// A run delivered in two regions continues where the first ended.
		{"split run", rawItem(bufFormat(3, 0, 8, 0x40, 0b11100000), chunks(1), chunks(2)), "[{1 640 128} {2 768 256}]", ""},
		// A run across the first word of the map.
		{"across words", rawItem(bufFormat(2, 0, 128, 0x40, 1<<31, 1), chunks(2)), "[{1 3968 256}]", ""},
		{"more regions than runs", rawItem(bufFormat(3, 0, 8, 0x40, 1), chunks(1), chunks(1)), "[{1 0 128}]", "bitmap has dirty chunks for 1"},
		{"runs left over", rawItem(bufFormat(2, 0, 8, 0x40, 0b101), chunks(1)), "[{1 0 128}]", "dirty chunks past"},
		{"past the buffer", rawItem(bufFormat(2, 0, 1, 0x40, 0b11110), chunks(4)), "[{1 128 512}]", "reach byte 640"},
		{"cancelled", rawItem(bufFormat(1, BufCancel, 8, 0x40, 0)), "[]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := DecodeItem(tc.raw, le)
			b, ok := it.(*BufItem)
			if !ok {
				t.Fatalf("%T %v", it, it.Problems())
			}
			if got := fmt.Sprint(b.Placements); got != tc.place && !(tc.place == "[]" && len(b.Placements) == 0) {
				t.Errorf("placements %s, want %s", got, tc.place)
			}
			if p := strings.Join(b.Problems(), "; "); (tc.problem == "") != (p == "") || !strings.Contains(p, tc.problem) {
				t.Errorf("problems %q, want %q", p, tc.problem)
			}
		})
	}
	it := DecodeItem(rawItem(bufFormat(2, BufInodeBuf|BufCancel|8<<bufTypeShift, 16, 0x1234, 3), chunks(2)), le)
	if got := fieldText(it); got != "blkno=0x1234 len=16 flags=0x4003 flagnames=INODE_BUF|CANCEL type=dino map_size=1 chunks=0-255 regions=24,256" {
		t.Errorf("fields %s", got)
	}
	if !it.(*BufItem).Cancelled() {
		t.Error("not cancelled")
	}
	// A map larger than any buffer's is refused, not read.
	if it := DecodeItem(rawItem(fields(bufFormatBase, 0, uint16(ItemBuf), 2, uint16(1), 16, uint32(1<<30))), le); it.Type() != ItemBuf || len(it.Problems()) == 0 {
		t.Errorf("huge map: %T %v", it, it.Problems())
	}
}

// logDinode is an xfs_log_dinode (v3, little-endian) with some fields set.
func logDinode(flags2 uint64, ts uint64) []byte {
	uuid := []byte("0123456789abcdef")
	return fields(LogDinodeSize, 0, uint16(0x494e), 2, uint16(0o100644), 4, uint8(3), 5, uint8(2), 8, uint32(1000), 12, uint32(100),
		16, uint32(2), 24, uint64(0), 32, ts, 40, ts+1, 48, ts+2, 56, uint64(12345), 64, uint64(4), 76, uint32(3), 80, uint16(1),
		82, uint8(15), 83, uint8(2), 90, uint16(0), 92, uint32(77), 96, uint32(0xffffffff), 104, uint64(5), 112, uint64(0x100000020),
		120, flags2, 128, uint32(0), 144, ts+3, 152, uint64(131), 160, uuid)
}

func TestInodeItem(t *testing.T) {
	core := logDinode(1<<3, uint64((1<<31)+1_700_000_000)*1e9+5)
	dfork := bytes.Repeat([]byte{1}, 32)
	afork := bytes.Repeat([]byte{2}, 16)
	f64 := fields(InodeFormatSize, 0, uint16(ItemInode), 2, uint16(4), 4, uint32(ILogCore|ILogDExt|ILogAData), 8, uint16(16), 10, uint16(32),
		16, uint64(131), 40, uint64(96), 48, uint32(16), 52, uint32(1536))
	f32 := fields(InodeFormatSize32, 0, uint16(ItemInode), 2, uint16(4), 4, uint32(ILogCore|ILogDExt|ILogAData), 8, uint16(16), 10, uint16(32),
		12, uint64(131), 36, uint64(96), 44, uint32(16), 48, uint32(1536))
	for name, f := range map[string][]byte{"64-bit": f64, "32-bit": f32} {
		it, ok := DecodeItem(rawItem(f, core, dfork, afork), le).(*InodeItem)
		if !ok {
			t.Fatalf("%s: not an inode item", name)
		}
		if len(it.Problems()) > 0 || it.Format.Is32 != (name == "32-bit") {
			t.Errorf("%s: %v is32 %v", name, it.Problems(), it.Format.Is32)
		}
		if it.Data == nil || it.Attr == nil || it.Data.Len != 32 || it.Attr.Len != 16 || it.Core == nil {
			t.Fatalf("%s: forks %v %v core %v", name, it.Data, it.Attr, it.Core)
		}
		want := "ino=0x83 fields=0x45 fieldnames=CORE|DEXT|ADATA dsize=32 asize=16 blkno=96 len=16 boffset=1536 core.mode=0100644 core.version=3 core.format=2 core.nlink=2 core.size=12345 core.nblocks=4 core.nextents=3 core.naextents=1 core.gen=77 regions=56,176,32,16"
		if name == "32-bit" {
			want = strings.Replace(want, "regions=56", "regions=52", 1)
		}
		if got := fieldText(it); got != want {
			t.Errorf("%s:\n got  %s\n want %s", name, got, want)
		}
	}
	// The fields name a data fork the item does not hold.
	it := DecodeItem(rawItem(fields(InodeFormatSize, 0, uint16(ItemInode), 2, uint16(2), 4, uint32(ILogCore|ILogDData)), core), le)
	if p := strings.Join(it.Problems(), ";"); !strings.Contains(p, "make 3 regions") {
		t.Errorf("problems %q", p)
	}
}

// TestLogDinodeToDisk writes logged cores (bigtime and legacy
// timestamps, nrext64 and not) as on-disk inodes and reads them back
// with xfsformat/dinode, the on-disk decoder.
func TestLogDinodeToDisk(t *testing.T) {
	legacy := uint64(1_700_000_000) | uint64(123)<<32 // t_sec, then t_nsec, little-endian
	for _, tc := range []struct {
		name   string
		flags2 uint64
		ts     uint64
		sec    int64
		nsec   uint32
	}{
		{"bigtime", 1 << 3, uint64((1<<31)+1_700_000_000)*1e9 + 5, 1_700_000_000, 5},
		{"legacy", 0, legacy, 1_700_000_000, 123},
		{"nrext64", 1<<3 | 1<<4, uint64(1<<31) * 1e9, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecodeLogDinode(logDinode(tc.flags2, tc.ts), le)
			if err != nil {
				t.Fatal(err)
			}
			if sec, nsec := d.Timestamp(d.Atime); sec != tc.sec || nsec != tc.nsec {
				t.Errorf("atime %d.%d, want %d.%d", sec, nsec, tc.sec, tc.nsec)
			}
			disk := bytes.Repeat([]byte{0xee}, 512)
			if err := d.ToDisk(disk, 0x300000040); err != nil {
				t.Fatal(err)
			}
			c, err := dinode.Decode(disk)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Unix(tc.sec, int64(tc.nsec)).UTC()
			got := fmt.Sprintf("mode %o nlink %d uid %d size %d nblocks %d nextents %d anextents %d forkoff %d gen %d ino %d lsn %#x flags2 %#x atime %s next_unlinked %#x",
				c.Mode, c.Nlink, c.UID, c.Size, c.NBlocks, c.NExtents, c.ANExtents, c.ForkOff, c.Gen, c.Ino, c.LSN, c.Flags2, c.Time(c.ATime).Format(time.RFC3339Nano), c.NextUnlinked)
			nextents := uint64(3)
			anext := uint64(1)
			if tc.flags2&(1<<4) != 0 {
				nextents, anext = 0, 3 // the big counters: di_big_nextents 0, di_big_anextents from di_nextents's slot
			}
			want := fmt.Sprintf("mode 100644 nlink 2 uid 1000 size 12345 nblocks 4 nextents %d anextents %d forkoff 15 gen 77 ino 131 lsn 0x300000040 flags2 %#x atime %s next_unlinked 0xeeeeeeee",
				nextents, anext, tc.flags2, at.Format(time.RFC3339Nano))
			if got != want {
				t.Errorf("\n got  %s\n want %s", got, want)
			}
		})
	}
	if _, err := DecodeLogDinode(logDinode(0, 0)[:100], le); err == nil {
		t.Error("a v3 core of 100 bytes decoded")
	}
}

func TestIntentItems(t *testing.T) {
	efi64 := fields(16+2*16, 0, uint16(ItemEFI), 2, uint16(1), 4, uint32(2), 8, uint64(0xabc), 16, uint64(100), 24, uint32(5), 32, uint64(200), 40, uint32(6))
	efi32 := fields(16+2*12, 0, uint16(ItemEFI), 2, uint16(1), 4, uint32(2), 8, uint64(0xabc), 16, uint64(100), 24, uint32(5), 28, uint64(200), 36, uint32(6))
	efd := fields(16+16, 0, uint16(ItemEFD), 2, uint16(1), 4, uint32(1), 8, uint64(0xabc), 16, uint64(100), 24, uint32(5))
	rui := fields(16+32, 0, uint16(ItemRUI), 2, uint16(1), 4, uint32(1), 8, uint64(0x11), 16, uint64(131), 24, uint64(1000), 32, uint64(7), 40, uint32(8), 44, uint32(1|1<<31))
	bui := fields(16+32, 0, uint16(ItemBUI), 2, uint16(1), 4, uint32(1), 8, uint64(0x22), 16, uint64(131), 24, uint64(1000), 32, uint64(7), 40, uint32(8), 44, uint32(2|1<<30))
	cui := fields(16+16, 0, uint16(ItemCUI), 2, uint16(1), 4, uint32(1), 8, uint64(0x33), 16, uint64(1000), 24, uint32(8), 28, uint32(3))
	rud := fields(16, 0, uint16(ItemRUD), 2, uint16(1), 8, uint64(0x11))
	xmi := fields(88, 0, uint16(ItemXMI), 2, uint16(1), 8, uint64(0x44), 16, uint64(131), 24, uint64(132), 32, uint32(1), 36, uint32(2),
		40, uint64(0), 48, uint64(10), 56, uint64(20), 64, uint64(3), 72, uint64(4096), 80, uint64(8192))
	icr := append(fields(4, 0, uint16(ItemICreate), 2, uint16(1)), 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 64, 0, 0, 2, 0, 0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78)
	for _, tc := range []struct {
		name string
		raw  *RawItem
		want string
	}{
		{"EFI", rawItem(efi64), "EFI id=0xabc nextents=2 extents=100+5 200+6"},
		{"EFI 32-bit", rawItem(efi32), "EFI id=0xabc nextents=2 extents=100+5 200+6"},
		{"EFD", rawItem(efd), "EFD id=0xabc nextents=1 extents=100+5"},
		{"RUI", rawItem(rui), "RUI id=0x11 nextents=1 extents=131:1000+8@7 map,attr_fork"},
		{"BUI", rawItem(bui), "BUI id=0x22 nextents=1 extents=131:1000+8@7 unmap,unwritten"},
		{"CUI", rawItem(cui), "CUI id=0x33 nextents=1 extents=1000+8 alloc_cow"},
		{"RUD", rawItem(rud), "RUD intent=0x11"},
		{"XMI", rawItem(xmi), "XMI id=0x44 inode1=131 igen1=1 startoff1=0 inode2=132 igen2=2 startoff2=10 blockcount=20 flags=0x3 isize1=4096 isize2=8192"},
		{"ICREATE", rawItem(icr), "ICREATE ag=1 agbno=16 length=8 count=64 isize=512 gen=0x12345678"},
		{"EFI short", rawItem(efi64[:36]), "EFI: format of 36 bytes does not hold 2 extents"},
		{"RUD long", rawItem(append(rud, 0, 0, 0, 0)), "RUD: format of 20 bytes (want 16)"},
		{"unknown", rawItem(fields(8, 0, uint16(0x9999), 2, uint16(1))), "unknown item type 0x9999"},
	} {
		it := DecodeItem(tc.raw, le)
		got := it.Type().String() + " " + fieldText(it)
		if u, ok := it.(*Unknown); ok {
			got = strings.Join(u.Problems(), "; ")
		} else if len(it.Problems()) > 0 {
			got += " problems " + strings.Join(it.Problems(), "; ")
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
	}
	if it := DecodeItem(rawItem(efi32), le).(*IntentItem); !it.Is32 {
		t.Error("a 12-byte extent EFI is not Is32")
	}
}

func TestAttrItem(t *testing.T) {
	format := func(op uint32, namelen, valuelen uint32, nregs uint16) []byte {
		return fields(attriFormatSize, 0, uint16(ItemATTRI), 2, nregs, 4, uint32(9), 8, uint64(0x55), 16, uint64(131), 24, op, 28, namelen, 32, valuelen, 36, uint32(0))
	}
	it := DecodeItem(rawItem(format(AttrOpSet, 5, 3, 3), []byte("hello\x00\x00\x00"), []byte("abc\x00")), le).(*AttrItem)
	if got := fieldText(it); got != `id=0x55 ino=131 igen=9 op=set filter=0 name_len=5 value_len=3 name="hello"` || len(it.Problems()) > 0 {
		t.Errorf("set: %s %v", got, it.Problems())
	}
	// Parent pointer replace: old and new names, old and new values.
	f := format(AttrOpPPtrReplace, 0, 12, 5)
	le.PutUint16(f[28:], 3)
	le.PutUint16(f[30:], 4)
	it = DecodeItem(rawItem(f, []byte("old\x00"), []byte("newn"), make([]byte, 12), make([]byte, 12)), le).(*AttrItem)
	if it.NameLen != 3 || it.NewNameLen != 4 || it.NewValue == nil || len(it.Problems()) > 0 {
		t.Errorf("pptr replace: %+v %v", it, it.Problems())
	}
	it = DecodeItem(rawItem(format(AttrOpRemove, 5, 0, 3), []byte("hello\x00\x00\x00"), []byte("extra")), le).(*AttrItem)
	if len(it.Problems()) == 0 {
		t.Error("an extra region is no problem")
	}
}

func TestQuotaItems(t *testing.T) {
	dq := DecodeItem(rawItem(fields(dquotFormatSize, 0, uint16(ItemDquot), 2, uint16(2), 4, uint32(1000), 8, uint64(96), 16, uint32(8), 20, uint32(136)), make([]byte, 136)), le)
	if got := fieldText(dq); got != "id=1000 blkno=96 len=8 boffset=136 regions=24,136" {
		t.Errorf("dquot %s %v", got, dq.Problems())
	}
	qo := DecodeItem(rawItem(fields(quotaOffFormatSize, 0, uint16(ItemQuotaOff), 2, uint16(1), 4, uint32(1))), le)
	if got := fieldText(qo); got != "flags=0x1" {
		t.Errorf("quotaoff %s", got)
	}
}

// TestItemsBigEndian decodes items written by a big-endian CPU.
func TestItemsBigEndian(t *testing.T) {
	be := fields(16+16, 1, uint8(0x36), 0, uint8(0x12), 3, uint8(1), 7, uint8(1), 15, uint8(0x7), 23, uint8(100), 27, uint8(5))
	it := DecodeItem(&RawItem{Total: 1, Regions: []Region{{Len: len(be), Data: be}}}, xfsformatBE)
	if got := it.Type().String() + " " + fieldText(it); got != "EFI id=0x7 nextents=1 extents=100+5" {
		t.Errorf("big-endian EFI: %s %v", got, it.Problems())
	}
}

var xfsformatBE = binary.BigEndian

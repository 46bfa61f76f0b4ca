package replay

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Tests without root: the small fixture image in memory, its log made
// dirty by records written here the way the kernel writes them.

// op is one operation of a record written by the tests (tid 0: the
// record's).
type op struct {
	flags uint8
	data  []byte
	tid   uint32
}

// logWriter writes records at the head of a clean image's log.
type logWriter struct {
	t     testing.TB
	img   []byte
	base  int64  // byte offset of the log
	n     uint32 // log size in BBs
	head  uint32
	cycle uint32
	prev  uint32
	tail  uint64 // the first record this writer wrote: nothing it wrote is on disk
	uuid  xfsformat.UUID
}

func newLogWriter(t testing.TB, img []byte) *logWriter {
	fs := openMem(t, img)
	defer fs.Close()
	ls, err := fsys.ReadLogState(fs)
	if err != nil || !ls.Clean {
		t.Fatalf("fixture log: %+v %v", ls, err)
	}
	agno, agbno, _ := fs.Geo.InternalLogAG()
	return &logWriter{t: t, img: img, base: fs.Geo.ByteOffset(agno, agbno), n: ls.LogBlocks, head: ls.HeadBlock,
		cycle: ls.Cycle, prev: ls.RecordBlock, uuid: fs.SB.UUID}
}

// record writes one record of ops (transaction id tid) at the head and
// returns its LSN.
func (w *logWriter) record(tid uint32, ops ...op) uint64 {
	var data []byte
	for _, o := range ops {
		var h [xlog.OpHeaderSize]byte
		binary.BigEndian.PutUint32(h[:], cmp.Or(o.tid, tid))
		binary.BigEndian.PutUint32(h[4:], uint32(len(o.data)))
		h[8], h[9] = xlog.ClientTransaction, o.flags
		data = append(append(data, h[:]...), o.data...)
	}
	lsn := xlog.MakeLSN(w.cycle, w.head)
	if w.tail == 0 {
		w.tail = lsn
	}
	h := xlog.RecHeader{Cycle: w.cycle, Version: xlog.Version2, LSN: lsn, TailLSN: w.tail, PrevBlock: w.prev,
		NumLogOps: uint32(len(ops)), Fmt: xlog.FmtLinuxLE, FSUUID: w.uuid, Size: xlog.HeaderCycleSize}
	raw, err := xlog.BuildRecord(h, data, 1, -1)
	if err != nil {
		w.t.Fatal(err)
	}
	copy(w.img[w.base+int64(w.head)*xlog.BBSize:], raw)
	w.prev = w.head
	w.head += uint32(len(raw) / xlog.BBSize)
	return lsn
}

// transaction writes a one-record checkpoint of the items (each a list
// of regions) and returns its LSN.
func (w *logWriter) transaction(tid uint32, items ...[][]byte) uint64 {
	return w.record(tid, transOps(tid, items...)...)
}

// transOps are the ops of a checkpoint of the items.
func transOps(tid uint32, items ...[][]byte) []op {
	nregions := 0
	for _, it := range items {
		nregions += len(it)
	}
	hdr := make([]byte, xlog.TransHeaderSize)
	le := binary.LittleEndian
	le.PutUint32(hdr, xlog.TransHeaderMagic)
	le.PutUint32(hdr[4:], xlog.TransCheckpoint)
	le.PutUint32(hdr[8:], tid)
	le.PutUint32(hdr[12:], uint32(nregions))
	ops := []op{{xlog.OpStart, nil, tid}, {0, hdr, tid}}
	for _, it := range items {
		for _, r := range it {
			ops = append(ops, op{0, r, tid})
		}
	}
	return append(ops, op{xlog.OpCommit, nil, tid})
}

// bufItem is a buffer item logging the given 128-byte chunks of a
// buffer of bbs BBs at daddr, with the chunks' new contents.
func bufItem(daddr int64, bbs int, flags uint16, chunks map[int][]byte) [][]byte {
	f := make([]byte, 20+4)
	le := binary.LittleEndian
	le.PutUint16(f, uint16(xlog.ItemBuf))
	le.PutUint16(f[2:], uint16(1+len(chunks)))
	le.PutUint16(f[4:], flags)
	le.PutUint16(f[6:], uint16(bbs))
	le.PutUint64(f[8:], uint64(daddr))
	le.PutUint32(f[16:], 1)
	var m uint32
	out := [][]byte{f}
	for c := 0; c < 32; c++ {
		if b, ok := chunks[c]; ok {
			m |= 1 << c
			out = append(out, b)
		}
	}
	le.PutUint32(f[20:], m)
	return out
}

func openMem(t testing.TB, img []byte) *fsys.FS {
	t.Helper()
	fs, err := fsys.OpenImage(store.NewImage(store.MemDevice(img), int64(len(img)), "small.img", false), fsys.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// replayMem replays img's log into a throwaway and returns the result
// and the replayed image's bytes.
func replayMem(t testing.TB, img []byte, opts Options) (*Result, []byte, error) {
	t.Helper()
	fs := openMem(t, img)
	defer fs.Close()
	tfs, release, err := fs.Throwaway()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	res, err := Replay(context.Background(), tfs, opts)
	out := make([]byte, len(img))
	if rerr := tfs.Img.ReadAt(out, 0); rerr != nil {
		t.Fatal(rerr)
	}
	return res, out, err
}

// TestReplaySynthetic replays logs written here: a logged AGF chunk goes
// where its bitmap says with the transaction's LSN stamped and a fresh
// CRC; a cancelled buffer is not replayed; the counters are recounted;
// the log ends clean; an unfinished intent, a damaged record and an
// unknown item are refused, writing nothing; with Finish, an unfinished
// EFI names its AG for the caller's rebuild, and a BUI is refused.
func TestReplaySynthetic(t *testing.T) {
	small := testimg.SmallImage(t)
	fs := openMem(t, small)
	g := fs.Geo
	agf0 := g.SectorOffset(0, fsys.SectorAGF)
	agf1 := g.SectorOffset(1, fsys.SectorAGF)
	fs.Close()
	sectBBs := int(g.SectSize / xlog.BBSize)

	img := bytes.Clone(small)
	w := newLogWriter(t, img)
	chunk := bytes.Clone(img[agf0 : agf0+128])
	binary.BigEndian.PutUint32(chunk[56:], 7) // agf_longest
	flags := uint16(blftAGF << 11)
	lsn := w.transaction(0x11, bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	// AG 1's AGF: logged, then cancelled in a later transaction.
	other := bytes.Clone(img[agf1 : agf1+128])
	other[60] ^= 0xff
	w.transaction(0x12, bufItem(agf1/xlog.BBSize, sectBBs, flags, map[int][]byte{0: other}))
	w.transaction(0x13, bufItem(agf1/xlog.BBSize, sectBBs, flags|xlog.BufCancel, nil))

	res, out, err := replayMem(t, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Transactions != 3 || res.Counts.Buffers != 1 || res.Counts.BuffersCancelled != 1 || !res.MarkedClean {
		t.Errorf("result %+v", res)
	}
	got := out[agf0 : agf0+int64(g.SectSize)]
	if !bytes.Equal(got[:128], chunk) {
		t.Error("the logged chunk is not where the bitmap put it")
	}
	if binary.BigEndian.Uint64(got[208:]) != lsn || !xfsformat.CRCOK(got, xfsformat.AGFCRCOffset()) {
		t.Errorf("AGF lsn %#x (want %#x), CRC ok %v", binary.BigEndian.Uint64(got[208:]), lsn, xfsformat.CRCOK(got, xfsformat.AGFCRCOffset()))
	}
	if !bytes.Equal(out[agf1:agf1+int64(g.SectSize)], img[agf1:agf1+int64(g.SectSize)]) {
		t.Error("a cancelled buffer was replayed")
	}
	sb, err := xfsformat.DecodeSuperblock(out[:g.SectSize])
	if err != nil || !xfsformat.CRCOK(out[:g.SectSize], xfsformat.SBCRCOffset()) || sb.FDBlocks != res.Counters[2][1] {
		t.Errorf("superblock after the replay: %v, fdblocks %d, counters %v", err, sb.FDBlocks, res.Counters)
	}
	after := openMem(t, out)
	ls, err := fsys.ReadLogState(after)
	after.Close()
	if err != nil || !ls.Clean || ls.HeadBlock != w.head+2 {
		t.Errorf("log after the replay: %+v %v (the unmount record at %d)", ls, err, w.head)
	}
	// Replaying the replayed image again does nothing.
	if res, _, err := replayMem(t, out, Options{}); err != nil || !res.AlreadyClean {
		t.Errorf("a second replay: %+v %v", res, err)
	}

	// A buffer logged as a btree block, then made an inode chunk by an
	// icreate of a checkpoint that started in the same record: written
	// once, as inodes, with no btree LSN or CRC stamped over them.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	const agbno = 200
	cluster := int(g.InodeClusterBlocks() << (g.BlockLog - 9))
	daddr := int64(g.Daddr(0, agbno))
	btree := make([]byte, 128)
	copy(btree, "AB3B")
	icr := make([]byte, 28)
	binary.LittleEndian.PutUint16(icr, uint16(xlog.ItemICreate))
	binary.LittleEndian.PutUint16(icr[2:], 1)
	be := binary.BigEndian
	be.PutUint32(icr[4:], 0)
	be.PutUint32(icr[8:], agbno)
	be.PutUint32(icr[12:], g.ChunkBlocks()*g.InoPBlock)
	be.PutUint32(icr[16:], g.InodeSize)
	be.PutUint32(icr[20:], g.ChunkBlocks())
	be.PutUint32(icr[24:], 77)
	w.record(0x61, slices.Concat(transOps(0x61, bufItem(daddr, cluster, blftBtree<<11, map[int][]byte{0: btree})), transOps(0x62, [][]byte{icr}))...)
	res, out, err = replayMem(t, img, Options{})
	if err != nil || res.Counts.ICreates != 1 || res.Counts.Buffers != 1 {
		t.Fatalf("a btree buffer, then an icreate over it: %+v %v", res, err)
	}
	ino := out[daddr*xlog.BBSize : daddr*xlog.BBSize+int64(g.InodeSize)]
	if string(ino[:2]) != "IN" || !xfsformat.CRCOK(ino, xfsformat.InodeCRCOffset()) || binary.BigEndian.Uint64(ino[24:]) != 0 ||
		binary.BigEndian.Uint32(ino[dinodeGen:]) != 77 {
		t.Errorf("the first inode of the chunk: % x", ino[:64])
	}

	refused := func(name string, img []byte, want string) {
		t.Helper()
		res, out, err := replayMem(t, img, Options{})
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v (want a refusal naming %q)", name, err, want)
		}
		if !bytes.Equal(out, img) {
			t.Errorf("%s: a refused replay wrote", name)
		}
		_ = res
	}
	// An EFI without its EFD.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	efi := intentItem(xlog.ItemEFI, 0xabc, 16, map[int]uint64{0: 100}, map[int]uint32{8: 1})
	w.transaction(0x21, [][]byte{efi})
	refused("unfinished EFI", img, "unfinished free-extent intents")
	if res, _, err := replayMem(t, img, Options{Partial: true, LeaveLogDirty: true}); err != nil || len(res.Unfinished) != 1 || res.MarkedClean {
		t.Errorf("a partial replay: %+v %v", res, err)
	}
	// With Finish, the EFI is left to the caller's rebuild of its AG.
	if res, _, err := replayMem(t, img, Options{Finish: true}); err != nil || len(res.Rebuild) != 1 || res.Rebuild[0].AG != 0 || !slices.Equal(res.Rebuild[0].Why, []string{"unfinished EFI intents name blocks in it"}) {
		t.Errorf("an EFI with Finish: %+v %v", res, err)
	}
	// Its EFD in a later transaction finishes it.
	efd := bytes.Clone(efi)
	binary.LittleEndian.PutUint16(efd, uint16(xlog.ItemEFD))
	w.transaction(0x22, [][]byte{efd})
	if res, _, err := replayMem(t, img, Options{}); err != nil || res.Counts.IntentsDone != 1 {
		t.Errorf("an EFI and its EFD: %+v %v", res, err)
	}
	// An EFI freeing an inode chunk's blocks (the root's) is refused with Finish.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	rootBlock, _ := g.AGInoBlock(uint32(fs.SB.RootIno))
	w.transaction(0x24, [][]byte{intentItem(xlog.ItemEFI, 0xabd, 16, map[int]uint64{0: g.FSB(0, rootBlock)}, map[int]uint32{8: 1})})
	if _, out, err := replayMem(t, img, Options{Finish: true}); !errors.Is(err, ErrRefused) ||
		!strings.Contains(err.Error(), "freeing the inode chunk") || !bytes.Equal(out, img) {
		t.Errorf("an EFI freeing an inode chunk with Finish: %v", err)
	}
	// A BUI (a block map to change) is refused by name, even with Finish.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	bui := intentItem(xlog.ItemBUI, 0xb01, 32, map[int]uint64{0: 131, 16: 100}, map[int]uint32{24: 1}) // owner, startblock; len
	w.transaction(0x23, [][]byte{bui})
	if _, out, err := replayMem(t, img, Options{Finish: true}); !errors.Is(err, ErrRefused) ||
		!strings.Contains(err.Error(), "unfinished block-mapping intents (1 BUI): xfsbox cannot finish them") || !bytes.Equal(out, img) {
		t.Errorf("a BUI with Finish: %v", err)
	}
	// An unknown item type.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	w.transaction(0x31, [][]byte{{0x99, 0x12, 1, 0, 0, 0, 0, 0}})
	refused("unknown item", img, "unknown item type")
	// A record whose CRC does not match, before more good ones than a
	// torn write at the head can explain.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	at := w.base + int64(w.head)*xlog.BBSize
	w.transaction(0x41, bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	img[at+xlog.BBSize+40] ^= 1
	for i := range xlog.MaxIclogs + 1 {
		w.transaction(0x42+uint32(i), bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	}
	refused("bad CRC", img, "bad CRC")
	// A record of a newer format, before more good ones.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	at = w.base + int64(w.head)*xlog.BBSize
	w.transaction(0x71, bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	binary.BigEndian.PutUint32(img[at+8:], 4) // h_version
	for i := range xlog.MaxIclogs + 1 {
		w.transaction(0x72+uint32(i), bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	}
	refused("newer record format", img, "unknown log record version")
	// A superblock naming log-incompatible features of a newer kernel.
	img = bytes.Clone(small)
	w = newLogWriter(t, img)
	w.transaction(0x81, bufItem(agf0/xlog.BBSize, sectBBs, flags, map[int][]byte{0: chunk}))
	binary.BigEndian.PutUint32(img[220:], 0x80)
	xfsformat.UpdateCRC(img[:g.SectSize], xfsformat.SBCRCOffset())
	refused("unknown log-incompatible feature", img, "log-incompatible features")
}

// intentItem is an intent of one extent of extLen bytes, its 64-bit and
// 32-bit fields set at their offsets in the extent (little-endian, as
// the kernel logs them).
func intentItem(typ xlog.ItemType, id uint64, extLen int, u64 map[int]uint64, u32 map[int]uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, 16+extLen)
	le.PutUint16(b, uint16(typ))
	le.PutUint16(b[2:], 1)
	le.PutUint32(b[4:], 1)
	le.PutUint64(b[8:], id)
	for off, v := range u64 {
		le.PutUint64(b[16+off:], v)
	}
	for off, v := range u32 {
		le.PutUint32(b[16+off:], v)
	}
	return b
}

// FuzzReplay replays a log whose one transaction is built from the
// fuzzer's bytes (buffer items over the AG headers, inode items,
// anything): a replay may refuse, never panic or hang.
func FuzzReplay(f *testing.F) {
	small := testimg.SmallImage(f)
	fs := openMem(f, small)
	agf := fs.Geo.SectorOffset(0, fsys.SectorAGF)
	fs.Close()
	seed := bufItem(agf/xlog.BBSize, 1, blftAGF<<11, map[int][]byte{0: small[agf : agf+128]})
	f.Add(seed[0], seed[1], []byte{})
	f.Add([]byte{0x3b, 0x12, 3, 0, 1, 0, 0, 0}, make([]byte, 176), make([]byte, 64))
	f.Add([]byte{0x3f, 0x12, 1, 0}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, format, r1, r2 []byte) {
		if len(format) < 4 || len(format)+len(r1)+len(r2) > 20000 {
			return
		}
		img := bytes.Clone(small)
		w := newLogWriter(t, img)
		regions := [][]byte{format}
		for _, r := range [][]byte{r1, r2} {
			if len(r) > 0 {
				regions = append(regions, r)
			}
		}
		w.transaction(0x51, regions)
		_, _, err := replayMem(t, img, Options{})
		if err != nil && !errors.Is(err, ErrRefused) {
			t.Logf("replay: %v", err)
		}
	})
}

// TestUnmountRecordSize: an unmount record fills the log's write unit,
// as the kernel's does (4 KiB-sector logs write 3584 bytes after the
// header), with a header block per 32 KiB of data.
func TestUnmountRecordSize(t *testing.T) {
	for _, tc := range []struct {
		sunit                uint32
		sect                 uint16
		wantHblks, wantBytes int
	}{
		{1, 0, 1, 512}, {0, 512, 1, 512}, {1, 4096, 1, 3584}, {4096, 4096, 1, 3584},
		{32768, 512, 1, 32256}, {65536, 512, 2, 64512}, {262144, 4096, 8, 258048},
	} {
		hb, n := unmountRecordSize(true, &xfsformat.Superblock{LogSUnit: tc.sunit, LogSectSize: tc.sect})
		if hb != tc.wantHblks || n != tc.wantBytes {
			t.Errorf("logsunit %d, log sector %d: %d header blocks and %d bytes, want %d and %d", tc.sunit, tc.sect, hb, n, tc.wantHblks, tc.wantBytes)
		}
	}
}

// TestLogStateSectorHead: on a log of 4 KiB sectors, an unmount record
// that ends inside a sector does not make the log clean: the kernel and
// xfs_logprint take the head back to the sector's start, and the record
// for torn (the small fixture's log made one of 4 KiB sectors: its
// unmount record ends at block 2).
func TestLogStateSectorHead(t *testing.T) {
	img := bytes.Clone(testimg.SmallImage(t))
	if ls, err := fsys.ReadLogState(openMem(t, img)); err != nil || !ls.Clean || ls.HeadBlock != 2 {
		t.Fatalf("the fixture's log: %+v %v", ls, err)
	}
	img[193] = 12 // sb_logsectlog
	binary.BigEndian.PutUint16(img[194:], 4096)
	xfsformat.UpdateCRC(img[:512], xfsformat.SBCRCOffset())
	fs := openMem(t, img)
	defer fs.Close()
	ls, err := fsys.ReadLogState(fs)
	if err != nil || ls.Clean || !strings.Contains(ls.Reason, "log sector") {
		t.Errorf("an unmount record ending inside a 4 KiB log sector: %+v %v", ls, err)
	}
}

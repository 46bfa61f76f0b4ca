package xfsformat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
)

// testImage is a generated image opened read-only, for cutting inodes
// and bmbt blocks out of it.
type testImage struct {
	path string
	f    *os.File
	geo  *Geometry
}

func openTestImage(t testing.TB, profile string) *testImage {
	t.Helper()
	path := testimg.Image(t, profile)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	im := &testImage{path: path, f: f}
	sb, err := DecodeSuperblock(im.read(t, 0, SBSize))
	if err != nil {
		t.Fatal(err)
	}
	if im.geo, err = NewGeometry(sb); err != nil {
		t.Fatal(err)
	}
	return im
}

func (im *testImage) read(t testing.TB, off int64, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := im.f.ReadAt(b, off); err != nil {
		t.Fatalf("reading %d bytes at %d: %v", n, off, err)
	}
	return b
}

func (im *testImage) inode(t testing.TB, ino uint64) []byte {
	agno, agino := im.geo.SplitIno(ino)
	isize := int64(im.geo.InodeSize)
	return im.read(t, im.geo.ByteOffset(agno, 0)+int64(agino)*isize, int(isize))
}

func (im *testImage) block(t testing.TB, fsb uint64) []byte {
	agno, agbno := im.geo.SplitFSB(fsb)
	return im.read(t, im.geo.ByteOffset(agno, agbno), int(im.geo.BlockSize))
}

// oraclePaths are files of every fork shape the generator makes: local,
// extents and btree data forks; local, extents and btree attr forks;
// unwritten extents, reflinked files, directories and symlinks.
var oraclePaths = []string{
	"/", "/ag0", "/ag0/hello.txt", "/ag0/small.bin", "/ag0/big.bin", "/ag0/prealloc.bin",
	"/ag0/sparse.bin", "/ag0/tree/hello.link", "/ag0/tree/long.link", "/ag0/bigdir",
	"/ag0/inodes", "/ag0/xattr/few", "/ag0/xattr/many", "/ag0/xattr/bigval",
	"/ag0/punched", "/ag0/shared", "/ag0/shared.reflink", "/ag0/hello.reflink",
}

func dbUint(t *testing.T, o *xfsdb.Object, name string) uint64 {
	t.Helper()
	v, err := o.Uint(name)
	if err != nil {
		t.Fatalf("%v (messages %q)", err, o.Messages)
	}
	return v
}

// TestInodeOracle compares every core field we decode, and the forks'
// extent lists and bmbt roots, with what xfs_db prints.
func TestInodeOracle(t *testing.T) {
	im := openTestImage(t, "allfeatures")
	var batches [][]string
	for _, p := range oraclePaths {
		batches = append(batches, []string{"path " + p})
	}
	objs, err := xfsdb.PrintMany(im.path, batches)
	if err != nil {
		t.Fatal(err)
	}
	// Also some free inodes: every 19th file of ag0/inodes was removed,
	// so the chunks after the directory's own have free slots.
	dirIno := dbUint(t, objs[10], "v3.inumber")
	var free [][]string
	for i := uint64(1); i <= 64; i++ {
		free = append(free, []string{"inode " + strconv.FormatUint(dirIno+i, 10)})
	}
	more, err := xfsdb.PrintMany(im.path, free)
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, more...)
	var sawFree, sawBtree, sawAttrBtree, sawUnwritten bool
	for i, o := range objs {
		ino := dbUint(t, o, "v3.inumber")
		in, err := DecodeInode(im.inode(t, ino))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strconv.FormatUint(ino, 10), func(t *testing.T) {
			if i < len(oraclePaths) {
				t.Logf("%s", oraclePaths[i])
			}
			checkInodeFields(t, in, o)
			if errs := VerifyInode(in, im.geo, ino, false); len(errs) != 0 {
				t.Errorf("healthy inode: %v", errs)
			}
			checkForkOracle(t, im, in, o, false)
			checkForkOracle(t, im, in, o, true)
		})
		sawFree = sawFree || in.Mode == 0
		sawBtree = sawBtree || in.Format == FmtBtree
		sawAttrBtree = sawAttrBtree || (in.ForkOff != 0 && in.AFormat == FmtBtree)
		for j := range min(in.NExtents, uint64(len(in.Fork(false))/BmbtRecLen)) {
			if in.Format == FmtExtents && DecodeBmbtRec(in.Fork(false)[j*BmbtRecLen:]).Unwritten {
				sawUnwritten = true
			}
		}
	}
	if !sawFree || !sawBtree || !sawAttrBtree || !sawUnwritten {
		t.Errorf("image lacks a shape: free %v, btree %v, attr btree %v, unwritten %v", sawFree, sawBtree, sawAttrBtree, sawUnwritten)
	}
}

func checkInodeFields(t *testing.T, in *Inode, o *xfsdb.Object) {
	t.Helper()
	u64 := func(name string, got uint64) {
		t.Helper()
		v, ok := o.Get(name)
		if !ok {
			t.Errorf("xfs_db printed no %s", name)
			return
		}
		want, err := xfsdb.ParseUint(v)
		if err != nil {
			t.Errorf("%s = %q: %v", name, v, err)
		} else if got != want {
			t.Errorf("%s = %d, xfs_db says %d (%s)", name, got, want, v)
		}
	}
	u64("core.magic", uint64(in.Magic))
	u64("core.mode", uint64(in.Mode))
	u64("core.version", uint64(in.Version))
	u64("core.format", uint64(in.Format))
	u64("core.uid", uint64(in.UID))
	u64("core.gid", uint64(in.GID))
	u64("core.nlinkv2", uint64(in.Nlink))
	u64("core.size", in.Size)
	u64("core.nblocks", in.NBlocks)
	u64("core.extsize", uint64(in.ExtSize))
	u64("core.nextents", in.NExtents)
	u64("core.naextents", uint64(in.ANExtents))
	u64("core.forkoff", uint64(in.ForkOff))
	u64("core.aformat", uint64(in.AFormat))
	u64("core.realtime", uint64(in.Flags&DiflagRealtime))
	u64("core.gen", uint64(in.Gen))
	u64("v3.change_count", in.ChangeCount)
	u64("v3.lsn", in.LSN)
	u64("v3.flags2", in.Flags2)
	u64("v3.cowextsize", uint64(in.CowExtSize))
	u64("v3.inumber", in.Ino)
	if v := o.Value("next_unlinked"); (v == "null") != (in.NextUnlinked == NullAGIno) {
		t.Errorf("next_unlinked = %d, xfs_db says %s", in.NextUnlinked, v)
	} else if v != "null" {
		u64("next_unlinked", uint64(in.NextUnlinked))
	}
	if _, verdict := xfsdb.CRCVerdict(o.Value("v3.crc")); (verdict == "correct") != in.CRCOK() {
		t.Errorf("crc ok %v, xfs_db says %s", in.CRCOK(), o.Value("v3.crc"))
	}
	if got := in.UUID.String(); got != o.Value("v3.uuid") {
		t.Errorf("uuid %s, xfs_db says %s", got, o.Value("v3.uuid"))
	}
}

// checkForkOracle compares an extents fork with xfs_db's bmx array and a
// btree fork's root with its bmbt keys and ptrs.
func checkForkOracle(t *testing.T, im *testImage, in *Inode, o *xfsdb.Object, attr bool) {
	t.Helper()
	prefix := "u3."
	if attr {
		if in.ForkOff == 0 {
			return
		}
		prefix = "a."
	}
	fork := in.Fork(attr)
	switch in.ForkFormat(attr) {
	case FmtExtents:
		a := o.Array(prefix + "bmx")
		n := in.ForkExtents(attr)
		if n == 0 {
			return
		}
		if a == nil || uint64(a.Len()) != n {
			t.Fatalf("%sbmx = %+v, want %d extents", prefix, a, n)
		}
		for i := range a.Len() {
			r := DecodeBmbtRec(fork[i*BmbtRecLen:])
			got := []uint64{r.StartOff, r.StartBlock, uint64(r.BlockCount), b2u(r.Unwritten)}
			for c, col := range []string{"startoff", "startblock", "blockcount", "extentflag"} {
				v, _ := a.Get(a.First+i, col)
				if want, err := xfsdb.ParseUint(v); err != nil || want != got[c] {
					t.Errorf("%sbmx[%d].%s = %d, xfs_db says %q", prefix, i, col, got[c], v)
				}
			}
		}
	case FmtBtree:
		root, err := NewBmbtRoot(fork)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := uint64(root.Hdr.Level), dbUint(t, o, prefix+"bmbt.level"); got != want {
			t.Errorf("%sbmbt.level = %d, want %d", prefix, got, want)
		}
		keys, ptrs := o.Array(prefix+"bmbt.keys"), o.Array(prefix+"bmbt.ptrs")
		if keys == nil || ptrs == nil || keys.Len() != root.NumRecs() || ptrs.Len() != root.NumRecs() {
			t.Fatalf("root has %d recs; xfs_db keys %+v ptrs %+v", root.NumRecs(), keys, ptrs)
		}
		for i := range root.NumRecs() {
			k, _ := keys.Get(keys.First+i, "startoff")
			p, _ := ptrs.Value(ptrs.First + i)
			if want, _ := xfsdb.ParseUint(k); want != root.Key(i) {
				t.Errorf("%sbmbt.keys[%d] = %d, xfs_db %s", prefix, i+1, root.Key(i), k)
			}
			if want, _ := xfsdb.ParseUint(p); want != root.Ptr(i) {
				t.Errorf("%sbmbt.ptrs[%d] = %d, xfs_db %s", prefix, i+1, root.Ptr(i), p)
			}
		}
		checkBmapOracle(t, im, in, attr)
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// walkTestBmbt collects a btree fork's extents and blocks (no cycle
// defence: healthy images only).
func walkTestBmbt(t *testing.T, im *testImage, owner uint64, blk *BmbtBlock, recs *[]BmbtRec, blocks *[]uint64) {
	t.Helper()
	if blk.IsLeaf() {
		for i := range blk.NumRecs() {
			*recs = append(*recs, blk.Rec(i))
		}
		return
	}
	for i := range blk.NumRecs() {
		fsb := blk.Ptr(i)
		child, err := NewBmbtBlock(im.block(t, fsb))
		if err != nil {
			t.Fatal(err)
		}
		if errs := VerifyBmbtBlock(child, im.geo, fsb, owner); len(errs) != 0 {
			t.Errorf("bmbt block %d: %v", fsb, errs)
		}
		if int(child.Hdr.Level) != int(blk.Hdr.Level)-1 {
			t.Fatalf("bmbt block %d level %d under level %d", fsb, child.Hdr.Level, blk.Hdr.Level)
		}
		if i < blk.NumRecs() && child.NumRecs() > 0 {
			first := child.Key(0)
			if child.IsLeaf() {
				first = child.Rec(0).StartOff
			}
			if first != blk.Key(i) {
				t.Errorf("bmbt block %d starts at %d, parent key %d", fsb, first, blk.Key(i))
			}
		}
		*blocks = append(*blocks, fsb)
		walkTestBmbt(t, im, owner, child, recs, blocks)
	}
}

// checkBmapOracle compares every extent reached through the bmbt with
// xfs_db's bmap listing, and the sum of the fork's extents and bmbt blocks
// with what nblocks allows.
func checkBmapOracle(t *testing.T, im *testImage, in *Inode, attr bool) {
	t.Helper()
	root, _ := NewBmbtRoot(in.Fork(attr))
	var recs []BmbtRec
	var blocks []uint64
	walkTestBmbt(t, im, in.Ino, root, &recs, &blocks)
	if uint64(len(recs)) != in.ForkExtents(attr) {
		t.Errorf("bmbt holds %d extents, the core says %d", len(recs), in.ForkExtents(attr))
	}
	db, err := xfsdb.Command()
	if err != nil {
		t.Fatal(err)
	}
	bmap := "bmap"
	if attr {
		bmap = "bmap -a"
	}
	out, err := exec.Command(db, "-r", "-c", "inode "+strconv.FormatUint(in.Ino, 10), "-c", bmap, im.path).CombinedOutput()
	if err != nil {
		t.Fatalf("xfs_db bmap: %v\n%s", err, out)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		lines = append(lines, l)
	}
	if len(lines) != len(recs) {
		t.Fatalf("xfs_db bmap lists %d extents, we decode %d", len(lines), len(recs))
	}
	for i, r := range recs {
		agno, agbno := im.geo.SplitFSB(r.StartBlock)
		fork := "data"
		if attr {
			fork = "attr"
		}
		got := strings.Join(strings.Fields(lines[i]), " ")
		exp := fmt.Sprintf("%s offset %d startblock %d (%d/%d) count %d flag %d", fork, r.StartOff, r.StartBlock, agno, agbno, r.BlockCount, b2u(r.Unwritten))
		if got != exp {
			t.Fatalf("extent %d: we decode %q, xfs_db says %q", i, exp, got)
		}
	}
	t.Logf("%d extents, %d bmbt blocks below the root", len(recs), len(blocks))
}

// synthInode builds a valid regular-file inode with an extents data fork
// holding recs, stamped for ino in g.
func synthInode(g *Geometry, ino uint64, recs []BmbtRec) []byte {
	b := make([]byte, g.InodeSize)
	be := binary.BigEndian
	be.PutUint16(b[0:], DinodeMagic)
	be.PutUint16(b[2:], ModeRegular|0o644)
	b[4] = 3
	b[5] = FmtExtents
	be.PutUint32(b[16:], 1)
	var nblocks uint64
	for i, r := range recs {
		r.Encode(b[DinodeCoreSize+i*BmbtRecLen:])
		nblocks += uint64(r.BlockCount)
	}
	be.PutUint64(b[56:], nblocks*uint64(g.BlockSize))
	be.PutUint64(b[64:], nblocks)
	be.PutUint32(b[76:], uint32(len(recs)))
	b[83] = FmtExtents
	be.PutUint32(b[96:], NullAGIno)
	be.PutUint64(b[120:], Diflag2Bigtime)
	be.PutUint64(b[152:], ino)
	copy(b[160:], g.MetaUUID[:])
	UpdateCRC(b, InodeCRCOffset())
	return b
}

func TestVerifyInodeSynthetic(t *testing.T) {
	fx := loadFixture(t, "allfeatures")
	g := fx.geo
	const ino = 1234
	good := synthInode(g, ino, []BmbtRec{{StartOff: 0, StartBlock: 100, BlockCount: 8}, {StartOff: 8, StartBlock: 300, BlockCount: 1, Unwritten: true}})
	in, err := DecodeInode(good)
	if err != nil {
		t.Fatal(err)
	}
	if errs := VerifyInode(in, g, ino, false); len(errs) != 0 {
		t.Fatalf("valid synthetic inode: %v", errs)
	}
	if in.NExtents != 2 || in.NBlocks != 9 || !in.InUse() || in.IsRealtime() {
		t.Fatalf("decoded %+v", in)
	}
	if r := DecodeBmbtRec(in.Fork(false)[BmbtRecLen:]); !r.Unwritten || r.StartBlock != 300 {
		t.Fatalf("second extent %+v", r)
	}
	for _, tc := range []struct {
		name   string
		mutate func(b []byte)
		ino    uint64
		kind   error
		field  string
	}{
		{"magic", func(b []byte) { b[0] = 'X' }, ino, ErrMagic, "core.magic"},
		{"crc", func(b []byte) { b[8] ^= 1 }, ino, ErrCRC, "v3.crc"},
		{"ino", nil, ino + 1, ErrIdentity, "v3.inumber"},
		{"version", func(b []byte) { b[4] = 2 }, ino, ErrRange, "core.version"},
		{"uuid", func(b []byte) { b[170] ^= 1 }, ino, ErrIdentity, "v3.uuid"},
		{"format", func(b []byte) { b[5] = 7 }, ino, ErrRange, "core.format"},
		{"local regular", func(b []byte) { b[5] = FmtLocal }, ino, ErrRange, "core.format"},
		{"forkoff", func(b []byte) { b[82] = 255 }, ino, ErrRange, "core.forkoff"},
		{"too many extents", func(b []byte) { binary.BigEndian.PutUint32(b[76:], 1000) }, ino, ErrRange, "core.nextents"},
		{"aformat", func(b []byte) { b[83] = FmtBtree }, ino, ErrRange, "core.aformat"},
		{"nblocks", func(b []byte) { binary.BigEndian.PutUint64(b[64:], 1) }, ino, ErrRange, "core.nblocks"},
		{"mode", func(b []byte) { binary.BigEndian.PutUint16(b[2:], 0o170644) }, ino, ErrRange, "core.mode"},
		{"nrext64", func(b []byte) { b[127] |= Diflag2Nrext64 }, ino, ErrRange, "v3.flags2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if tc.mutate != nil {
				tc.mutate(b)
				if tc.kind != ErrCRC {
					UpdateCRC(b, InodeCRCOffset())
				}
			}
			in, _ := DecodeInode(b)
			errs := VerifyInode(in, g, tc.ino, false)
			for _, e := range errs {
				var fe *FormatError
				if errors.As(e, &fe) && errors.Is(e, tc.kind) && fe.Field == tc.field {
					return
				}
			}
			t.Errorf("want a %v on %s, got %v", tc.kind, tc.field, errs)
		})
	}
}

func TestInodeLargeExtentCounts(t *testing.T) {
	fx := loadFixture(t, "allfeatures")
	b := synthInode(fx.geo, 99, nil)
	be := binary.BigEndian
	be.PutUint64(b[120:], Diflag2Nrext64|Diflag2Bigtime)
	be.PutUint64(b[24:], 1<<40) // di_big_nextents
	be.PutUint32(b[76:], 70000) // di_big_anextents
	be.PutUint16(b[80:], 0)     // di_nrext64_pad
	b[5], b[82], b[83] = FmtBtree, 20, FmtBtree
	in, _ := DecodeInode(b)
	if in.NExtents != 1<<40 || in.ANExtents != 70000 || !in.HasLargeExtentCounts() {
		t.Fatalf("NREXT64 counts: %d %d", in.NExtents, in.ANExtents)
	}
	if len(in.Fork(false)) != 160 || len(in.Fork(true)) != int(fx.geo.InodeSize)-DinodeCoreSize-160 {
		t.Fatalf("fork sizes %d %d", len(in.Fork(false)), len(in.Fork(true)))
	}
	be.PutUint64(b[120:], Diflag2Bigtime)
	in, _ = DecodeInode(b)
	if in.NExtents != 70000 || in.ANExtents != 0 {
		t.Fatalf("classic counts: %d %d", in.NExtents, in.ANExtents)
	}
}

// FuzzInode: no inode bytes may make decoding, verifying or reading the
// forks panic or read out of bounds.
func FuzzInode(f *testing.F) {
	fx := loadFixture(f, "allfeatures")
	g := fx.geo
	f.Add(synthInode(g, 128, []BmbtRec{{StartOff: 0, StartBlock: 100, BlockCount: 8}}), uint64(128))
	if _, err := testimg.LookTool("xfs_db"); err == nil && os.Geteuid() == 0 {
		im := openTestImage(f, "allfeatures")
		for _, ino := range []uint64{128, 129, 130, 131, 132, 133} {
			f.Add(im.inode(f, ino), ino)
		}
		for _, p := range []string{"/ag0/punched", "/ag0/xattr/many", "/ag0/prealloc.bin"} {
			if o, err := xfsdb.Print(im.path, "path "+p, "print v3.inumber"); err == nil {
				if ino, err := o.Uint("v3.inumber"); err == nil {
					f.Add(im.inode(f, ino), ino)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, ino uint64) {
		in, err := DecodeInode(b)
		if err != nil {
			return
		}
		_ = VerifyInode(in, g, ino, ino&1 == 0)
		for _, attr := range []bool{false, true} {
			fork := in.Fork(attr)
			if len(fork) > in.LiteralSize() {
				t.Fatalf("fork of %d bytes from a %d-byte literal area", len(fork), in.LiteralSize())
			}
			switch in.ForkFormat(attr) {
			case FmtExtents:
				for i := range min(in.ForkExtents(attr), uint64(len(fork)/BmbtRecLen)) {
					_ = DecodeBmbtRec(fork[i*BmbtRecLen:])
				}
			case FmtBtree:
				root, err := NewBmbtRoot(fork)
				if err != nil {
					continue
				}
				for i := range root.NumRecs() {
					_, _ = root.Key(i), root.Ptr(i)
				}
			}
		}
	})
}

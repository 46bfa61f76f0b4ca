package da

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/internal/rawimg"
	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// TestHashNameOracle compares HashName with xfs_db's hash command over
// names of every length remainder (the hash folds four bytes at a time).
func TestHashNameOracle(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := testimg.Image(t, "allfeatures")
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+~"
	names := []string{"a", "ab", "abc", "abcd", "hello", "lost+found"}
	for range 300 {
		b := make([]byte, 1+rng.IntN(60))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		names = append(names, string(b))
	}
	args := []string{"-r"}
	for _, n := range names {
		args = append(args, "-c", "hash "+n)
	}
	db, err := xfsdb.Command()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(db, append(args, img)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(names) {
		t.Fatalf("xfs_db printed %d hashes for %d names", len(lines), len(names))
	}
	for i, n := range names {
		want, err := strconv.ParseUint(lines[i], 0, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := HashName([]byte(n)); got != uint32(want) {
			t.Errorf("HashName(%q) = %#x, xfs_db says %#x", n, got, want)
		}
	}
}

func TestHashNameCI(t *testing.T) {
	// Case folds: names that differ only in the case of A-Z and Latin-1
	// capitals hash alike; other bytes do not fold.
	pairs := [][2]string{{"Hello", "hELLO"}, {"\xc0\xde", "\xe0\xfe"}}
	for _, p := range pairs {
		if HashNameCI([]byte(p[0])) != HashNameCI([]byte(p[1])) {
			t.Errorf("HashNameCI(%q) != HashNameCI(%q)", p[0], p[1])
		}
	}
	if HashNameCI([]byte("\xd7")) == HashNameCI([]byte("\xf7")) {
		t.Error("0xd7 (the multiplication sign) must not fold")
	}
	if DirHash([]byte("Abc"), false) != HashName([]byte("Abc")) || DirHash([]byte("Abc"), true) != HashNameCI([]byte("Abc")) {
		t.Error("DirHash does not pick the hash by the flag")
	}
	if got, want := ParentHash([]byte("x"), false, 0x1_0000_0002), HashName([]byte("x"))^1^2; got != want {
		t.Errorf("ParentHash = %#x, want %#x", got, want)
	}
}

// bigDirNode finds the allfeatures image's large directory (node form)
// and returns its inode number and its da node block with the
// directory block number it sits at.
func bigDirNode(t *testing.T, r *rawimg.Reader) (ino uint64, dablk uint64, buf []byte, daddr uint64) {
	t.Helper()
	o, err := xfsdb.Print(r.Path, "path /ag0/bigdir", "print v3.inumber")
	if err != nil {
		t.Fatal(err)
	}
	if ino, err = o.Uint("v3.inumber"); err != nil {
		t.Fatal(err)
	}
	// The node is the first block at the leaf offset (32 GiB into the
	// directory's address space), where the da-btree's root lives.
	dablk = (32 << 30) >> r.Geo.BlockLog
	bm, err := xfsdb.Bmap(r.Path, ino, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range bm {
		if e.Offset == dablk {
			dirblks := 1 << r.SB.DirBlkLog
			return ino, dablk, r.Blocks(t, e.StartBlock, dirblks), r.Geo.FSBToDaddr(e.StartBlock)
		}
	}
	t.Fatalf("bigdir (inode %d) maps nothing at directory block %d: not node form", ino, dablk)
	return
}

// TestNodeOracle compares a real da node block with xfs_db's print of it,
// field by field and entry by entry, and checks that it verifies.
func TestNodeOracle(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	r := rawimg.Open(t, "allfeatures")
	ino, dablk, buf, daddr := bigDirNode(t, r)
	n, err := DecodeNode(buf)
	if err != nil {
		t.Fatal(err)
	}
	if errs := n.Verify(true, r.SB.UUID, daddr, ino); len(errs) != 0 {
		t.Fatalf("node of inode %d: %v", ino, errs)
	}
	o, err := xfsdb.Print(r.Path, "inode "+strconv.FormatUint(ino, 10), "dblock "+strconv.FormatUint(dablk, 10))
	if err != nil {
		t.Fatal(err)
	}
	crcOK := xfsformat.CRCOK(buf, CRCOffset)
	for _, f := range n.Fields(crcOK) {
		want, ok := o.Get(f.Name)
		if !ok {
			t.Errorf("xfs_db prints no %s", f.Name)
			continue
		}
		if f.Text != want {
			t.Errorf("%s = %q, xfs_db says %q", f.Name, f.Text, want)
		}
	}
	arr := o.Array("nbtree")
	if arr == nil || arr.Len() != n.NumEntries() {
		t.Fatalf("xfs_db's nbtree has %v entries, we decode %d", arr, n.NumEntries())
	}
	for i := range n.NumEntries() {
		e := n.Entry(i)
		h, _ := arr.Get(i, "hashval")
		b, _ := arr.Get(i, "before")
		if h != "0x"+strconv.FormatUint(uint64(e.Hash), 16) || b != strconv.FormatUint(uint64(e.Before), 10) {
			t.Errorf("entry %d: [%#x,%d], xfs_db says [%s,%s]", i, e.Hash, e.Before, h, b)
		}
	}
}

// TestWalk walks the large directory's da-btree: every leaf once, in
// hash order, and a lookup of each leaf's hashes lands on a leaf that
// holds them.
func TestWalk(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	r := rawimg.Open(t, "allfeatures")
	ino, root, _, _ := bigDirNode(t, r)
	bm, err := xfsdb.Bmap(r.Path, ino, false)
	if err != nil {
		t.Fatal(err)
	}
	read := func(dablk uint32) ([]byte, error) {
		for _, e := range bm {
			if uint64(dablk) >= e.Offset && uint64(dablk) < e.Offset+e.Count {
				return r.Blocks(t, e.StartBlock+uint64(dablk)-e.Offset, 1<<r.SB.DirBlkLog), nil
			}
		}
		return nil, fmt.Errorf("directory block %d is a hole", dablk)
	}
	// A leaf's entries (xfs_dir3_leaf_entry: hashval, address) follow
	// its 64-byte header; its count is at byte 56.
	leafHashes := func(buf []byte) []uint32 {
		n := int(binary.BigEndian.Uint16(buf[56:]))
		var hs []uint32
		for i := range n {
			hs = append(hs, binary.BigEndian.Uint32(buf[64+8*i:]))
		}
		return hs
	}
	var leaves []uint32
	var last uint32
	err = Leaves(read, uint32(root), func(dablk uint32, buf []byte) error {
		if m := binary.BigEndian.Uint16(buf[8:]); m != Dir3LeafNMagic {
			return fmt.Errorf("leaf %d has magic %#x", dablk, m)
		}
		hs := leafHashes(buf)
		if len(hs) == 0 || hs[0] < last {
			return fmt.Errorf("leaf %d out of hash order (first %v after %#x)", dablk, hs, last)
		}
		last = hs[len(hs)-1]
		leaves = append(leaves, dablk)
		want := hs[len(hs)/2]
		got, err := Lookup(read, uint32(root), want)
		if err != nil {
			return err
		}
		if !slices.Contains(leafHashes(must(read(got))), want) {
			return fmt.Errorf("lookup of %#x went to leaf %d, which does not hold it", want, got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) < 2 {
		t.Fatalf("walked %d leaves", len(leaves))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestWalkLoop: a node that points at itself, or a tree deeper than the
// format allows, ends in ErrLoop instead of a hang.
func TestWalkLoop(t *testing.T) {
	node := func(level uint16, before uint32) []byte {
		b := make([]byte, 4096)
		info := BlkInfo{Magic: Node3Magic, V3: true}
		if err := info.Encode(b); err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint16(b[56:], 1)
		binary.BigEndian.PutUint16(b[58:], level)
		binary.BigEndian.PutUint32(b[64:], 0xffffffff)
		binary.BigEndian.PutUint32(b[68:], before)
		return b
	}
	self := func(dablk uint32) ([]byte, error) { return node(1, dablk), nil }
	if err := Leaves(self, 7, func(uint32, []byte) error { return nil }); !errors.Is(err, ErrLoop) {
		t.Errorf("Leaves over a self-loop: %v", err)
	}
	if _, err := Lookup(self, 7, 1); !errors.Is(err, ErrLoop) {
		t.Errorf("Lookup over a self-loop: %v", err)
	}
	// Each node claims the level above the previous one's child.
	deep := func(dablk uint32) ([]byte, error) { return node(uint16(4-dablk%5), dablk+1), nil }
	if err := Leaves(deep, 0, func(uint32, []byte) error { return nil }); !errors.Is(err, ErrLoop) {
		t.Errorf("Leaves down a too-deep tree: %v", err)
	}
}

func FuzzDecodeNode(f *testing.F) {
	b := make([]byte, 512)
	info := BlkInfo{Magic: Node3Magic, V3: true}
	_ = info.Encode(b)
	binary.BigEndian.PutUint16(b[56:], 3)
	binary.BigEndian.PutUint16(b[58:], 1)
	f.Add(b)
	f.Add(b[:20])
	f.Fuzz(func(t *testing.T, buf []byte) {
		n, err := DecodeNode(buf)
		if err != nil {
			return
		}
		_ = n.Fields(false)
		_ = n.Verify(true, xfsformat.UUID{}, 0, 0)
		for i := range n.NumEntries() {
			_ = n.Entry(i)
		}
	})
}

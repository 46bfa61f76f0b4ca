package attr

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// testdata holds blocks cut from real filesystems: an allfeatures
// image's node-form fork (node.bin, leaf.bin) and remote value
// (leaf-remote.bin, remote.bin), a kernel-written shortform fork with
// an empty and a binary value and an ACL (sf.bin, the inode's attr fork
// area), and that ACL's value (acl.bin).
func testdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err) // t may be nil: a missing file is the tree's fault
	}
	return b
}

// TestTestdataRoundTrip: the real blocks decode, verify against their
// own identity and encode back byte for byte.
func TestTestdataRoundTrip(t *testing.T) {
	for _, name := range []string{"leaf.bin", "leaf-remote.bin"} {
		b := testdata(t, name)
		l, err := DecodeLeaf(b)
		if err != nil {
			t.Fatal(err)
		}
		if errs := l.Verify(true, l.Hdr.Info.UUID, l.Hdr.Info.Blkno, l.Hdr.Info.Owner); len(errs) > 0 || !xfsformat.CRCOK(b, da.CRCOffset) {
			t.Errorf("%s: %v (CRC ok %v)", name, errs, xfsformat.CRCOK(b, da.CRCOffset))
		}
		if l.UsedBytes() != int(l.Hdr.UsedBytes) {
			t.Errorf("%s: names take %d bytes, usedbytes %d", name, l.UsedBytes(), l.Hdr.UsedBytes)
		}
		enc := make([]byte, len(b))
		if err := l.Hdr.Encode(enc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc[:l.Hdr.Size()], b[:l.Hdr.Size()]) {
			t.Errorf("%s: header encodes as %x, was %x", name, enc[:l.Hdr.Size()], b[:l.Hdr.Size()])
		}
	}
	rb := testdata(t, "remote.bin")
	h, err := DecodeRemoteHdr(rb)
	if err != nil {
		t.Fatal(err)
	}
	if errs := h.Verify(len(rb), h.UUID, h.Blkno); len(errs) > 0 || !xfsformat.CRCOK(rb, RemoteCRCOffset) {
		t.Errorf("remote.bin: %v", errs)
	}
	enc := make([]byte, RemoteHdrSize)
	if err := h.Encode(enc); err != nil || !bytes.Equal(enc, rb[:RemoteHdrSize]) {
		t.Errorf("remote header encodes as %x (%v), was %x", enc, err, rb[:RemoteHdrSize])
	}
	sfb := testdata(t, "sf.bin")
	sf, err := DecodeShortform(sfb)
	if err != nil || len(sf.Verify()) > 0 {
		t.Fatalf("sf.bin: %v %v", err, sf.Verify())
	}
	var in []SFAttr
	for _, e := range sf.Entries {
		in = append(in, SFAttr{e.Flags, e.Name, e.Value})
	}
	if out, err := EncodeShortform(in); err != nil || !bytes.Equal(out, sfb[:sf.TotSize]) {
		t.Errorf("shortform encodes as %x (%v), was %x", out, err, sfb[:sf.TotSize])
	}
	acl, err := DecodeACL(testdata(t, "acl.bin"), true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(acl.Encode(), testdata(t, "acl.bin")) {
		t.Errorf("ACL encodes as %x", acl.Encode())
	}
	// The kernel's getfattr of system.posix_acl_access for that ACL
	// (user 1234 rwx, group 55 r--), recorded from TestKernelForks' run.
	const kernel = "0200000001000600ffffffff02000700d204000004000500ffffffff080004003700000010000700ffffffff20000400ffffffff"
	if got := hex.EncodeToString(acl.LinuxXattr()); got != kernel {
		t.Errorf("posix_acl_xattr %s, the kernel gave %s", got, kernel)
	}
	back, err := DecodeLinuxACL(acl.LinuxXattr())
	if err != nil || !bytes.Equal(back.Encode(), testdata(t, "acl.bin")) {
		t.Errorf("posix_acl_xattr back to XFS: %x %v", back.Encode(), err)
	}
}

func TestCharns(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"a b", `"a b"`},
		{"\n\x00\xff", `"\d\000\377"`}, // xfs_db's own escape of a newline
		{"\a\b\t\v\f\r", `"\a\b\c\e\f\g"`},
		{`"'\?`, `"\"\'\\\?"`},
		{"\x7f\x1f", `"\177\037"`},
	} {
		if got := charns([]byte(c.in)); got != c.want {
			t.Errorf("charns(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestLinuxNames(t *testing.T) {
	for _, c := range []struct {
		flags uint8
		name  string
		want  []string
	}{
		{0, "x", []string{"user.x"}},
		{FlagLocal, "x", []string{"user.x"}},
		{FlagRoot, "x", []string{"trusted.x"}},
		{FlagSecure, "selinux", []string{"security.selinux"}},
		{FlagRoot, ACLFileName, []string{LinuxACLAccess, "trusted." + ACLFileName}},
		{FlagRoot, ACLDefaultName, []string{LinuxACLDefault, "trusted." + ACLDefaultName}},
		{0, ACLFileName, []string{"user." + ACLFileName}},
		{FlagParent, "file", nil},
		{FlagIncomplete, "x", nil},
		{FlagRoot | FlagSecure, "x", nil},
	} {
		got := LinuxNames(c.flags, []byte(c.name))
		if !slices.Equal(got, c.want) {
			t.Errorf("LinuxNames(%#x, %q) = %q, want %q", c.flags, c.name, got, c.want)
		}
		for _, ln := range got {
			ns, name, ok := ParseLinuxName(ln)
			if !ok || ns != NamespaceOf(c.flags) || string(name) != c.name {
				t.Errorf("ParseLinuxName(%q) = %v %q %v", ln, ns, name, ok)
			}
		}
	}
	for _, bad := range []string{"system.other", "user.", "os2.x", "x", "user." + strings.Repeat("n", 256)} {
		if _, _, ok := ParseLinuxName(bad); ok {
			t.Errorf("ParseLinuxName(%q) accepted", bad)
		}
	}
}

func TestNameOK(t *testing.T) {
	for _, c := range []struct {
		flags uint8
		name  string
		ok    bool
	}{
		{0, "a", true},
		{0, "", false},
		{0, "a\x00b", false},
		{0, "a/b", true},
		{FlagParent, "a/b", false},
		{FlagParent, "ab", true},
		{FlagParent | FlagIncomplete, "ab", false},
		{FlagRoot | FlagSecure, "ab", false},
		{0, strings.Repeat("n", 255), true},
		{0, strings.Repeat("n", 256), false},
	} {
		if got := NameOK(c.flags, []byte(c.name)); got != c.ok {
			t.Errorf("NameOK(%#x, %q) = %v", c.flags, c.name, got)
		}
	}
}

func TestParentRec(t *testing.T) {
	p := ParentRec{Ino: 0x1_0000_0083, Gen: 0xdeadbeef}
	back, err := DecodeParentRec(p.Encode())
	if err != nil || back != p {
		t.Fatalf("round trip %v %v", back, err)
	}
	if Hash(FlagParent, []byte("name"), p.Encode(), false) != da.ParentHash([]byte("name"), false, p.Ino) {
		t.Error("parent hash is not xfs_parent_hashval")
	}
	if Hash(FlagParent, []byte("name"), []byte("short"), false) != 0 {
		t.Error("a parent pointer without a record hashes to 0")
	}
	if Hash(FlagRoot, []byte("name"), nil, true) != da.HashName([]byte("name")) {
		t.Error("attribute names hash with xfs_da_hashname whatever ASCII-CI says")
	}
}

func TestACLLimits(t *testing.T) {
	entry := ACL{{Tag: ACLOther, Perm: 4}}.Encode()[xfsACLHdr:]
	build := func(n int) []byte {
		b := make([]byte, xfsACLHdr, xfsACLHdr+n*xfsACLEntry)
		b[3] = byte(n)
		b[2] = byte(n >> 8)
		for range n {
			b = append(b, entry...)
		}
		return b
	}
	for _, c := range []struct {
		n  int
		v5 bool
		ok bool
	}{{0, true, true}, {25, false, true}, {26, false, false}, {5461, true, true}, {5462, true, false}} {
		if _, err := DecodeACL(build(c.n), c.v5); (err == nil) != c.ok {
			t.Errorf("%d entries (v5 %v): %v", c.n, c.v5, err)
		}
	}
	short := build(2)
	if _, err := DecodeACL(short[:len(short)-1], true); err == nil {
		t.Error("a value shorter than its count accepted")
	}
	bad := build(1)
	bad[7] = 0x40
	if _, err := DecodeACL(bad, true); err == nil {
		t.Error("an unknown tag accepted")
	}
	if _, err := DecodeLinuxACL([]byte{1, 0, 0, 0}); err == nil {
		t.Error("posix_acl_xattr version 1 accepted")
	}
}

// TestRemoteRoundTrip: values of every awkward length written into
// blocks as the kernel does come back whole, span RemoteBlocks blocks,
// and assembly reports blocks out of order, missing or foreign.
func TestRemoteRoundTrip(t *testing.T) {
	for _, v5 := range []bool{true, false} {
		for _, bs := range []int{1024, 4096} {
			o := RemoteOpts{V5: v5, BlockSize: bs, UUID: xfsformat.UUID{1, 2, 3}, Owner: 77}
			space := RemoteSpace(bs, v5)
			for _, n := range []int{1, space - 1, space, space + 1, 3 * space, MaxValueLen} {
				value := bytes.Repeat([]byte{0xa5, 0x5a, 7}, n)[:n]
				daddr := func(i int) uint64 { return 1000 + uint64(i*bs/512) }
				blocks, err := EncodeRemote(value, o, daddr)
				if err != nil {
					t.Fatal(err)
				}
				if len(blocks) != RemoteBlocks(uint32(n), bs, v5) {
					t.Errorf("%d bytes in %d blocks, RemoteBlocks says %d", n, len(blocks), RemoteBlocks(uint32(n), bs, v5))
				}
				one := RemoteRun{Buf: bytes.Join(blocks, nil), Daddr: daddr(0)}
				got, errs := AssembleRemote([]RemoteRun{one}, uint32(n), o)
				if len(errs) > 0 || !bytes.Equal(got, value) {
					t.Errorf("v5 %v bs %d n %d: %v, value equal %v", v5, bs, n, errs, bytes.Equal(got, value))
				}
				if !v5 || len(blocks) < 2 {
					continue
				}
				swapped := []RemoteRun{{blocks[1], daddr(0)}, {blocks[0], daddr(1)}}
				if _, errs := AssembleRemote(append(swapped, one), uint32(n), o); len(errs) == 0 {
					t.Errorf("n %d: swapped blocks assembled without complaint", n)
				}
				if _, errs := AssembleRemote([]RemoteRun{{blocks[0], daddr(0)}}, uint32(n), o); len(errs) == 0 {
					t.Errorf("n %d: a missing block went unnoticed", n)
				}
				other := o
				other.Owner++
				if _, errs := AssembleRemote([]RemoteRun{one}, uint32(n), other); len(errs) == 0 {
					t.Errorf("n %d: another inode's blocks accepted", n)
				}
			}
		}
	}
	if _, errs := AssembleRemote(nil, MaxValueLen+1, RemoteOpts{V5: true, BlockSize: 4096}); len(errs) == 0 {
		t.Error("a value past 64 KiB accepted")
	}
}

// TestWalkAndLookup: a node over two leaves whose boundary falls inside
// a run of one hash (names chosen to collide) is walked in hash order,
// every attribute is found by its namespace and name (following the
// forward link), and absent ones are not.
func TestWalkAndLookup(t *testing.T) {
	// "Aa" and "@\xe1" share a hash: 'A'<<7^'a' == '@'<<7^0xe1. "A0"
	// to "A9" hash below it, "B0" to "B9" above.
	a, b := "Aa", "@\xe1"
	if da.HashName([]byte(a)) != da.HashName([]byte(b)) {
		t.Fatal("the names do not collide")
	}
	h := da.HashName([]byte(a))
	all := []leafAttr{{name: b, value: "second"}, {flags: FlagRoot, name: a, value: "trusted"},
		{name: "gone", value: "x", flags: FlagIncomplete}, {name: "rmt", valueBlk: 9, valueLen: 5000}}
	for i := range 10 {
		all = append(all, leafAttr{name: fmt.Sprintf("A%d", i), value: "L"}, leafAttr{name: fmt.Sprintf("B%d", i), value: "R"})
	}
	// The user "Aa" ends the left leaf, the rest of its hash run
	// starts the right one.
	left := []leafAttr{{name: a, value: "first"}}
	var right []leafAttr
	for _, x := range all {
		if da.HashName([]byte(x.name)) < h {
			left = append(left, x)
		} else {
			right = append(right, x)
		}
	}
	if len(left) < 3 || len(right) < 5 {
		t.Fatalf("leaves of %d and %d", len(left), len(right))
	}
	top := uint32(0)
	for _, x := range right {
		top = max(top, da.HashName([]byte(x.name)))
	}
	m := map[uint32][]byte{
		0: buildNode(t, 4096, 1, []da.NodeEntry{{Hash: h, Before: 1}, {Hash: top, Before: 2}}),
		1: buildLeaf(t, 4096, 2, 0, left),
		2: buildLeaf(t, 4096, 0, 1, right),
	}
	read := blocksOf(m)
	var last uint32
	n := 0
	if err := WalkBlocks(read, func(x *Attr) error {
		if x.Err != nil || x.Hash < last {
			t.Errorf("walk: %v, hash %#x after %#x", x.Err, x.Hash, last)
		}
		last = x.Hash
		n++
		return nil
	}); err != nil || n != len(left)+len(right) {
		t.Fatalf("walked %d of %d: %v", n, len(left)+len(right), err)
	}
	for _, c := range []struct {
		ns    Namespace
		name  string
		value string
	}{{User, a, "first"}, {User, b, "second"}, {Trusted, a, "trusted"}, {User, "A3", "L"}, {User, "B7", "R"}, {User, "A9", "L"}, {User, "rmt", ""}} {
		x, err := LookupBlocks(read, c.ns, []byte(c.name))
		if err != nil || string(x.Value) != c.value {
			t.Errorf("lookup %v %q: %v %+v", c.ns, c.name, err, x)
		}
	}
	for _, c := range []struct {
		ns   Namespace
		name string
	}{{Secure, a}, {User, "gone"}, {User, "nothere"}, {Trusted, "A3"}, {User, "@a"}} {
		if _, err := LookupBlocks(read, c.ns, []byte(c.name)); !errors.Is(err, ErrNoAttr) {
			t.Errorf("lookup %v %q: %v, want ErrNoAttr", c.ns, c.name, err)
		}
	}
	var errs []error
	if err := CheckBlocks(read, CheckOpts{V5: true, Owner: 99}, func(e error) { errs = append(errs, e) }); err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("CheckBlocks: %v", errs)
	}
	// A node entry that does not end its child's hashes is reported.
	m[0] = buildNode(t, 4096, 1, []da.NodeEntry{{Hash: h, Before: 1}, {Hash: top + 1, Before: 2}})
	errs = nil
	if err := CheckBlocks(read, CheckOpts{V5: true, Owner: 99}, func(e error) { errs = append(errs, e) }); err != nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), "btree[1].hashval") {
		t.Errorf("CheckBlocks over a node entry above its leaf: %v %v", err, errs)
	}

	// A forward link back to itself ends a lookup; a node pointing at
	// itself ends a walk.
	self := map[uint32][]byte{0: buildNode(t, 4096, 1, []da.NodeEntry{{Hash: h, Before: 0}})}
	if err := WalkBlocks(blocksOf(self), func(*Attr) error { return nil }); !errors.Is(err, da.ErrLoop) {
		t.Errorf("walk over a self-loop: %v", err)
	}
	cyc := map[uint32][]byte{
		0: buildNode(t, 4096, 1, []da.NodeEntry{{Hash: h, Before: 3}}),
		3: buildLeaf(t, 4096, 3, 0, []leafAttr{{name: a, value: "1"}}),
	}
	if _, err := LookupBlocks(blocksOf(cyc), User, []byte(b)); !errors.Is(err, da.ErrLoop) {
		t.Errorf("lookup along a forward link to itself: %v", err)
	}
	if _, err := LookupBlocks(blocksOf(map[uint32][]byte{0: buildNode(t, 4096, 1, []da.NodeEntry{{Hash: h, Before: 5}}), 5: m[0]}), User, []byte(a)); err == nil {
		t.Error("lookup through a node where a leaf belongs succeeded")
	}
}

func TestShortformEncode(t *testing.T) {
	in := []SFAttr{{0, []byte("a"), nil}, {FlagRoot, []byte("bb"), []byte("vv")}, {FlagSecure, []byte("c"), bytes.Repeat([]byte{1}, 255)}}
	b, err := EncodeShortform(in)
	if err != nil {
		t.Fatal(err)
	}
	fork := append(b, make([]byte, 40)...) // the rest of the fork area
	sf, err := DecodeShortform(fork)
	if err != nil || len(sf.Verify()) > 0 || len(sf.Entries) != 3 {
		t.Fatalf("%v %v %d", err, sf.Verify(), len(sf.Entries))
	}
	x, err := LookupShortform(fork, Secure, []byte("c"))
	if err != nil || len(x.Value) != 255 {
		t.Errorf("lookup: %v", err)
	}
	if _, err := LookupShortform(fork, User, []byte("c")); !errors.Is(err, ErrNoAttr) {
		t.Errorf("lookup in the wrong namespace: %v", err)
	}
	if _, err := EncodeShortform([]SFAttr{{0, nil, nil}}); err == nil {
		t.Error("an empty name encoded")
	}
	if _, err := EncodeShortform([]SFAttr{{0, []byte("a"), make([]byte, 256)}}); err == nil {
		t.Error("a 256-byte shortform value encoded")
	}
	// Cut the list: the walk ends with an entry that says so.
	var cut []*Attr
	if err := WalkShortform(b[:len(b)-10], func(a *Attr) error { cut = append(cut, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(cut) != 3 || cut[2].Err == nil {
		t.Errorf("a cut list walks as %d entries, last error %v", len(cut), cut[len(cut)-1].Err)
	}
}

// TestFirstUsedNullOff: an empty leaf of a 64 KiB block has its name
// area starting at 65536, which 16 bits cannot hold: it is stored as
// NullOff and read back as the block size, and the block verifies.
func TestFirstUsedNullOff(t *testing.T) {
	b := buildLeaf(t, 65536, 0, 0, nil)
	l, err := DecodeLeaf(b)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hdr.FirstUsed != NullOff || l.Hdr.FirstUsedBytes(len(b)) != 65536 {
		t.Errorf("firstused %d, read as %d", l.Hdr.FirstUsed, l.Hdr.FirstUsedBytes(len(b)))
	}
	if errs := l.Verify(true, l.Hdr.Info.UUID, 0, 0); len(errs) > 0 {
		t.Error(errs)
	}
	if EncodeFirstUsed(4096) != 4096 || EncodeFirstUsed(65535) != 65535 {
		t.Error("firstused below 64 KiB is stored as is")
	}
}

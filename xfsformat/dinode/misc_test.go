package dinode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/xfsformat"
)

func TestBmapExtents(t *testing.T) {
	hole := func(off, n uint64) Mapping {
		return Mapping{FileOff: off, Count: n, StartBlock: xfsformat.NullFSBlock, Hole: true}
	}
	exts := []xfsformat.BmbtRec{
		{StartOff: 2, StartBlock: 100, BlockCount: 3},
		{StartOff: 5, StartBlock: 200, BlockCount: 2, Unwritten: true},
		{StartOff: 10, StartBlock: 300, BlockCount: 1},
	}
	cases := []struct {
		off, n uint64
		want   []Mapping
	}{
		{0, 0, nil},
		{0, 2, []Mapping{hole(0, 2)}},
		{0, 4, []Mapping{hole(0, 2), {FileOff: 2, Count: 2, StartBlock: 100}}},
		{3, 5, []Mapping{{FileOff: 3, Count: 2, StartBlock: 101}, {FileOff: 5, Count: 2, StartBlock: 200, Unwritten: true}, hole(7, 1)}},
		{6, 10, []Mapping{{FileOff: 6, Count: 1, StartBlock: 201, Unwritten: true}, hole(7, 3), {FileOff: 10, Count: 1, StartBlock: 300}, hole(11, 5)}},
		{11, 4, []Mapping{hole(11, 4)}},
		{10, 1, []Mapping{{FileOff: 10, Count: 1, StartBlock: 300}}},
		{xfsformat.MaxFileOff, 10, []Mapping{hole(xfsformat.MaxFileOff, 1)}},
	}
	for _, tc := range cases {
		if got := BmapExtents(exts, tc.off, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("bmap %d+%d:\n got %+v\nwant %+v", tc.off, tc.n, got, tc.want)
		}
	}
	if z := (Mapping{Unwritten: true}); !z.Zero() || (Mapping{}).Zero() {
		t.Error("Zero: unwritten pieces read as zeroes, written ones do not")
	}
}

func TestTimestamps(t *testing.T) {
	for _, tc := range []struct {
		sec     int64
		nsec    uint32
		bigtime bool
	}{
		{0, 0, false}, {-1, 5, false}, {1<<31 - 1, 999999999, false}, {-1 << 31, 0, false},
		{0, 0, true}, {-1 << 31, 0, true}, {1 << 33, 123, true}, {1764624621, 319240810, true},
	} {
		ts := MakeTimestamp(tc.sec, tc.nsec, tc.bigtime)
		if sec, nsec := ts.Unix(tc.bigtime); sec != tc.sec || nsec != tc.nsec {
			t.Errorf("%d.%09d (bigtime %v) -> %#x -> %d.%09d", tc.sec, tc.nsec, tc.bigtime, uint64(ts), sec, nsec)
		}
	}
	// The bigtime epoch is the legacy format's earliest second.
	if sec, _ := Timestamp(0).Unix(true); time.Unix(sec, 0).UTC().Format(time.RFC3339) != "1901-12-13T20:45:52Z" {
		t.Errorf("bigtime 0 is %v", time.Unix(sec, 0).UTC())
	}
}

func TestCharsText(t *testing.T) {
	// xfs_db 6.1's fp_charns, quirks included: a tab is \c, a newline \d.
	in := []byte("a b\\'\"?\a\b\t\n\v\f\r\x00\x7f\xff~")
	want := `"a b\\\'\"\?\a\b\c\d\e\f\g\000\177\377~"`
	if got := CharsText(in); got != want {
		t.Errorf("CharsText = %s, want %s", got, want)
	}
}

// remoteSymlink makes a remote symlink of target on the 1k fixture (two
// blocks of 968 bytes for a 1000-byte target): the inode, its blocks.
func remoteSymlink(t *testing.T, fx *fixture, target []byte, exts []xfsformat.BmbtRec) (*Core, map[uint64][]byte) {
	t.Helper()
	c := fx.core(t, "tree_long.link")
	c.Size, c.NExtents, c.NBlocks = uint64(len(target)), uint64(len(exts)), uint64(len(exts))
	fork := c.Fork(false)
	clear(fork)
	blocks := map[uint64][]byte{}
	g := fx.fs.Geo
	done := 0
	for i, e := range exts {
		e.Encode(fork[i*xfsformat.BmbtRecLen:])
		buf := make([]byte, int(e.BlockCount)*int(g.BlockSize))
		n := min(len(buf)-SymlinkHdrSize, len(target)-done)
		h := SymlinkHeader{Magic: SymlinkMagic, Offset: uint32(done), Bytes: uint32(n), UUID: g.MetaUUID, Owner: c.Ino, Blkno: g.FSBToDaddr(e.StartBlock)}
		if err := h.Encode(buf); err != nil {
			t.Fatal(err)
		}
		copy(buf[SymlinkHdrSize:], target[done:done+n])
		xfsformat.UpdateCRC(buf, SymlinkCRCOffset())
		done += n
		for b := range uint64(e.BlockCount) {
			blocks[e.StartBlock+b] = buf[b*uint64(g.BlockSize) : (b+1)*uint64(g.BlockSize)]
		}
	}
	return reencode(t, c, nil), blocks
}

// reencode encodes c over a copy of its bytes, lets raw change them
// (the CRC is then redone) and decodes the result.
func reencode(t *testing.T, c *Core, raw func(b []byte)) *Core {
	t.Helper()
	b := append([]byte(nil), c.Buf...)
	if err := c.Encode(b); err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		raw(b)
		xfsformat.UpdateCRC(b, xfsformat.InodeCRCOffset())
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// mapReader serves the blocks of a map; any other is an error.
func mapReader(blocks map[uint64][]byte) BlockReader {
	return func(fsb uint64) ([]byte, error) {
		if b, ok := blocks[fsb]; ok {
			return b, nil
		}
		return nil, errors.New("no such block")
	}
}

func TestRemoteSymlink(t *testing.T) {
	fx := loadFixtures(t)[1] // 1 KiB blocks: a long target spans blocks
	if fx.fs.Geo.BlockSize != 1024 {
		t.Fatalf("fixture %s has %d-byte blocks", fx.profile, fx.fs.Geo.BlockSize)
	}
	target := bytes.Repeat([]byte("0123456789/"), 91)[:1000]
	twoExtents := []xfsformat.BmbtRec{{StartOff: 0, StartBlock: 9000, BlockCount: 1}, {StartOff: 1, StartBlock: 9100, BlockCount: 1}}
	oneExtent := []xfsformat.BmbtRec{{StartOff: 0, StartBlock: 9000, BlockCount: 2}}
	for _, exts := range [][]xfsformat.BmbtRec{twoExtents, oneExtent} {
		c, blocks := remoteSymlink(t, fx, target, exts)
		got, err := Target(fx.fs, c, mapReader(blocks))
		if err != nil || !bytes.Equal(got, target) {
			t.Errorf("%d extents: target %q, %v", len(exts), got, err)
		}
		if errs := Verify(fx.fs, c, c.Ino); len(errs) > 0 {
			t.Errorf("%d extents: %v", len(exts), errs)
		}
	}
	breaks := []struct {
		name string
		f    func(c *Core, blocks map[uint64][]byte)
		want string
	}{
		{"wrong owner", func(c *Core, b map[uint64][]byte) { b[9100][39]++; xfsformat.UpdateCRC(b[9100], symlinkCRCOff) }, "owner"},
		{"wrong offset", func(c *Core, b map[uint64][]byte) { b[9100][7]++; xfsformat.UpdateCRC(b[9100], symlinkCRCOff) }, "from byte"},
		{"bad CRC", func(c *Core, b map[uint64][]byte) { b[9000][100]++ }, "CRC"},
		{"bad magic", func(c *Core, b map[uint64][]byte) { b[9000][0] = 0 }, "not a symlink block"},
		{"wrong daddr", func(c *Core, b map[uint64][]byte) { b[9000], b[9100] = b[9100], b[9000] }, "daddr"},
		{"hole", func(c *Core, b map[uint64][]byte) {
			r := xfsformat.BmbtRec{StartOff: 5, StartBlock: 9100, BlockCount: 1}
			r.Encode(c.Fork(false)[xfsformat.BmbtRecLen:])
		}, "hole"},
		{"too long", func(c *Core, b map[uint64][]byte) { c.Size = 2000 }, "1 to 1024"},
	}
	for _, br := range breaks {
		c, blocks := remoteSymlink(t, fx, target, twoExtents)
		br.f(c, blocks)
		_, err := Target(fx.fs, c, mapReader(blocks))
		if err == nil || !strings.Contains(err.Error(), br.want) {
			t.Errorf("%s: error %v, want one saying %q", br.name, err, br.want)
		}
	}
}

// TestEncodeRoundTrip changes every field of a decoded core and checks
// that Encode puts each where Decode finds it, in both extent counter
// layouts.
func TestEncodeRoundTrip(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		c := fx.core(t, "punched")
		c.Mode, c.UID, c.GID, c.Nlink, c.OnLink = 0o100600, 1000, 100, 3, 0
		c.ProjIDLo, c.ProjIDHi = 7, 9
		c.ATime, c.MTime, c.CTime, c.CrTime = 11, 12, 13, 14
		c.Size, c.NBlocks, c.ExtSize, c.NExtents, c.ANExtents = 1<<40, 99, 0, 12345, 0
		c.DMEvMask, c.DMState, c.Flags, c.Gen, c.NextUnlinked = 5, 6, DiflagNoDump, 77, 88
		c.ChangeCount, c.LSN, c.CowExtSize = 1, 2, 0
		c.Pad2[3] = 1
		d := reencode(t, c, nil)
		if !d.CRCOK() {
			t.Errorf("%s: CRC not redone", fx.profile)
		}
		d.Buf, c.Buf = nil, nil
		if !reflect.DeepEqual(c, d) {
			t.Errorf("%s: round trip:\n got %+v\nwant %+v", fx.profile, d, c)
		}
	}
}

package attr

import (
	"bytes"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// The fuzz targets are seeded with the real blocks under testdata; no
// input may panic or hang, and what verifies must round-trip.

func FuzzShortform(f *testing.F) {
	sf := testdata(f, "sf.bin")
	f.Add(sf)
	f.Add(sf[:20])
	f.Add([]byte{0, 4, 0, 0})
	f.Fuzz(func(t *testing.T, fork []byte) {
		s, err := DecodeShortform(fork)
		if err != nil {
			return
		}
		_ = s.Fields("a.sfattr")
		ok := len(s.Verify()) == 0
		_ = CheckShortform(fork, CheckOpts{V5: true}, func(error) {})
		_, _ = LookupShortform(fork, Trusted, []byte(ACLFileName))
		var attrs []SFAttr
		_ = WalkShortform(fork, func(a *Attr) error {
			for _, ln := range a.LinuxNames() {
				_, _ = LinuxValue(ln, a.Value, true)
			}
			attrs = append(attrs, SFAttr{a.Flags, a.Name, a.Value})
			return nil
		})
		if ok {
			// The encoder writes the header's pad byte as 0.
			want := bytes.Clone(fork[:s.TotSize])
			want[3] = 0
			out, err := EncodeShortform(attrs)
			if err != nil || !bytes.Equal(out, want) {
				t.Fatalf("a verified fork encodes as %x (%v), was %x", out, err, want)
			}
		}
	})
}

func FuzzLeaf(f *testing.F) {
	for _, n := range []string{"leaf.bin", "leaf-remote.bin"} {
		b := testdata(f, n)
		f.Add(b)
		f.Add(b[:1024])
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		l, err := DecodeLeaf(buf)
		if err != nil {
			return
		}
		_ = l.Fields(xfsformat.CRCOK(buf, 12))
		_ = l.Verify(true, xfsformat.UUID{}, 0, 0)
		_ = l.Verify(false, xfsformat.UUID{}, 0, 0)
		_ = l.UsedBytes()
		_ = WalkLeaf(l, 0, func(a *Attr) error {
			_ = a.Check(false, nil)
			_ = a.LinuxNames()
			return nil
		})
		enc := make([]byte, len(buf))
		if err := l.Hdr.Encode(enc); err != nil || !bytes.Equal(enc[:l.Hdr.Size()], buf[:l.Hdr.Size()]) {
			t.Fatalf("the header encodes as %x (%v)", enc[:l.Hdr.Size()], err)
		}
	})
}

// FuzzForkBlocks cuts the input into attr blocks 0, 1, ... (node.bin
// and leaf.bin seed it: a root node and one of its leaves) and walks,
// looks up and checks the fork they make.
func FuzzForkBlocks(f *testing.F) {
	f.Add(append(testdata(f, "node.bin"), testdata(f, "leaf.bin")...), uint8(3))
	f.Add(testdata(f, "leaf-remote.bin"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, bsLog uint8) {
		bs := 512 << (bsLog % 4)
		read := func(blk uint32) ([]byte, error) {
			// Blocks past those given are holes, as in a fork: the walk
			// reads each mapped block once at most.
			if int64(blk) >= int64(len(data)/bs) {
				return nil, ErrNoAttr
			}
			return data[int(blk)*bs : int(blk+1)*bs], nil
		}
		_ = WalkBlocks(read, func(*Attr) error { return nil })
		_ = CheckBlocks(read, CheckOpts{V5: true, Owner: 1}, func(error) {})
		_, _ = LookupBlocks(read, User, []byte("many7"))
	})
}

func FuzzRemote(f *testing.F) {
	rb := testdata(f, "remote.bin")
	f.Add(rb, uint32(20000), true)
	f.Add(rb[:512], uint32(100), false)
	f.Fuzz(func(t *testing.T, buf []byte, valueLen uint32, v5 bool) {
		if h, err := DecodeRemoteHdr(buf); err == nil {
			_ = h.Verify(len(buf), xfsformat.UUID{}, 0)
			enc := make([]byte, RemoteHdrSize)
			if err := h.Encode(enc); err != nil || !bytes.Equal(enc, buf[:RemoteHdrSize]) {
				t.Fatalf("the header encodes as %x (%v)", enc, err)
			}
		}
		_ = RemoteFields(buf, v5)
		for _, bs := range []int{512, 1024, 4096} {
			o := RemoteOpts{V5: v5, BlockSize: bs, Owner: 1}
			_ = RemoteBlocks(valueLen, bs, v5)
			v, _ := AssembleRemote([]RemoteRun{{Buf: buf}}, valueLen, o)
			if valueLen <= MaxValueLen && len(v) != int(valueLen) {
				t.Fatalf("a %d-byte value assembled as %d bytes", valueLen, len(v))
			}
		}
	})
}

func FuzzACL(f *testing.F) {
	acl := testdata(f, "acl.bin")
	f.Add(acl)
	a, _ := DecodeACL(acl, true)
	f.Add(a.LinuxXattr())
	f.Fuzz(func(t *testing.T, value []byte) {
		for _, v5 := range []bool{true, false} {
			a, err := DecodeACL(value, v5)
			if err != nil {
				continue
			}
			if !bytes.Equal(a.Encode(), value) {
				t.Fatalf("an ACL encodes as %x, was %x", a.Encode(), value)
			}
			back, err := DecodeLinuxACL(a.LinuxXattr())
			if err != nil || len(back) != len(a) {
				t.Fatalf("posix_acl_xattr round trip: %v", err)
			}
		}
		if a, err := DecodeLinuxACL(value); err == nil {
			if _, err := DecodeACL(a.Encode(), true); err != nil && len(a) <= MaxACLEntries(true) {
				t.Fatalf("an ACL from posix_acl_xattr does not decode as XFS's: %v", err)
			}
		}
	})
}

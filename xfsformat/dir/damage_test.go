package dir

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/internal/xfsdb"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

var be = binary.BigEndian

// damage is one corruption of one directory block.
type damage struct {
	name  string
	dir   string
	dablk func(g *Geometry) uint32
	// mutate damages the block; it may return the owner to verify for
	// (0: the directory's own).
	mutate  func(g *Geometry, b []byte) (owner uint64)
	keepCRC bool   // leave the CRC as it was (the damage is to the CRC)
	field   string // a reported error names it (a prefix will do)
	kind    error
	// kernel: the kernel's buffer verifier catches it, so xfs_db, which
	// reads through the same verifiers, must complain.
	kernel bool
}

func at(dablk uint32) func(*Geometry) uint32 { return func(*Geometry) uint32 { return dablk } }
func leafDA(g *Geometry) uint32              { return g.LeafDA() }
func freeDA(g *Geometry) uint32              { return g.FreeDA() }

// slotOff is the offset of slot i of a data block.
func slotOff(g *Geometry, b []byte, i int) int {
	d, _ := DecodeData(g, b)
	for s := range d.Slots() {
		if i == 0 {
			return s.Off
		}
		i--
	}
	panic("no such slot")
}

var damages = []damage{
	{name: "magic", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[3] = 'X'; return 0 }, field: "dhdr.hdr.magic", kind: xfsformat.ErrMagic, kernel: true}, // no longer a block's magic
	{name: "crc", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[slotOff(g, b, 2)+9] ^= 1; return 0 }, keepCRC: true, field: "bhdr.hdr.crc", kind: xfsformat.ErrCRC, kernel: true},
	{name: "uuid", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[30] ^= 0xff; return 0 }, field: "bhdr.hdr.uuid", kind: xfsformat.ErrIdentity, kernel: true},
	{name: "bno", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[15] ^= 8; return 0 }, field: "bhdr.hdr.bno", kind: xfsformat.ErrIdentity, kernel: true},
	{name: "owner", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { return 99 }, field: "bhdr.hdr.owner", kind: xfsformat.ErrIdentity},
	{name: "bestfree", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[51] += 8; return 0 }, field: "bhdr.bestfree", kind: xfsformat.ErrRange, kernel: true},
	{name: "tag", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 {
		o := slotOff(g, b, 2) + g.EntSize(int(b[slotOff(g, b, 2)+8])) - 2
		b[o+1] ^= 8
		return 0
	}, field: "bu[2].tag", kind: xfsformat.ErrRange, kernel: true},
	{name: "filetype", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 {
		o := slotOff(g, b, 2)
		b[o+9+int(b[o+8])] = 12
		return 0
	}, field: "bu[2].filetype", kind: xfsformat.ErrRange}, // the kernel reads a type past the last as unknown
	{name: "inumber", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { be.PutUint64(b[slotOff(g, b, 2):], 0); return 0 }, field: "bu[2].inumber", kind: xfsformat.ErrRange, kernel: true},
	{name: "leafhash", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 {
		n := int(be.Uint32(b[len(b)-8:]))
		o := len(b) - 8 - 8*n + 8*(n/2)
		be.PutUint32(b[o:], be.Uint32(b[o:])+1)
		return 0
	}, field: "bu[", kind: xfsformat.ErrRange, kernel: true},
	{name: "stale", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 { b[len(b)-1] = 1; return 0 }, field: "btail.stale", kind: xfsformat.ErrRange, kernel: true},
	{name: "count", dir: "/block", dablk: at(0), mutate: func(g *Geometry, b []byte) uint64 {
		be.PutUint32(b[len(b)-8:], uint32(len(b)-8-g.DataHdrSize())/8)
		return 0
	}, field: "btail.count", kind: xfsformat.ErrRange, kernel: true},

	{name: "leaf1count", dir: "/leaf", dablk: leafDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint16(b[56:], uint16(g.LeafMaxEnts()+1)); return 0 }, field: "lhdr.count", kind: xfsformat.ErrRange, kernel: true},
	{name: "leaf1order", dir: "/leaf", dablk: leafDA, mutate: func(g *Geometry, b []byte) uint64 {
		be.PutUint32(b[64+8*4:], be.Uint32(b[64+8*3:])-1)
		return 0
	}, field: "lents[4].hashval", kind: xfsformat.ErrRange, kernel: true},
	{name: "leaf1stale", dir: "/leaf", dablk: leafDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint16(b[58:], 3); return 0 }, field: "lhdr.stale", kind: xfsformat.ErrRange, kernel: true},
	{name: "leaf1bests", dir: "/leaf", dablk: leafDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint32(b[len(b)-4:], 1); return 0 }, field: "lents[", kind: xfsformat.ErrRange, kernel: true},
	{name: "leaf1uuid", dir: "/leaf", dablk: leafDA, mutate: func(g *Geometry, b []byte) uint64 { b[40] ^= 1; return 0 }, field: "lhdr.info.uuid", kind: xfsformat.ErrIdentity, kernel: true},
	{name: "leafncount", dir: "/node", dablk: func(g *Geometry) uint32 { return g.LeafDA() + 1 }, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint16(b[56:], uint16(g.LeafMaxEnts()+1)); return 0 }, field: "lhdr.count", kind: xfsformat.ErrRange, kernel: true},
	{name: "datatag", dir: "/node", dablk: at(1), mutate: func(g *Geometry, b []byte) uint64 {
		o := slotOff(g, b, 3) + g.EntSize(int(b[slotOff(g, b, 3)+8])) - 2
		b[o] ^= 1
		return 0
	}, field: "du[3].tag", kind: xfsformat.ErrRange, kernel: true},
	{name: "freemagic", dir: "/node", dablk: freeDA, mutate: func(g *Geometry, b []byte) uint64 { b[2] = 'Z'; return 0 }, field: "fhdr.hdr.magic", kind: xfsformat.ErrMagic, kernel: true},
	{name: "firstdb", dir: "/node", dablk: freeDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint32(b[48:], 5); return 0 }, field: "fhdr.firstdb", kind: xfsformat.ErrRange},
	{name: "nused", dir: "/node", dablk: freeDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint32(b[56:], be.Uint32(b[52:])+1); return 0 }, field: "fhdr.nused", kind: xfsformat.ErrRange},
	{name: "nvalid", dir: "/node", dablk: freeDA, mutate: func(g *Geometry, b []byte) uint64 { be.PutUint32(b[52:], uint32(g.FreeMaxBests()+1)); return 0 }, field: "fhdr.nvalid", kind: xfsformat.ErrRange},
}

func hasErr(errs []error, field string, kind error) bool {
	for _, e := range errs {
		var fe *xfsformat.FormatError
		if errors.As(e, &fe) && strings.HasPrefix(fe.Field, field) && errors.Is(e, kind) {
			return true
		}
	}
	return false
}

// TestVerifyDamage damages directory blocks one field at a time: our
// verifiers must name the field, and where the kernel's buffer
// verifiers check it, xfs_db (which reads through them) must complain
// about the same block.
func TestVerifyDamage(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := protoImage(t)
	im := openImage(t, img)
	g := im.g
	w, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	dirs := map[string]*dirInfo{}
	for _, c := range damages {
		t.Run(c.name, func(t *testing.T) {
			d := dirs[c.dir]
			if d == nil {
				d = findDir(t, im, c.dir)
				dirs[c.dir] = d
			}
			dablk := c.dablk(g)
			orig, err := d.r.read(dablk)
			if err != nil {
				t.Fatal(err)
			}
			daddr := d.r.daddr(dablk)
			if errs := verifyBlock(g, orig, dablk, daddr, d.ino); len(errs) != 0 {
				t.Fatalf("undamaged block does not verify: %v", errs)
			}
			b := append([]byte(nil), orig...)
			owner := c.mutate(g, b)
			if owner == 0 {
				owner = d.ino
			}
			if !c.keepCRC {
				off := CRCOffset
				if dablk >= g.LeafDA() && dablk < g.FreeDA() {
					off = da.CRCOffset
				}
				xfsformat.UpdateCRC(b, off)
			}
			errs := verifyBlock(g, b, dablk, daddr, owner)
			if !hasErr(errs, c.field, c.kind) {
				t.Errorf("damage to %s: got %v", c.field, errs)
			}
			if !c.kernel {
				return
			}
			// The same damage on disk, read by xfs_db.
			if _, err := w.WriteAt(b, int64(daddr)<<9); err != nil {
				t.Fatal(err)
			}
			defer w.WriteAt(orig, int64(daddr)<<9)
			o, _ := xfsdb.Print(img, "inode "+strconv.FormatUint(d.ino, 10), "dblock "+strconv.FormatUint(uint64(dablk), 10))
			msgs := strings.Join(o.Messages, "\n")
			if !strings.Contains(msgs, "Metadata") && !strings.Contains(msgs, "Unknown directory buffer type") {
				t.Errorf("xfs_db does not complain about damage to %s (%v): %q", c.field, errs, msgs)
			}
		})
	}
}

func verifyBlock(g *Geometry, b []byte, dablk uint32, daddr, owner uint64) []error {
	switch {
	case dablk < g.LeafDA():
		d, err := DecodeData(g, b)
		if err != nil {
			return []error{err}
		}
		return d.Verify(daddr, owner)
	case dablk >= g.FreeDA():
		f, err := DecodeFree(g, b)
		if err != nil {
			return []error{err}
		}
		return f.Verify(dablk, daddr, owner)
	}
	l, err := DecodeLeaf(b)
	if err != nil {
		return []error{err}
	}
	return l.Verify(g, daddr, owner)
}

// TestShortformDamage damages a shortform directory one field at a
// time: our verifier must name the field, and xfs_repair -n must find
// the directory damaged too.
func TestShortformDamage(t *testing.T) {
	testimg.Require(t, "xfsprogs")
	img := protoImage(t)
	im := openImage(t, img)
	g := im.g
	d := findDir(t, im, "/sf")
	if d.sf == nil || len(d.sf.Entries) < 3 || len(d.sf.Entries[0].Name) != len(d.sf.Entries[1].Name) {
		t.Fatalf("/sf is not a shortform directory of 3 entries or more, the first two names of one length: %+v", d)
	}
	ent := func(i int) SFEntry { return d.sf.Entries[i] }
	inoAt := func(i int) int { return ent(i).Pos + 3 + len(ent(i).Name) + 1 }
	repair, err := testimg.LookTool("xfs_repair")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := testimg.RunTimed(t, time.Minute, repair, "-n", img); err != nil {
		t.Fatalf("xfs_repair -n on the undamaged image: %v\n%s", err, out)
	}
	w, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, c := range []struct {
		name   string
		mutate func(fork []byte) []byte
		field  string
	}{
		{"offset", func(b []byte) []byte { be.PutUint16(b[ent(2).Pos+1:], ent(1).Offset); return b }, "list[2].offset"},
		{"inumber", func(b []byte) []byte { be.PutUint32(b[inoAt(1):], 0); return b }, "list[1].inumber"},
		{"filetype", func(b []byte) []byte { b[inoAt(0)-1] = FtMax; return b }, "list[0].filetype"},
		{"parent", func(b []byte) []byte { be.PutUint32(b[2:], 1); return b }, "hdr.parent"},
		{"namelen", func(b []byte) []byte { b[ent(2).Pos] = 0; return b }, "list[2].namelen"},
		{"size", func(b []byte) []byte { return b[:len(b)-1] }, "hdr.count"},
		{"count", func(b []byte) []byte { b[0]--; return b }, "hdr.count"},
		// "fifo" becomes a second "file" (xfs_repair: "a duplicate name").
		{"duplicate", func(b []byte) []byte { copy(b[ent(1).Pos+3:], ent(0).Name[:len(ent(1).Name)]); return b }, "list[1].name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fork := c.mutate(append([]byte(nil), d.sf.Buf...))
			s, err := DecodeShortform(g, fork)
			if err != nil {
				t.Fatal(err)
			}
			if errs := s.Verify(); !hasErr(errs, c.field, xfsformat.ErrRange) {
				t.Errorf("damage to %s: got %v", c.field, errs)
			}
			// The same damage on disk: the fork, di_size, the inode CRC.
			off := im.inodeOffset(d.ino)
			orig := im.read(t, off, int(im.sb.InodeSize))
			b := append([]byte(nil), orig...)
			copy(b[xfsformat.DinodeCoreSize:], fork)
			be.PutUint64(b[56:], uint64(len(fork)))
			xfsformat.UpdateCRC(b, xfsformat.InodeCRCOffset())
			if _, err := w.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
			defer w.WriteAt(orig, off)
			out, err := testimg.RunTimed(t, time.Minute, repair, "-n", img)
			if err == nil {
				t.Errorf("xfs_repair -n finds nothing wrong with damage to %s:\n%s", c.field, out)
			}
		})
	}
}

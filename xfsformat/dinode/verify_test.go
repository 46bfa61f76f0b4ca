package dinode

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// verifyCase breaks one rule of the kernel's inode verifier on the
// inode of a fixture label (of allfeatures, or nrext64): Verify must name
// field.
type verifyCase struct {
	name, label, field string
	nrext64            bool
	core               func(c *Core)
	raw                func(b []byte) // after Encode; the CRC is redone
	fs                 func(fs *FS)
}

var verifyCases = []verifyCase{
	{name: "onlink on a v3 inode", label: "hello.txt", field: "core.onlink", core: func(c *Core) { c.OnLink = 1 }},
	{name: "v3 padding", label: "hello.txt", field: "core.v3_pad", core: func(c *Core) { c.Pad24 = 1 }},
	{name: "nrext64 padding", label: "punched", nrext64: true, field: "core.nrext64_pad", core: func(c *Core) { c.NRext64Pad = 1 }},
	{name: "nrext64 without the feature", label: "punched", nrext64: true, field: "v3.flags2", fs: func(fs *FS) { fs.Nrext64 = false }},
	{name: "realtime without a device", label: "hello.txt", field: "core.realtime", core: func(c *Core) { c.Flags |= xfsformat.DiflagRealtime }},
	{name: "extent size without its flag", label: "hello.txt", field: "core.extsize", core: func(c *Core) { c.ExtSize = 16 }},
	{name: "extent size flag on a directory", label: "_ag0", field: "core.extsz", core: func(c *Core) { c.Flags |= DiflagExtSize; c.ExtSize = 16 }},
	{name: "inherited extent size on a file", label: "hello.txt", field: "core.extszinherit", core: func(c *Core) { c.Flags |= DiflagExtSzInherit; c.ExtSize = 16 }},
	{name: "extent size flag, zero hint", label: "hello.txt", field: "core.extsize", core: func(c *Core) { c.Flags |= DiflagExtSize }},
	{name: "extent size past half an AG", label: "hello.txt", field: "core.extsize", core: func(c *Core) { c.Flags |= DiflagExtSize; c.ExtSize = 1<<21 - 1 }},
	{name: "extent size hint on a symlink", label: "tree_hello.link", field: "core.extsize", core: func(c *Core) { c.Flags |= DiflagExtSize; c.ExtSize = 4 }},
	{name: "reflink on a directory", label: "_ag0", field: "v3.reflink", core: func(c *Core) { c.Flags2 |= xfsformat.Diflag2Reflink }},
	{name: "reflink without the feature", label: "shared.reflink", field: "v3.flags2", fs: func(fs *FS) { fs.Reflink = false }},
	{name: "CoW extent size without its flag", label: "hello.txt", field: "v3.cowextsize", core: func(c *Core) { c.CowExtSize = 8 }},
	{name: "bigtime without the feature", label: "hello.txt", field: "v3.bigtime", fs: func(fs *FS) { fs.Bigtime = false }},
	{name: "metadata inode without metadir", label: "hello.txt", field: "v3.flags2", core: func(c *Core) { c.Flags2 |= Diflag2Metadata }},
	{name: "blocks but no extents", label: "inodes_f000018", field: "core.nblocks", core: func(c *Core) { c.NBlocks = 5 }},
	{name: "small directory not local", label: "bigdir", field: "core.format", core: func(c *Core) { c.Size = 16 }},
	{name: "small symlink in btree format", label: "tree_long.link", field: "core.format", core: func(c *Core) { c.Size = 16; c.Format = xfsformat.FmtBtree }},
	{name: "zero-length extent", label: "hello.txt", field: "u3.bmx[0]", raw: func(b []byte) { setRec(b, 0, func(r *xfsformat.BmbtRec) { r.BlockCount = 0 }) }},
	{name: "extent outside the AGs", label: "big.bin", field: "u3.bmx[0]", raw: func(b []byte) { setRec(b, 0, func(r *xfsformat.BmbtRec) { r.StartBlock = 1 << 40 }) }},
	{name: "extent in the AG headers", label: "big.bin", field: "u3.bmx[0]", raw: func(b []byte) { setRec(b, 0, func(r *xfsformat.BmbtRec) { r.StartBlock = 0 }) }},
	{name: "unwritten attr extent", label: "xattr_bigval", field: "a.bmx[0]", raw: func(b []byte) {
		setAttrRec(b, 0, func(r *xfsformat.BmbtRec) { r.Unwritten = true })
	}},
	{name: "bmbt root without records", label: "punched", field: "u3.bmbt.numrecs", raw: func(b []byte) { binary.BigEndian.PutUint16(b[xfsformat.DinodeCoreSize+2:], 0) }},
	{name: "bmbt root at level 0", label: "punched", field: "u3.bmbt.level", raw: func(b []byte) { binary.BigEndian.PutUint16(b[xfsformat.DinodeCoreSize:], 0) }},
	{name: "bmbt root too high", label: "punched", field: "u3.bmbt.level", raw: func(b []byte) { binary.BigEndian.PutUint16(b[xfsformat.DinodeCoreSize:], 40) }},
	{name: "btree fork that fits as extents", label: "punched", field: "core.nextents", core: func(c *Core) { c.NExtents = 3 }},
	{name: "next_unlinked in the AG headers", label: "hello.txt", field: "next_unlinked", core: func(c *Core) { c.NextUnlinked = 0 }},
	{name: "local attr fork larger than the fork", label: "xattr_few", field: "a.sfattr.hdr.totsize", raw: func(b []byte) {
		binary.BigEndian.PutUint16(b[xfsformat.DinodeCoreSize+int(b[82])*8:], 4000)
	}},
	{name: "NUL in an inline symlink", label: "tree_hello.link", field: "u3.symlink", raw: func(b []byte) { b[xfsformat.DinodeCoreSize+1] = 0 }},
	{name: "forkoff beside an unknown format", label: "free", field: "core.forkoff", core: func(c *Core) { c.ForkOff, c.Format = 24, 7 }},
	{name: "free inode, attr format without a fork", label: "free", field: "core.aformat", core: func(c *Core) { c.ForkOff, c.AFormat = 0, xfsformat.FmtLocal }},
	{name: "free inode, attr extents without a fork", label: "free", field: "core.naextents", core: func(c *Core) { c.ForkOff, c.ANExtents = 0, 1 }},
}

// TestVerifyRules breaks one rule at a time on a healthy fixture inode
// (the CRC recomputed, so that it is not the finding) and expects Verify
// to name the field.
func TestVerifyRules(t *testing.T) {
	fxs := loadFixtures(t)
	for _, tc := range verifyCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := fxs[0]
			if tc.nrext64 {
				fx = fxs[2]
			}
			c := fx.core(t, tc.label)
			fs := *fx.fs
			if tc.core != nil {
				tc.core(c)
			}
			m := reencode(t, c, tc.raw)
			if tc.fs != nil {
				tc.fs(&fs)
			}
			errs := Verify(&fs, m, c.Ino)
			var fields []string
			found := false
			for _, e := range errs {
				var fe *xfsformat.FormatError
				if !errors.As(e, &fe) {
					t.Errorf("%v is no FormatError", e)
					continue
				}
				fields = append(fields, fe.Field)
				found = found || fe.Field == tc.field
				if errors.Is(e, xfsformat.ErrCRC) {
					t.Errorf("CRC finding after the CRC was redone: %v", e)
				}
			}
			if !found {
				t.Errorf("no finding on %s; findings on %s: %v", tc.field, strings.Join(fields, ", "), errs)
			}
		})
	}
}

// setRec changes extent record i of the data fork.
func setRec(b []byte, i int, f func(*xfsformat.BmbtRec)) {
	changeRec(b[xfsformat.DinodeCoreSize+i*xfsformat.BmbtRecLen:], f)
}

// setAttrRec changes extent record i of the attr fork (at forkoff).
func setAttrRec(b []byte, i int, f func(*xfsformat.BmbtRec)) {
	changeRec(b[xfsformat.DinodeCoreSize+int(b[82])*8+i*xfsformat.BmbtRecLen:], f)
}

func changeRec(b []byte, f func(*xfsformat.BmbtRec)) {
	r := xfsformat.DecodeBmbtRec(b)
	f(&r)
	r.Encode(b)
}

package check

import (
	"context"
	"testing"
	"time"

	"github.com/xfsbox/xfsbox/internal/testimg"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// memFS opens b, a whole image, from memory (read-only).
func memFS(t testing.TB, b []byte, opts fsys.OpenOptions) (*fsys.FS, error) {
	t.Helper()
	return fsys.OpenImage(store.NewImage(store.MemDevice(b), int64(len(b)), "small.img (in memory)", false), opts)
}

// metaPiece is one stretch of the metadata region FuzzCheck mutates:
// crcOff is where the CRC of each unit-byte object in it lies (-1: none).
type metaPiece struct {
	off     int64
	n, unit int
	crcOff  int
}

// metadataRegion lists, in the pristine image fs, every AG's header
// sectors and btree root blocks, the inodes in use (mkfs.xfs -p makes
// them in a run from the root's) and the log's first block.
func metadataRegion(t testing.TB, fs *fsys.FS) []metaPiece {
	t.Helper()
	g := fs.Geo
	var out []metaPiece
	for agno := uint32(0); agno < g.AGCount; agno++ {
		for n, crc := range []int{xfsformat.SBCRCOffset(), xfsformat.AGFCRCOffset(), xfsformat.AGICRCOffset(), xfsformat.AGFLCRCOffset()} {
			ss := int(g.SectSize)
			out = append(out, metaPiece{g.SectorOffset(agno, n), ss, ss, crc})
		}
		for _, bt := range []xfsformat.BtreeType{xfsformat.Bnobt, xfsformat.Cntbt, xfsformat.Inobt, xfsformat.Finobt, xfsformat.Rmapbt, xfsformat.Refcountbt} {
			root, _, present, err := fs.BtreeRoot(agno, bt)
			if err != nil {
				t.Fatal(err)
			}
			if present {
				bs := int(g.BlockSize)
				out = append(out, metaPiece{g.ByteOffset(agno, root), bs, bs, xfsformat.BtreeCRCOffset()})
			}
		}
	}
	agno, agino := g.SplitIno(fs.SB.RootIno)
	used := int(min(fs.SB.ICount-fs.SB.IFree, 64))
	is := int(g.InodeSize)
	out = append(out, metaPiece{g.ByteOffset(agno, 0) + int64(agino)*int64(is), used * is, is, xfsformat.InodeCRCOffset()})
	if lag, lbno, ok := g.InternalLogAG(); ok {
		out = append(out, metaPiece{g.ByteOffset(lag, lbno), int(g.BlockSize), int(g.BlockSize), -1})
	}
	return out
}

// FuzzCheck checks whole images in memory: the small fixture image with
// bytes of its metadata region (metadataRegion) changed. The input is
// small, which keeps mutating and minimizing it fast: its first byte's
// low bit says whether to set every object's CRC after the changes (so
// that they get past the CRC checks), then every 4 bytes change one
// byte: a 3-byte offset into the region (modulo its length) and the new
// value. Opening and checking may fail, never panic or hang.
func FuzzCheck(f *testing.F) {
	base := testimg.SmallImage(f)
	pristine, err := memFS(f, base, fsys.OpenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	region := metadataRegion(f, pristine)
	pristine.Close()
	var where []int64 // the image offset of each region byte
	for _, p := range region {
		for i := range p.n {
			where = append(where, p.off+int64(i))
		}
	}
	f.Add([]byte{0})
	f.Add([]byte{1})
	at := 0
	for _, p := range region { // one byte changed in each object, past its header's first fields
		o := at + 60
		f.Add([]byte{1, byte(o >> 16), byte(o >> 8), byte(o), base[where[o]] ^ 0x5a})
		at += p.n
	}

	const maxChanges = 256
	img := append([]byte(nil), base...)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fixCRC, changes := data[0]&1 != 0, data[1:min(len(data), 1+4*maxChanges)]
		for ; len(changes) >= 4; changes = changes[4:] {
			o := (int(changes[0])<<16 | int(changes[1])<<8 | int(changes[2])) % len(where)
			img[where[o]] = changes[3]
		}
		if fixCRC {
			for _, p := range region {
				for u := p.off; p.crcOff >= 0 && u+int64(p.unit) <= p.off+int64(p.n); u += int64(p.unit) {
					xfsformat.UpdateCRC(img[u:u+int64(p.unit)], p.crcOff)
				}
			}
		}
		defer func() {
			for _, p := range region {
				copy(img[p.off:p.off+int64(p.n)], base[p.off:])
			}
		}()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fs, err := memFS(t, img, fsys.OpenOptions{CacheBytes: 4 << 20})
			if err != nil {
				return
			}
			defer fs.Close()
			Check(context.Background(), fs, CheckOptions{Workspace: workspace.Options{Estimate: 1 << 20, MaxBytes: 64 << 20}})
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("the check has not finished in a minute: hung")
		}
	})
}

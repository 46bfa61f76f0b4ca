package history

import (
	"slices"
	"testing"

	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// snap makes an inode snapshot: mode, nlink, size, blocks, format and
// extent count of its core, and the extents it logs (DEXT) when ext is
// not nil.
func snap(lsn uint64, mode uint16, nlink uint32, size, nblocks uint64, format uint8, next uint32, ext []xfsformat.BmbtRec) *InodeSnapshot {
	s := &InodeSnapshot{LSN: lsn, Ino: 99, Fields: xlog.ILogCore, Extents: ext,
		Core: &xlog.LogDinode{Magic: 0x494e, Mode: mode, Version: 3, Format: format, Nlink: nlink, Size: size, Nblocks: nblocks, Nextents: next, Gen: uint32(lsn)}}
	if ext != nil {
		s.Fields |= xlog.ILogDExt
	}
	return s
}

func exts(n int) []xfsformat.BmbtRec {
	var r []xfsformat.BmbtRec
	for i := 0; i < n; i++ {
		r = append(r, xfsformat.BmbtRec{StartOff: uint64(i), StartBlock: uint64(100 + 2*i), BlockCount: 1})
	}
	return r
}

// TestLastLivesRules feeds snapshot sequences the kernel writes (see
// lastlives.go) and checks what LastLives' rules keep of them.
func TestLastLivesRules(t *testing.T) {
	const reg, ext, btree = 0o100644, xfsformat.FmtExtents, xfsformat.FmtBtree
	type want struct {
		ok                bool
		size              uint64
		extents           []xfsformat.BmbtRec
		known, freed, cut bool
		reborn            bool
	}
	cases := []struct {
		name  string
		snaps []*InodeSnapshot
		want  want
	}{
		{"written, unlinked, freed", []*InodeSnapshot{
			snap(1, reg, 1, 0, 0, ext, 0, nil), snap(2, reg, 1, 0, 3, ext, 3, exts(3)), snap(3, reg, 1, 9000, 3, ext, 3, nil),
			snap(4, reg, 0, 9000, 3, ext, 3, nil), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 9000, exts(3), true, true, false, false}},
		{"inactivation seen mid-truncation", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 5, ext, 5, exts(5)), snap(2, reg, 0, 9000, 5, ext, 5, nil),
			snap(3, reg, 0, 0, 3, ext, 3, exts(3)), snap(4, reg, 0, 0, 1, ext, 1, exts(1)), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 9000, exts(5), true, true, true, false}},
		{"preallocated past size 0, inactivation mid-way", []*InodeSnapshot{
			snap(1, reg, 1, 0, 5, ext, 5, exts(5)), snap(2, reg, 0, 0, 5, ext, 5, nil),
			snap(3, reg, 0, 0, 3, ext, 3, exts(3)), snap(4, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 0, exts(5), true, true, true, false}},
		{"truncated to zero and rewritten, list logged again", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 5, ext, 5, exts(5)), snap(2, reg, 1, 0, 0, ext, 0, nil),
			snap(3, reg, 1, 0, 2, ext, 2, exts(2)), snap(4, reg, 1, 5000, 2, ext, 2, exts(2)), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 5000, exts(2), true, true, false, false}},
		{"truncated to zero and rewritten, the new list not logged with the size", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 5, ext, 5, exts(5)), snap(2, reg, 1, 0, 0, ext, 0, nil),
			snap(3, reg, 1, 0, 5, ext, 5, exts(5)), snap(4, reg, 1, 5000, 5, ext, 5, nil), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 5000, nil, false, true, false, false}},
		{"the log begins in the inactivation", []*InodeSnapshot{
			snap(3, reg, 0, 0, 3, ext, 3, exts(3)), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{}},
		{"the log begins at the unlink", []*InodeSnapshot{
			snap(4, reg, 0, 9000, 3, ext, 3, nil), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 9000, nil, false, true, false, false}},
		{"btree format: no extent list", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 3, ext, 3, exts(3)), snap(2, reg, 1, 90000, 30, btree, 30, nil), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 90000, nil, false, true, false, false}},
		{"extent count disagrees with the list", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 3, ext, 3, exts(3)), snap(2, reg, 1, 9000, 3, ext, 4, nil), snap(5, 0, 0, 0, 0, ext, 0, nil)},
			want{true, 9000, nil, false, true, false, false}},
		{"freed, then reborn", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 3, ext, 3, exts(3)), snap(2, 0, 0, 0, 0, ext, 0, nil), snap(3, 0, 0, 0, 0, ext, 0, nil),
			snap(4, reg, 1, 10, 1, ext, 1, exts(1))},
			want{true, 9000, exts(3), true, true, false, true}},
		{"live at the log's end", []*InodeSnapshot{
			snap(1, reg, 1, 9000, 3, ext, 3, exts(3)), snap(2, reg, 1, 9001, 3, ext, 3, nil)},
			want{true, 9001, exts(3), true, false, false, false}},
	}
	for _, c := range cases {
		l := &life{}
		for _, s := range c.snaps {
			l.see(s)
		}
		h := l.result()
		w := c.want
		if h == nil {
			if w.ok {
				t.Errorf("%s: no life", c.name)
			}
			continue
		}
		var extents []xfsformat.BmbtRec
		if h.ExtentsKnown {
			extents = h.Extents
		}
		if !w.ok || h.Live.Core.Size != w.size || h.ExtentsKnown != w.known || !slices.Equal(extents, w.extents) ||
			(h.FreedLSN != 0) != w.freed || (h.Cut != nil) != w.cut || h.Reborn != w.reborn {
			t.Errorf("%s: size %d extents %s known %v freed %d cut %v reborn %v; want %+v", c.name, h.Live.Core.Size, extText(h.Extents),
				h.ExtentsKnown, h.FreedLSN, h.Cut != nil, h.Reborn, w)
		}
	}
}

package forensics

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/xfsbox/xfsbox/repair/forensics/history"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Names from the log. Adding a name logs it: a shortform directory logs
// its whole inline fork with the inode (DDATA), a block, leaf or node
// directory logs the data block's bytes around the new entry (a buffer
// item whose regions are 128-byte chunks), and with them the block's
// header, which on v5 names the owning directory. So the log holds, for
// as long as it reaches back, every name given, with the full inode
// number: for deleted files in shortform directories (which keep nothing
// of a removed entry), and to choose among several names carved for one
// inode (the latest logged is the name it had last).

// LoggedName is a directory entry found in the log.
type LoggedName struct {
	Dir  uint64
	Name []byte
	Ino  uint64
	// Ftype is the entry's file type (0 without the ftype feature).
	Ftype uint8
	LSN   uint64
	// Daddr and Off locate a data block's entry; 0 for a shortform one.
	Daddr uint64
	Off   int
}

// LogNames reads the log once and calls fn with every directory entry
// it holds whose inode want accepts. The LSNs are nondecreasing.
func LogNames(ctx context.Context, fs *fsys.FS, want func(ino uint64) bool, fn func(LoggedName)) error {
	g, err := fs.DirGeometry()
	if err != nil {
		return err
	}
	blk := make([]byte, g.BlockSize)
	_, err = history.Scan(ctx, fs, history.Visitor{
		Inode: func(s *history.InodeSnapshot) error {
			if s.Local == nil || s.Core == nil || s.Core.Mode&xfsformat.ModeTypeMask != xfsformat.ModeDir {
				return nil
			}
			sf, err := dir.DecodeShortform(g, s.Local)
			if err != nil {
				return nil
			}
			for e := range sf.All(s.Ino) {
				if validName(e.Name) && want(e.Ino) {
					fn(LoggedName{Dir: s.Ino, Name: append([]byte(nil), e.Name...), Ino: e.Ino, Ftype: e.Ftype, LSN: s.LSN})
				}
			}
			return nil
		},
		Buffer: func(b *history.BufferSnapshot) error {
			if b.Cancelled || int(b.Len)*512 != g.BlockSize {
				return nil
			}
			owner, ok := dataBlockOwner(g, b)
			if !ok {
				return nil
			}
			clear(blk)
			for _, r := range b.Regions {
				if r.Offset >= 0 && r.Offset < len(blk) {
					copy(blk[r.Offset:], r.Data)
				}
			}
			for _, r := range b.Regions {
				from := max(r.Offset, g.DataHdrSize())
				from = (from + 7) &^ 7
				carveRegion(g, blk, from, min(r.Offset+len(r.Data), len(blk)), loggedSpan, func(c Carved) {
					if want(c.Ino) {
						fn(LoggedName{Dir: owner, Name: append([]byte(nil), c.Name...), Ino: c.Ino, Ftype: c.Ftype, LSN: b.LSN, Daddr: b.Daddr, Off: c.Off})
					}
				})
			}
			return nil
		},
	})
	return err
}

// dataBlockOwner reads the owner of a logged directory data block from
// the header region (v5: XDB3 or XDD3 magic, the owner at byte 40).
func dataBlockOwner(g *dir.Geometry, b *history.BufferSnapshot) (uint64, bool) {
	if !g.V5 {
		return 0, false
	}
	for _, r := range b.Regions {
		if r.Offset == 0 && len(r.Data) >= 48 {
			m := binary.BigEndian.Uint32(r.Data)
			if m == dir.Block3Magic || m == dir.Data3Magic {
				return binary.BigEndian.Uint64(r.Data[40:]), true
			}
		}
	}
	return 0, false
}

// Where says where a logged name was found.
func (n *LoggedName) Where() string {
	if n.Daddr == 0 {
		return "log LSN " + xlog.LSNText(n.LSN) + " (shortform directory)"
	}
	return fmt.Sprintf("log LSN %s (daddr %d offset %d)", xlog.LSNText(n.LSN), n.Daddr, n.Off)
}

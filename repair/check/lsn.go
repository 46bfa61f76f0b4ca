package check

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// nullCommitLSN is the kernel's NULLCOMMITLSN: "no LSN", never ahead.
const nullCommitLSN = ^uint64(0)

// logHead is the log's current LSN (cycle, head block) as the check
// compares metadata LSNs with it, or 0 when the log cannot be read (no
// comparison then: the log's own findings say why).
func logHead(fs *fsys.FS) uint64 {
	ls, err := fsys.ReadLogState(fs)
	if err != nil {
		return 0
	}
	return uint64(ls.Cycle)<<32 | uint64(ls.HeadBlock)
}

// lsnAhead reports whether lsn is ahead of the log's head: metadata a
// recovery would wrongly skip log items for, which the kernel refuses
// and xfs_repair answers by formatting the log ("Maximum metadata LSN
// ... is ahead of log"). Cycles compare unsigned, as the kernel's
// XFS_LSN_CMP does.
func lsnAhead(lsn, head uint64) bool {
	return head != 0 && lsn != nullCommitLSN && lsn > head
}

// blockLSN finds the LSN of a v5 block above the AG by its magic: the
// structure it belongs to (for the finding code) and the LSN. Remote
// attribute values are left out: their LSN is never trusted by
// recovery (the kernel writes them unlogged), and xfs_repair ignores
// it too.
func blockLSN(buf []byte) (structure string, lsn uint64, ok bool) {
	if len(buf) < 56 {
		return "", 0, false
	}
	be := binary.BigEndian
	switch be.Uint32(buf) {
	case dir.Block3Magic, dir.Data3Magic, dir.Free3Magic:
		return "dir", be.Uint64(buf[16:]), true
	case xfsformat.BmapCRCMagic:
		return "bmbt", be.Uint64(buf[32:]), true
	case dinode.SymlinkMagic:
		return "symlink", be.Uint64(buf[48:]), true
	}
	switch be.Uint16(buf[8:]) {
	case da.Dir3Leaf1Magic, da.Dir3LeafNMagic:
		return "dir", be.Uint64(buf[24:]), true
	case da.Attr3LeafMagic:
		return "attr", be.Uint64(buf[24:]), true
	case da.Node3Magic:
		// A dabtree node of a directory or of an attribute fork: the
		// caller knows which; "da" when it does not say.
		return "da", be.Uint64(buf[24:]), true
	}
	return "", 0, false
}

// lsnChecker checks the LSN of every block one inode's check reads, and
// of the inode itself, against the log's head; it reports each
// structure once per inode. The content check takes one a inode from a
// pool and gives it back when the inode is done (done), with the block
// buffer its bmbt walks read into.
type lsnChecker struct {
	c        *contentCheck
	ino      uint64
	reported map[string]bool
	buf      []byte // walkReader's block
}

var lsnCheckers = sync.Pool{New: func() any { return new(lsnChecker) }}

func (c *contentCheck) lsnChecker(ino uint64, core *dinode.Core) *lsnChecker {
	l := lsnCheckers.Get().(*lsnChecker)
	l.c, l.ino = c, ino
	clear(l.reported)
	if c.dirGeo.V5 && lsnAhead(core.LSN, c.logLSN) {
		l.report("inode", core.LSN, -1, -1)
	}
	return l
}

// done gives the checker back: nothing of the inode's check may hold it.
func (l *lsnChecker) done() {
	l.c = nil
	lsnCheckers.Put(l)
}

// block checks a block read for the inode, at AG block agbno of agno
// (-1 for the inode's own place), where fork names the structure a
// dabtree node belongs to ("dir" or "attr").
func (l *lsnChecker) block(buf []byte, fork string, agno, agbno int64) {
	if !l.c.dirGeo.V5 || l.c.logLSN == 0 {
		return
	}
	s, lsn, ok := blockLSN(buf)
	if !ok || !lsnAhead(lsn, l.c.logLSN) {
		return
	}
	if s == "da" {
		s = fork
	}
	l.report(s, lsn, agno, agbno)
}

func (l *lsnChecker) report(structure string, lsn uint64, agno, agbno int64) {
	if l.reported[structure] {
		return
	}
	if l.reported == nil {
		l.reported = map[string]bool{}
	}
	l.reported[structure] = true
	c := l.c
	if agno < 0 {
		agno, agbno = c.where(l.ino)
	}
	c.findings.Add(Finding{Code: structure + ".lsn", Severity: Corrupt, AG: agno, Structure: structure, Block: agbno, Ino: l.ino,
		Message: fmt.Sprintf("inode %d: %s lsn %d:%d is ahead of the log's head %d:%d", l.ino, structure,
			lsn>>32, uint32(lsn), c.logLSN>>32, uint32(c.logLSN))})
}

// walkReader is readFSB for a Map.Walk alone: every block into the same
// buffer, past the block cache (a walk of a large bmbt reads each block
// once, and a cache buffer a block is fresh memory each time).
func (l *lsnChecker) walkReader() dinode.BlockReader {
	return func(fsb uint64) ([]byte, error) {
		if bs := int(l.c.fs.Geo.BlockSize); len(l.buf) != bs {
			l.buf = make([]byte, bs)
		}
		agno, agbno := l.c.fs.Geo.SplitFSB(fsb)
		if err := l.c.fs.ReadBlockInto(agno, agbno, l.buf); err != nil {
			return nil, err
		}
		l.block(l.buf, "", int64(agno), int64(agbno))
		return l.buf, nil
	}
}

// readFSB is contentCheck.readFSB with the LSN check.
func (l *lsnChecker) readFSB(fsb uint64) ([]byte, error) {
	buf, err := l.c.readFSB(fsb)
	if err == nil {
		agno, agbno := l.c.fs.Geo.SplitFSB(fsb)
		l.block(buf, "", int64(agno), int64(agbno))
	}
	return buf, err
}

// daddrBlock is the AG and AG block of a 512-byte sector address.
func (l *lsnChecker) daddrBlock(daddr uint64) (int64, int64) {
	g := l.c.fs.Geo
	blk := daddr >> (g.BlockLog - 9)
	return int64(blk / uint64(g.AGBlocks)), int64(blk % uint64(g.AGBlocks))
}

// reader wraps a fork's block reader (fsys.FS.ForkBlocks) for the
// dabtree checks: each block's disk address is kept in daddrs, for
// their findings, and its LSN checked, a node as one of fork's.
func (l *lsnChecker) reader(read func(uint32) ([]byte, uint64, error), fork string, daddrs map[uint32]uint64) func(uint32) ([]byte, error) {
	return func(dablk uint32) ([]byte, error) {
		buf, daddr, err := read(dablk)
		daddrs[dablk] = daddr
		if err == nil {
			agno, agbno := l.daddrBlock(daddr)
			l.block(buf, fork, agno, agbno)
		}
		return buf, err
	}
}

package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// The full scan: read every inode the inobt knows of and report, as rmap
// records, every block its data and attr forks use (extents and bmbt
// blocks). This is how the checker and the rebuilds learn used space
// without trusting the rmapbt (which may be the tree being rebuilt, or
// absent), as xfs_repair's phases 3 and 4 do.

// ChunkUse is what the scan found in one chunk's inodes, to compare with
// (or rebuild) the inobt record. Inodes in holes (sparse chunks) are
// neither read nor marked.
type ChunkUse struct {
	AG  uint32
	Rec xfsformat.InobtRec
	// InUse bit i: inode StartIno+i has the inode magic and mode != 0
	// (set even when the inode is also Bad).
	InUse uint64
	// Bad bit i: the inode could not be read, or its magic, version, CRC,
	// inode number or uuid is wrong, so its contents are not to be trusted.
	Bad uint64
	// Foreign bit i: what lies in the slot is not this slot's inode (it
	// could not be read or decoded, or its magic, version, inode number
	// or uuid is wrong): the chunk record naming the slot may be wrong.
	Foreign uint64
}

// RmapSink receives one mapping for AG agno (the AG that holds the blocks,
// not necessarily the inode's).
type RmapSink func(agno uint32, r xfsformat.RmapRec) error

// sinkBatch is how many mappings a worker collects before taking the
// lock that serialises calls to the sink.
const sinkBatch = 512

// ScanInodes walks every AG's inobt and reads every inode chunk it lists.
// For each inode in use it sends sink one rmap record per extent of its
// data and attr forks (owner = inode, offset = file offset with
// RmapOffAttrFork/RmapOffUnwritten), and one per bmbt block (offset =
// RmapOffBmbtBlock, with RmapOffAttrFork for the attr fork's tree). Data
// extents of realtime inodes are not reported (they are not on the data
// device); their bmbt blocks are.
//
// Mappings are merged as the kernel's rmapbt merges them: extents of one
// fork with the same flags that are contiguous in both block and file
// offset become one record, and so do adjacent bmbt blocks of one fork.
// Mappings of different inodes or forks are never merged (the consumer
// sees one record per fork-run, in no particular order across inodes).
//
// onChunk, if not nil, receives every chunk's ChunkUse.
//
// AGs are scanned in parallel (up to GOMAXPROCS at once). sink and onChunk
// are never called concurrently (calls are serialised), but they may be
// called from different goroutines and in any order across AGs.
//
// Problems (unreadable or bad inodes, bad bmbt blocks, extents outside the
// filesystem or crossing an AG, extent or block counts that disagree with
// the inode core) go to findings with severity Corrupt and never stop the
// scan. An inode whose magic, version, inode number or uuid is wrong is
// not decoded further: it yields no mappings. One with only a bad CRC is
// decoded. A bmbt block is reported (and descended into) only when it has
// the bmbt magic and the level its parent expects. The scan stops only
// when ctx is done or sink or onChunk returns an error, which it returns.
func ScanInodes(ctx context.Context, fs *fsys.FS, sink RmapSink, onChunk func(ChunkUse) error, findings *Findings) error {
	return ScanInodesWith(ctx, fs, nil, sink, onChunk, findings)
}

// ScanInodesWith is ScanInodes with the inode chunks of some AGs given
// (sorted by startino) instead of read from their inobt: the inobt
// rebuild scans the chunks it found without trusting the old tree.
func ScanInodesWith(ctx context.Context, fs *fsys.FS, chunks map[uint32][]xfsformat.InobtRec, sink RmapSink, onChunk func(ChunkUse) error, findings *Findings) error {
	return scanInodes(ctx, fs, chunks, sink, onChunk, findings, nil)
}

// scanInodes is ScanInodesWith with, when content is not nil, the check
// above the AG of every in-use inode the scan trusts.
func scanInodes(ctx context.Context, fs *fsys.FS, chunks map[uint32][]xfsformat.InobtRec, sink RmapSink, onChunk func(ChunkUse) error, findings *Findings, content *contentCheck) error {
	if findings == nil {
		findings = &Findings{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &scanOutput{sink: sink, onChunk: onChunk}

	var (
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	ags := make(chan uint32)
	workers := min(runtime.GOMAXPROCS(0), int(fs.Geo.AGCount))
	for range workers {
		wg.Go(func() {
			s := newInodeScanner(fs, out, findings)
			s.given, s.content = chunks, content
			for agno := range ags {
				if err := s.scanAG(ctx, agno); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
feed:
	for agno := range fs.Geo.AGCount {
		select {
		case ags <- agno:
		case <-ctx.Done():
			break feed
		}
	}
	close(ags)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// scanOutput serialises the callers' callbacks.
type scanOutput struct {
	mu      sync.Mutex
	sink    RmapSink
	onChunk func(ChunkUse) error
}

// agRmap is a mapping and the AG its blocks are in.
type agRmap struct {
	agno uint32
	rec  xfsformat.RmapRec
}

// inodeScanner is one worker's state; it scans one AG at a time.
type inodeScanner struct {
	core     dinode.Core // the inode being scanned
	fs       *fsys.FS
	g        *xfsformat.Geometry
	out      *scanOutput
	findings *Findings
	nrext64  bool

	given     map[uint32][]xfsformat.InobtRec // chunks not to read from the inobt
	content   *contentCheck                   // the check above the AG, or nil
	ctx       context.Context
	agno      uint32
	chunk     []byte   // one chunk's inodes
	levelBufs [][]byte // one bmbt block per level below the root
	batch     []agRmap
	cur       agRmap // mapping being merged, if cur.rec.BlockCount != 0
	sinkErr   error  // the sink failed: stop
	fork      forkState
}

// forkState tracks the fork being decoded.
type forkState struct {
	ino      uint64
	attr     bool
	realtime bool   // data fork of a realtime inode: extents are on the rt device
	extents  uint64 // extent records seen
	blocks   uint64 // blocks mapped, bmbt blocks included
	nextOff  uint64 // file offset the next extent may start at
	problems int
	visited  map[uint64]bool // bmbt fsbno -> claimed (has magic and level right)
}

func newInodeScanner(fs *fsys.FS, out *scanOutput, findings *Findings) *inodeScanner {
	g := fs.Geo
	s := &inodeScanner{fs: fs, g: g, out: out, findings: findings,
		nrext64: fs.SB.FeaturesIncompat&xfsformat.IncompatNrext64 != 0,
		chunk:   make([]byte, xfsformat.InodesPerChunk*int(g.InodeSize)),
		batch:   make([]agRmap, 0, sinkBatch)}
	s.fork.visited = map[uint64]bool{}
	levels := max(xfsformat.BmbtMaxLevels(g, false, s.nrext64), xfsformat.BmbtMaxLevels(g, true, s.nrext64))
	s.levelBufs = make([][]byte, levels)
	return s
}

// callbackError marks an error from sink or onChunk, which ends the scan.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }
func (e *callbackError) Unwrap() error { return e.err }

func (s *inodeScanner) scanAG(ctx context.Context, agno uint32) error {
	s.ctx, s.agno = ctx, agno
	g := s.g
	maxAGIno := uint64(g.AGLength(agno)) << g.InoPBLog
	var nextIno uint64 // first agino the next chunk may start at
	w := &fsys.Walk{FS: s.fs, AG: agno, Type: xfsformat.Inobt, OnProblem: func(err error) {
		s.findings.Addf("scan.inobt", Warning, int64(agno), "inobt", blockOf(err),
			"inode scan may be incomplete: %v", err)
	}}
	visit := func(rec xfsformat.InobtRec) error {
		start := uint64(rec.StartIno)
		switch {
		case start < nextIno:
			s.findings.Addf("inode.chunk", Corrupt, int64(agno), "inode", -1,
				"chunk at agino %d overlaps the previous one (ends at %d): not scanned twice", start, nextIno)
			return nil
		case start >= maxAGIno:
			s.findings.Addf("inode.chunk", Corrupt, int64(agno), "inode", -1,
				"chunk at agino %d is beyond the AG's last inode %d", start, maxAGIno-1)
			return nil
		}
		nextIno = start + xfsformat.InodesPerChunk
		return s.scanChunk(rec, maxAGIno)
	}
	var err error
	if recs, ok := s.given[agno]; ok {
		for _, rec := range recs {
			if err = visit(rec); err != nil {
				break
			}
		}
	} else {
		err = w.Records(ctx, func(_ uint32, _ int, raw []byte) error {
			return visit(xfsformat.DecodeInobtRec(raw, g.SparseInodes))
		})
	}
	if ferr := s.flush(); err == nil {
		err = ferr
	}
	if s.content != nil {
		s.content.inodesDone(agno)
	}
	var cbErr *callbackError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cbErr):
		return cbErr.err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	// The AGI could not be read: the walk never started.
	s.findings.Addf("scan.inobt", Warning, int64(agno), "inobt", -1, "inode scan of this AG skipped: %v", err)
	return nil
}

// scanChunk reads the present parts of one chunk (a sparse chunk's holes
// are skipped, one holemask bit per 4 inodes), decodes every inode and
// reports the chunk's use.
func (s *inodeScanner) scanChunk(rec xfsformat.InobtRec, maxAGIno uint64) error {
	g := s.g
	isize := int(g.InodeSize)
	use := ChunkUse{AG: s.agno, Rec: rec}
	const perHoleBit = xfsformat.InodesPerChunk / 16
	present := func(i int) bool { return rec.HoleMask&(1<<(i/perHoleBit)) == 0 }
	for i := 0; i < xfsformat.InodesPerChunk; {
		if !present(i) {
			i++
			continue
		}
		j := i
		for j < xfsformat.InodesPerChunk && present(j) {
			j++
		}
		// Inodes i..j-1 are one contiguous run: agino * inodesize is the
		// byte offset in the AG whatever the inodes per block.
		first := uint64(rec.StartIno) + uint64(i)
		n := j - i
		if first+uint64(n) > maxAGIno {
			n = int(max(maxAGIno, first) - first)
			use.Bad |= bitRange(i+n, j)
			s.findings.Addf("inode.chunk", Corrupt, int64(s.agno), "inode", -1,
				"chunk at agino %d runs past the end of the AG", rec.StartIno)
		}
		if n > 0 {
			buf := s.chunk[:n*isize]
			off := g.ByteOffset(s.agno, 0) + int64(first)*int64(isize)
			if err := s.fs.Img.ReadAt(buf, off); err != nil {
				use.Bad |= bitRange(i, i+n)
				use.Foreign |= bitRange(i, i+n)
				agbno, _ := g.AGInoBlock(uint32(first))
				s.findings.Addf("inode.read", Corrupt, int64(s.agno), "inode", int64(agbno),
					"inodes %d-%d unreadable: %v", g.Ino(s.agno, uint32(first)), g.Ino(s.agno, uint32(first)+uint32(n)-1), err)
			} else {
				for k := range n {
					inUse, bad, foreign, err := s.scanInode(uint32(first)+uint32(k), buf[k*isize:(k+1)*isize])
					if err != nil {
						return err
					}
					if foreign {
						use.Foreign |= 1 << (i + k)
					}
					if inUse {
						use.InUse |= 1 << (i + k)
					}
					if bad {
						use.Bad |= 1 << (i + k)
					}
				}
			}
		}
		i = j
	}
	if s.out.onChunk == nil {
		return nil
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if err := s.out.onChunk(use); err != nil {
		return &callbackError{err}
	}
	return nil
}

// bitRange has bits [lo, hi) set.
func bitRange(lo, hi int) uint64 {
	var m uint64
	for i := lo; i < hi && i < 64; i++ {
		m |= 1 << i
	}
	return m
}

// scanInode verifies one inode and, when it is in use and trustworthy,
// reports its forks' blocks.
func (s *inodeScanner) scanInode(agino uint32, buf []byte) (inUse, bad, foreign bool, err error) {
	if err := s.stopped(); err != nil {
		return false, false, false, err
	}
	g := s.g
	ino := g.Ino(s.agno, agino)
	// One decode serves the scan and the check above the AG, into the
	// worker's Core: nothing keeps it past this inode.
	core := &s.core
	if derr := dinode.DecodeInto(core, buf, g); derr != nil {
		return false, true, true, nil
	}
	in := &core.Inode
	trusted := true
	var reported codeSet // most inodes have no finding: made on the first
	for _, p := range xfsformat.VerifyInode(in, g, ino, s.nrext64) {
		code := inodeCode(p)
		reported.add(code)
		switch code {
		case "inode.magic", "inode.version", "inode.ino", "inode.uuid", "inode.short":
			trusted, bad, foreign = false, true, true
		case "inode.crc":
			bad = true
		}
		s.report(code, "inode", ino, p)
	}
	inUse = in.Magic == xfsformat.DinodeMagic && in.InUse()
	if !trusted || !inUse {
		return inUse, bad, foreign, nil
	}
	var blocks uint64
	clean := true
	for _, attr := range []bool{false, true} {
		if attr && in.ForkOff == 0 {
			continue
		}
		st, err := s.scanFork(in, ino, attr)
		if err != nil {
			return inUse, bad, foreign, err
		}
		blocks += st.blocks
		clean = clean && st.problems == 0
	}
	if clean && blocks != in.NBlocks {
		agbno, _ := g.AGInoBlock(agino)
		s.findings.Add(Finding{Code: "inode.nblocks", Severity: Corrupt, AG: int64(s.agno), Structure: "inode", Block: int64(agbno), Ino: ino,
			Message: fmt.Sprintf("inode %d: core.nblocks = %d, but its forks map %d blocks", ino, in.NBlocks, blocks)})
		reported.add("inode.nblocks")
	}
	if s.content != nil {
		if !clean {
			reported.add("fork")
		}
		s.content.inode(ino, core, reported)
	}
	return inUse, bad, foreign, nil
}

// inodeCode turns a VerifyInode problem into a stable finding code.
func inodeCode(err error) string {
	var fe *xfsformat.FormatError
	if !errors.As(err, &fe) {
		return "inode.corrupt"
	}
	switch {
	case errors.Is(fe.Kind, xfsformat.ErrMagic):
		return "inode.magic"
	case errors.Is(fe.Kind, xfsformat.ErrCRC):
		return "inode.crc"
	case errors.Is(fe.Kind, xfsformat.ErrShort):
		return "inode.short"
	case fe.Field == "v3.inumber":
		return "inode.ino"
	}
	f := strings.TrimPrefix(strings.TrimPrefix(fe.Field, "core."), "v3.")
	if f == "" {
		return "inode.corrupt"
	}
	return "inode." + f
}

func blockOf(err error) int64 {
	var fe *xfsformat.FormatError
	if errors.As(err, &fe) {
		return fe.Block
	}
	return -1
}

// report turns a verifier's problem into a finding; where it happened
// goes into the finding's fields rather than its message.
func (s *inodeScanner) report(code, structure string, ino uint64, err error) {
	var fe *xfsformat.FormatError
	ag, blk, msg := int64(s.agno), int64(-1), err.Error()
	if errors.As(err, &fe) {
		ag, blk, msg = fe.AG, fe.Block, fe.Msg
		if fe.Field != "" {
			msg += " (" + fe.Field
			if fe.Value != "" {
				msg += " = " + fe.Value
			}
			msg += ")"
		}
	}
	s.findings.Add(Finding{Code: code, Severity: Corrupt, AG: ag, Structure: structure, Block: blk, Ino: ino, Message: msg})
}

// forkProblem reports a problem of the current fork, found at fsb (or
// in the inode when fsb is NullFSBlock).
func (s *inodeScanner) forkProblem(code string, fsb uint64, format string, args ...any) {
	f := &s.fork
	f.problems++
	ag, blk := int64(-1), int64(-1)
	structure := "bmbt"
	if fsb == xfsformat.NullFSBlock {
		a, agino := s.g.SplitIno(f.ino)
		b, _ := s.g.AGInoBlock(agino)
		ag, blk, structure = int64(a), int64(b), "inode"
	} else if fsb>>s.g.AGBlkLog < uint64(s.g.AGCount) {
		a, b := s.g.SplitFSB(fsb)
		ag, blk = int64(a), int64(b)
	}
	fork := "data"
	if f.attr {
		fork = "attr"
	}
	s.findings.Add(Finding{Code: code, Severity: Corrupt, AG: ag, Structure: structure, Block: blk, Ino: f.ino,
		Message: fmt.Sprintf("inode %d %s fork: %s", f.ino, fork, fmt.Sprintf(format, args...))})
}

// scanFork reports the blocks of one fork and returns what it counted.
func (s *inodeScanner) scanFork(in *xfsformat.Inode, ino uint64, attr bool) (forkState, error) {
	visited := s.fork.visited
	if len(visited) > 4096 { // do not keep a huge tree's map alive
		visited = map[uint64]bool{}
	} else {
		clear(visited)
	}
	s.fork = forkState{ino: ino, attr: attr, realtime: !attr && in.IsRealtime(), visited: visited}
	fork := in.Fork(attr)
	switch in.ForkFormat(attr) {
	case xfsformat.FmtExtents:
		n := min(in.ForkExtents(attr), uint64(len(fork)/xfsformat.BmbtRecLen))
		for i := range n {
			s.extent(xfsformat.DecodeBmbtRec(fork[i*xfsformat.BmbtRecLen:]))
		}
	case xfsformat.FmtBtree:
		root, err := xfsformat.NewBmbtRoot(fork)
		if err != nil {
			s.forkProblem("bmbt.root", xfsformat.NullFSBlock, "%v", err)
			break
		}
		if err := s.walkBmbt(root); err != nil {
			return s.fork, err
		}
		if want := in.ForkExtents(attr); s.fork.problems == 0 && s.fork.extents != want {
			field := "core.nextents"
			if attr {
				field = "core.naextents"
			}
			s.forkProblem("inode.nextents", xfsformat.NullFSBlock, "%s = %d, but the bmbt holds %d extents", field, want, s.fork.extents)
		}
	}
	s.endFork()
	s.emitBmbtBlocks()
	return s.fork, s.stopped()
}

// stopped is the error that ends the scan, if any.
func (s *inodeScanner) stopped() error {
	if s.sinkErr != nil {
		return s.sinkErr
	}
	return s.ctx.Err()
}

// extent reports one extent record of the current fork.
func (s *inodeScanner) extent(r xfsformat.BmbtRec) {
	f := &s.fork
	f.extents++
	n := uint64(r.BlockCount)
	if n == 0 || r.StartOff+n > xfsformat.MaxFileOff+1 {
		s.forkProblem("inode.extent", xfsformat.NullFSBlock, "extent [startoff %d, count %d] is empty or past the largest file offset", r.StartOff, n)
		return
	}
	if r.StartOff < f.nextOff {
		s.forkProblem("inode.extent", xfsformat.NullFSBlock, "extent at startoff %d overlaps or precedes the previous one (ends at %d)", r.StartOff, f.nextOff)
	}
	f.nextOff = max(f.nextOff, r.StartOff+n)
	f.blocks += n
	if f.realtime {
		return
	}
	agno, agbno, ok := xfsformat.CheckFSBExtent(s.g, r.StartBlock, n)
	if !ok {
		f.blocks -= n
		s.forkProblem("inode.extent", xfsformat.NullFSBlock, "extent [startoff %d, startblock %d, count %d] is not inside one AG of the filesystem", r.StartOff, r.StartBlock, n)
		return
	}
	off := r.StartOff
	if f.attr {
		off |= xfsformat.RmapOffAttrFork
		if r.Unwritten {
			s.forkProblem("inode.extent", xfsformat.NullFSBlock, "unwritten extent at startoff %d in the attr fork", r.StartOff)
		}
	} else if r.Unwritten {
		off |= xfsformat.RmapOffUnwritten
	}
	s.emit(agno, xfsformat.RmapRec{StartBlock: agbno, BlockCount: r.BlockCount, Owner: f.ino, Offset: off})
}

// walkBmbt walks a fork's bmbt from its in-inode root, depth first.
func (s *inodeScanner) walkBmbt(root *xfsformat.BmbtBlock) error {
	maxLevels := xfsformat.BmbtMaxLevels(s.g, s.fork.attr, s.nrext64)
	level := int(root.Hdr.Level)
	if level < 1 || level >= maxLevels {
		s.forkProblem("bmbt.level", xfsformat.NullFSBlock, "root level %d outside [1, %d]", level, maxLevels-1)
		return nil
	}
	if n := int(root.Hdr.NumRecs); n == 0 || n > root.MaxRecs() {
		s.forkProblem("bmbt.numrecs", xfsformat.NullFSBlock, "root numrecs %d outside [1, %d]", n, root.MaxRecs())
	}
	for i := range root.NumRecs() {
		if err := s.visitBmbt(root.Ptr(i), level-1, xfsformat.NullFSBlock); err != nil {
			return err
		}
	}
	return nil
}

func (s *inodeScanner) visitBmbt(fsb uint64, level int, parent uint64) error {
	if err := s.stopped(); err != nil {
		return err
	}
	f := &s.fork
	g := s.g
	agno, agbno, ok := xfsformat.CheckFSBExtent(g, fsb, 1)
	if !ok {
		s.forkProblem("bmbt.ptr", parent, "pointer to block %d outside the filesystem's usable blocks", fsb)
		return nil
	}
	if _, seen := f.visited[fsb]; seen {
		s.forkProblem("bmbt.ptr", parent, "block %d reached twice (cycle or shared pointer)", fsb)
		return nil
	}
	f.visited[fsb] = false
	if s.levelBufs[level] == nil {
		s.levelBufs[level] = make([]byte, g.BlockSize)
	}
	buf := s.levelBufs[level]
	if err := s.fs.Img.ReadAt(buf, g.ByteOffset(agno, agbno)); err != nil {
		s.forkProblem("bmbt.read", fsb, "unreadable: %v", err)
		return nil
	}
	blk, err := xfsformat.NewBmbtBlockOf(buf, g)
	if err != nil {
		s.forkProblem("bmbt.read", fsb, "%v", err)
		return nil
	}
	for _, p := range xfsformat.VerifyBmbtBlock(blk, g, fsb, f.ino) {
		f.problems++
		s.report(bmbtCode(p), "bmbt", f.ino, p)
	}
	if blk.Hdr.Magic != g.BmbtMagic() {
		return nil
	}
	if int(blk.Hdr.Level) != level {
		s.forkProblem("bmbt.level", fsb, "block level %d, but its parent expects %d", blk.Hdr.Level, level)
		return nil
	}
	f.visited[fsb] = true
	f.blocks++
	if level == 0 {
		for i := range blk.NumRecs() {
			s.extent(blk.Rec(i))
		}
		return nil
	}
	for i := range blk.NumRecs() {
		if err := s.visitBmbt(blk.Ptr(i), level-1, fsb); err != nil {
			return err
		}
	}
	return nil
}

func bmbtCode(err error) string {
	var fe *xfsformat.FormatError
	if !errors.As(err, &fe) {
		return "bmbt.corrupt"
	}
	switch fe.Field {
	case "":
		return "bmbt.corrupt"
	case "leftsib", "rightsib":
		return "bmbt.sibling"
	}
	return "bmbt." + fe.Field
}

// emitBmbtBlocks reports the fork's bmbt blocks in block order, so that
// adjacent ones merge as the kernel merges them (walk order is key order,
// which need not be block order).
func (s *inodeScanner) emitBmbtBlocks() {
	f := &s.fork
	if len(f.visited) == 0 {
		return
	}
	blocks := make([]uint64, 0, len(f.visited))
	for fsb, claimed := range f.visited {
		if claimed {
			blocks = append(blocks, fsb)
		}
	}
	slices.Sort(blocks)
	flags := xfsformat.RmapOffBmbtBlock
	if f.attr {
		flags |= xfsformat.RmapOffAttrFork
	}
	for _, fsb := range blocks {
		agno, agbno := s.g.SplitFSB(fsb)
		s.emit(agno, xfsformat.RmapRec{StartBlock: agbno, BlockCount: 1, Owner: f.ino, Offset: flags})
	}
	s.endFork()
}

// emit adds a mapping, merging it into the previous one when the kernel
// would: same AG, owner and flags, contiguous blocks and (except for bmbt
// blocks, whose offset means nothing) contiguous file offsets.
func (s *inodeScanner) emit(agno uint32, r xfsformat.RmapRec) {
	c := &s.cur
	if c.rec.BlockCount != 0 && c.agno == agno && c.rec.Owner == r.Owner &&
		c.rec.Offset&^xfsformat.RmapOffMask == r.Offset&^xfsformat.RmapOffMask &&
		c.rec.StartBlock+c.rec.BlockCount == r.StartBlock &&
		uint64(c.rec.BlockCount)+uint64(r.BlockCount) <= math.MaxUint32 &&
		(r.Offset&xfsformat.RmapOffBmbtBlock != 0 || c.rec.FileOffset()+uint64(c.rec.BlockCount) == r.FileOffset()) {
		c.rec.BlockCount += r.BlockCount
		return
	}
	s.endFork()
	*c = agRmap{agno, r}
}

// endFork queues the mapping being merged, handing a full batch to the
// sink (a failure is kept in sinkErr and stops the scan).
func (s *inodeScanner) endFork() {
	if s.cur.rec.BlockCount == 0 {
		return
	}
	s.batch = append(s.batch, s.cur)
	s.cur = agRmap{}
	if len(s.batch) >= sinkBatch && s.sinkErr == nil {
		s.sinkErr = s.sendBatch()
	}
}

// flush hands every queued mapping to the sink.
func (s *inodeScanner) flush() error {
	s.endFork()
	if s.sinkErr != nil {
		return s.sinkErr
	}
	s.sinkErr = s.sendBatch()
	return s.sinkErr
}

func (s *inodeScanner) sendBatch() error {
	if len(s.batch) == 0 {
		return nil
	}
	defer func() { s.batch = s.batch[:0] }()
	if s.out.sink == nil {
		return nil
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	for _, m := range s.batch {
		if err := s.out.sink(m.agno, m.rec); err != nil {
			return &callbackError{err}
		}
	}
	return nil
}

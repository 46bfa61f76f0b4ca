package check

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// CheckOptions tune a check.
type CheckOptions struct {
	// AGs limits the per-AG checks to one AG (zero value: all). The
	// inode scan still reads every inode: any inode may own blocks in
	// any AG.
	AGs fsys.AGs
	// Workspace holds the records staged for cross-referencing.
	Workspace workspace.Options
	// Progress, if set, is told what phase runs.
	Progress fsys.Progress
}

// CheckResult is the outcome of a check.
type CheckResult struct {
	Findings *Findings
	AGs      []uint32
}

// AG is the state of one AG's check, as Collect leaves it: what the
// rebuilds read of it is in rebuilds.go.
type AG struct {
	fs       *fsys.FS
	agno     uint32
	ws       *workspace.Workspace
	findings *Findings

	agf  *xfsformat.AGF
	agi  *xfsformat.AGI
	agfl *xfsformat.AGFL
	// agfOK etc.: the header's magic is right, so its roots are usable.
	agfOK, agiOK, agflOK bool

	trees [xfsformat.NumBtreeTypes]*treeResult
	// slots, shared by the AGs of a check, bound the cross-reference's
	// steps running at once (sideBySide); nil: one step at a time.
	slots chan struct{}
	// unstaged: trees whose records the walk does not keep (their
	// summaries in treeResult are all the cross-reference needs).
	unstaged [xfsformat.NumBtreeTypes]bool

	usedMu sync.Mutex
	used   *workspace.Array // rmap records of everything seen in use

	// mode: see Collect. rmapSound: in CollectRmap mode, the rmapbt
	// agreed with everything it was compared with, and used is its
	// records (see xrefRmapSource).
	mode      CollectMode
	rmapSound bool

	// logLSN is the log's current LSN (cycle, head block): metadata
	// stamped later than it came from a future the log never saw. 0 when
	// the log could not be read.
	logLSN uint64

	// Counters observed in the trees, for the superblock's sums.
	freeBlocks, btreeBlocks uint64
	inodeCount, inodeFree   uint64
}

func (c *AG) add(code string, sev Severity, block uint32, format string, args ...any) {
	structure, _, _ := strings.Cut(code, ".")
	c.findings.Addf(code, sev, int64(c.agno), structure, int64(block), format, args...)
}

func (c *AG) addNoBlock(code string, sev Severity, format string, args ...any) {
	c.findings.Add(c.noBlock(code, sev, format, args...))
}

// noBlock is the finding addNoBlock adds, for a step that holds its
// findings until it knows they stand.
func (c *AG) noBlock(code string, sev Severity, format string, args ...any) Finding {
	structure, _, _ := strings.Cut(code, ".")
	return Finding{Code: code, Severity: sev, AG: int64(c.agno), Structure: structure, Block: -1, Message: fmt.Sprintf(format, args...)}
}

// problem turns a verifier's or the walker's error into a finding.
func (c *AG) problem(err error) { c.findings.Add(findingFromError(err, int64(c.agno))) }

// problems is problem for each error a verifier returns.
func (c *AG) problems(errs []error) {
	for _, err := range errs {
		c.problem(err)
	}
}

// findingFromError is the one place format errors become findings: the
// code is the structure and the field ("agf.freeblks", "bnobt.crc").
func findingFromError(err error, ag int64) Finding {
	var fe *xfsformat.FormatError
	if !errors.As(err, &fe) {
		return Finding{Code: "io.read", Severity: Corrupt, AG: ag, Structure: "image", Block: -1, Message: err.Error()}
	}
	field := fe.Field
	switch {
	case errors.Is(fe, xfsformat.ErrMagic):
		field = "magic"
	case errors.Is(fe, xfsformat.ErrCRC):
		field = "crc"
	case field == "":
		field = "structure"
	}
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	sev := Corrupt
	return Finding{Code: fe.Struct + "." + field, Severity: sev, AG: fe.AG, Structure: fe.Struct, Block: fe.Block, Message: fe.Msg}
}

func u32s(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// addUsed records that [agbno, agbno+len) is used by owner (an rmap
// record), for the cross-reference phase; nothing when c gathers no
// used space (Rebuilt's). Safe for concurrent use.
func (c *AG) addUsed(agbno, length uint32, owner int64, offset uint64) error {
	if c.used == nil {
		return nil
	}
	var rec [xfsformat.RmapRecLen]byte
	xfsformat.RmapRec{StartBlock: agbno, BlockCount: length, Owner: uint64(owner), Offset: offset}.Encode(rec[:])
	c.usedMu.Lock()
	defer c.usedMu.Unlock()
	return c.used.Append(rec[:])
}

// rootOf returns a tree's root and height from its AG header, when the
// header is sound enough to trust them.
func (c *AG) rootOf(t xfsformat.BtreeType) (root, levels uint32, ok bool) {
	o := t.Ops()
	root, levels = o.Root(c.agf, c.agi)
	if o.InAGI() {
		return root, levels, c.agiOK
	}
	return root, levels, c.agfOK
}

// checkLSN reports metadata stamped with an LSN ahead of the log's head,
// which makes xfs_repair format the log and the kernel complain.
func (c *AG) checkLSN(structure string, block uint32, lsn uint64) {
	if lsnAhead(lsn, c.logLSN) {
		c.add(structure+".lsn", Corrupt, block, "lsn %d:%d is ahead of the log's head %d:%d",
			lsn>>32, uint32(lsn), c.logLSN>>32, uint32(c.logLSN))
	}
}

// validIno reports whether ino could be an inode of this filesystem.
func (c *AG) validIno(ino uint64) bool {
	agno, agino := c.fs.Geo.SplitIno(ino)
	if agno >= c.fs.Geo.AGCount {
		return false
	}
	agbno, _ := c.fs.Geo.AGInoBlock(agino)
	return agbno < c.fs.Geo.AGLength(agno) && agbno >= c.fs.Geo.HeaderBlocks()
}

// Check verifies every AG header and btree, cross-references them with
// each other and with what the inodes use, and reports findings. It never
// writes. Problems in the image are findings, not errors: the error is
// for what stops the check itself (I/O on the workspace, cancellation).
func Check(ctx context.Context, fs *fsys.FS, opts CheckOptions) (*CheckResult, error) {
	ags, err := fs.List(opts.AGs)
	if err != nil {
		return nil, err
	}
	wopts := WorkspaceOptions(opts.Workspace, fs, ags)
	ws, err := workspace.New(ctx, wopts)
	if err != nil {
		return nil, err
	}
	defer ws.Close()

	findings := &Findings{}
	res := &CheckResult{Findings: findings, AGs: ags}
	// The check above the AG (inodes, directories, attributes, link
	// counts) runs in the same inode scan: xfsbox check's, not the
	// rebuilds'.
	content, err := newContentCheck(fs, ws, findings)
	if err != nil {
		return nil, err
	}
	checks, err := collect(ctx, fs, ags, ws, findings, opts.Progress, CollectFull, content, nil)
	if err != nil {
		return nil, err
	}
	checkSuperblocks(fs, checks, opts.AGs.All(), findings)
	noteQuotaInodes(fs, findings)
	return res, nil
}

// CollectMode says how much of the check Collect runs.
type CollectMode int

const (
	// CollectFull: every check and cross-reference (xfsbox check).
	CollectFull CollectMode = iota
	// CollectLight skips the costliest cross-references (rmapbt against
	// every owner, refcounts, finobt against inobt): a forced rebuild
	// replaces those structures whatever they say, and needs only the
	// used space and the structural findings its refusals rest on.
	CollectLight
	// CollectRmap reads no inode: the rmapbt stands in for the inode
	// scan. Its records for the AG's own metadata are compared with what
	// the walk of the AG's structures found, and its used space with the
	// bnobt's free space; the rebuild trusts it only when both agree
	// (AG.RmapSound), as the kernel's online repair trusts a sound
	// rmapbt.
	CollectRmap
)

// Collect runs the check's three phases over ags: headers and btrees,
// the inode scan (not in CollectRmap mode), and the cross-reference,
// adding what it finds to findings and telling progressFn, if set, what
// phase runs. The per-AG states it returns keep their records in ws
// (used space sorted by CmpRmapRecs), for the rebuilds to reuse: Check
// is Collect of every AG (or one) in CollectFull mode, plus the
// superblock's counters.
func Collect(ctx context.Context, fs *fsys.FS, ags []uint32, ws *workspace.Workspace, findings *Findings, progressFn fsys.Progress, mode CollectMode) (map[uint32]*AG, error) {
	return collect(ctx, fs, ags, ws, findings, progressFn, mode, nil, nil)
}

// CollectBeside is Collect with beside run once the AGs' trees are
// walked (and, unless the mode is CollectRmap, their inodes scanned),
// side by side with the cross-reference, on the core its AGs leave
// idle: a rebuild plans from the walk's records (AG.SortedRmaps) while
// the check compares them. What beside reads the cross-reference only
// reads too; its error cancels the collect.
func CollectBeside(ctx context.Context, fs *fsys.FS, ags []uint32, ws *workspace.Workspace, findings *Findings, progressFn fsys.Progress, mode CollectMode, beside func(ctx context.Context, checks map[uint32]*AG) error) (map[uint32]*AG, error) {
	return collect(ctx, fs, ags, ws, findings, progressFn, mode, nil, beside)
}

// collect is Collect with, when content is not nil, the check above the
// AG in its inode scan, and with CollectBeside's beside when it is not
// nil.
func collect(ctx context.Context, fs *fsys.FS, ags []uint32, ws *workspace.Workspace, findings *Findings, progressFn fsys.Progress, mode CollectMode, content *contentCheck,
	beside func(ctx context.Context, checks map[uint32]*AG) error) (map[uint32]*AG, error) {
	checks := make(map[uint32]*AG, len(ags))
	var logLSN uint64
	if ls, err := fsys.LogStateOf(ctx, fs); err == nil {
		logLSN = uint64(ls.Cycle)<<32 | uint64(ls.HeadBlock)
		if content != nil {
			content.logLSN, content.logDirty = logLSN, !ls.Clean
		}
		if !ls.Clean {
			findings.Addf("log.dirty", Warning, -1, "log", -1, "the log is dirty (%s): the kernel would replay it over what is checked here", ls.Reason)
		}
	}
	for _, agno := range ags {
		used, err := ws.NewArray(xfsformat.RmapRecLen)
		if err != nil {
			return nil, err
		}
		checks[agno] = &AG{fs: fs, agno: agno, ws: ws, findings: findings, used: used, logLSN: logLSN, mode: mode}
		// The cntbt's records only say whether it holds what the bnobt
		// holds: its multiset hash says that.
		checks[agno].unstaged[xfsformat.Cntbt] = true
	}
	progress := progressFn.Report
	progress("headers and btrees", 0, int64(len(ags)))
	if err := fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
		return checks[agno].checkStructures(ctx)
	}); err != nil {
		return nil, err
	}
	if mode != CollectRmap {
		progress("inodes", 0, 1)
		if err := scanForCheck(ctx, fs, checks, findings, content); err != nil {
			return nil, err
		}
	}
	phase := "cross-reference"
	if content != nil {
		phase = "cross-reference, link counts"
	}
	progress(phase, 0, int64(len(ags)))
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for _, c := range checks {
		c.slots = slots
	}
	xref := func(ctx context.Context) error {
		return fsys.ForEach(ctx, ags, func(ctx context.Context, agno uint32) error {
			return checks[agno].crossReference(ctx)
		})
	}
	steps := []func(context.Context) error{xref}
	if content != nil {
		// The link counts and reachability need only the inode scan's
		// records: they run beside the cross-reference, on the core
		// its AGs leave idle (the one large AG, the last of many), one
		// sort at a time.
		steps = append(steps, content.linkCounts)
	}
	if beside != nil {
		steps = append(steps, func(ctx context.Context) error { return beside(ctx, checks) })
	}
	if err := fsys.ForEach(ctx, steps, func(ctx context.Context, step func(context.Context) error) error {
		return step(ctx)
	}); err != nil {
		return nil, err
	}
	return checks, nil
}

// DefaultSortMemory bounds each sort of a check or repair: AGs sort in
// parallel, and xfs_repair's own peak RSS is the yardstick. 4 MiB: the
// runs are more, but a sort's buffers are fresh memory, faulted in on
// this kind of machine at several microseconds a page, and smaller ones
// cost little or no time. Measured interleaved on tmpfs, 8 -> 4 MiB:
// the bench image's check 0.70 -> 0.75 s (RSS 20 -> 16 MB; a sixth of
// xfs_repair -n's time still), its rebuild 0.68 -> 0.68 s, repair all
// 1.51 -> 1.51 s; sparse4t's check RSS 33 -> 24 MB, the inode-heavy
// image's 54 -> 43 MB, scale16ag's 41 -> 35 MB, nothing else slower. (16 -> 8 MiB in session 13: the bench image's
// check 0.72 -> 0.68 s, sparse4t's RSS 60 -> 33 MB.)
const DefaultSortMemory = 4 << 20

// WorkspaceOptions is o with what it leaves unset filled in for a check
// of ags (Check's, or a rebuild's that starts with Collect): an estimate
// of the records staged, DefaultSortMemory, and sort buffers kept
// between sorts (the workspace lives for one command).
func WorkspaceOptions(o workspace.Options, fs *fsys.FS, ags []uint32) workspace.Options {
	if o.Estimate == 0 {
		o.Estimate = checkEstimate(fs, ags)
	}
	if o.SortMemory == 0 {
		o.SortMemory = DefaultSortMemory
	}
	// A check's or a rebuild's workspace lives for the command: its
	// sorts share their buffers.
	o.KeepSortBuffers = true
	return o
}

// checkEstimate guesses the workspace a check needs: every btree's
// records twice over (as read and as recomputed, or for the rebuild that
// follows a check: its free extents three ways, its rmapbt's records
// read in place), from the block counts the AG headers claim, bounded
// by the AG sizes. agf_btreeblks counts the rmapbt's blocks as well as
// the free-space trees': they are counted once.
func checkEstimate(fs *fsys.FS, ags []uint32) int64 {
	var blocks int64
	for _, agno := range ags {
		agf, _, err := fs.ReadAGF(agno)
		agi, _, err2 := fs.ReadAGI(agno)
		n := int64(16)
		if err == nil {
			rmap := int64(min(agf.RmapBlocks, 1<<20))
			alloc := max(int64(min(agf.BtreeBlks, 1<<20))-rmap, 0)
			n += rmap + alloc + int64(min(agf.RefcntBlocks, 1<<20))
		}
		if err2 == nil {
			n += int64(min(agi.IBlocks, 1<<20)) + int64(min(agi.FBlocks, 1<<20))
		}
		blocks += n
	}
	return min(blocks*int64(fs.Geo.BlockSize)*2, 4<<30)
}

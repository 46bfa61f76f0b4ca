package repair

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

// Errors a repair refuses with, before it writes anything.
var (
	ErrNoSpace       = errors.New("not enough free space in the AG for the new btrees")
	ErrReadOnly      = errors.New("the image is open read-only")
	ErrSourceCorrupt = errors.New("the metadata the rebuild depends on is itself corrupt")
	ErrUnknownStruct = errors.New("unknown structure")
	// ErrRefused is fsys.ErrRefused, which an open for writing under a
	// kernel mount wraps too.
	ErrRefused = fsys.ErrRefused
)

// RepairOptions tune a repair.
type RepairOptions struct {
	// ag is the AG a per-AG step works on, set by Repair for each.
	ag uint32
	// Force rebuilds even when the check finds nothing wrong.
	Force bool
	// FullScan takes the used space from a scan of every inode even
	// when the rmapbt is sound (see checkAG).
	FullScan  bool
	Workspace workspace.Options
	// Writer receives every write to the image (nil: the image itself);
	// Fault is called before every durable step of the commit. Tests
	// use both to stop the engine anywhere, as a crash would.
	Writer store.Writer
	Fault  store.FaultHook
	// Progress and Log, if set, hear about phases and changes.
	Progress fsys.Progress
	Log      func(msg string)
	// freed are the inodes ReplayLog freed: a chunk that lost one and
	// has no inode left in use is dropped (prepareInodeRebuilds).
	freed map[uint64]bool
}

func (o *RepairOptions) progress(phase string) { o.Progress.Report(phase, 0, 0) }

func (o *RepairOptions) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, args...))
	}
}

// Rewrite says which structure a repair rewrote and why.
type Rewrite struct {
	Structure string `json:"structure"`
	Why       string `json:"why"`
}

// Counter is one counter before and after a repair.
type Counter struct {
	Name   string `json:"name"`
	Before uint64 `json:"before"`
	After  uint64 `json:"after"`
}

// RepairResult is what a repair did.
type RepairResult struct {
	AG              uint32          `json:"ag"`
	Requested       []string        `json:"requested"`
	NothingToDo     bool            `json:"nothing_to_do"`
	Rewritten       []Rewrite       `json:"rewritten"`
	BlocksAllocated int64           `json:"blocks_allocated"`
	BlocksFreed     int64           `json:"blocks_freed"`
	Counters        []Counter       `json:"counters"`
	Before          []check.Finding `json:"findings_before"`
	After           []check.Finding `json:"findings_after"`
	WorkspaceUsed   int64           `json:"workspace_bytes_used"`
	WorkspaceRes    int64           `json:"workspace_bytes_reserved"`
	Records         int64           `json:"records"`
	Seconds         float64         `json:"seconds"`
	// Source says where the used space came from: SourceRmapbt or
	// SourceInodeScan (empty for repairs that need none).
	Source string `json:"source,omitempty"`
	// ChunkSource says where a rebuild of the inode btrees found the
	// inode chunks: ChunksFromRmapbt, ChunksFromInobt or ChunksFromSearch.
	ChunkSource string `json:"chunk_source,omitempty"`
	// ChunksFreed is how many inode chunks the rebuild dropped as the
	// kernel frees them, their last inode freed (ReplayLog).
	ChunksFreed int `json:"chunks_freed,omitempty"`
}

// preflight refuses, by name, what a repair must not touch. It returns
// ctx carrying the log state it read, for the check that follows.
func preflight(ctx context.Context, fs *fsys.FS) (context.Context, error) {
	if !fs.Img.Writable() {
		return ctx, fmt.Errorf("%w: %w", ErrRefused, ErrReadOnly)
	}
	if fs.Img.File() != nil { // an image in memory is no kernel's mount
		if where, mounted, err := store.MountedByKernel(fs.Img.Path()); err != nil {
			return ctx, fmt.Errorf("%w: cannot tell whether the image is mounted: %v", ErrRefused, err)
		} else if mounted {
			return ctx, fmt.Errorf("%w: the image is mounted by the kernel (%s); unmount it first", ErrRefused, where)
		}
	}
	if bad := fs.SB.UnknownROCompat(); bad != 0 {
		return ctx, fmt.Errorf("%w: unknown read-only-compatible features %#x; xfsbox must not write this filesystem", ErrRefused, bad)
	}
	ls, err := fsys.ReadLogState(fs)
	if err != nil {
		return ctx, fmt.Errorf("%w: cannot read the log: %v", ErrRefused, err)
	}
	if !ls.Clean {
		return ctx, fmt.Errorf("%w: the log is dirty (%s): replay it first (xfsbox repair --replay-log, or a mount and an unmount), or zero it with xfs_repair -L (losing its changes)", ErrRefused, ls.Reason)
	}
	return fsys.WithLogState(ctx, fs, ls), nil
}

// refuseCorruptSources refuses when the structures that say which blocks
// are in use are corrupt: freeing space from a wrong picture of it would
// destroy data. A refusal names the inodes (or directories) found
// corrupt, the first few of them, so that nothing is trusted unnamed.
func refuseCorruptSources(findings []check.Finding, sources ...string) error {
	var bad []string
	var inos []uint64
	for _, f := range findings {
		s, _, _ := strings.Cut(f.Code, ".")
		if f.Severity != check.Corrupt || !slices.Contains(sources, s) {
			continue
		}
		bad = append(bad, f.Code)
		if f.Ino != 0 {
			inos = append(inos, f.Ino)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s%s (repair those first)", ErrSourceCorrupt, strings.Join(uniq(bad), ", "), nameInodes(inos))
}

// refusedInodes is how many inodes a refusal names.
const refusedInodes = 5

// nameInodes is " in inodes A, B and N more" for a refusal, or "".
func nameInodes(inos []uint64) string {
	slices.Sort(inos)
	inos = slices.Compact(inos)
	if len(inos) == 0 {
		return ""
	}
	var names []string
	for _, ino := range inos[:min(len(inos), refusedInodes)] {
		names = append(names, strconv.FormatUint(ino, 10))
	}
	word := "inode"
	if len(inos) > 1 {
		word = "inodes"
	}
	more := ""
	if n := len(inos) - refusedInodes; n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Sprintf(" in %s %s%s", word, strings.Join(names, ", "), more)
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (o *RepairOptions) writer(fs *fsys.FS) store.Writer {
	if o.Writer != nil {
		return o.Writer
	}
	return fs.Img.JournalWriter()
}

// Repair rebuilds the structures named in what, in one AG or in every
// AG (then as repairAll describes), and returns one result per AG
// touched, in AG order. Any of bnobt, cntbt, agf, agfl and rmapbt start
// the free-space rebuild, which rewrites the rmapbt too (from every owner
// the full scan finds: its OWN_AG records change with the free-space
// trees). On failure, the results of the AGs that completed and the
// first error.
func Repair(ctx context.Context, fs *fsys.FS, what Structures, where fsys.AGs, opts RepairOptions) ([]*RepairResult, error) {
	agno, one := where.One()
	if !one {
		return repairAll(ctx, fs, what, opts)
	}
	opts.ag = agno
	res, err := repairAG(ctx, fs, what, opts)
	if res == nil {
		return nil, err
	}
	return []*RepairResult{res}, err
}

// repairAG is Repair of AG opts.ag.
func repairAG(ctx context.Context, fs *fsys.FS, what Structures, opts RepairOptions) (*RepairResult, error) {
	start := time.Now()
	if err := fs.ValidateAG(opts.ag); err != nil {
		return nil, err
	}
	set, err := what.resolve(fs, opts.ag)
	if err != nil {
		return nil, err
	}
	if ctx, err = preflight(ctx, fs); err != nil {
		return nil, err
	}
	// Headers first (they need no space), then the trees.
	var res *RepairResult
	merge := func(r *RepairResult, e error) {
		if r != nil {
			if res == nil {
				res = r
			} else {
				mergeResult(res, r)
			}
		}
		if err == nil {
			err = e
		}
	}
	if set.Has(SB) {
		merge(rebuildSecondarySB(ctx, fs, opts))
	}
	if set.Has(AGI) && !set.Has(startsInodes) && err == nil {
		merge(rebuildAGI(ctx, fs, opts))
	}
	if set.Has(startsFreeSpace) && err == nil {
		r, e := rebuildFreeSpace(ctx, fs, opts, set.Has(RefcountBT), set.Has(startsInodes), set.Has(RmapBT))
		if r != nil && !set.Has(BnoBT|CntBT) {
			for i := range r.Rewritten {
				if r.Rewritten[i].Structure == "bnobt" {
					r.Rewritten[i].Why = "closure: the new trees' blocks come out of free space, and their old blocks go back to it"
				}
			}
		}
		merge(r, e)
	}
	if res != nil {
		res.Requested = set.Names()
		res.Seconds = time.Since(start).Seconds()
	}
	return res, err
}

// mergeResult adds r, a later step of the same AG's repair, to res.
func mergeResult(res, r *RepairResult) {
	if r == nil {
		return
	}
	res.Rewritten = append(res.Rewritten, r.Rewritten...)
	res.Counters = append(res.Counters, r.Counters...)
	res.After = r.After // the later step's verification supersedes
	res.NothingToDo = res.NothingToDo && r.NothingToDo
	res.BlocksAllocated += r.BlocksAllocated
	res.BlocksFreed += r.BlocksFreed
	res.Records += r.Records
	res.WorkspaceUsed = max(res.WorkspaceUsed, r.WorkspaceUsed)
	res.WorkspaceRes = max(res.WorkspaceRes, r.WorkspaceRes)
	if len(res.Before) == 0 {
		res.Before = r.Before
	}
	if res.Source == "" {
		res.Source = r.Source
	}
	res.ChunksFreed += r.ChunksFreed
	if res.ChunkSource == "" {
		res.ChunkSource = r.ChunkSource
	}
}

// freeSpaceCodes are the finding structures the free-space rebuild
// repairs; without --force it runs only when one of them is reported.
var freeSpaceCodes = []string{"bnobt", "cntbt", "agf", "agfl", "space", "rmapbt", "sb"}

func needsRebuild(findings []check.Finding, structures []string) bool {
	for _, f := range findings {
		if f.Severity != check.Corrupt && f.Severity != check.XrefMismatch {
			continue
		}
		s, _, _ := strings.Cut(f.Code, ".")
		for _, want := range structures {
			if s == want {
				return true
			}
		}
	}
	return false
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/repair"
	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

func init() {
	register(&command{
		name:    "repair",
		summary: "rebuild AG btrees and headers from the filesystem's other metadata",
		usage:   "[--ag N] [--force] [--full-scan] [--replay-log] [--json] [--dry-run | --output NEW] [--scratch-dir DIR] [--max-workspace SIZE] IMAGE STRUCTURE...|all",
		help: `Rebuilds the named structures of one AG in place, as xfs_repair's phase 5
and the kernel's online repair do, and commits crash-safely: new btree
blocks go to space that is free before and after, then the AG headers and
the superblock counters go through a redo journal next to the image
(IMAGE.xfsbox-journal), replayed on the next open if a crash interrupts
it.

Structures:
  bnobt, cntbt, agf, agfl, rmapbt
               rebuild the free space: the bnobt and cntbt from the
               complement of every block in use, a refilled AGFL, the AGF
               and superblock counters, and on rmapbt filesystems the
               rmapbt (its free-space records change). Used space comes
               from the rmapbt when it is sound (it agrees with every AG
               structure and with the bnobt; no inode is read), else
               from a full check: headers, log, every btree, inode
               chunks, every inode's forks (always when rmapbt is named)
  refcountbt   the same, plus the refcountbt from the overlaps of every
               inode's file data; leftover CoW staging extents are freed
  inobt, finobt the inode btrees, from the inode chunks (the rmapbt's
               OWN_INODES records when it is sound, else the old inobt's
               records when it and the inodes it points to are sound;
               sound means well-formed and complete, and the two must
               agree; else a search of the AG for inode clusters) and every
               inode's mode; with the AGI and the superblock's inode
               counters (and the free space: their blocks come from it)
  agi          the AGI's identity, counters and hints from the inode btrees
               (which must be sound), and the superblock's inode counters
  sb           a secondary superblock (AG 1 and up), copied from the primary
  all          all of the above that the filesystem has

Modes:
  (default)    IMAGE is repaired in place, crash-safely (above)
  --dry-run    a plan: the repair runs against a throwaway copy-on-write
               overlay in memory and reports what it would rewrite (the
               structures and why, blocks allocated and freed, counters
               before and after, the findings it would leave); nothing is
               written to IMAGE or beside it, and IMAGE is opened read-only
  --output NEW the repaired result goes to a new file NEW: IMAGE is copied
               (reflinked where the filesystem can, else sparsely) and the
               copy repaired; IMAGE is only read. NEW must not exist.
               A repair that fails removes NEW again; one that runs but
               leaves findings keeps it (and exits 1).
  To stage repairs and judge them before they are applied, see
  "xfsbox mount --sandbox".

Refused, by name, before anything is written: a read-only image, an
image mounted by the kernel or locked by another xfsbox, a dirty log
(unless --replay-log), unknown features, or corrupt metadata the rebuild
must rely on (inobt, refcountbt, inodes).

Dirty logs:
  --replay-log replays the log first, as the kernel's mount does (every
               committed transaction from the tail to the head, the
               superblock counters recounted, the log marked clean with an
               unmount record), committed crash-safely like a repair, then
               repairs. With --dry-run the replay, too, goes to the
               throwaway overlay; with --output, to the copy. What the
               kernel's mount does after replaying is done too: inodes
               left on the unlinked lists freed, and the space structures
               of the AGs concerned rebuilt from an inode scan (which
               finishes unfinished EFI, RUI and CUI intents and frees
               copy-on-write staging extents); the summary names each AG
               rebuilt. A log leaving a BUI, ATTRI or XMI intent
               unfinished, or a damaged one, is refused by name and
               nothing is written.

Flags:
{{flags}}

Examples:
  xfsbox repair --ag 3 disk.img bnobt
  xfsbox repair disk.img all
  xfsbox repair --ag 0 --force --json disk.img bnobt | jq '.repairs[].counters'
  xfsbox repair --dry-run disk.img all
  xfsbox repair --output fixed.img evidence.img all && xfs_repair -n fixed.img
  xfsbox repair --replay-log --output fixed.img crashed.img all
`,
		flags: func(fl *flag.FlagSet) { repairFlags(fl) },
		run:   runRepair,
	})
}

// repairStructures are the structure names repair takes (the engine's
// own list; the man page and the bash completion list them, tests keep
// them in step).
var repairStructures = repair.StructureNames()

func repairFlags(fl *flag.FlagSet) (ag *int64, force, fullScan, replayLog, asJSON, dryRun *bool, output, scratch, maxWS *string) {
	ag = agFlag(fl, ", in parallel")
	force = fl.Bool("force", false, "rebuild even when the check finds nothing wrong")
	replayLog = fl.Bool("replay-log", false, "replay a dirty log first, as a mount would (else a dirty log\nrefuses the repair)")
	fullScan = fl.Bool("full-scan", false, "take used space from every inode even when the rmapbt\nis sound (slower; the result says which source it used)")
	asJSON = jsonFlag(fl, `xfsbox.repair; a plan has "plan": true`)
	dryRun = fl.Bool("dry-run", false, "report what the repair would do, writing nothing")
	output = fl.String("output", "", "write a repaired copy to `NEW` and leave IMAGE as it is")
	scratch, maxWS = workspaceFlags(fl)
	return
}

func runRepair(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fl := newFlags("repair")
	ag, force, fullScan, replayLog, asJSON, dryRun, output, scratch, maxWS := repairFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return &usageError{"need IMAGE and at least one STRUCTURE (" + strings.Join(repairStructures, ", ") + ")"}
	}
	wo, err := workspaceOptions(*scratch, *maxWS)
	if err != nil {
		return err
	}
	target, err := repairTarget(ctx, pos[0], *dryRun, *output, wo)
	if err != nil {
		return err
	}
	if *output != "" {
		// Runs after fs.Close: a copy whose repair did not run to the
		// end is not the repaired copy asked for (IMAGE is untouched).
		defer func() { removeUnfinishedCopy(*output, err) }()
	}
	if *replayLog && !*dryRun {
		if err := replayInPlace(ctx, target); err != nil {
			return err
		}
	}
	fs, err := openFS(target, fsys.OpenOptions{Writable: !*dryRun, CacheBytes: onePassCache})
	if err != nil {
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	if *replayLog && *dryRun {
		tfs, release, err := replayThrowaway(ctx, fs)
		if err != nil {
			return err
		}
		defer release()
		fs = tfs
	}
	where, err := agsOf(fs, *ag)
	if err != nil {
		return err
	}
	what, err := repair.ParseStructures(pos[1:])
	if err != nil {
		return &usageError{err.Error()}
	}
	opts := repair.RepairOptions{Force: *force, FullScan: *fullScan, Workspace: wo, Log: func(msg string) { logrus.Info(msg) }}
	var progressDone func()
	opts.Progress, progressDone = phaseProgress("repair", "repair: %-10s")
	var results []*repair.RepairResult
	if *dryRun {
		results, err = planRepair(ctx, fs, what, where, opts)
	} else {
		results, err = repair.Repair(ctx, fs, what, where, opts)
	}
	progressDone()
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(view.Envelope{Kind: "repair", Body: view.NewRepairReport(*dryRun, results)}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, res := range results {
			printRepair(stdout, res, *dryRun)
		}
	}
	for _, res := range results {
		for _, f := range res.After {
			if f.Severity == check.Corrupt || f.Severity == check.XrefMismatch {
				return errCorrupt
			}
		}
	}
	return nil
}

func printRepair(w io.Writer, res *repair.RepairResult, plan bool) {
	if res.NothingToDo {
		fmt.Fprintf(w, "ag %d: nothing to do: %s consistent (use --force to rebuild anyway)\n", res.AG, strings.Join(res.Requested, ", "))
		return
	}
	verb := "rewrote"
	if plan {
		verb = "plan: would rewrite"
	}
	for _, r := range res.Rewritten {
		fmt.Fprintf(w, "ag %d: %s %-8s %s\n", res.AG, verb, r.Structure, r.Why)
	}
	for _, c := range res.Counters {
		if c.Before != c.After {
			fmt.Fprintf(w, "ag %d: %-10s %d -> %d\n", res.AG, c.Name, c.Before, c.After)
		}
	}
	if res.Source != "" {
		fmt.Fprintf(w, "ag %d: used space from the %s\n", res.AG, res.Source)
	}
	fmt.Fprintf(w, "ag %d: %d blocks allocated, %d freed, %d findings before, %d after, %.2fs\n",
		res.AG, res.BlocksAllocated, res.BlocksFreed, len(res.Before), len(res.After), res.Seconds)
	for _, f := range res.After {
		fmt.Fprintf(w, "after: %s\n", f)
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

func init() {
	register(&command{
		name:     "check",
		readOnly: true,
		summary:  "verify every AG structure, inode, directory and attribute fork (read-only)",
		usage:    "[--ag N] [--json] [--scratch-dir DIR] [--max-workspace SIZE] IMAGE",
		help: `Checks the image's AG metadata the way xfs_repair -n and the kernel's scrub
do: every header and btree block on its own (magic, CRC, identity, level,
sibling pointers, key order, node keys), every tree (height, record order,
overlaps), and everything against everything else (bnobt vs cntbt, free
space vs every used block, rmapbt vs every owner found by reading every
inode, refcounts vs shared file data, leftover CoW staging extents, inobt
vs finobt and inode use, the AGF/AGI/superblock counters, secondary
superblocks). Above the AG, in the same pass over the inodes: every
inode against the kernel's verifier, block maps and bmbt blocks, every
directory block and index (names, hashes, best-free and free-index
accounting, . and ..), attribute forks and remote values, symlink
targets, link counts against the entries that name each inode,
reachability from the root, orphans and leaked unlinked inodes, and
parent pointers where the filesystem has them. The image is opened
read-only and never written.

Each finding has a stable code (such as bnobt.order, agf.freeblks,
dir.leaf or inode.nlink), a severity (corrupt, xref, preen, warning),
the AG, structure and block, and for inodes the inode number.

Flags:
{{flags}}

Exit codes: 0 clean, 1 corruption found, 2 or more for operational errors.

Examples:
  xfsbox check disk.img
  xfsbox check --ag 3 --json disk.img | jq '.findings[].code'
`,
		flags: func(fl *flag.FlagSet) { checkFlags(fl) },
		run:   runCheck,
	})
}

// errCorrupt makes the exit code 1 after findings were printed.
var errCorrupt = errors.New("corruption found")

func checkFlags(fl *flag.FlagSet) (ag *int64, asJSON *bool, scratch, maxWS *string) {
	ag = agFlag(fl, "; every inode is still read")
	asJSON = jsonFlag(fl, "xfsbox.check")
	scratch, maxWS = workspaceFlags(fl)
	return ag, asJSON, scratch, maxWS
}

func workspaceOptions(scratch, maxWS string) (workspace.Options, error) {
	var o workspace.Options
	o.ScratchDir = scratch
	if maxWS != "" {
		n, err := parseSize(maxWS)
		if err != nil {
			return o, &usageError{fmt.Sprintf("--max-workspace: %v", err)}
		}
		o.MaxBytes = n
	}
	return o, nil
}

// parseSize reads sizes like 4096, 512K, 64M, 2G, 1T.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToUpper(strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i"))
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		case 'T':
			mult, t = 1<<40, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("bad size %q (want a positive number with an optional K, M, G or T)", s)
	}
	return v * mult, nil
}

func runCheck(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("check")
	ag, asJSON, scratch, maxWS := checkFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{fmt.Sprintf("need one IMAGE, got %d argument(s)", len(pos))}
	}
	wo, err := workspaceOptions(*scratch, *maxWS)
	if err != nil {
		return err
	}
	fs, err := openFS(pos[0], fsys.OpenOptions{CacheBytes: onePassCache})
	if err != nil {
		return err
	}
	defer fs.Close()
	where, err := agsOf(fs, *ag)
	if err != nil {
		return err
	}
	opts := check.CheckOptions{AGs: where, Workspace: wo}
	var progressDone func()
	opts.Progress, progressDone = phaseProgress("check", "checking: %-24s")
	res, err := check.Check(ctx, fs, opts)
	progressDone()
	if err != nil {
		return err
	}
	list := res.Findings.List()
	if *asJSON {
		b, err := json.MarshalIndent(view.Envelope{Kind: "check", Body: struct {
			Image string `json:"image"`
			view.CheckReport
		}{pos[0], view.NewCheckReport(res)}}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	} else {
		for _, f := range list {
			fmt.Fprintln(stdout, f.String())
		}
		if res.Findings.Suppressed > 0 {
			fmt.Fprintf(stdout, "(%d more findings not shown)\n", res.Findings.Suppressed)
		}
		if res.Findings.Corrupt() {
			fmt.Fprintf(stdout, "%s: %d finding(s): corrupt\n", pos[0], len(list)+res.Findings.Suppressed)
		} else {
			fmt.Fprintf(stdout, "%s: clean (%d AG(s) checked, %d note(s))\n", pos[0], len(res.AGs), len(list))
		}
	}
	if res.Findings.Corrupt() {
		return errCorrupt
	}
	return nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

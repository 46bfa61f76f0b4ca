package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/repair/workspace"
)

func init() {
	register(&command{
		name: "owner", readOnly: true,
		summary: "say who owns a block now, and for a free block who held it last",
		usage:   "[--daddr|--byte] [--json] [--scratch-dir DIR] [--max-workspace SIZE] IMAGE N...",
		help: `Says, for each block N of the filesystem in IMAGE, whether it is free
(the bnobt) and who owns it now: the rmapbt's records where the
filesystem has one, else an owner index the check builds from one scan
of the AGs concerned (headers, log, btrees, inode chunks, every file's
extents and bmbt blocks; staged in the workspace, so memory stays
bounded). For a free block it adds who held it last, as far as the log
shows (the latest inode item mapping it, or metadata written there).
N is a filesystem block number (as xfs_db's fsblock), or with --daddr a
512-byte sector address, or with --byte a byte offset into the image.
The image is opened read-only.

Flags:
{{flags}}

Examples:
  xfsbox owner evidence.img 24576
  xfsbox owner --byte evidence.img 100663296
  xfsbox owner --json --daddr evidence.img 196608 196616
`,
		flags: func(fl *flag.FlagSet) { ownerFlags(fl) },
		run:   runOwner,
	})
}

func ownerFlags(fl *flag.FlagSet) (daddr, byteOff, asJSON *bool, scratch, maxWS *string) {
	daddr = fl.Bool("daddr", false, "N are 512-byte sector addresses (daddr)")
	byteOff = fl.Bool("byte", false, "N are byte offsets into the image")
	asJSON = jsonFlag(fl, "xfsbox.owner")
	scratch, maxWS = workspaceFlags(fl)
	return
}

func runOwner(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("owner")
	daddr, byteOff, asJSON, scratch, maxWS := ownerFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return &usageError{fmt.Sprintf("need IMAGE and at least one block; got %d argument(s)", len(pos))}
	}
	if *daddr && *byteOff {
		return &usageError{"--daddr and --byte exclude each other"}
	}
	wo, err := workspaceOptions(*scratch, *maxWS)
	if err != nil {
		return err
	}
	fs, err := openFS(pos[0], fsys.OpenOptions{})
	if err != nil {
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	var fsbs []uint64
	for _, a := range pos[1:] {
		n, err := strconv.ParseUint(a, 0, 64)
		if err != nil {
			return &usageError{fmt.Sprintf("%q is not a number", a)}
		}
		unit, what := uint64(fs.Geo.BlockSize), "filesystem block"
		switch {
		case *daddr:
			unit, what = 512, "daddr"
		case *byteOff:
			unit, what = 1, "byte offset"
		}
		if n*unit/unit != n || n*unit >= uint64(fs.Geo.AGCount)*uint64(fs.Geo.AGBlocks)*uint64(fs.Geo.BlockSize) {
			return &usageError{fmt.Sprintf("%s %d lies past the filesystem's end", what, n)}
		}
		// Byte offsets and daddrs count linearly over AGs of AGBlocks
		// blocks; filesystem block numbers are AG-encoded.
		lin := n * unit / uint64(fs.Geo.BlockSize)
		fsb := n
		if *daddr || *byteOff {
			fsb = fs.Geo.FSB(uint32(lin/uint64(fs.Geo.AGBlocks)), uint32(lin%uint64(fs.Geo.AGBlocks)))
		}
		fsbs = append(fsbs, fsb)
	}
	ws, err := workspace.New(ctx, check.WorkspaceOptions(wo, fs, nil))
	if err != nil {
		return err
	}
	defer ws.Close()
	res, err := forensics.Owners(ctx, fs, ws, fsbs)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(view.Envelope{Kind: "owner", Body: struct {
			Blocks []forensics.Ownership `json:"blocks"`
		}{res}}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	for _, o := range res {
		if err := forensics.WriteOwnership(stdout, o); err != nil {
			return err
		}
	}
	return nil
}

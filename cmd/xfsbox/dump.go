package main

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

func init() {
	register(&command{
		name:     "dump",
		readOnly: true,
		summary:  "print one view of an image (the files a mount shows), without FUSE",
		usage:    "IMAGE VIEWPATH",
		help: `Renders one file of the mounted tree straight to stdout, with the same
renderers a mount uses. The image is opened read-only. A directory path
lists its entries (directories end in /).

Examples:
  xfsbox dump disk.img ag/1/agf              # as xfs_db -c 'agf 1' -c print
  xfsbox dump disk.img ag/0/bnobt/records    # every free extent of AG 0
  xfsbox dump disk.img ag/0/rmapbt/blocks/   # blocks the rmapbt walk reached
  xfsbox dump disk.img ag/2/agi.json | jq .fields.count
  xfsbox dump disk.img journal/summary       # the log: clean or dirty, and why
  xfsbox dump disk.img journal/transactions  # what a mount would replay
`,
		run: runDump,
	})
}

func runDump(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("dump")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &usageError{fmt.Sprintf("need IMAGE and VIEWPATH, got %d argument(s)", len(pos))}
	}
	fs, err := openFS(pos[0], fsys.OpenOptions{})
	if err != nil {
		return err
	}
	defer fs.Close()
	reportJournal(fs)
	tree := view.NewTree(fs)
	bw := bufio.NewWriterSize(stdout, 64<<10)
	defer bw.Flush()
	return dumpPath(ctx, tree, pos[1], bw)
}

func dumpPath(ctx context.Context, tree *view.Tree, p string, w io.Writer) error {
	dir, err := tree.Stat(ctx, p)
	if err != nil {
		return err
	}
	if dir {
		ents, err := tree.List(ctx, p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			suffix := ""
			if e.Dir {
				suffix = "/"
			}
			fmt.Fprintln(w, e.Name+suffix)
		}
		return nil
	}
	f, err := tree.Open(ctx, p)
	if err != nil {
		return err
	}
	return f.Render(ctx, w)
}

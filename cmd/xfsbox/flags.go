package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// Every flag's help text lives in its definition: a command's --help
// renders its FlagSet where its help text says flagsMarker, and a flag
// that several commands define is registered by one helper below, so
// that its text is written once.

// flagsMarker stands in a command's help text for its rendered flags.
const flagsMarker = "{{flags}}\n"

// commandFlags is c's FlagSet with every flag c defines (none for a
// command without flags), for --help and for tests.
func commandFlags(c *command) *flag.FlagSet {
	fl := newFlags(c.name)
	if c.flags != nil {
		c.flags(fl)
	}
	return fl
}

// flagsHelp renders fl's flags, one per line (continuation lines of a
// multi-line text indented), sorted by name.
func flagsHelp(fl *flag.FlagSet) string {
	var sb strings.Builder
	fl.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if !isBoolFlag(f) {
			name += " " + arg
		}
		usage = strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", 23))
		fmt.Fprintf(&sb, "  %-20s %s\n", name, usage)
	})
	return sb.String()
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// agFlag registers --ag N; note completes "(default: every AG".
func agFlag(fl *flag.FlagSet, note string) *int64 {
	return fl.Int64("ag", -1, "only AG `N` (default: every AG"+note+")")
}

// agsOf reads --ag (-1, its default: every AG) against fs's AGs.
func agsOf(fs *fsys.FS, ag int64) (fsys.AGs, error) {
	if ag == -1 {
		return fsys.AllAGs, nil
	}
	if ag < 0 || ag >= int64(fs.Geo.AGCount) {
		return fsys.AllAGs, &usageError{fmt.Sprintf("--ag %d: the filesystem has AGs 0 to %d", ag, fs.Geo.AGCount-1)}
	}
	return fsys.OneAG(uint32(ag)), nil
}

// jsonFlag registers --json; schema names the output's schema.
func jsonFlag(fl *flag.FlagSet, schema string) *bool {
	return fl.Bool("json", false, "print the result as JSON (schema "+schema+")")
}

// workspaceFlags registers --scratch-dir and --max-workspace, read by
// workspaceOptions.
func workspaceFlags(fl *flag.FlagSet) (scratch, maxWS *string) {
	return fl.String("scratch-dir", "", "stage records in an unnamed file in `DIR` (default: memory, a memfd)"),
		fl.String("max-workspace", "", "refuse to stage more than `SIZE` (e.g. 512M, 4G)")
}

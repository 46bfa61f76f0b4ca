package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

func init() {
	register(&command{
		name:     "version",
		readOnly: true,
		summary:  "print the version and VCS revision xfsbox was built from",
		usage:    "",
		help: `Prints the module version, the VCS revision the binary was built from
(with "(modified)" when the tree had uncommitted changes), the commit
time and the Go version. "xfsbox --version" prints the same.
`,
		run: runVersion,
	})
}

func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	pos, err := parseFlags(newFlags("version"), args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return &usageError{fmt.Sprintf("version takes no arguments, got %d", len(pos))}
	}
	fmt.Fprint(stdout, versionText())
	return nil
}

// versionText describes the build, from what the Go toolchain recorded
// in the binary (module version; vcs.revision, vcs.modified, vcs.time
// when built inside a git checkout).
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "xfsbox (unknown version: built without module support)\n"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "xfsbox %s\n", version)
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		modified := ""
		if vcs["vcs.modified"] == "true" {
			modified = " (modified)"
		}
		fmt.Fprintf(&sb, "revision %s%s\n", rev, modified)
	} else {
		sb.WriteString("revision unknown (built without VCS information)\n")
	}
	if t := vcs["vcs.time"]; t != "" {
		fmt.Fprintf(&sb, "committed %s\n", t)
	}
	fmt.Fprintf(&sb, "built with %s\n", bi.GoVersion)
	return sb.String()
}

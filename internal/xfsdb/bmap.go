package xfsdb

import (
	"fmt"
	"strconv"
	"strings"
)

// BmapExtent is one line of xfs_db's bmap: "data offset O startblock B
// (A/b) count C flag F".
type BmapExtent struct {
	Attr       bool
	Offset     uint64 // file offset, in blocks
	StartBlock uint64 // filesystem block number
	Count      uint64
	Flag       int // 1: unwritten
}

// Bmap runs `inode INO` then `bmap` (or `bmap -a` for the attr fork)
// and parses the extents in the order xfs_db prints them.
func Bmap(image string, ino uint64, attr bool) ([]BmapExtent, error) {
	cmd := "bmap"
	if attr {
		cmd = "bmap -a"
	}
	out, err := Run(image, "inode "+strconv.FormatUint(ino, 10), cmd)
	if err != nil {
		return nil, err
	}
	return ParseBmap(out)
}

// ParseBmap parses xfs_db bmap output.
func ParseBmap(out string) ([]BmapExtent, error) {
	var exts []BmapExtent
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e BmapExtent
		var fork, agpart string
		if _, err := fmt.Sscanf(line, "%s offset %d startblock %d %s count %d flag %d", &fork, &e.Offset, &e.StartBlock, &agpart, &e.Count, &e.Flag); err != nil {
			return nil, fmt.Errorf("xfsdb: bmap line %q: %v", line, err)
		}
		e.Attr = fork == "attr"
		exts = append(exts, e)
	}
	return exts, nil
}

// Run runs `xfs_db -r -c CMD1 -c CMD2 ... IMAGE` and returns what it
// printed, for commands whose output is not "field = value" (bmap, hash,
// ls). It is an error if xfs_db fails or writes to stderr.
func Run(image string, cmds ...string) (string, error) {
	var args []string
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	cmd, _, err := command(image, args...)
	if err != nil {
		return "", err
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		return stdout.String(), fmt.Errorf("xfsdb: %s %q: %v: %s", image, cmds, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

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

// RunMany is Run for many batches in ONE xfs_db process: the raw output
// of each batch's commands (no print is added), in batch order. A batch
// starts with an empty location stack ("pop"), as in EachObject.
func RunMany(image string, batches [][]string) ([]string, error) {
	var script strings.Builder
	for _, b := range batches {
		script.WriteString("echo " + boundary + "\npop\n")
		for _, c := range b {
			if strings.ContainsAny(c, "\n") {
				return nil, fmt.Errorf("xfsdb: command %q contains a newline", c)
			}
			script.WriteString(c + "\n")
		}
	}
	script.WriteString("quit\n")
	cmd, _, err := command(image)
	if err != nil {
		return nil, err
	}
	cmd.Stdin = strings.NewReader(script.String())
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xfsdb: %s: %v: %s", image, err, strings.TrimSpace(stderr.String()))
	}
	parts := strings.Split(stdout.String(), boundary+" \n")
	if len(parts) != len(batches)+1 {
		return nil, fmt.Errorf("xfsdb: %s: %d outputs for %d batches", image, len(parts)-1, len(batches))
	}
	return parts[1:], nil
}

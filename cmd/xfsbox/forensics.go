package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
)

func init() {
	register(&command{
		name: "deleted", readOnly: true,
		summary: "list deleted files: names, inodes, deletion times, sizes, extents and verdicts",
		usage:   "[--json] [--hash] [--no-free-scan] IMAGE",
		help: `Lists the files deleted from the filesystem in IMAGE, from the evidence
that survives a deletion on current kernels (which zero a freed inode's
size and extent list):
  - names: removed entries carved from directory blocks' free space,
    checked against the inode number and the stale leaf hash;
  - sizes and extent maps: the log, read whole (the records behind its
    tail too), which holds each recently deleted file's last inode items;
  - deletion times and generations: the freed inodes' cores.
Each extent gets a verdict: intact (free now, and the log since the
file's last life shows no one taking it), reused (in use now: the rmapbt,
or without one the owner index of an inode scan, names the owner; or
taken and freed again since, per the log) or unknown (free now, but the
log no longer reaches back to the deletion).
The image is opened read-only; nothing is written anywhere.

Flags:
{{flags}}

Examples:
  xfsbox deleted evidence.img
  xfsbox deleted --json --hash evidence.img > deleted.json
  xfsbox recover evidence.img ./recovered
`,
		flags: func(fl *flag.FlagSet) { jsonFlag(fl, "xfsbox.deleted"); evidenceFlags(fl) },
		run:   runDeleted,
	})
	register(&command{
		name: "recover", readOnly: true,
		summary: "recover deleted files into a directory, with a JSON manifest",
		usage:   "[--hash] [--no-free-scan] IMAGE DIR",
		help: `Writes every deleted regular file whose extent map survives (see
"xfsbox help deleted") into DIR, outside the image: under DIR/files/ at
its recovered path, or DIR/by-inode/INO when no name survived; and
DIR/manifest.json, which records for each file what it rests on (where
its names, size and map came from), each extent's verdict, and the
sha256 of the bytes written. A file is never padded or cut silently:
its length is the logged size, or, when that is unknown, the end of its
last extent and the manifest says so. Bytes of reused extents are
written as zeros and listed as gaps; bytes of extents of unknown history
are written as found and listed as unverified. DIR must be empty or
absent. The image is opened read-only.

Flags:
{{flags}}

Examples:
  xfsbox recover evidence.img ./recovered
  xfsbox recover --hash evidence.img ./recovered && jq .files[0] ./recovered/manifest.json
`,
		flags: func(fl *flag.FlagSet) { evidenceFlags(fl) },
		run:   runRecover,
	})
}

// evidence is the flags every forensic command shares.
type evidence struct{ hash, noFreeScan *bool }

func evidenceFlags(fl *flag.FlagSet) evidence {
	return evidence{
		hash:       fl.Bool("hash", false, "record the image's sha256 before and after (proof that nothing changed; reads the whole image twice)"),
		noFreeScan: fl.Bool("no-free-scan", false, "do not read the free space for deleted directories' blocks (faster on large, mostly empty filesystems; names of files in deleted directories may then be lost once the log has wrapped)"),
	}
}

// examine opens IMAGE read-only and examines it, hashing it before and
// after when asked.
func examine(ctx context.Context, image string, ev evidence) (*forensics.Examination, func(), error) {
	before := ""
	if *ev.hash {
		var err error
		if before, err = hashImage(ctx, image); err != nil {
			return nil, nil, err
		}
	}
	fs, err := openFS(image, fsys.OpenOptions{})
	if err != nil {
		return nil, nil, err
	}
	reportJournal(fs)
	ex, err := forensics.Examine(ctx, fs, forensics.Options{Progress: func(p string) { logrus.Infof("%s", p) }, NoFreeScan: *ev.noFreeScan})
	if err != nil {
		fs.Close()
		return nil, nil, err
	}
	ex.Manifest.Image = image
	ex.Manifest.ImageSHA256Before = before
	// What was read, and from where: always said (on stderr), as an
	// examination's record; the manifest keeps it too.
	fmt.Fprintf(os.Stderr, "%s (opened read-only) read:\n", image)
	for _, r := range ex.Manifest.Read {
		fmt.Fprintf(os.Stderr, "  %s\n", r)
	}
	return ex, func() { fs.Close() }, nil
}

// finishHash records the image's sha256 after the examination and
// fails if it changed.
func finishHash(ctx context.Context, ex *forensics.Examination, image string) error {
	if ex.Manifest.ImageSHA256Before == "" {
		return nil
	}
	after, err := hashImage(ctx, image)
	if err != nil {
		return err
	}
	ex.Manifest.ImageSHA256After = after
	if after != ex.Manifest.ImageSHA256Before {
		return fmt.Errorf("%s changed while it was examined (sha256 %s before, %s after): something else wrote to it", image, ex.Manifest.ImageSHA256Before, after)
	}
	logrus.Infof("%s: sha256 %s before and after", image, after)
	return nil
}

func hashImage(ctx context.Context, image string) (string, error) {
	f, err := os.Open(image)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fsys.Stoppable(ctx, f)); err != nil {
		return "", fmt.Errorf("hashing %s: %w", image, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func runDeleted(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("deleted")
	asJSON, ev := jsonFlag(fl, "xfsbox.deleted"), evidenceFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{fmt.Sprintf("need IMAGE; got %d argument(s)", len(pos))}
	}
	ex, done, err := examine(ctx, pos[0], ev)
	if err != nil {
		return err
	}
	defer done()
	if err := finishHash(ctx, ex, pos[0]); err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(view.Envelope{Kind: "deleted", Body: &ex.Manifest}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printDeleted(stdout, &ex.Manifest)
}

// printDeleted prints one line per deleted file.
func printDeleted(w io.Writer, m *forensics.Manifest) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INODE\tKIND\tDELETED\tSIZE\tEXTENTS\tPATH")
	for _, f := range m.Files {
		size := "?"
		if f.Size != nil {
			size = fmt.Sprint(*f.Size)
		}
		p := f.Path
		if p == "" {
			p = "(no name)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", f.Ino, f.Kind, orDash(f.DeletedAt), size, verdictSummary(f.Extents), p)
	}
	return tw.Flush()
}

// verdictSummary counts a file's extents by verdict ("3 intact, 1 reused").
func verdictSummary(es []forensics.ExtentClaim) string {
	if len(es) == 0 {
		return "-"
	}
	n := map[forensics.Verdict]int{}
	for _, e := range es {
		n[e.Verdict]++
	}
	var parts []string
	for _, v := range []forensics.Verdict{forensics.Intact, forensics.Reused, forensics.Unknown} {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[v], v))
		}
	}
	return strings.Join(parts, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runRecover(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("recover")
	ev := evidenceFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return &usageError{fmt.Sprintf("need IMAGE and DIR; got %d argument(s)", len(pos))}
	}
	if ents, err := os.ReadDir(pos[1]); err == nil && len(ents) > 0 {
		return &usageError{fmt.Sprintf("%s is not empty: recover writes into an empty or new directory", pos[1])}
	}
	ex, done, err := examine(ctx, pos[0], ev)
	if err != nil {
		return err
	}
	defer done()
	if err := ex.Recover(ctx, pos[1]); err != nil {
		return err
	}
	if err := finishHash(ctx, ex, pos[0]); err != nil {
		return err
	}
	if err := ex.WriteManifest(pos[1]); err != nil {
		return err
	}
	n, complete := 0, 0
	for _, f := range ex.Manifest.Files {
		if f.Recovery != nil {
			n++
			if f.Recovery.Complete {
				complete++
			}
		}
	}
	fmt.Fprintf(stdout, "%d deleted file(s) found, %d recovered into %s (%d complete); manifest: %s/manifest.json\n",
		len(ex.Manifest.Files), n, pos[1], complete, pos[1])
	return nil
}

func init() {
	register(&command{
		name: "timeline", readOnly: true,
		summary: "write a timeline of live and deleted files (TSK body file or JSON lines)",
		usage:   "[--json] [--integer-times] [--no-deleted] [--hash] [--no-free-scan] IMAGE",
		help: `Writes one line per name of every live file of the filesystem in IMAGE,
and one per deleted file (see "xfsbox help deleted"; its ctime is the
deletion time), with access, modification, change and creation times
to the nanosecond. The default output is a body file in The Sleuth Kit's
format, for mactime or plaso:
  MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime
with times as seconds since the epoch and nine decimals (--integer-times
for whole seconds, which older mactime versions want); deleted names end
in " (deleted)", as TSK writes them. --json writes JSON lines instead.
The image is opened read-only.

Flags:
{{flags}}

Examples:
  xfsbox timeline evidence.img > body.txt && mactime -b body.txt -d
  xfsbox timeline --json evidence.img | jq 'select(.deleted)'
`,
		flags: func(fl *flag.FlagSet) { timelineFlags(fl) },
		run:   runTimeline,
	})
}

func timelineFlags(fl *flag.FlagSet) (asJSON, integer, noDeleted *bool, ev evidence) {
	asJSON = jsonFlag(fl, "xfsbox.timeline: JSON lines, one object per file name, instead of a body file")
	integer = fl.Bool("integer-times", false, "write whole seconds in the body file")
	noDeleted = fl.Bool("no-deleted", false, "leave deleted files out (no log or directory carving)")
	ev = evidenceFlags(fl)
	return
}

func runTimeline(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("timeline")
	asJSON, integer, noDeleted, ev := timelineFlags(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{fmt.Sprintf("need IMAGE; got %d argument(s)", len(pos))}
	}
	var ex *forensics.Examination
	var fs *fsys.FS
	if *noDeleted {
		if fs, err = openFS(pos[0], fsys.OpenOptions{}); err != nil {
			return err
		}
		defer fs.Close()
	} else {
		var done func()
		if ex, done, err = examine(ctx, pos[0], ev); err != nil {
			return err
		}
		defer done()
		fs = ex.FS()
	}
	enc := json.NewEncoder(stdout)
	err = forensics.Timeline(ctx, fs, ex, func(e forensics.TimelineEntry) error {
		if *asJSON {
			return enc.Encode(e)
		}
		return forensics.WriteBody(stdout, e, *integer)
	})
	if err != nil {
		return err
	}
	if ex != nil {
		return finishHash(ctx, ex, pos[0])
	}
	return nil
}

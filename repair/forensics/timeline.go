package forensics

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// The timeline: one event row per name of every live file (the inode's
// times) and per deleted file (the freed inode's times, its ctime being
// the deletion), in The Sleuth Kit's body format (what mactime and
// plaso read) or as JSON lines.

// TimelineEntry is one file (or one name of it) with its times.
type TimelineEntry struct {
	Path    string `json:"path"`
	Ino     uint64 `json:"ino"`
	Deleted bool   `json:"deleted,omitempty"`
	Mode    uint16 `json:"mode"`
	UID     uint32 `json:"uid"`
	GID     uint32 `json:"gid"`
	Size    uint64 `json:"size"`
	// Times are zero when unknown.
	Atime  time.Time `json:"atime"`
	Mtime  time.Time `json:"mtime"`
	Ctime  time.Time `json:"ctime"`
	Crtime time.Time `json:"crtime"`
}

// Timeline calls fn with every live file's entries (one per path, hard
// links each; an unlinked or orphaned file as "<inode N: no path>"),
// then with the deleted files of ex (nil: none). The realtime and quota
// inodes are the filesystem's own and left out.
func Timeline(ctx context.Context, fs *fsys.FS, ex *Examination, fn func(TimelineEntry) error) error {
	sb := fs.SB
	meta := map[uint64]bool{sb.RBMIno: true, sb.RSumIno: true, sb.UQuotIno: true, sb.GQuotIno: true, sb.PQuotIno: true}
	err := fs.AllocatedInodes(ctx, func(ino uint64) error {
		if meta[ino] {
			return nil // the filesystem's own: no file, no name
		}
		in, err := fs.Inode(ino)
		if err != nil {
			return nil // a damaged inode has no trustworthy times
		}
		paths, err := fs.Paths(ctx, ino)
		if err != nil || len(paths) == 0 {
			paths = []string{fmt.Sprintf("<inode %d: no path>", ino)}
		}
		e := TimelineEntry{Ino: ino, Mode: in.Mode, UID: in.UID, GID: in.GID, Size: in.Size,
			Atime: in.Time(in.ATime), Mtime: in.Time(in.MTime), Ctime: in.Time(in.CTime)}
		if in.Version >= 3 {
			e.Crtime = in.Time(in.CrTime)
		}
		for _, p := range paths {
			e.Path = p
			if err := fn(e); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil || ex == nil {
		return err
	}
	for _, f := range ex.Manifest.Files {
		e := TimelineEntry{Path: f.Path, Ino: f.Ino, Deleted: true, Mode: f.Mode,
			Atime: parseTime(f.Atime), Mtime: parseTime(f.Mtime), Ctime: parseTime(f.DeletedAt), Crtime: parseTime(f.Crtime)}
		if e.Path == "" {
			e.Path = fmt.Sprintf("<deleted inode %d>", f.Ino)
		}
		if f.UID != nil {
			e.UID, e.GID = *f.UID, *f.GID
		}
		if f.Size != nil {
			e.Size = *f.Size
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// WriteBody writes e as a body-file line (TSK 3.x+:
// MD5|name|inode|mode_as_string|UID|GID|size|atime|mtime|ctime|crtime),
// times as seconds since the epoch with nanoseconds after a point, or
// whole seconds when integer (for mactime versions that want them).
// Deleted names end in " (deleted)", as TSK writes them.
func WriteBody(w io.Writer, e TimelineEntry, integer bool) error {
	name := strings.NewReplacer("|", "\\|", "\n", "\\n").Replace(e.Path)
	if e.Deleted {
		name += " (deleted)"
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		if integer {
			return fmt.Sprint(t.Unix())
		}
		return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
	}
	_, err := fmt.Fprintf(w, "0|%s|%d|%s|%d|%d|%d|%s|%s|%s|%s\n", name, e.Ino, ModeString(e.Mode), e.UID, e.GID, e.Size,
		ts(e.Atime), ts(e.Mtime), ts(e.Ctime), ts(e.Crtime))
	return err
}

// ModeString is a mode as TSK's body files write it: the name type, a
// slash, then ls's ten characters ("r/rrw-r--r--", "d/drwxr-xr-x"; a
// socket's name type is "h", an unknown type's "-").
func ModeString(mode uint16) string {
	ls := xfsformat.LsMode(mode)
	t, ok := tskTypes[ls[0]]
	if !ok {
		t = "-"
	}
	return t + "/" + ls
}

// tskTypes maps ls's type character to TSK's name type.
var tskTypes = map[byte]string{'-': "r", 'd': "d", 'l': "l", 'c': "c", 'b': "b", 'p': "p", 's': "h"}

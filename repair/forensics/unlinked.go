package forensics

import (
	"context"
	"fmt"
	"time"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Open-but-unlinked files: inodes with no name left, kept by the
// processes that had them open, on the AGI's unlinked lists (64 buckets
// per AG, chained through di_next_unlinked) until the last close frees
// them, or until a mount's log recovery does when the system went down
// first. Their forks are whole: their content is read as a live file's.

// unlinkedInodes lists the inodes on every AG's unlinked lists, each
// chain followed until it ends, loops or leaves the AG.
func unlinkedInodes(ctx context.Context, fs *fsys.FS) ([]uint64, error) {
	var out []uint64
	for agno := range fs.Geo.AGCount {
		agi, _, err := fs.ReadAGI(agno)
		if err != nil {
			return nil, fmt.Errorf("AGI %d: %w", agno, err)
		}
		seen := map[uint32]bool{}
		for _, head := range agi.Unlinked {
			for agino := head; agino != xfsformat.NullAGIno && !seen[agino] && fs.Geo.ValidAGIno(agno, agino); {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				seen[agino] = true
				ino := fs.Geo.Ino(agno, agino)
				out = append(out, ino)
				b, err := fs.InodeBytes(ino)
				if err != nil {
					break
				}
				in, err := xfsformat.DecodeInodeOf(b, fs.Geo)
				if err != nil {
					break
				}
				agino = in.NextUnlinked
			}
		}
	}
	return out, nil
}

// describeUnlinked fills f from its live inode: kind, mode, owners,
// size, times and the extent map of its data fork, every extent intact
// (its own still).
func describeUnlinked(fs *fsys.FS, f *DeletedFile) {
	f.Unlinked = true
	in, err := fs.Inode(f.Ino)
	if err != nil {
		f.Notes = append(f.Notes, "on an unlinked list, but unreadable: "+err.Error())
		return
	}
	stamp := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	f.Kind, f.Mode = kindOf(in.Mode), in.Mode
	uid, gid, size, gen := in.UID, in.GID, in.Size, in.Gen
	f.UID, f.GID, f.Size, f.Generation = &uid, &gid, &size, &gen
	f.SizeFrom, f.MapFrom = "inode", "inode"
	f.DeletedAt, f.Atime, f.Mtime = stamp(in.Time(in.CTime)), stamp(in.Time(in.ATime)), stamp(in.Time(in.MTime))
	if in.Version >= 3 {
		f.Crtime = stamp(in.Time(in.CrTime))
	}
	f.Notes = append(f.Notes, "open but unlinked: its last name was removed (at deleted_at, its ctime) while a process held it open, and the filesystem went down before the last close freed it")
	if in.Format != xfsformat.FmtExtents && in.Format != xfsformat.FmtBtree {
		return
	}
	var es []xfsformat.BmbtRec
	if err := fs.Map(in, false).Walk(0, func(e xfsformat.BmbtRec) error {
		es = append(es, e)
		return nil
	}); err != nil {
		f.Notes = append(f.Notes, "extent map unreadable: "+err.Error())
		return
	}
	setExtents(f, es)
	for i := range f.Extents {
		f.Extents[i].Verdict, f.Extents[i].Why = Intact, "still allocated to this inode"
	}
}

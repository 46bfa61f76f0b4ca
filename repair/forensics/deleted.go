package forensics

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/repair/forensics/history"
	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Life is what the log says of one inode's last life before it was
// freed, in the shape Examine joins (history.LastLives has the rules).
type Life struct {
	Ino      uint64
	Gen      uint32
	Mode     uint16
	UID, GID uint32
	// Size is the size in the life's last live snapshot, at SizeLSN.
	Size    uint64
	SizeLSN uint64
	// Extents and ExtentsLSN: the life's extent list, when ExtentsKnown.
	Extents      []xfsformat.BmbtRec
	ExtentsLSN   uint64
	ExtentsKnown bool
	// BtreeRoot is the logged bmbt root (at RootLSN) of a btree-format
	// data fork, in the kernel's in-memory layout.
	BtreeRoot []byte
	RootLSN   uint64
	// Nextents is the data fork's extent count in the last live state.
	Nextents uint64
	// Format is the data fork's format as last logged.
	Format uint8
	// Local is a local-format data fork as last logged (a shortform
	// directory, an inline symlink).
	Local []byte
	// CutLSN is where the truncation before the freeing began (0: not
	// seen); FreedLSN the freeing (mode 0), 0 when the log does not
	// hold it.
	CutLSN, FreedLSN uint64
	// EmptiedFrom is the size the file had before it was truncated to
	// zero while still linked (then deleted empty); 0 otherwise.
	EmptiedFrom uint64
}

// LogLives is history.LastLives in the shape Examine joins.
func LogLives(ctx context.Context, fs *fsys.FS, want func(ino uint64) bool) (map[uint64]*Life, history.Stats, error) {
	hs, st, err := history.LastLives(ctx, fs, want)
	if err != nil {
		return nil, st, err
	}
	out := make(map[uint64]*Life, len(hs))
	for ino, h := range hs {
		if h.Live == nil || h.Live.Core == nil {
			continue
		}
		c := h.Live.Core
		l := &Life{Ino: ino, Gen: h.Generation, Mode: c.Mode, UID: c.UID, GID: c.GID, Size: c.Size, SizeLSN: h.Live.LSN, Format: c.Format,
			Nextents: c.DataExtents(), Local: h.Local, FreedLSN: h.FreedLSN}
		if h.Cut != nil {
			l.CutLSN = h.Cut.LSN
			if h.Cut.Core != nil && h.Cut.Core.Nlink > 0 {
				// Emptied while still linked, then deleted: the file
				// died empty; what Live holds is older content.
				l.Size, l.Nextents, l.EmptiedFrom = 0, 0, c.Size
				out[ino] = l
				continue
			}
		}
		switch {
		case c.Format == xfsformat.FmtExtents && h.ExtentsKnown:
			l.Extents, l.ExtentsLSN, l.ExtentsKnown = h.Extents, h.ExtentsLSN, true
		case c.Format == xfsformat.FmtBtree && h.BtreeRoot != nil:
			l.BtreeRoot, l.RootLSN = h.BtreeRoot, h.BtreeRootLSN
		}
		out[ino] = l
	}
	return out, st, nil
}

// Options choose what Examine does.
type Options struct {
	// Progress, when not nil, hears of each phase.
	Progress func(phase string)
	// NoFreeScan skips reading the free space for directory blocks of
	// deleted directories (the one part of the examination whose cost
	// grows with the free space rather than the metadata).
	NoFreeScan bool
	// Workspace configures where the owner index of a filesystem without
	// an rmapbt is staged (to name who took a reused extent).
	Workspace workspace.Options
}

// Examination is what Examine found: the manifest (without recovered
// content yet) and what recovering needs.
type Examination struct {
	Manifest Manifest
	fs       *fsys.FS
}

// Examine lists the deleted files of a filesystem opened read-only:
// every inode that is free now but shows it was used (a freed core with
// its deletion time, a life in the log, a name in a directory's free
// space), with the names, sizes and extent maps the evidence gives and
// a verdict for each extent. It never writes.
func Examine(ctx context.Context, fs *fsys.FS, opts Options) (*Examination, error) {
	say := func(p string) {
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	g, err := fs.DirGeometry()
	if err != nil {
		return nil, err
	}
	say("reading the inode btrees")
	imap, err := readInodeMap(ctx, fs)
	if err != nil {
		return nil, err
	}
	say("reading the unlinked lists")
	unl, err := unlinkedInodes(ctx, fs)
	if err != nil {
		return nil, err
	}
	unlinked := map[uint64]bool{}
	for _, ino := range unl {
		unlinked[ino] = true
	}
	// free: an inode whose names and life are evidence of a deletion
	// (free now, or open but unlinked).
	free := func(ino uint64) bool {
		_, alloc := imap.state(ino)
		return (!alloc || unlinked[ino]) && fs.ValidIno(ino)
	}

	say("carving directories")
	var removed []RemovedEntry
	if _, err := LiveDirRemovals(ctx, fs, func(r RemovedEntry) { removed = append(removed, r) }); err != nil {
		return nil, err
	}
	leaves := map[uint64][]FreeLeaf{} // freed bmbt leaves by owner
	var read []string
	read = append(read, fmt.Sprintf("the superblock, the AGIs' unlinked lists and the inode btrees of %d AG(s)", fs.Geo.AGCount),
		"every live directory's blocks and inline forks")
	if !opts.NoFreeScan {
		say("reading free space for directory blocks")
		ext, blocks, err := FreeScan(ctx, fs, func(r RemovedEntry) { removed = append(removed, r) }, func(l FreeLeaf) { leaves[l.Owner] = append(leaves[l.Owner], l) })
		if err != nil {
			return nil, err
		}
		read = append(read, fmt.Sprintf("the free space (%d extents, %d blocks), for directory blocks of deleted directories and freed bmbt leaves", ext, blocks))
	}

	say("reading the log")
	lives, stats, err := LogLives(ctx, fs, free)
	if err != nil {
		return nil, err
	}

	files := map[uint64]*DeletedFile{}
	get := func(ino uint64) *DeletedFile {
		f := files[ino]
		if f == nil {
			f = &DeletedFile{Ino: ino, Kind: "unknown"}
			files[ino] = f
		}
		return f
	}
	say("reading freed inodes")
	if err := imap.freeInodes(func(ino uint64) error {
		if c := freedCore(fs, ino); c != nil && c.CTime != 0 {
			get(ino)
		}
		return ctx.Err()
	}); err != nil {
		return nil, err
	}
	for ino := range lives {
		get(ino)
	}
	// Carved names: the full inode number, or its surviving low half
	// matched against the inodes known deleted.
	byLow := map[uint64][]uint64{}
	for ino := range files {
		byLow[ino&0xffffffff] = append(byLow[ino&0xffffffff], ino)
	}
	names := map[uint64][]RemovedEntry{}
	for _, r := range removed {
		ino := r.Ino
		if r.LowOnly {
			switch c := byLow[r.Ino]; {
			case len(c) == 1:
				ino = c[0]
			case fs.ValidIno(r.Ino) && free(r.Ino):
				ino = r.Ino
			default:
				continue // the high half cannot be told
			}
		}
		if !free(ino) {
			continue // renamed, or the inode was reused: not a deletion
		}
		names[ino] = append(names[ino], r)
		get(ino)
	}

	say("reading names in the log")
	// Every name the log holds: those of freed inodes make deleted
	// files; those of directories say where a directory was at an LSN
	// (its number may name something else now, or it may have moved).
	logged := map[uint64][]LoggedName{}
	if err := LogNames(ctx, fs, func(ino uint64) bool { return true }, func(l LoggedName) {
		if free(l.Ino) {
			get(l.Ino)
		} else if g.Ftype && l.Ftype != dir.FtDir {
			return // a live file's name: of no use here
		}
		logged[l.Ino] = append(logged[l.Ino], l)
	}); err != nil {
		return nil, err
	}
	for ino := range unlinked {
		get(ino)
	}
	for ino, f := range files {
		if unlinked[ino] {
			describeUnlinked(fs, f)
			continue
		}
		describe(fs, f, freedCore(fs, ino), lives[ino])
	}
	if err := btreeFileMaps(ctx, fs, files, lives); err != nil {
		return nil, err
	}
	say("naming")
	namer := &namer{ctx: ctx, fs: fs, g: g, files: files, names: names, logged: logged, done: map[uint64]bool{}, born: map[uint64]time.Time{}}
	for ino := range files {
		namer.name(ino, 0)
	}
	freedLeafMaps(files, leaves) // after naming: an entry's file type says "regular"
	say("judging extents")
	if err := judge(ctx, fs, opts.Workspace, files, lives); err != nil {
		return nil, err
	}
	where := "the internal log"
	if ls, err := fsys.ReadLogState(fs); err == nil {
		where = fmt.Sprintf("the internal log, all %d basic blocks", ls.LogBlocks)
	}
	read = append(read, fmt.Sprintf("%s: %d intact records, LSN %s to %s, read in several passes (lives, names, reuse)%s", where, stats.Records,
		xlog.LSNText(stats.OldestLSN), xlog.LSNText(stats.NewestLSN), map[bool]string{true: "; it has wrapped: older records are lost"}[stats.Wrapped]),
		fmt.Sprintf("the cores of %d freed or unlinked inodes, and the blocks their recovered extents name", len(files)))
	ex := &Examination{fs: fs, Manifest: Manifest{Log: stats, Read: read}}
	for _, f := range files {
		ex.Manifest.Files = append(ex.Manifest.Files, *f)
	}
	sort.Slice(ex.Manifest.Files, func(i, j int) bool { return ex.Manifest.Files[i].Ino < ex.Manifest.Files[j].Ino })
	return ex, nil
}

// freedCore is the inode's core as it sits on disk, when it is a freed
// inode's (the magic right, its own number stamped on v5, mode 0); nil
// otherwise.
func freedCore(fs *fsys.FS, ino uint64) *dinode.Core {
	b, err := fs.InodeBytes(ino)
	if err != nil {
		return nil
	}
	c, err := dinode.DecodeOf(b, fs.Geo)
	if err != nil || c.Magic != xfsformat.DinodeMagic || c.Mode != 0 {
		return nil
	}
	if c.Version >= 3 && c.Inode.Ino != ino {
		return nil
	}
	return c
}

// describe fills what the freed core and the log say of f.
func describe(fs *fsys.FS, f *DeletedFile, c *dinode.Core, l *Life) {
	bigtime := false
	if c != nil {
		bigtime = c.HasBigtime()
		stamp := func(ts dinode.Timestamp) string {
			if ts == 0 {
				return ""
			}
			sec, nsec := ts.Unix(bigtime)
			return time.Unix(sec, int64(nsec)).UTC().Format(time.RFC3339Nano)
		}
		f.DeletedAt, f.Atime, f.Mtime = stamp(c.CTime), stamp(c.ATime), stamp(c.MTime)
		if c.Version >= 3 {
			f.Crtime = stamp(c.CrTime)
		}
		// xfs_ifree bumps the generation as it frees the inode: the
		// life's own was one less.
		gen := c.Gen - 1
		f.Generation = &gen
		if l != nil && l.Gen != gen {
			f.Notes = append(f.Notes, fmt.Sprintf("the freed inode's generation %d is not the logged life's %d plus one: the inode may have lived again since", c.Gen, l.Gen))
		}
	}
	if l == nil {
		f.Notes = append(f.Notes, "the log holds no life of this inode: size and extents unknown")
		return
	}
	g := l.Gen
	f.Generation = &g
	f.Kind = kindOf(l.Mode)
	uid, gid := l.UID, l.GID
	f.Mode, f.UID, f.GID = l.Mode, &uid, &gid
	size := l.Size
	f.Size, f.SizeFrom = &size, "log "+xlog.LSNText(l.SizeLSN)
	if l.EmptiedFrom != 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("truncated to zero while still linked, then deleted: the log's earlier content (%d bytes) was not this file's at its deletion", l.EmptiedFrom))
	}
	if l.ExtentsKnown {
		f.MapFrom = "log " + xlog.LSNText(l.ExtentsLSN)
		setExtents(f, l.Extents)
	}
	if l.Mode&xfsformat.ModeTypeMask == xfsformat.ModeSymlink && l.Format == xfsformat.FmtLocal && len(l.Local) > 0 {
		f.Target = string(l.Local[:min(uint64(len(l.Local)), l.Size)])
	}
	if l.FreedLSN == 0 {
		f.Notes = append(f.Notes, "the log does not hold the freeing: reuse since cannot be ruled out")
	}
}

// setExtents makes f's extent claims, verdicts to come.
func setExtents(f *DeletedFile, es []xfsformat.BmbtRec) {
	for _, e := range es {
		f.Extents = append(f.Extents, ExtentClaim{FileOffset: e.StartOff, StartBlock: e.StartBlock, Blocks: e.BlockCount, Unwritten: e.Unwritten})
	}
}

// kindOf names a mode's file type as the manifest does.
func kindOf(mode uint16) string {
	switch mode & xfsformat.ModeTypeMask {
	case xfsformat.ModeRegular:
		return "regular"
	case xfsformat.ModeDir:
		return "directory"
	case xfsformat.ModeSymlink:
		return "symlink"
	case xfsformat.ModeChar:
		return "chrdev"
	case xfsformat.ModeBlock:
		return "blkdev"
	case xfsformat.ModeFIFO:
		return "fifo"
	case xfsformat.ModeSocket:
		return "socket"
	}
	return "unknown"
}

// ftypeKinds maps a directory entry's file type to the manifest's kind.
var ftypeKinds = map[uint8]string{dir.FtRegular: "regular", dir.FtDir: "directory", dir.FtSymlink: "symlink",
	dir.FtChrdev: "chrdev", dir.FtBlkdev: "blkdev", dir.FtFIFO: "fifo", dir.FtSocket: "socket"}

// namer gives deleted files their paths: the carved name under its
// directory's path, the directory live or itself deleted and named.
type namer struct {
	ctx    context.Context
	fs     *fsys.FS
	g      *dir.Geometry
	files  map[uint64]*DeletedFile
	names  map[uint64][]RemovedEntry
	logged map[uint64][]LoggedName
	done   map[uint64]bool
	born   map[uint64]time.Time // directories' creation times
}

// name sets f.Names and f.Path for ino and returns the path ("" when
// none is known or several disagree). depth bounds the climb through
// deleted directories (a loop of carved names ends).
//
// The rules, each from a false claim the ground truth caught:
//   - The log's latest name for the inode is the name it had last; when
//     the log has one, carved names that disagree are not claimed (a
//     carved entry may be an older name, or stale bytes of an earlier
//     use of the block), only noted.
//   - A carved entry is believed only in a directory created before
//     the inode was freed: a new directory's data block keeps the stale
//     bytes of the block's earlier owner in its free space, entries of
//     another, deleted directory that look like its own.
func (n *namer) name(ino uint64, depth int) string {
	f := n.files[ino]
	if f == nil || depth > 64 {
		return ""
	}
	if n.done[ino] {
		return f.Path
	}
	n.done[ino] = true
	kindOK := func(ft uint8) bool {
		k, ok := ftypeKinds[ft]
		return !ok || f.Kind == "unknown" || k == f.Kind
	}
	var last *LoggedName
	for i := range n.logged[ino] {
		l := &n.logged[ino][i]
		if kindOK(l.Ftype) && (last == nil || l.LSN >= last.LSN) {
			last = l
		}
	}
	freed := parseTime(f.DeletedAt)
	carved := map[string][]RemovedEntry{}
	for _, r := range n.names[ino] {
		if !kindOK(r.Ftype) {
			continue // the entry named another kind of file
		}
		p := n.join(r.Dir, r.Name, depth, freed, 0)
		if p != "" {
			carved[p] = append(carved[p], r)
		}
	}
	claim := func(p string, r RemovedEntry) {
		f.Names = append(f.Names, NameEvidence{Path: p, Dir: r.Dir, Source: r.Source, Where: r.Where(), HashChecked: r.HashSeen})
		n.kind(f, r.Ftype)
	}
	if last != nil {
		if p := n.join(last.Dir, last.Name, depth, freed, last.LSN); p != "" {
			f.Path = p
			f.Names = append(f.Names, NameEvidence{Path: p, Dir: last.Dir, Source: "log", Where: last.Where()})
			n.kind(f, last.Ftype)
			for cp, rs := range carved {
				if cp == p {
					claim(cp, rs[0])
				} else {
					f.Notes = append(f.Notes, fmt.Sprintf("an older or stale name carved at %s (%s) is not claimed: the log names the inode %s", rs[0].Where(), cp, p))
				}
			}
			return p
		}
	}
	switch len(carved) {
	case 0:
	case 1:
		for p, rs := range carved {
			f.Path = p
			claim(p, rs[0])
		}
	default:
		var ps []string
		for p := range carved {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		f.Notes = append(f.Notes, fmt.Sprintf("%d different names carved for this inode and none in the log, none claimed: %s", len(ps), strings.Join(ps, ", ")))
	}
	return f.Path
}

// created is directory d's creation time (crtime, v5), live or freed;
// zero when unknown.
func (n *namer) created(d uint64) time.Time {
	if t, ok := n.born[d]; ok {
		return t
	}
	var t time.Time
	if in, err := n.fs.Inode(d); err == nil && in.Mode != 0 && in.Version >= 3 {
		t = in.Time(in.CrTime)
	} else if c := freedCore(n.fs, d); c != nil && c.Version >= 3 && c.CrTime != 0 {
		t = c.Time(c.CrTime)
	}
	n.born[d] = t
	return t
}

// join is a carved or logged name's path: its directory's path and the
// name; "" when the directory's path is unknown. A logged name (asOf,
// its LSN) is joined to where the log says the directory was then; a
// carved one (asOf 0) to where the directory is now, unless its inode
// number belongs to something created after freed (the entry's
// directory is gone and its number reused).
func (n *namer) join(d uint64, name []byte, depth int, freed time.Time, asOf uint64) string {
	parent := n.dirPath(d, depth, freed, asOf)
	if parent == "" {
		return ""
	}
	return path.Join(parent, string(name))
}

// kind takes the file's kind from its entry's file type when nothing
// better said it.
func (n *namer) kind(f *DeletedFile, ft uint8) {
	if k, ok := ftypeKinds[ft]; ok && f.Kind == "unknown" {
		f.Kind = k
	}
}

// dirPath is the path of directory d: deleted (named by its own
// evidence); as of LSN asOf, where the log last named it by then (it may
// have moved, or died and its number been reused, since); else live, by
// the filesystem's own index, when it was created before freed. "" when
// none of these tells.
func (n *namer) dirPath(d uint64, depth int, freed time.Time, asOf uint64) string {
	if depth > 64 {
		return ""
	}
	if _, ok := n.files[d]; ok {
		return n.name(d, depth+1)
	}
	if asOf != 0 {
		var best *LoggedName
		later := false
		for i := range n.logged[d] {
			l := &n.logged[d][i]
			if n.g.Ftype && l.Ftype != dir.FtDir {
				continue
			}
			if l.LSN > asOf {
				later = true
			} else if best == nil || l.LSN >= best.LSN {
				best = l
			}
		}
		if best != nil {
			if parent := n.dirPath(best.Dir, depth+1, freed, best.LSN); parent != "" {
				return path.Join(parent, string(best.Name))
			}
			return ""
		}
		if later {
			return "" // named only after asOf: where it was then is not known
		}
	}
	if born := n.created(d); !freed.IsZero() && !born.IsZero() && born.After(freed) {
		return "" // the number now names something younger than the deletion
	}
	if in, err := n.fs.Inode(d); err != nil || in.FileType() != xfsformat.ModeDir {
		return ""
	}
	ps, err := n.fs.Paths(n.ctx, d)
	if err != nil || len(ps) == 0 {
		return ""
	}
	return ps[0]
}

// FS is the filesystem examined.
func (ex *Examination) FS() *fsys.FS { return ex.fs }

package check

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/attr"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// contentCheck is the check above the AG, run on every in-use inode the
// inode scan trusts (xfsbox check only; the rebuilds' scans skip it):
// the kernel's whole inode verifier, every block of a directory and its
// indexes, every attribute block, a symlink's target; and, after the
// scan, link counts and entries against the inodes they name, from
// records staged in the workspace (entries, inodes), sorted and joined,
// so that no Go map grows with the filesystem.
type contentCheck struct {
	fs       *fsys.FS
	findings *Findings
	dirGeo   *dir.Geometry

	ws *workspace.Workspace
	mu sync.Mutex // the arrays are one goroutine's at a time
	// entries are the staged directory entries, an array per AG of the
	// inode they name and one more, last, for numbers past the last AG
	// (made as the first entry of each comes): each sorts on its own,
	// side by side, and read one after another they are in inode order.
	// nil in CheckInode, which joins nothing.
	entries []*workspace.Array
	entryMu []sync.Mutex // one an entries array: workers stage side by side
	// inodes are each AG's in-use inodes, in inode order as the scan
	// meets them (one worker scans an AG, and it alone touches its AG's
	// array): no sort needed, no lock.
	inodes []*workspace.Array
	err    error       // a workspace failure (under mu): the link-count join is skipped
	failed atomic.Bool // err is set
	// logLSN is the log's head (logHead): no block may be stamped
	// ahead of it.
	logLSN uint64
	// logDirty: the log has changes to replay (and the inodes on the
	// unlinked lists are recovery's to free).
	logDirty bool
	// pptr is the parent pointer join's staging, on filesystems with
	// the parent feature (nil otherwise, and in CheckInode).
	pptr *pptrCheck
}

// Staged records, big-endian so that bytes.Compare sorts by inode.
const (
	// entryRec: the inode named (8), the directory (8), the entry's
	// file type (1), flags (1: 1 for "." and "..").
	entryRecLen = 18
	// inodeRec: the inode (8), its link count (4), its file type as a
	// directory entry names it (1).
	inodeRecLen = 13
)

func newContentCheck(fs *fsys.FS, ws *workspace.Workspace, findings *Findings) (*contentCheck, error) {
	g, err := fs.DirGeometry()
	if err != nil {
		return nil, err
	}
	c := &contentCheck{fs: fs, findings: findings, dirGeo: g, ws: ws, inodes: make([]*workspace.Array, fs.Geo.AGCount)}
	c.entries = make([]*workspace.Array, fs.Geo.AGCount+1)
	c.entryMu = make([]sync.Mutex, len(c.entries))
	if fs.HasParentPointers() {
		if c.pptr, err = newPptrCheck(ws); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ftypeOf is the directory entry file type of a mode (fsys.FtypeMode
// the other way).
func ftypeOf(mode uint16) uint8 {
	for ft := uint8(1); ft < 8; ft++ {
		if fsys.FtypeMode(ft) == uint32(mode&xfsformat.ModeTypeMask) {
			return ft
		}
	}
	return dir.FtUnknown
}

// where is the AG and block of inode ino, for findings.
func (c *contentCheck) where(ino uint64) (int64, int64) {
	agno, agino := c.fs.Geo.SplitIno(ino)
	agbno, _ := c.fs.Geo.AGInoBlock(agino)
	return int64(agno), int64(agbno)
}

func (c *contentCheck) add(code string, ino uint64, structure string, err error) {
	ag, blk := c.where(ino)
	var fe *xfsformat.FormatError
	if errors.As(err, &fe) && fe.Block >= 0 {
		ag, blk = fe.AG, fe.Block
	}
	c.findings.Add(Finding{Code: code, Severity: Corrupt, AG: ag, Structure: structure, Block: blk, Ino: ino,
		Message: fmt.Sprintf("inode %d: %v", ino, err)})
}

func (c *contentCheck) stage(a *workspace.Array, rec []byte) {
	if a == nil {
		return // one inode's check (CheckInode): nothing to join
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		if c.err = a.Append(rec); c.err != nil {
			c.failed.Store(true)
		}
	}
}

// stageEntry appends an entry record to the array of the AG of the
// inode it names.
func (c *contentCheck) stageEntry(target uint64, rec []byte) {
	if c.entries == nil || c.failed.Load() {
		return
	}
	agno, _ := c.fs.Geo.SplitIno(target)
	i := min(int(agno), len(c.entries)-1)
	c.entryMu[i].Lock()
	defer c.entryMu[i].Unlock()
	c.appendTo(&c.entries[i], entryRecLen, rec)
}

// stageInode appends an inode record to its AG's array, which only the
// worker scanning that AG touches.
func (c *contentCheck) stageInode(ino uint64, rec []byte) {
	agno, _ := c.fs.Geo.SplitIno(ino)
	if int(agno) >= len(c.inodes) || c.failed.Load() {
		return // one inode's check (CheckInode), or no such AG
	}
	c.appendTo(&c.inodes[agno], inodeRecLen, rec)
}

// inodesDone settles AG agno's inode records when its scan is over: its
// worker appends no more, and the array's I/O buffer goes back to the
// pool (on 16 AGs, a buffer each held to the end of the scan).
func (c *contentCheck) inodesDone(agno uint32) {
	if int(agno) < len(c.inodes) && c.inodes[agno] != nil {
		if err := c.inodes[agno].Settle(); err != nil {
			c.fail(err)
		}
	}
}

// appendTo appends rec to *a, making the array (of recLen-byte records)
// on the first; a failure is recorded (fail). The caller owns *a.
func (c *contentCheck) appendTo(a **workspace.Array, recLen int, rec []byte) {
	if *a == nil {
		var err error
		if *a, err = c.ws.NewArray(recLen); err != nil {
			c.fail(err)
			return
		}
	}
	if err := (*a).Append(rec); err != nil {
		c.fail(err)
	}
}

// fail records the first workspace failure.
func (c *contentCheck) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.failed.Store(true)
	}
}

// codeSet is a set of finding codes, made on its first add (nil holds
// none).
type codeSet map[string]bool

func (s *codeSet) add(code string) {
	if *s == nil {
		*s = codeSet{}
	}
	(*s)[code] = true
}

// inode checks one in-use inode the scan trusts (core is its slot
// decoded); reported holds the codes the scan's own verifier gave it.
func (c *contentCheck) inode(ino uint64, core *dinode.Core, reported codeSet) {
	for _, p := range dinode.Verify(c.fs.InodeFS(), core, ino) {
		if code := inodeCode(p); !reported[code] {
			reported.add(code)
			c.add(code, ino, "inode", p)
		}
	}
	if special(core.FileType()) && core.Size != 0 && !reported["inode.size"] {
		// xfs_repair (process_misc_ino_types): "size of character
		// device inode N != 0"; the kernel's verifier lets it be.
		reported.add("inode.size")
		c.add("inode.size", ino, "inode", fmt.Errorf("a device, fifo or socket inode has size %d (must be 0)", core.Size))
	}
	if core.FileType() == xfsformat.ModeDir && int64(core.Size) > dirDataSpace && !reported["inode.size"] {
		// xfs_repair (process_check_inode_sizes): "directory inode N
		// has bad size"; di_size covers the data blocks, which live
		// below the leaf offset.
		reported.add("inode.size")
		c.add("inode.size", ino, "inode", fmt.Errorf("directory size %d is past the data space's end (%d bytes)", core.Size, int64(dirDataSpace)))
	}
	var rec [inodeRecLen]byte
	binary.BigEndian.PutUint64(rec[:], ino)
	binary.BigEndian.PutUint32(rec[8:], core.LinkCount())
	rec[12] = ftypeOf(core.Mode)
	c.stageInode(ino, rec[:])
	in := &fsys.Inode{Ino: ino, Core: core}
	// Its parent pointers are staged (or it is marked unread) on the
	// way out, once the forks are known to be readable.
	pptrsTrusted := false
	defer func() { c.pptrInode(in, pptrsTrusted) }()
	for code := range reported {
		if !forkNeutral(code, core) {
			return // its forks cannot be trusted to say more
		}
	}
	lsn := c.lsnChecker(ino, core)
	defer lsn.done()
	// A bmbt walked the way the readers walk it, every rule on (keys
	// against the blocks below them, siblings, counts): the scan's own
	// walk only claims the blocks.
	// Every extent within the largest file offset the kernel can reach
	// (s_maxbytes, 2^63-1 bytes): xfs_repair 6.1 clears an inode with
	// one past it ("extent exceeds max offset").
	maxOff := uint64(1<<63-1) >> c.fs.Geo.BlockLog
	for _, attr := range []bool{false, true} {
		f := core.ForkFormat(attr)
		if (f != xfsformat.FmtBtree && f != xfsformat.FmtExtents) || (attr && core.ForkOff == 0) {
			continue
		}
		// (The extent past it copied, not its address taken: that made
		// every record of every walk a heap allocation.)
		var past xfsformat.BmbtRec
		pastSeen := false
		err := dinode.NewMap(c.fs.InodeFS(), core, attr, lsn.walkReader()).Walk(0, func(e xfsformat.BmbtRec) error {
			if !pastSeen && e.BlockCount > 0 && e.StartOff+uint64(e.BlockCount)-1 > maxOff {
				past, pastSeen = e, true
			}
			return nil
		})
		if err != nil {
			if f == xfsformat.FmtBtree {
				c.add("bmbt.tree", ino, "bmbt", err)
				return
			}
			continue // the verifier said why
		}
		if pastSeen {
			c.add("fork.offset", ino, "inode", fmt.Errorf("%s fork extent at file block %d (%d blocks) ends past the largest file offset, block %d", forkName(attr), past.StartOff, past.BlockCount, maxOff))
			return
		}
	}
	switch core.FileType() {
	case xfsformat.ModeDir:
		c.directory(in, lsn)
	case xfsformat.ModeSymlink:
		target, err := dinode.Target(c.fs.InodeFS(), core, lsn.readFSB)
		switch {
		case err != nil:
			c.add("symlink", ino, "symlink", err)
		case bytes.IndexByte(target, 0) >= 0:
			// xfs_repair: "found illegal null character in symlink".
			c.add("symlink", ino, "symlink", fmt.Errorf("the target holds a NUL byte at %d", bytes.IndexByte(target, 0)))
		}
	}
	pptrsTrusted = core.ForkOff == 0 || c.attributes(in, lsn)
}

// dirDataSpace is XFS_DIR2_LEAF_OFFSET in bytes: a directory's data
// blocks, all di_size counts, lie below it.
const dirDataSpace = 32 << 30

// special reports whether a file type is a device, fifo or socket:
// the kinds with no data, whose size must be 0.
func special(t uint16) bool {
	switch t {
	case xfsformat.ModeChar, xfsformat.ModeBlock, xfsformat.ModeFIFO, xfsformat.ModeSocket:
		return true
	}
	return false
}

// forkNeutral reports whether an inode's finding leaves its forks to
// be read (xfs_repair's rules on fields no fork depends on), so that its
// directory's entries still count.
func forkNeutral(code string, core *dinode.Core) bool {
	switch code {
	case "inode.next_unlinked", "inode.onlink", "inode.v3_pad", "inode.nrext64_pad":
		return true
	case "inode.aformat":
		return core.ForkOff == 0
	}
	f, _, _ := strings.Cut(strings.TrimPrefix(code, "inode."), ".")
	return f == "atime" || f == "mtime" || f == "ctime" || f == "crtime"
}

func (c *contentCheck) readFSB(fsb uint64) ([]byte, error) {
	agno, agbno := c.fs.Geo.SplitFSB(fsb)
	return c.fs.ReadBlock(agno, agbno)
}

// entry stages a directory entry for the link-count join, after
// xfs_repair's check of its name (no "/" or NUL; not empty).
func (c *contentCheck) entry(din *fsys.Inode, e dir.Entry) {
	d := din.Ino
	c.pptrEntry(din, e)
	if len(e.Name) == 0 || bytes.ContainsAny(e.Name, "/\x00") {
		c.add("dir.name", d, "directory", fmt.Errorf("entry %q (inode %d) has an illegal name", e.Name, e.Ino))
	}
	var rec [entryRecLen]byte
	binary.BigEndian.PutUint64(rec[:], e.Ino)
	binary.BigEndian.PutUint64(rec[8:], d)
	rec[16] = e.Ftype
	if string(e.Name) == "." || string(e.Name) == ".." {
		rec[17] = byte(len(e.Name)) // 2: "..", for reachability
	}
	c.stageEntry(e.Ino, rec[:])
}

// directory checks every block of a directory and stages its entries.
func (c *contentCheck) directory(d *fsys.Inode, lsn *lsnChecker) {
	g := c.dirGeo
	if d.Format == xfsformat.FmtLocal {
		fork := d.Fork(false)
		if d.Size <= uint64(len(fork)) {
			fork = fork[:d.Size]
		}
		sf, err := dir.DecodeShortform(g, fork)
		if err != nil {
			c.add("dir.shortform", d.Ino, "directory", err)
			return
		}
		bad := false
		for _, e := range sf.Verify() {
			c.add("dir.shortform", d.Ino, "directory", e)
			// A name twice: xfs_repair junks the second entry only.
			var fe *xfsformat.FormatError
			bad = bad || !errors.As(e, &fe) || !strings.HasSuffix(fe.Field, ".name")
		}
		if bad {
			return
		}
		seen := map[string]bool{} // bounded by the fork's size
		for e := range sf.All(d.Ino) {
			if !seen[string(e.Name)] {
				c.entry(d, e)
			}
			seen[string(e.Name)] = true
		}
		return
	}
	blocks, read, err := c.fs.ForkBlocks(d, false)
	if err != nil {
		c.add("dir.map", d.Ino, "directory", err)
		return
	}
	daddrs := map[uint32]uint64{}
	rd := lsn.reader(read, "dir", daddrs)
	o := dir.CheckOpts{Owner: d.Ino, ASCIICI: g.ASCIICI, Daddr: func(dablk uint32) uint64 { return daddrs[dablk] }}
	report := func(err error) { c.add(dirCode(err), d.Ino, "directory", err) }
	if err := dir.CheckBlocks(g, blocks, rd, o, report, func(e dir.Entry) error {
		c.entry(d, e)
		return nil
	}); err != nil {
		c.add("dir.read", d.Ino, "directory", err)
	}
}

// dirCode is the finding code of a directory problem, by the block it
// is in.
func dirCode(err error) string {
	msg := err.Error()
	for _, k := range []struct{ prefix, code string }{
		{"directory block", "dir.block"}, {"directory leaf", "dir.leaf"}, {"directory node", "dir.node"},
		{"directory free index", "dir.free"},
	} {
		if len(msg) >= len(k.prefix) && msg[:len(k.prefix)] == k.prefix {
			return k.code
		}
	}
	return "dir.index"
}

// attributes checks an inode's attribute fork, blocks and remote
// values; it reports whether it found nothing wrong.
func (c *contentCheck) attributes(in *fsys.Inode, lsn *lsnChecker) bool {
	ok := true
	add := func(code string, err error) {
		ok = false
		c.add(code, in.Ino, "attributes", err)
	}
	g := c.dirGeo
	o := attr.CheckOpts{V5: g.V5, UUID: g.MetaUUID, Owner: in.Ino, ASCIICI: g.ASCIICI,
		ValidIno: c.fs.ValidIno, NoIncomplete: !c.logDirty}
	report := func(err error) { add("attr.block", err) }
	switch in.AFormat {
	case xfsformat.FmtLocal:
		if err := attr.CheckShortform(in.Fork(true), o, func(err error) { add("attr.shortform", err) }); err != nil {
			add("attr.shortform", err)
		}
		return ok
	case xfsformat.FmtExtents, xfsformat.FmtBtree:
		if in.AFormat == xfsformat.FmtExtents && in.ANExtents == 0 {
			return ok
		}
	default:
		return false // the verifier said so
	}
	blocks, read, err := c.fs.ForkBlocks(in, true)
	if err != nil {
		add("attr.map", err)
		return ok
	}
	if len(blocks) == 0 {
		return ok
	}
	daddrs := map[uint32]uint64{}
	o.Daddr = func(dablk uint32) uint64 { return daddrs[dablk] }
	rd := lsn.reader(read, "attr", daddrs)
	if err := attr.CheckBlocks(rd, o, report); err != nil {
		add("attr.read", err)
		return ok
	}
	// Remote values, each block's header checked as getxattr does.
	if err := c.fs.Xattrs(in, true, func(fsys.Xattr) error { return nil }); err != nil {
		add("attr.remote", err)
	}
	return ok
}

// metadata reports whether the superblock names ino as one of its
// metadata inodes (realtime bitmap and summary, and quotas when the
// quota bit says its quota inodes count: xfs_repair -n calls a quota
// inode without it disconnected).
func (c *contentCheck) metadata(ino uint64) bool {
	sb := c.fs.SB
	return ino == sb.RBMIno || ino == sb.RSumIno || slices.Contains(quotaInodes(sb), ino)
}

// linkCounts joins the staged entries with the staged inodes: every
// entry must name an inode in use of the type it says, and every inode
// must have as many links as entries name it (".", ".." and the
// directory's name in its parent count for a directory, as the kernel
// counts them). An inode in use that no entry names and that has links
// is an orphan. The join stages the tree's edges for reachability,
// which follows it.
func (c *contentCheck) linkCounts(ctx context.Context) error {
	if c.err != nil {
		c.findings.Addf("check.links", Warning, -1, "inode", -1, "link counts not checked: %v", c.err)
		return nil
	}
	// One sort at a time: the cross-reference's sorts run beside it.
	for _, a := range c.entries {
		if a == nil {
			continue
		}
		if err := a.SortKey(ctx, 8); err != nil {
			return err
		}
	}
	var ierr error
	cur := workspace.NewCursor(ctx, c.entries...)
	type entryRec struct {
		target, dir uint64
		ftype       uint8
		dot         uint8 // 1: ".", 2: ".."
	}
	var e entryRec
	load := func() bool {
		b, ok := cur.Next()
		if ok {
			e = entryRec{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), b[16], b[17]}
		}
		return ok
	}
	eok := load()
	notInUse := func() {
		c.add("dir.entry", e.dir, "directory", fmt.Errorf("an entry names inode %d, which is not in use", e.target))
	}
	allInodes := chain(ctx, c.inodes, &ierr)
	g, gerr := newEdges(c.ws)
	if gerr != nil {
		return gerr
	}
	for rec := range allInodes {
		ino, nlink, ft := binary.BigEndian.Uint64(rec), binary.BigEndian.Uint32(rec[8:]), rec[12]
		rank := g.n
		g.n++
		if ft == dir.FtDir {
			g.dirs++
			if ino == c.fs.RootIno() {
				g.rootRank = rank
			}
		}
		for ; eok && e.target < ino; eok = load() {
			notInUse()
		}
		var named uint32
		for ; eok && e.target == ino; eok = load() {
			named++
			switch {
			case gerr != nil || e.dot == 1:
			case e.dot == 2:
				gerr = g.add(e.dir, ino, rank, dotdot)
			default:
				gerr = g.add(e.dir, ino, rank, ft)
			}
			// "." and ".." too: in a block directory they are stored
			// entries with a file type (xfs_repair: ftype mismatch);
			// shortform's are made up as directories.
			if (e.ftype != dir.FtUnknown || c.dirGeo.Ftype) && e.ftype != ft {
				c.add("dir.ftype", e.dir, "directory", fmt.Errorf("the entry for inode %d says file type %d, the inode is of type %d", ino, e.ftype, ft))
			}
		}
		switch {
		case named == 0 && nlink == 0 && !c.logDirty && !c.metadata(ino):
			// Removed while open: the unlinked lists' until the kernel's
			// recovery of a dirty log frees it, a leak with a clean one
			// (xfs_repair -n: "disconnected inode").
			c.add("inode.unlinked", ino, "inode", errors.New("in use with no links and no directory entry, and the log is clean: no recovery will free it"))
		case named == nlink:
		case named == 0 && c.metadata(ino):
			// The realtime and quota inodes: the superblock names them.
		case named == 0:
			c.add("inode.orphan", ino, "inode", fmt.Errorf("link count %d, but no directory entry names it", nlink))
		default:
			c.add("inode.nlink", ino, "inode", fmt.Errorf("link count %d, but %d directory entries name it", nlink, named))
		}
	}
	for ; eok; eok = load() {
		notInUse()
	}
	if err := errors.Join(cur.Err(), ierr, gerr); err != nil {
		g.release()
		return err
	}
	if err := c.parentPointers(ctx); err != nil {
		g.release()
		return err
	}
	return c.reachability(ctx, g, allInodes, &ierr)
}

// chain yields the records of each array in turn (nil ones are empty),
// through a workspace.Cursor; its error goes to *errp.
func chain(ctx context.Context, arrays []*workspace.Array, errp *error) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		cur := workspace.NewCursor(ctx, arrays...)
		for rec, ok := cur.Next(); ok; rec, ok = cur.Next() {
			if !yield(rec) {
				return
			}
		}
		if err := cur.Err(); err != nil && *errp == nil {
			*errp = err
		}
	}
}

// CheckInode checks one inode as xfsbox check does in its scan (the
// inode's verifiers, its directory, attribute or symlink blocks), and
// its link count against the entries that name it, found through the
// paths index (fsys.Paths), for inodes/N/health. A free inode is
// checked as the scan checks a free slot. Reachability from the root
// (inode.unreachable) and the leak of an inode with no links
// (inode.unlinked) are properties of the whole filesystem: only the
// whole check (Check) reports them.
func CheckInode(ctx context.Context, fs *fsys.FS, ino uint64) (*Findings, error) {
	findings := &Findings{}
	buf, err := fs.InodeBytes(ino)
	if err != nil {
		return nil, err
	}
	g, err := fs.DirGeometry()
	if err != nil {
		return nil, err
	}
	c := &contentCheck{fs: fs, findings: findings, dirGeo: g, logLSN: logHead(fs)}
	core, err := dinode.DecodeOf(buf, fs.Geo)
	if err != nil {
		c.add("inode.short", ino, "inode", err)
		return findings, nil
	}
	in := &core.Inode
	reported := codeSet{}
	for _, p := range xfsformat.VerifyInode(in, fs.Geo, ino, fs.SB.FeaturesIncompat&xfsformat.IncompatNrext64 != 0) {
		code := inodeCode(p)
		if !reported[code] {
			reported[code] = true
			c.add(code, ino, "inode", p)
		}
	}
	if in.Magic != xfsformat.DinodeMagic || !in.InUse() {
		return findings, nil
	}
	c.inode(ino, core, reported)
	if len(reported) > 0 {
		return findings, nil
	}
	named, err := fs.NameCount(ctx, ino)
	if err != nil {
		return nil, err
	}
	if fs.HasParentPointers() {
		if err := c.pptrOne(ctx, &fsys.Inode{Ino: ino, Core: core}); err != nil {
			return nil, err
		}
	}
	want := uint32(named)
	if in.Mode&xfsformat.ModeTypeMask == xfsformat.ModeDir {
		// Its "." and each subdirectory's "..", and the root's own "..".
		want++
		if ino == fs.RootIno() {
			want++
		}
		d, err := fs.Inode(ino)
		if err == nil {
			_ = fs.ReadDir(d, 0, func(e dir.Entry) error {
				if string(e.Name) == "." || string(e.Name) == ".." {
					return ctx.Err()
				}
				isDir := e.Ftype == dir.FtDir
				if e.Ftype == dir.FtUnknown { // no ftype feature: ask the inode
					if sub, err := fs.Inode(e.Ino); err == nil {
						isDir = sub.FileType() == xfsformat.ModeDir
					}
				}
				if isDir {
					want++
				}
				return ctx.Err()
			})
		}
	}
	if core.LinkCount() != want && !c.metadata(ino) {
		code := "inode.nlink"
		if named == 0 && ino != fs.RootIno() {
			code = "inode.orphan"
		}
		c.add(code, ino, "inode", fmt.Errorf("link count %d, but the directory entries that name it make %d", core.LinkCount(), want))
	}
	return findings, nil
}

func forkName(attr bool) string {
	if attr {
		return "attr"
	}
	return "data"
}

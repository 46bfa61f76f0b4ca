package fsys

import (
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Errors of the directory readers.
var (
	// ErrNoEntry: the directory holds no such name.
	ErrNoEntry = errors.New("no such directory entry")
	// ErrNotDir: the inode is not a directory.
	ErrNotDir = errors.New("not a directory")
)

// DirGeometry is the directory geometry of the filesystem (directory
// block size, formats, ftype), made once.
func (fs *FS) DirGeometry() (*dir.Geometry, error) {
	fs.dirOnce.Do(func() { fs.dirGeo, fs.dirErr = dir.NewGeometry(fs.SB) })
	return fs.dirGeo, fs.dirErr
}

// forkBlock reads the directory (or attribute) block at fork offset
// dablk of in's data (or attr) fork: blocks fs blocks long, gathered
// from the extents that map them (a directory block larger than a
// filesystem block may be split over several). daddr is the disk
// address of its first block, which the block's header must name.
func (fs *FS) forkBlock(m *dinode.Map, dablk uint32, blocks int) (buf []byte, daddr uint64, err error) {
	bs := int(fs.Geo.BlockSize)
	if blocks == 1 {
		var fsb, run uint64
		err = m.Bmap(uint64(dablk), readAheadBlocks, func(p dinode.Mapping) error {
			if run == 0 {
				if p.Hole {
					return fmt.Errorf("fork block %d is a hole", dablk)
				}
				fsb, run = p.StartBlock, p.Count
			}
			return errStopBmap
		})
		if err != nil && !errors.Is(err, errStopBmap) {
			return nil, 0, err
		}
		agno, agbno := fs.Geo.SplitFSB(fsb)
		buf, err = fs.readRun(agno, agbno, run)
		return buf, fs.Geo.FSBToDaddr(fsb), err
	}
	buf = make([]byte, blocks*bs)
	first := true
	err = m.Bmap(uint64(dablk), uint64(blocks), func(p dinode.Mapping) error {
		if p.Hole {
			return fmt.Errorf("fork block %d is a hole", p.FileOff)
		}
		if first {
			daddr, first = fs.Geo.FSBToDaddr(p.StartBlock), false
		}
		for i := range p.Count {
			agno, agbno := fs.Geo.SplitFSB(p.StartBlock + i)
			b, err := fs.ReadBlock(agno, agbno)
			if err != nil {
				return err
			}
			copy(buf[int(p.FileOff-uint64(dablk)+i)*bs:], b)
		}
		return nil
	})
	return buf, daddr, err
}

// readAheadBlocks is how many blocks of an extent a read of one of them
// brings into the cache (the blocks after it, in the same extent): a
// directory's or attribute fork's blocks are read in order, and one
// read of a run costs what one read of a block does.
const readAheadBlocks = 32

// errStopBmap ends a Bmap at its first mapping.
var errStopBmap = errors.New("first mapping")

// readRun is ReadBlock of agno/agbno, reading ahead the run of blocks
// after it, within the AG.
func (fs *FS) readRun(agno, agbno uint32, run uint64) ([]byte, error) {
	if err := fs.ValidateAG(agno); err != nil {
		return nil, err
	}
	n := fs.Geo.AGLength(agno)
	if agbno >= n {
		return nil, fmt.Errorf("AG %d block %d: %w (AG length %d)", agno, agbno, ErrOutsideAG, n)
	}
	run = min(run, uint64(n-agbno), readAheadBlocks)
	return fs.Cache.ReadRun(fs.Geo.ByteOffset(agno, agbno), int(fs.Geo.BlockSize), int(run))
}

// dirOf checks that d is a directory and returns what reading it needs.
func (fs *FS) dirOf(d *Inode) (*dir.Geometry, *dinode.Map, error) {
	if d.FileType() != xfsformat.ModeDir {
		return nil, nil, fmt.Errorf("inode %d: %w", d.Ino, ErrNotDir)
	}
	g, err := fs.DirGeometry()
	if err != nil {
		return nil, nil, err
	}
	return g, fs.fork(d, false), nil
}

// ReadDir calls fn with the entries of directory d, "." and ".."
// included, in directory order, from the entry whose cookie (its
// position, dir.Entry.Cookie) is at least from; 0 is the start. It reads
// one directory block at a time, so a directory of any size lists in
// the memory of one block. A data block that fails its verifier is
// skipped and the others are listed; the error returned at the end is a
// CorruptError naming each one (so a reader sees the siblings and the
// reason). An error from fn ends the listing with that error.
func (fs *FS) ReadDir(d *Inode, from uint32, fn func(dir.Entry) error) error {
	g, m, err := fs.dirOf(d)
	if err != nil {
		return err
	}
	if d.Format == xfsformat.FmtLocal {
		return fs.readShortform(d, g, from, fn)
	}
	if d.Format != xfsformat.FmtExtents && d.Format != xfsformat.FmtBtree {
		return corrupt(d.Ino, "directory", fmt.Errorf("data fork format %d", d.Format))
	}
	per := 1 << g.DirBlkLog
	next := uint64(0) // the first fork block not yet listed
	fromDB, _ := g.SplitDataptr(from)
	var bad []error
	err = m.Walk(uint64(g.DBToDA(fromDB)), func(e xfsformat.BmbtRec) error {
		if e.StartOff >= uint64(g.LeafDA()) {
			return dinode.ErrStop // past the data space
		}
		// Each directory block that starts in this extent.
		da := max(e.StartOff, next)
		da = (da + uint64(per) - 1) / uint64(per) * uint64(per)
		for ; da < e.StartOff+uint64(e.BlockCount) && da < uint64(g.LeafDA()); da += uint64(per) {
			next = da + uint64(per)
			db := g.DAToDB(uint32(da))
			if db < fromDB {
				continue
			}
			buf, daddr, err := fs.forkBlock(m, uint32(da), per)
			if err != nil {
				bad = append(bad, fmt.Errorf("directory block %d: %w", db, err))
				continue
			}
			blk, err := dir.DecodeData(g, buf)
			if err == nil {
				if errs := blk.Verify(daddr, d.Ino); len(errs) > 0 {
					err = errors.Join(errs...)
				}
			}
			if err != nil {
				bad = append(bad, fmt.Errorf("directory block %d: %w", db, err))
				continue
			}
			for ent := range blk.Entries(db) {
				if ent.Cookie < from {
					continue
				}
				if err := fn(ent); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		var fe *xfsformat.FormatError
		if errors.As(err, &fe) {
			return corrupt(d.Ino, "directory", err)
		}
		return err
	}
	if len(bad) > 0 {
		return corrupt(d.Ino, "directory", bad...)
	}
	return nil
}

// readShortform lists a directory kept in the inode: ".", "..", then
// its entries, each with the cookie it would have in block form.
func (fs *FS) readShortform(d *Inode, g *dir.Geometry, from uint32, fn func(dir.Entry) error) error {
	fork := d.Fork(false)
	if d.Size <= uint64(len(fork)) {
		fork = fork[:d.Size]
	}
	sf, err := dir.DecodeShortform(g, fork)
	if err != nil {
		return corrupt(d.Ino, "directory", err)
	}
	if errs := sf.Verify(); len(errs) > 0 {
		return corrupt(d.Ino, "directory", errs...)
	}
	ents := []dir.Entry{
		{Name: []byte("."), Ino: d.Ino, Ftype: dir.FtDir, Cookie: g.Dataptr(0, g.DotOffset())},
		{Name: []byte(".."), Ino: sf.Parent, Ftype: dir.FtDir, Cookie: g.Dataptr(0, g.DotDotOffset())},
	}
	for _, e := range sf.Entries {
		ents = append(ents, dir.Entry{Name: e.Name, Ino: e.Ino, Ftype: e.Ftype, Cookie: g.Dataptr(0, int(e.Offset))})
	}
	for _, e := range ents {
		if e.Cookie < from {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Lookup finds name in directory d by its hash (through the block's
// leaf, the leaf block or the da-btree: a large directory is not
// scanned), or in the inode for a shortform directory. "." and ".." are
// answered too. A name the directory does not hold is ErrNoEntry.
func (fs *FS) Lookup(d *Inode, name []byte) (dir.Entry, error) {
	g, m, err := fs.dirOf(d)
	if err != nil {
		return dir.Entry{}, err
	}
	if string(name) == "." {
		return dir.Entry{Name: name, Ino: d.Ino, Ftype: dir.FtDir}, nil
	}
	if d.Format == xfsformat.FmtLocal {
		var found *dir.Entry
		err := fs.readShortform(d, g, 0, func(e dir.Entry) error {
			if string(e.Name) == string(name) {
				found = &e
				return errFound
			}
			return nil
		})
		if found != nil {
			return *found, nil
		}
		if err != nil {
			return dir.Entry{}, err
		}
		return dir.Entry{}, fmt.Errorf("inode %d: %q: %w", d.Ino, name, ErrNoEntry)
	}
	per := 1 << g.DirBlkLog
	read := func(dablk uint32) ([]byte, error) {
		buf, _, err := fs.forkBlock(m, dablk, per)
		return buf, err
	}
	e, err := dir.Lookup(g, read, name)
	switch {
	case errors.Is(err, dir.ErrNotFound):
		return dir.Entry{}, fmt.Errorf("inode %d: %q: %w", d.Ino, name, ErrNoEntry)
	case err != nil:
		var fe *xfsformat.FormatError
		if errors.As(err, &fe) {
			return dir.Entry{}, corrupt(d.Ino, "directory", err)
		}
		return dir.Entry{}, err
	}
	if !g.ValidIno(e.Ino) {
		return dir.Entry{}, corrupt(d.Ino, "directory", fmt.Errorf("entry %q names inode %d, which cannot be", name, e.Ino))
	}
	return e, nil
}

var errFound = errors.New("found")

// FtypeMode is the S_IF* file type bits a directory entry's file type
// names (0 for unknown or a whiteout), for listings that give a type
// without reading the inode.
func FtypeMode(ft uint8) uint32 {
	if int(ft) < len(ftypeModes) {
		return ftypeModes[ft]
	}
	return 0
}

var ftypeModes = [...]uint32{
	dir.FtRegular: xfsformat.ModeRegular, dir.FtDir: xfsformat.ModeDir, dir.FtChrdev: xfsformat.ModeChar,
	dir.FtBlkdev: xfsformat.ModeBlock, dir.FtFIFO: xfsformat.ModeFIFO, dir.FtSocket: xfsformat.ModeSocket,
	dir.FtSymlink: xfsformat.ModeSymlink,
}

// ForkBlocks lists the blocks of a directory's data fork (attr false:
// directory blocks) or of an inode's attribute fork (attr true: one
// filesystem block each) by their fork offset, in order, and gives a
// reader of them that says where each was read from, for checks of every
// block (dir.CheckBlocks, attr.CheckBlocks). A fork whose map cannot be
// walked is a CorruptError.
func (fs *FS) ForkBlocks(in *Inode, attr bool) (blocks []uint32, read func(dablk uint32) ([]byte, uint64, error), err error) {
	per, what := uint64(1), "attributes"
	m := fs.fork(in, attr)
	if !attr {
		g, dm, err := fs.dirOf(in)
		if err != nil {
			return nil, nil, err
		}
		per, what, m = uint64(1)<<g.DirBlkLog, "directory", dm
	}
	next := uint64(0)
	// No more blocks than the inode and the filesystem have: a damaged
	// map cannot make the list outgrow them.
	most := min(in.NBlocks, fs.Geo.DBlocks) + 1
	err = m.Walk(0, func(e xfsformat.BmbtRec) error {
		for da := (max(e.StartOff, next) + per - 1) / per * per; da < e.StartOff+uint64(e.BlockCount); da += per {
			if uint64(len(blocks)) >= most {
				return fmt.Errorf("the fork maps more blocks than the inode's %d", in.NBlocks)
			}
			if da > uint64(^uint32(0)) {
				return fmt.Errorf("extent at file block %d maps past the fork's 32-bit offsets", e.StartOff)
			}
			blocks = append(blocks, uint32(da))
			next = da + per
		}
		return nil
	})
	if err != nil {
		return nil, nil, corrupt(in.Ino, what, err)
	}
	read = func(dablk uint32) ([]byte, uint64, error) { return fs.forkBlock(m, dablk, int(per)) }
	return blocks, read, nil
}

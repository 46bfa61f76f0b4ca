package fsys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Errors of the readers of inodes, directories, attributes and file
// data. A CorruptError wraps ErrCorrupt; callers translate both (the
// mount gives EIO on that entry only and says why in its log).
var (
	// ErrNoInode: the number names no inode slot of the filesystem, or
	// the slot holds a free inode.
	ErrNoInode = errors.New("no such inode")
	// ErrCorrupt: a structure on the way failed its verifier.
	ErrCorrupt = errors.New("corrupt metadata")
)

// CorruptError says which inode's metadata could not be read and why:
// Errs are the verifier's findings (xfsformat.FormatErrors naming the
// field), or the one error that ended a walk.
type CorruptError struct {
	Ino  uint64
	What string // "inode", "directory", "attributes", "data", "symlink"
	Errs []error
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("inode %d: %s: ", e.Ino, e.What)
	for i, err := range e.Errs {
		if i > 0 {
			s += "; "
		}
		if i == 3 && len(e.Errs) > 4 {
			return s + fmt.Sprintf("and %d more", len(e.Errs)-3)
		}
		s += err.Error()
	}
	return s
}

func (e *CorruptError) Unwrap() []error { return append([]error{ErrCorrupt}, e.Errs...) }

func corrupt(ino uint64, what string, errs ...error) error {
	return &CorruptError{Ino: ino, What: what, Errs: errs}
}

// Inode is one inode as read: its number and its whole core, forks
// included (Core.Buf is the inode's own copy).
type Inode struct {
	Ino uint64
	*dinode.Core
}

// inodeFS is what the inode decoders need of the filesystem, made once.
func (fs *FS) inodeFS() *dinode.FS {
	fs.dinodeOnce.Do(func() { fs.dinodeFS = dinode.NewFS(fs.SB, fs.Geo) })
	return fs.dinodeFS
}

// InodeFS is the filesystem as the inode decoders see it (for views
// that print an inode's fields).
func (fs *FS) InodeFS() *dinode.FS { return fs.inodeFS() }

// ValidIno reports whether ino names an inode slot of the filesystem: an
// AG it has, a block inside that AG past its headers.
func (fs *FS) ValidIno(ino uint64) bool {
	g := fs.Geo
	agno, agino := g.SplitIno(ino)
	if agno >= g.AGCount || ino>>g.AGInoLog()>>32 != 0 {
		return false
	}
	agbno, _ := g.AGInoBlock(agino)
	return agbno >= g.HeaderBlocks() && agbno < g.AGLength(agno)
}

// inodeReadUnit is how much InodeBytes reads at once.
const inodeReadUnit = 32 << 10

// InodeBytes returns a copy of the bytes of inode ino's slot, whatever
// they hold.
func (fs *FS) InodeBytes(ino uint64) ([]byte, error) {
	if !fs.ValidIno(ino) {
		return nil, fmt.Errorf("inode %d: %w (not an inode number of this filesystem)", ino, ErrNoInode)
	}
	g := fs.Geo
	agno, agino := g.SplitIno(ino)
	agbno, idx := g.AGInoBlock(agino)
	// Through the block cache, 32 KiB at a time (a chunk of 64 inodes
	// of 512 bytes): the inodes of a directory's entries mostly share
	// chunks, and a listing that stats them reads each chunk once.
	per := max(uint32(inodeReadUnit>>g.BlockLog), 1)
	first := agbno / per * per
	n := min(per, g.AGLength(agno)-first)
	buf, err := fs.Cache.Read(g.ByteOffset(agno, first), int(n)<<g.BlockLog)
	if err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, err)
	}
	isize := int(g.InodeSize)
	i := int(agbno-first)<<g.BlockLog + int(idx)*isize
	return bytes.Clone(buf[i : i+isize]), nil
}

// ReadInode reads inode ino as it is, allocated or free, sound or not:
// for views that show an inode's bytes and fields whatever they say.
func (fs *FS) ReadInode(ino uint64) (*Inode, error) {
	buf, err := fs.InodeBytes(ino)
	if err != nil {
		return nil, err
	}
	c, err := dinode.DecodeOf(buf, fs.Geo)
	if err != nil {
		return nil, corrupt(ino, "inode", err)
	}
	return &Inode{Ino: ino, Core: c}, nil
}

// Inode reads an allocated inode and checks it as the kernel does before
// using it (the inode verifier: magic, version, CRC, identity, forks
// that fit the inode's type and size). A free inode is ErrNoInode; a
// damaged one a CorruptError. The inode may be shared with other
// callers (it comes from a cache): it is not to be changed.
func (fs *FS) Inode(ino uint64) (*Inode, error) {
	if in := fs.inodeCache.get(ino); in != nil {
		return in, nil
	}
	in, err := fs.ReadInode(ino)
	if err != nil {
		return nil, err
	}
	if in.Magic == xfsformat.DinodeMagic && in.Mode == 0 {
		return nil, fmt.Errorf("inode %d: %w (the inode is free)", ino, ErrNoInode)
	}
	if errs := dinode.Verify(fs.inodeFS(), in.Core, ino); len(errs) > 0 {
		return nil, corrupt(ino, "inode", errs...)
	}
	fs.inodeCache.put(in)
	return in, nil
}

// RootIno is the root directory's inode number.
func (fs *FS) RootIno() uint64 { return fs.SB.RootIno }

// blockReader reads filesystem blocks of metadata (bmbt, directory,
// attribute and symlink blocks) through the cache, refusing block
// numbers outside the filesystem.
func (fs *FS) blockReader() dinode.BlockReader {
	return func(fsb uint64) ([]byte, error) {
		agno, agbno := fs.Geo.SplitFSB(fsb)
		return fs.ReadBlock(agno, agbno)
	}
}

// readerState is the FS's lazily made state of the readers above the AG.
type readerState struct {
	dinodeOnce sync.Once
	dinodeFS   *dinode.FS

	dirOnce sync.Once
	dirGeo  *dir.Geometry
	dirErr  error

	mapCache   mapCache
	inodeCache inodeCache

	pathsMu sync.Mutex
	paths   *pathIndex // Paths' index, nil until first used
}

// AllocatedInodes calls fn with every allocated inode number, AG by AG
// in inode order, as the inode btrees record them (a record's free bits
// and sparse holes left out). It holds one inobt block at a time.
func (fs *FS) AllocatedInodes(ctx context.Context, fn func(ino uint64) error) error {
	for agno := range fs.Geo.AGCount {
		w := &Walk{FS: fs, AG: agno, Type: xfsformat.Inobt}
		err := w.Records(ctx, func(_ uint32, _ int, b []byte) error {
			r := xfsformat.DecodeInobtRec(b, fs.Geo.SparseInodes)
			used := ^(r.Free | r.Holes())
			for i := range xfsformat.InodesPerChunk {
				if used&(1<<i) != 0 {
					if err := fn(fs.Geo.Ino(agno, r.StartIno+uint32(i))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Map is the extent map of in's data fork (attr false) or attr fork,
// read through the cache, for views that print it.
func (fs *FS) Map(in *Inode, attr bool) *dinode.Map {
	return dinode.NewMap(fs.inodeFS(), in.Core, attr, fs.blockReader())
}

package fsys

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
)

// ErrNotRegular is returned for data reads of an inode that holds no
// file data (directories, symlinks, devices).
var ErrNotRegular = errors.New("not a regular file")

// ReadFileAt reads file data of in into p from byte off, as the kernel
// reads it: holes and unwritten extents as zeroes, nothing past the
// file's size (io.EOF when off is at or past it). Blocks shared by
// reflinked files read the same from every owner, since each owner's
// map names the same blocks. Only the part of a bmbt that maps the range
// is read; the data blocks go straight from the image, not through the
// metadata cache.
func (fs *FS) ReadFileAt(in *Inode, p []byte, off int64) (int, error) {
	if in.FileType() != xfsformat.ModeRegular {
		return 0, fmt.Errorf("inode %d: %w", in.Ino, ErrNotRegular)
	}
	if in.IsRealtime() {
		return 0, corrupt(in.Ino, "data", errors.New("the data lives on a realtime device, which xfsbox does not open"))
	}
	size := int64(in.Size)
	if off < 0 {
		return 0, fmt.Errorf("inode %d: negative offset %d", in.Ino, off)
	}
	if off >= size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), size-off)]
	if in.Format == xfsformat.FmtLocal {
		// Inline data (never written by the kernel for regular files, but
		// the format allows it): the fork's first bytes.
		fork := in.Fork(false)
		n := copy(want, fork[min(int(off), len(fork)):])
		clear(want[n:])
		return len(want), eofIf(off+int64(len(want)) >= size)
	}
	bs := int64(fs.Geo.BlockSize)
	first := uint64(off / bs)
	last := uint64((off + int64(len(want)) - 1) / bs)
	m := fs.fork(in, false)
	err := m.Bmap(first, last-first+1, func(pc dinode.Mapping) error {
		// The piece's bytes, cut to what p wants.
		from := max(int64(pc.FileOff)*bs, off)
		to := min(int64(pc.FileOff+pc.Count)*bs, off+int64(len(want)))
		dst := want[from-off : to-off]
		if pc.Zero() {
			clear(dst)
			return nil
		}
		fsb := pc.StartBlock + uint64(from/bs) - pc.FileOff
		agno, agbno := fs.Geo.SplitFSB(fsb)
		endFSB := pc.StartBlock + uint64((to-1)/bs) - pc.FileOff
		eagno, eagbno := fs.Geo.SplitFSB(endFSB)
		if agno >= fs.Geo.AGCount || eagno != agno || eagbno >= fs.Geo.AGLength(agno) {
			return fmt.Errorf("extent at file block %d maps blocks %d-%d outside the filesystem or across an AG", pc.FileOff, fsb, endFSB)
		}
		return fs.Img.ReadAt(dst, fs.Geo.ByteOffset(agno, agbno)+from%bs)
	})
	if err != nil {
		var fe *xfsformat.FormatError
		if errors.As(err, &fe) || errors.Is(err, ErrOutsideAG) {
			return 0, corrupt(in.Ino, "data", err)
		}
		return 0, fmt.Errorf("inode %d: %w", in.Ino, err)
	}
	return len(want), eofIf(off+int64(len(want)) >= size)
}

func eofIf(b bool) error {
	if b {
		return io.EOF
	}
	return nil
}

// Readlink returns a symlink's target, inline or from its remote blocks
// (each checked as the kernel's readlink does).
func (fs *FS) Readlink(in *Inode) ([]byte, error) {
	t, err := dinode.Target(fs.inodeFS(), in.Core, fs.blockReader())
	if err != nil {
		return nil, corrupt(in.Ino, "symlink", err)
	}
	return t, nil
}

// Content is in's file data as an io.SectionReader (ReadFileAt under it),
// for copies and hashes of a whole file.
func (fs *FS) Content(in *Inode) *io.SectionReader {
	return io.NewSectionReader(contentReader{fs, in}, 0, int64(in.Size))
}

// Stoppable is r whose reads fail once ctx is done: a long copy stops
// when its command is interrupted (a damaged size can make a file of
// exabytes of zeroes).
func Stoppable(ctx context.Context, r io.Reader) io.Reader { return store.Stoppable(ctx, r) }

type contentReader struct {
	fs *FS
	in *Inode
}

func (r contentReader) ReadAt(p []byte, off int64) (int, error) { return r.fs.ReadFileAt(r.in, p, off) }

// Rdev is a device inode's number as the kernel's xfs_to_linux_dev_t
// splits xfs_dev_t (the SysV layout: 14 bits of major, 18 of minor);
// 0, 0 for any other inode.
func (in *Inode) Rdev() (major, minor uint32) {
	if in.Format != xfsformat.FmtDev {
		return 0, 0
	}
	fork := in.Fork(false)
	if len(fork) < 4 {
		return 0, 0
	}
	d := uint32(fork[0])<<24 | uint32(fork[1])<<16 | uint32(fork[2])<<8 | uint32(fork[3])
	return d >> 18 & 0x3fff, d & 0x3ffff
}

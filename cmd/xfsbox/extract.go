package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

func init() {
	register(&command{
		name: "extract", readOnly: true,
		summary: "copy a file or directory tree out of an image, with modes, owners, times and xattrs",
		usage:   "[--inode] IMAGE PATH|INO DEST",
		help: `Copies PATH of the filesystem in IMAGE, and everything below it, to DEST
on the host, as xfs_db's rdump does in newer xfsprogs, read by xfsbox's
own decoders (no mount; images the kernel refuses work too). Kept:
content (holes stay holes), modes, owners, nanosecond times, extended
attributes (ACLs, security and trusted names need root), symlinks,
hard links (within what is extracted), device nodes, FIFOs and sockets.
DEST must not exist. An entry that cannot be read or written is
reported and skipped; the others are copied, and the exit status says
that something was left out.

Flags:
{{flags}}

Examples:
  xfsbox extract disk.img /home/alice ./alice
  xfsbox extract --inode evidence.img 1048707 ./recovered-dir
`,
		flags: func(fl *flag.FlagSet) { inodeFlag(fl) },
		run:   runExtract,
	})
}

// errPartial says an extract left entries out (each was logged).
var errPartial = errors.New("some entries could not be extracted (see the messages above)")

func runExtract(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("extract")
	byIno := inodeFlag(fl)
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return &usageError{fmt.Sprintf("need IMAGE, PATH (or, with --inode, an inode number) and DEST; got %d argument(s)", len(pos))}
	}
	dest := pos[2]
	if _, err := os.Lstat(dest); err == nil {
		return &usageError{fmt.Sprintf("%s exists: extract writes a new file or directory, it does not merge", dest)}
	}
	fs, in, _, err := openArgs(pos[:2], *byIno, true)
	if err != nil {
		return err
	}
	defer fs.Close()
	x := &extractor{ctx: ctx, fs: fs, links: map[uint64]string{}, inDirs: map[uint64]bool{}}
	x.entry(in, dest)
	x.finish()
	logrus.Infof("extracted %d file(s), %d director(ies), %d other, %d bytes to %s", x.files, x.dirs, x.other, x.bytes, dest)
	if err := ctx.Err(); err != nil {
		return err
	}
	if x.failed > 0 {
		return fmt.Errorf("%d entries: %w", x.failed, errPartial)
	}
	return nil
}

type extractor struct {
	ctx    context.Context
	fs     *fsys.FS
	links  map[uint64]string // inodes with more than one link: where the first went
	inDirs map[uint64]bool   // directories being extracted: a loop in the image stops here
	later  []dirTimes        // directories, whose times are set last
	failed int

	files, dirs, other, bytes int64
}

type dirTimes struct {
	path string
	in   *fsys.Inode
}

func (x *extractor) fail(p string, err error) {
	x.failed++
	logrus.Errorf("%s: %v", p, err)
}

// entry extracts in to dest, and for a directory everything below it.
func (x *extractor) entry(in *fsys.Inode, dest string) {
	if x.ctx.Err() != nil {
		return
	}
	if in.FileType() != xfsformat.ModeDir && in.LinkCount() > 1 {
		if first, ok := x.links[in.Ino]; ok {
			if err := os.Link(first, dest); err != nil {
				x.fail(dest, err)
			}
			return
		}
		x.links[in.Ino] = dest
	}
	var err error
	switch in.FileType() {
	case xfsformat.ModeDir:
		err = x.dir(in, dest)
	case xfsformat.ModeRegular:
		err = x.file(in, dest)
	case xfsformat.ModeSymlink:
		var t []byte
		if t, err = x.fs.Readlink(in); err == nil {
			err = os.Symlink(string(t), dest)
		}
		x.other++
	case xfsformat.ModeChar, xfsformat.ModeBlock, xfsformat.ModeFIFO, xfsformat.ModeSocket:
		st := statOf(x.fs, in)
		err = unix.Mknod(dest, uint32(in.Mode&^0o7777)|0o600, int(unix.Mkdev(st.RdevMajor, st.RdevMinor)))
		x.other++
	default:
		err = fmt.Errorf("inode %d has an unknown type (mode %#o)", in.Ino, in.Mode)
	}
	if err != nil {
		x.fail(dest, err)
		return
	}
	x.attrs(in, dest)
}

func (x *extractor) dir(in *fsys.Inode, dest string) error {
	if x.inDirs[in.Ino] {
		return fmt.Errorf("directory inode %d is its own ancestor (a directory loop in the image): not followed", in.Ino)
	}
	x.inDirs[in.Ino] = true
	defer delete(x.inDirs, in.Ino)
	if err := os.Mkdir(dest, 0o700); err != nil {
		return err
	}
	x.dirs++
	x.later = append(x.later, dirTimes{dest, in})
	// Names first, then their inodes: one directory block at a time in
	// memory is enough for the listing, not for a recursion inside it.
	var ents []dir.Entry
	err := x.fs.ReadDir(in, 0, func(e dir.Entry) error {
		if n := string(e.Name); n != "." && n != ".." {
			e.Name = append([]byte(nil), e.Name...)
			ents = append(ents, e)
		}
		return nil
	})
	if err != nil {
		x.fail(dest, err) // the entries read are still extracted
	}
	for _, e := range ents {
		child := filepath.Join(dest, string(e.Name))
		if string(e.Name) != filepath.Base(child) {
			x.fail(child, fmt.Errorf("entry %q is not a file name", e.Name))
			continue
		}
		cin, err := x.fs.Inode(e.Ino)
		if err != nil {
			x.fail(child, err)
			continue
		}
		x.entry(cin, child)
	}
	return nil
}

// file copies a regular file's content, leaving holes (and unwritten
// extents, which read as zeroes) as holes.
func (x *extractor) file(in *fsys.Inode, dest string) error {
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	x.files++
	buf := make([]byte, 1<<20)
	size := int64(in.Size)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, err := x.fs.ReadFileAt(in, buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if allZero(buf[:n]) {
			continue // a hole in the copy
		}
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
		x.bytes += int64(n)
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// attrs sets owner, mode, extended attributes and (not for directories,
// whose times change as their entries are made) times.
func (x *extractor) attrs(in *fsys.Inode, dest string) {
	if err := os.Lchown(dest, int(in.UID), int(in.GID)); err != nil {
		x.fail(dest, err)
	}
	err := x.fs.Xattrs(in, true, func(a fsys.Xattr) error {
		if err := unix.Lsetxattr(dest, a.Name, a.Value, 0); err != nil {
			x.fail(dest, fmt.Errorf("xattr %s: %w", a.Name, err))
		}
		return nil
	})
	if err != nil {
		x.fail(dest, err)
	}
	if in.FileType() != xfsformat.ModeSymlink {
		// After the xattrs: an ACL's mask is part of the mode.
		if err := os.Chmod(dest, os.FileMode(in.Mode&0o777)|modeBits(in.Mode)); err != nil {
			x.fail(dest, err)
		}
	}
	if in.FileType() != xfsformat.ModeDir {
		x.times(in, dest)
	}
}

func modeBits(m uint16) os.FileMode {
	var fm os.FileMode
	if m&0o4000 != 0 {
		fm |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

func (x *extractor) times(in *fsys.Inode, dest string) {
	ts := func(t time.Time) unix.Timespec { return unix.NsecToTimespec(t.UnixNano()) }
	err := unix.UtimesNanoAt(unix.AT_FDCWD, dest, []unix.Timespec{ts(in.Time(in.ATime)), ts(in.Time(in.MTime))}, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		x.fail(dest, err)
	}
}

// finish sets the directories' times, deepest first.
func (x *extractor) finish() {
	for i := len(x.later) - 1; i >= 0; i-- {
		x.times(x.later[i].in, x.later[i].path)
	}
}

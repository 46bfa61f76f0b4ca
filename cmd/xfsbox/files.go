package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/view"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// The commands that read files without FUSE: ls, cat, stat, extract.
// They read the image with xfsbox's own decoders (no kernel XFS), open
// it read-only and write nothing to it.

// Each command is one entry of the command table: alike in shape,
// different in content.
func init() {
	register(&command{
		name: "ls", readOnly: true,
		summary: "list a directory of the filesystem in an image, without mounting it",
		usage:   "[--long] [--json] [--inode] IMAGE [PATH|INO]",
		help: `Lists the entries of a directory of the filesystem in IMAGE (default:
the root), read by xfsbox's own decoders: no kernel XFS, no mount. A
large directory is listed a block at a time. PATH starts at the root and
follows no symlink; with --inode the argument is an inode number.

Flags:
{{flags}}

Examples:
  xfsbox ls disk.img /etc
  xfsbox ls --long disk.img /home/alice
  xfsbox ls --json disk.img /var/log | jq -r '.entries[].name'
  xfsbox ls --inode disk.img 128
`,
		flags: func(fl *flag.FlagSet) { lsFlags(fl) },
		run:   runLs,
	})
	register(&command{
		name: "cat", readOnly: true,
		summary: "write a file's content (or a symlink's target) from an image to stdout",
		usage:   "[--inode] IMAGE PATH|INO",
		help: `Writes the content of a regular file of IMAGE to stdout, read by
xfsbox's own decoders: holes and unwritten extents read as zeroes. For a
symlink it writes the target. Works on images the kernel will not mount.

Flags:
{{flags}}

Examples:
  xfsbox cat disk.img /etc/hostname
  xfsbox cat --inode disk.img 131 | sha256sum
`,
		flags: func(fl *flag.FlagSet) { inodeFlag(fl) },
		run:   runCat,
	})
	register(&command{
		name: "stat", readOnly: true,
		summary: "show an inode of an image: type, mode, owners, size, times, forks",
		usage:   "[--json] [--inode] IMAGE PATH|INO",
		help: `Shows what stat(1) shows of a file of IMAGE, and what XFS adds: the birth
time, the generation, the fork formats and extent counts. Read by
xfsbox's own decoders. For every field xfs_db prints, see
"xfsbox dump IMAGE inodes/INO/inode".

Flags:
{{flags}}

Examples:
  xfsbox stat disk.img /etc/passwd
  xfsbox stat --json --inode disk.img 131 | jq .mtime
`,
		flags: func(fl *flag.FlagSet) { statFlags(fl) },
		run:   runStat,
	})
}

func inodeFlag(fl *flag.FlagSet) *bool {
	return fl.Bool("inode", false, "the argument is an inode number, not a path")
}

func lsFlags(fl *flag.FlagSet) (long, asJSON, byIno *bool) {
	long = fl.Bool("long", false, "long listing: mode, links, owner, group, size, mtime, inode")
	asJSON = jsonFlag(fl, "xfsbox.ls")
	byIno = inodeFlag(fl)
	return
}

func statFlags(fl *flag.FlagSet) (asJSON, byIno *bool) {
	return jsonFlag(fl, "xfsbox.stat"), inodeFlag(fl)
}

// openFiles parses the command line (fl's flags already defined), opens
// IMAGE read-only and resolves the path or inode number (the root when
// need is false and there is none).
func openFiles(fl *flag.FlagSet, cmdArgs []string, byIno *bool, need bool) (*fsys.FS, *fsys.Inode, string, error) {
	args, err := parseFlags(fl, cmdArgs)
	if err != nil {
		return nil, nil, "", err
	}
	return openArgs(args, *byIno, need)
}

// openArgs is openFiles after the flags: IMAGE and PATH (or INO).
func openArgs(args []string, byIno bool, need bool) (*fsys.FS, *fsys.Inode, string, error) {
	if len(args) < 1 || len(args) > 2 || (need && len(args) != 2) {
		return nil, nil, "", &usageError{fmt.Sprintf("need IMAGE and a PATH (or, with --inode, an inode number); got %d argument(s)", len(args))}
	}
	fs, err := openFS(args[0], fsys.OpenOptions{})
	if err != nil {
		return nil, nil, "", err
	}
	reportJournal(fs)
	arg := "/"
	if len(args) == 2 {
		arg = args[1]
	}
	in, err := resolveArg(fs, arg, byIno)
	if err != nil {
		fs.Close()
		return nil, nil, "", err
	}
	return fs, in, arg, nil
}

func resolveArg(fs *fsys.FS, arg string, byIno bool) (*fsys.Inode, error) {
	if !byIno {
		return fs.Resolve(arg)
	}
	ino, err := strconv.ParseUint(arg, 0, 64)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("--inode: %q is not an inode number", arg)}
	}
	return fs.Inode(ino)
}

func runLs(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("ls")
	long, asJSON, byIno := lsFlags(fl)
	fs, d, arg, err := openFiles(fl, args, byIno, false)
	if err != nil {
		return err
	}
	defer fs.Close()
	bw := bufio.NewWriterSize(stdout, 64<<10)
	defer bw.Flush()
	if d.FileType() != xfsformat.ModeDir {
		// ls of a file lists the file.
		return lsLine(bw, fs, dir.Entry{Name: []byte(arg), Ino: d.Ino}, *long)
	}
	if *asJSON {
		return lsJSON(ctx, bw, fs, d, arg, *long)
	}
	return fs.ReadDir(d, 0, func(e dir.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return lsLine(bw, fs, e, *long)
	})
}

func lsLine(w io.Writer, fs *fsys.FS, e dir.Entry, long bool) error {
	if !long {
		_, err := fmt.Fprintln(w, string(e.Name))
		return err
	}
	in, err := fs.Inode(e.Ino)
	if err != nil {
		_, werr := fmt.Fprintf(w, "?????????? ? ? ? ? ? %d %s (%v)\n", e.Ino, e.Name, err)
		return werr
	}
	st := statOf(fs, in)
	name := string(e.Name)
	if st.Target != "" {
		name += " -> " + st.Target
	}
	_, err = fmt.Fprintf(w, "%s %d %d %d %d %s %d %s\n", modeString(in.Mode), st.Nlink, st.UID, st.GID, st.Size,
		st.Mtime.Format("2006-01-02 15:04:05.000000000"), st.Ino, name)
	return err
}

// lsJSON streams the listing as one envelope: entries are written as
// they are read, so a directory of any size lists in constant memory.
func lsJSON(ctx context.Context, w io.Writer, fs *fsys.FS, d *fsys.Inode, arg string, long bool) error {
	head, err := json.Marshal(view.Envelope{Kind: "ls", Body: struct {
		Path string `json:"path"`
		Ino  uint64 `json:"ino"`
	}{arg, d.Ino}})
	if err != nil {
		return err
	}
	// The envelope's object, left open for the entries.
	if _, err := w.Write(append(head[:len(head)-1], `,"entries":[`...)); err != nil {
		return err
	}
	first := true
	err = fs.ReadDir(d, 0, func(e dir.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ent := lsEntry{Name: string(e.Name), Ino: e.Ino, Type: dir.FileTypeName(e.Ftype), Cookie: e.Cookie}
		if long {
			if in, err := fs.Inode(e.Ino); err == nil {
				st := statOf(fs, in)
				ent.Stat = &st
			} else {
				ent.Error = err.Error()
			}
		}
		b, err := json.Marshal(ent)
		if err != nil {
			return err
		}
		if !first {
			b = append([]byte{','}, b...)
		}
		first = false
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "]}\n")
	return err
}

type lsEntry struct {
	Name   string    `json:"name"`
	Ino    uint64    `json:"ino"`
	Type   string    `json:"type"`   // the entry's file type ("unknown" without the ftype feature)
	Cookie uint32    `json:"cookie"` // its position in the directory
	Stat   *statInfo `json:"stat,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// statInfo is what stat shows.
type statInfo struct {
	Ino        uint64    `json:"ino"`
	Type       string    `json:"type"`
	Mode       string    `json:"mode"` // octal, permission and special bits
	Nlink      uint32    `json:"nlink"`
	UID        uint32    `json:"uid"`
	GID        uint32    `json:"gid"`
	Size       uint64    `json:"size"`
	Blocks     uint64    `json:"blocks"` // filesystem blocks, bmbt and attr fork included (di_nblocks)
	Atime      time.Time `json:"atime"`
	Mtime      time.Time `json:"mtime"`
	Ctime      time.Time `json:"ctime"`
	Btime      time.Time `json:"btime"`
	Gen        uint32    `json:"generation"`
	RdevMajor  uint32    `json:"rdev_major,omitempty"`
	RdevMinor  uint32    `json:"rdev_minor,omitempty"`
	Format     string    `json:"format"`      // data fork: dev, local, extents, btree
	Extents    uint64    `json:"extents"`     // data fork extents
	AttrFormat string    `json:"attr_format"` // attr fork, "" when none
	AttrExts   uint64    `json:"attr_extents"`
	Flags      uint16    `json:"flags"`
	Flags2     uint64    `json:"flags2"`
	Target     string    `json:"target,omitempty"` // symlink target
}

var forkFormats = []string{"dev", "local", "extents", "btree"}

func forkFormat(f uint8) string {
	if int(f) < len(forkFormats) {
		return forkFormats[f]
	}
	return strconv.Itoa(int(f))
}

func statOf(fs *fsys.FS, in *fsys.Inode) statInfo {
	st := statInfo{
		Ino: in.Ino, Type: typeName(in.Mode), Mode: fmt.Sprintf("%04o", in.Mode&0o7777),
		Nlink: in.LinkCount(), UID: in.UID, GID: in.GID, Size: in.Size, Blocks: in.NBlocks,
		Atime: in.Time(in.ATime), Mtime: in.Time(in.MTime), Ctime: in.Time(in.CTime), Btime: in.Time(in.CrTime),
		Gen: in.Gen, Format: forkFormat(in.Format), Extents: in.NExtents, Flags: in.Flags, Flags2: in.Flags2,
	}
	if in.ForkOff != 0 {
		st.AttrFormat, st.AttrExts = forkFormat(in.AFormat), uint64(in.ANExtents)
	}
	st.RdevMajor, st.RdevMinor = in.Rdev()
	if in.FileType() == xfsformat.ModeSymlink {
		if t, err := fs.Readlink(in); err == nil {
			st.Target = string(t)
		}
	}
	return st
}

func typeName(mode uint16) string {
	switch uint32(mode) & xfsformat.ModeTypeMask {
	case xfsformat.ModeRegular:
		return "file"
	case xfsformat.ModeDir:
		return "dir"
	case xfsformat.ModeSymlink:
		return "symlink"
	case xfsformat.ModeChar:
		return "chardev"
	case xfsformat.ModeBlock:
		return "blockdev"
	case xfsformat.ModeFIFO:
		return "fifo"
	case xfsformat.ModeSocket:
		return "socket"
	}
	return "unknown"
}

// modeString is ls -l's mode column.
func modeString(mode uint16) string { return xfsformat.LsMode(mode) }

func runCat(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("cat")
	byIno := inodeFlag(fl)
	fs, in, arg, err := openFiles(fl, args, byIno, true)
	if err != nil {
		return err
	}
	defer fs.Close()
	switch in.FileType() {
	case xfsformat.ModeSymlink:
		t, err := fs.Readlink(in)
		if err != nil {
			return err
		}
		_, err = stdout.Write(t)
		return err
	case xfsformat.ModeRegular:
	default:
		return fmt.Errorf("%s: %w (a %s)", arg, fsys.ErrNotRegular, typeName(in.Mode))
	}
	r := fs.Content(in)
	_, err = io.CopyBuffer(stdout, fsys.Stoppable(ctx, r), make([]byte, 1<<20))
	return err
}

func runStat(ctx context.Context, args []string, stdout io.Writer) error {
	fl := newFlags("stat")
	asJSON, byIno := statFlags(fl)
	fs, in, arg, err := openFiles(fl, args, byIno, true)
	if err != nil {
		return err
	}
	defer fs.Close()
	st := statOf(fs, in)
	if *asJSON {
		b, err := json.MarshalIndent(view.Envelope{Kind: "stat", Body: struct {
			Path string `json:"path"`
			statInfo
		}{arg, st}}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  File: %s", arg)
	if st.Target != "" {
		fmt.Fprintf(&b, " -> %s", st.Target)
	}
	fmt.Fprintf(&b, "\n  Size: %d\tBlocks: %d\tType: %s\n", st.Size, st.Blocks, st.Type)
	fmt.Fprintf(&b, " Inode: %d\tLinks: %d\tGeneration: %d", st.Ino, st.Nlink, st.Gen)
	if st.Type == "chardev" || st.Type == "blockdev" {
		fmt.Fprintf(&b, "\tDevice: %d,%d", st.RdevMajor, st.RdevMinor)
	}
	fmt.Fprintf(&b, "\nAccess: (%s/%s)  Uid: %d  Gid: %d\n", st.Mode, modeString(in.Mode), st.UID, st.GID)
	for _, t := range []struct {
		n string
		t time.Time
	}{{"Access", st.Atime}, {"Modify", st.Mtime}, {"Change", st.Ctime}, {" Birth", st.Btime}} {
		fmt.Fprintf(&b, "%s: %s\n", t.n, t.t.Format("2006-01-02 15:04:05.000000000 -0700"))
	}
	fmt.Fprintf(&b, "  Fork: %s, %d extent(s)", st.Format, st.Extents)
	if st.AttrFormat != "" {
		fmt.Fprintf(&b, "\tAttr fork: %s, %d extent(s)", st.AttrFormat, st.AttrExts)
	}
	fmt.Fprintf(&b, "\n Flags: %#x\tFlags2: %#x\n", st.Flags, st.Flags2)
	_, err = io.WriteString(stdout, b.String())
	return err
}

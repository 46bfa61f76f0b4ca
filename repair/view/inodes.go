package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/attr"
	"github.com/xfsbox/xfsbox/xfsformat/da"
	"github.com/xfsbox/xfsbox/xfsformat/dinode"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// The inodes/ views: inodes/N/ for inode N holds
//
//	inode, inode.json, inode.raw   the inode as xfs_db's "inode N; print"
//	bmap                           its extents as xfs_db's bmap (data, then attr fork)
//	paths                          every path that names it
//	data                           a regular file's content, a symlink's target
//	entries                        a directory's names: name, inode, type, hash, cookie
//	attrs/NAME                     each extended attribute's value
//
// Listing inodes/ walks the inode btrees (the mount streams it).

// parseIno reads an inode number as inodes/ names it.
func (t *Tree) parseIno(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s || !t.FS.ValidIno(n) {
		return 0, false
	}
	return n, true
}

// EachInode calls fn with the name of every allocated inode's directory
// under inodes/, streamed from the inode btrees.
func (t *Tree) EachInode(ctx context.Context, fn func(ino uint64) error) error {
	return t.FS.AllocatedInodes(ctx, fn)
}

// listInodes lists inodes/ and below; parts follow "inodes".
func (t *Tree) listInodes(ctx context.Context, parts []string) ([]Entry, error) {
	if len(parts) == 0 {
		var out []Entry
		err := t.EachInode(ctx, func(ino uint64) error {
			out = append(out, Entry{strconv.FormatUint(ino, 10), true})
			return nil
		})
		return out, err
	}
	ino, ok := t.parseIno(parts[0])
	if !ok {
		return nil, notFound("inodes/" + strings.Join(parts, "/"))
	}
	in, err := t.FS.ReadInode(ino)
	if err != nil {
		return nil, err
	}
	switch {
	case len(parts) == 1:
		out := withFormats("inode")
		out = append(out, Entry{"bmap", false}, Entry{"paths", false}, Entry{"attrs", true},
			Entry{"health", false}, Entry{"health.json", false})
		switch in.FileType() {
		case xfsformat.ModeRegular, xfsformat.ModeSymlink:
			out = append(out, Entry{"data", false})
		case xfsformat.ModeDir:
			out = append(out, Entry{"entries", false})
		}
		return out, nil
	case len(parts) == 2 && parts[1] == "attrs":
		var out []Entry
		good, err := t.FS.Inode(ino)
		if err != nil {
			return nil, err
		}
		err = t.FS.Xattrs(good, false, func(x fsys.Xattr) error {
			out = append(out, Entry{escapeName(x.Name), false})
			return nil
		})
		return out, err
	}
	return nil, notFound("inodes/" + strings.Join(parts, "/"))
}

// escapeName makes an attribute name a file name: '/' (which XFS allows
// in attribute names) as %2F, and '%' as %25.
func escapeName(s string) string {
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

func unescapeName(s string) string {
	return strings.NewReplacer("%2F", "/", "%25", "%").Replace(s)
}

// openInode resolves a file under inodes/; parts follow "inodes".
func (t *Tree) openInode(parts []string) (*File, error) {
	p := "inodes/" + strings.Join(parts, "/")
	if len(parts) < 2 {
		if len(parts) == 1 {
			if _, ok := t.parseIno(parts[0]); ok {
				return nil, ErrIsDir
			}
		}
		return nil, notFound(p)
	}
	ino, ok := t.parseIno(parts[0])
	if !ok {
		return nil, notFound(p)
	}
	f := func(r func(ctx context.Context, w io.Writer) error) (*File, error) {
		return &File{Path: p, Render: r}, nil
	}
	if len(parts) == 3 && parts[1] == "attrs" {
		name := unescapeName(parts[2])
		return f(func(ctx context.Context, w io.Writer) error {
			in, err := t.FS.Inode(ino)
			if err != nil {
				return err
			}
			v, err := t.FS.Xattr(in, name)
			if errors.Is(err, fsys.ErrNoXattr) {
				return notFound(p)
			}
			if err != nil {
				return err
			}
			_, err = w.Write(v)
			return err
		})
	}
	if len(parts) != 2 {
		return nil, notFound(p)
	}
	switch parts[1] {
	case "inode", "inode.json", "inode.raw":
		return f(func(ctx context.Context, w io.Writer) error { return t.renderInode(w, ino, parts[1]) })
	case "bmap":
		return f(func(ctx context.Context, w io.Writer) error { return t.renderBmap(w, ino) })
	case "paths":
		return f(func(ctx context.Context, w io.Writer) error {
			ps, err := t.FS.Paths(ctx, ino)
			if err != nil {
				return err
			}
			for _, s := range ps {
				if _, err := fmt.Fprintln(w, s); err != nil {
					return err
				}
			}
			return nil
		})
	case "data":
		return f(func(ctx context.Context, w io.Writer) error { return t.renderData(ctx, w, ino) })
	case "entries":
		return f(func(ctx context.Context, w io.Writer) error { return t.renderEntries(w, ino) })
	case "health", "health.json":
		asJSON := parts[1] == "health.json"
		return f(func(ctx context.Context, w io.Writer) error { return t.renderInodeHealth(ctx, w, ino, asJSON) })
	case "attrs":
		return nil, ErrIsDir
	}
	return nil, notFound(p)
}

// localFields decodes the local directory and attribute forks for the
// inode's print, as xfs_db does.
func (t *Tree) localFields(in *fsys.Inode) dinode.LocalFields {
	return func(prefix string, fork []byte) []xfsformat.Field {
		if strings.HasPrefix(prefix, "a.") {
			sf, err := attr.DecodeShortform(fork)
			if err != nil {
				return nil
			}
			return sf.Fields(prefix)
		}
		g, err := t.FS.DirGeometry()
		if err != nil || in.FileType() != xfsformat.ModeDir {
			return nil
		}
		if in.Size <= uint64(len(fork)) {
			fork = fork[:in.Size]
		}
		sf, err := dir.DecodeShortform(g, fork)
		if err != nil {
			return nil
		}
		return sf.Fields(prefix)
	}
}

// renderInode prints the inode as xfs_db's "inode N" then "print" does
// (text), as JSON, or its bytes. A damaged inode prints as it is, with
// what its verifier says after the fields.
func (t *Tree) renderInode(w io.Writer, ino uint64, kind string) error {
	in, err := t.FS.ReadInode(ino)
	if err != nil {
		return err
	}
	if kind == "inode.raw" {
		_, err := w.Write(in.Buf)
		return err
	}
	fields := in.Fields(t.FS.InodeFS(), t.localFields(in))
	problems := dinode.Verify(t.FS.InodeFS(), in.Core, ino)
	if kind == "inode.json" {
		o := (&jsonObject{}).add("ino", ino).add("crc_ok", in.CRCOK()).add("fields", fieldsObject(fields)).add("problems", problemStrings(problems))
		return writeJSON(w, "inode", o)
	}
	if err := writeFields(w, fields); err != nil {
		return err
	}
	return writeVerdict(w, problems)
}

// renderBmap prints the data fork's extents and then the attr fork's,
// as xfs_db's bmap does.
func (t *Tree) renderBmap(w io.Writer, ino uint64) error {
	in, err := t.FS.ReadInode(ino)
	if err != nil {
		return err
	}
	data, attrFork := dinode.DBBmapForks(in.Core)
	for _, a := range []bool{false, true} {
		if (!a && !data) || (a && !attrFork) {
			continue
		}
		m := t.FS.Map(in, a)
		if err := m.DBBmap(func(line string) error {
			_, err := fmt.Fprintln(w, line)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// renderData writes a regular file's content or a symlink's target.
func (t *Tree) renderData(ctx context.Context, w io.Writer, ino uint64) error {
	in, err := t.FS.Inode(ino)
	if err != nil {
		return err
	}
	if in.FileType() == xfsformat.ModeSymlink {
		target, err := t.FS.Readlink(in)
		if err != nil {
			return err
		}
		_, err = w.Write(target)
		return err
	}
	// Stops when ctx is done: a damaged size can make a file of
	// exabytes of zeroes.
	_, err = io.Copy(w, fsys.Stoppable(ctx, t.FS.Content(in)))
	return err
}

// renderEntries lists a directory: cookie, inode, type, hash, name, one
// entry a line, in directory order.
func (t *Tree) renderEntries(w io.Writer, ino uint64) error {
	in, err := t.FS.Inode(ino)
	if err != nil {
		return err
	}
	g, err := t.FS.DirGeometry()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "cookie inode type hash name"); err != nil {
		return err
	}
	return t.FS.ReadDir(in, 0, func(e dir.Entry) error {
		_, err := fmt.Fprintf(w, "%d %d %s %#08x %s\n", e.Cookie, e.Ino, dir.FileTypeName(e.Ftype), da.DirHash(e.Name, g.ASCIICI), strconv.Quote(string(e.Name)))
		return err
	})
}

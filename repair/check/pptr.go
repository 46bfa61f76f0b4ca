package check

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Parent pointers (the parent feature): every directory entry but "."
// and ".." (directory D names inode I as N) must be mirrored by a parent
// pointer of I (N, D, D's generation), and every parent pointer by an
// entry, as xfs_repair's phase 6 holds them (repair/pptr.c). Both sides
// are staged in the workspace as fixed records, sorted and merged, so
// nothing in the Go heap grows with the filesystem: the entries as the
// directories are read, the parent pointers as each inode's attribute
// fork is. Names are compared by a 64-bit digest; the name itself is
// found again for the (rare) findings.

// pptrRec: the inode named (8), the directory (8), the name's digest
// (8), the directory's generation (4), the record's kind (1).
// Big-endian, so that bytes.Compare orders by inode, directory, digest.
const pptrRecLen = 29

// The kinds. Each inode the check reads stages one marker, before its
// parent pointers in the sort (directory and digest 0): pptrRead when
// its attribute fork was read whole, pptrUnread when it could not be
// trusted (its findings say why), so that no verdict is given on it.
// An inode with no marker was not checked (not in use, or its core
// unreadable): the link-count join speaks for it.
const (
	pptrRead   = 0
	pptrUnread = 1
	pptrRecord = 2
)

// pptrFindingsNamed bounds how many findings look their names up again
// (a directory read each, for a missing parent pointer).
const pptrFindingsNamed = 100

type pptrCheck struct {
	seed    maphash.Seed
	entries *workspace.Array // from directory entries
	parents *workspace.Array // markers and parent pointers
	named   int
}

func newPptrCheck(ws *workspace.Workspace) (*pptrCheck, error) {
	p := &pptrCheck{seed: maphash.MakeSeed()}
	var err error
	if p.entries, err = ws.NewArray(pptrRecLen); err != nil {
		return nil, err
	}
	if p.parents, err = ws.NewArray(pptrRecLen); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pptrCheck) rec(child, parent uint64, name []byte, gen uint32, kind byte) []byte {
	var r [pptrRecLen]byte
	binary.BigEndian.PutUint64(r[:], child)
	binary.BigEndian.PutUint64(r[8:], parent)
	if kind == pptrRecord {
		binary.BigEndian.PutUint64(r[16:], maphash.Bytes(p.seed, name))
	}
	binary.BigEndian.PutUint32(r[24:], gen)
	r[28] = kind
	return r[:]
}

// pptrEntry stages directory d's entry e (not "." or "..").
func (c *contentCheck) pptrEntry(d *fsys.Inode, e dir.Entry) {
	if c.pptr == nil || string(e.Name) == "." || string(e.Name) == ".." {
		return
	}
	c.stage(c.pptr.entries, c.pptr.rec(e.Ino, d.Ino, e.Name, d.Core.Gen, pptrRecord))
}

// pptrInode stages inode in's parent pointers after its marker, or the
// unread marker when trusted is false or they cannot be read whole.
func (c *contentCheck) pptrInode(in *fsys.Inode, trusted bool) {
	if c.pptr == nil {
		return
	}
	var recs [][]byte
	if trusted {
		err := c.fs.Parents(in, func(pp fsys.Parent) error {
			if pp.Dir == 0 {
				return nil // not a directory: the attribute check says so
			}
			recs = append(recs, c.pptr.rec(in.Ino, pp.Dir, pp.Name, pp.Gen, pptrRecord))
			return nil
		})
		trusted = err == nil
	}
	if !trusted {
		c.stage(c.pptr.parents, c.pptr.rec(in.Ino, 0, nil, 0, pptrUnread))
		return
	}
	c.stage(c.pptr.parents, c.pptr.rec(in.Ino, 0, nil, 0, pptrRead))
	for _, r := range recs {
		c.stage(c.pptr.parents, r)
	}
}

// parentPointers merges the staged entries with the staged parent
// pointers: a missing parent pointer, one no entry matches, and one
// whose generation is not its directory's are findings on the inode.
func (c *contentCheck) parentPointers(ctx context.Context) error {
	if c.pptr == nil || c.failed.Load() {
		return nil // linkCounts said why
	}
	p := c.pptr
	defer p.entries.Release()
	defer p.parents.Release()
	// By inode, directory and digest; a marker (directory and digest 0)
	// sorts first among its inode's records.
	if err := p.entries.SortKey(ctx, 24); err != nil {
		return err
	}
	if err := p.parents.SortKey(ctx, 24); err != nil {
		return err
	}
	type rec struct {
		child, dir, digest uint64
		gen                uint32
		kind               byte
	}
	reader := func(cur *workspace.Cursor) func() (rec, bool) {
		return func() (rec, bool) {
			b, ok := cur.Next()
			if !ok {
				return rec{}, false
			}
			return rec{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint32(b[24:]), b[28]}, true
		}
	}
	ecur, pcur := workspace.NewCursor(ctx, p.entries), workspace.NewCursor(ctx, p.parents)
	nextE, nextP := reader(ecur), reader(pcur)
	e, eok := nextE()
	pp, pok := nextP()
	for eok || pok {
		child := e.child
		if !eok || pok && pp.child < child {
			child = pp.child
		}
		state := -1 // not checked
		if pok && pp.child == child && pp.kind != pptrRecord {
			state = int(pp.kind)
			pp, pok = nextP()
		}
		for {
			ein, pin := eok && e.child == child, pok && pp.child == child
			switch {
			case !ein && !pin:
			case state != pptrRead && ein:
				e, eok = nextE()
				continue
			case state != pptrRead:
				pp, pok = nextP()
				continue
			case ein && (!pin || e.dir < pp.dir || e.dir == pp.dir && e.digest < pp.digest):
				c.pptrFinding("pptr.missing", child, e.dir, e.digest, func(name string) error {
					return fmt.Errorf("directory %d names it%s, but it has no parent pointer to that entry", e.dir, name)
				})
				e, eok = nextE()
				continue
			case !ein || pp.dir < e.dir || pp.dir == e.dir && pp.digest < e.digest:
				c.pptrFinding("pptr.dangling", child, pp.dir, pp.digest, func(name string) error {
					return fmt.Errorf("a parent pointer%s names directory %d, which holds no such entry", name, pp.dir)
				})
				pp, pok = nextP()
				continue
			default:
				if e.gen != pp.gen {
					c.pptrFinding("pptr.gen", child, pp.dir, pp.digest, func(name string) error {
						return fmt.Errorf("the parent pointer%s to directory %d says generation %d, the directory's is %d", name, pp.dir, pp.gen, e.gen)
					})
				}
				e, eok = nextE()
				pp, pok = nextP()
				continue
			}
			break
		}
	}
	return errors.Join(ecur.Err(), pcur.Err())
}

// pptrFinding adds a parent pointer finding on inode child; msg is given
// the name (" \"NAME\"", found again by its digest, for the first
// pptrFindingsNamed findings; "" after them).
func (c *contentCheck) pptrFinding(code string, child, dirIno, digest uint64, msg func(name string) error) {
	name := ""
	if c.pptr.named < pptrFindingsNamed {
		c.pptr.named++
		if n, ok := c.pptrName(child, dirIno, digest); ok {
			name = fmt.Sprintf(" %q", n)
		}
	}
	c.add(code, child, "parent pointers", msg(name))
}

// pptrName finds the name of digest: among child's parent pointers, or
// among directory dirIno's entries naming child.
func (c *contentCheck) pptrName(child, dirIno, digest uint64) (string, bool) {
	match := func(name []byte) bool { return maphash.Bytes(c.pptr.seed, name) == digest }
	var found string
	stop := errors.New("found")
	if in, err := c.fs.Inode(child); err == nil {
		_ = c.fs.Parents(in, func(pp fsys.Parent) error {
			if pp.Dir == dirIno && match(pp.Name) {
				found = string(pp.Name)
				return stop
			}
			return nil
		})
	}
	if found != "" {
		return found, true
	}
	if d, err := c.fs.Inode(dirIno); err == nil {
		_ = c.fs.ReadDir(d, 0, func(e dir.Entry) error {
			if e.Ino == child && match(e.Name) {
				found = string(e.Name)
				return stop
			}
			return nil
		})
	}
	return found, found != ""
}

// pptrOne holds inode in's parent pointers to the entries that name it
// by the paths index (a walk of the tree), for one inode's check
// (inodes/N/health): the same findings as the whole check's join.
func (c *contentCheck) pptrOne(ctx context.Context, in *fsys.Inode) error {
	names, err := c.fs.Names(ctx, in.Ino)
	if err != nil {
		return err
	}
	want := map[fsys.Name]int{} // one inode's names
	for _, n := range names {
		want[n]++
	}
	add := func(code string, msg string, args ...any) {
		c.add(code, in.Ino, "parent pointers", fmt.Errorf(msg, args...))
	}
	err = c.fs.Parents(in, func(p fsys.Parent) error {
		n := fsys.Name{Dir: p.Dir, Name: string(p.Name)}
		if want[n] == 0 {
			add("pptr.dangling", "a parent pointer %q names directory %d, which holds no such entry", p.Name, p.Dir)
			return nil
		}
		want[n]--
		if d, err := c.fs.Inode(p.Dir); err == nil && d.Gen != p.Gen {
			add("pptr.gen", "the parent pointer %q to directory %d says generation %d, the directory's is %d", p.Name, p.Dir, p.Gen, d.Gen)
		}
		return nil
	})
	if err != nil {
		return nil // the attribute check said why
	}
	for _, n := range names {
		if want[n] > 0 {
			want[n]--
			add("pptr.missing", "directory %d names it %q, but it has no parent pointer to that entry", n.Dir, n.Name)
		}
	}
	return nil
}

package check

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat/dir"
)

// Reachability: every inode in use with links must be reachable from the
// root through directory entries (not "." or ".."), as xfs_repair's
// phase 6 walks the tree; an inode in use with no links is on an AGI
// unlinked list (the kernel frees it at mount, when it recovers them),
// and the superblock's metadata inodes (realtime, quotas) are named by
// the superblock. Everything is staged in the workspace: the edges of
// the tree (the directory entries with their target's rank among the
// inodes in use, the linkCounts join's by-product), those naming
// directories apart from those naming files, each sorted by directory
// when the walk needs it; a breadth-first walk from the root, over the
// directories alone unless some are cut off, with its queue in a
// workspace array; the reached set a bitset of one bit per inode in
// use, indexed by rank (workspace.Bitset). The walk also sees that each directory
// has one parent: the entry it is first reached by in the directory its
// ".." names (dir.parent), as xfs_repair's phase 6 does.

// edgeRec: the directory (8), the inode its entry names (8), that
// inode's rank in the inodes in use (7: ranks stay far below 2^56), its
// file type (1, as an entry names it: dir.FtDir for a directory; dotdot
// for a directory's "..", which names its parent). 24 bytes, a size the
// workspace's radix sort moves as a word array.
const edgeRecLen = 24

const dotdot = 0xff

// edges collects the tree's edges during the link-count join: those
// naming directories (and "..") apart from those naming anything else,
// which only the report of a cut-off tree needs, to count what it cuts
// off.
type edges struct {
	a, files *workspace.Array
	rootRank int64 // -1: the root is not in use
	n        int64 // the inodes in use (ranks are 0..n-1)
	dirs     int64 // the directories among them
	rec      [edgeRecLen]byte
}

func newEdges(ws *workspace.Workspace) (*edges, error) {
	a, err := ws.NewArray(edgeRecLen)
	if err != nil {
		return nil, err
	}
	files, err := ws.NewArray(edgeRecLen)
	if err != nil {
		a.Release()
		return nil, err
	}
	return &edges{a: a, files: files, rootRank: -1}, nil
}

func (g *edges) release() {
	g.a.Release()
	g.files.Release()
}

func (g *edges) add(d, target uint64, rank int64, ft uint8) error {
	be := binary.BigEndian
	be.PutUint64(g.rec[:], d)
	be.PutUint64(g.rec[8:], target)
	be.PutUint64(g.rec[16:], uint64(rank)<<8|uint64(ft))
	if ft == dir.FtDir || ft == dotdot {
		return g.a.Append(g.rec[:])
	}
	return g.files.Append(g.rec[:])
}

// edgeRank returns an edge record's target rank and file type.
func edgeRank(r []byte) (int64, uint8) {
	v := binary.BigEndian.Uint64(r[16:])
	return int64(v >> 8), uint8(v)
}

// walker is the breadth-first walk over the edges, its queue of
// (directory, the directory it was reached from) in the workspace.
type walker struct {
	c            *contentCheck
	edges, queue *workspace.Array
	// files, when set, are the edges naming files, sorted like edges:
	// the walk marks what they name too.
	files   *workspace.Array
	reached *workspace.Bitset
	head    int64
	buf     []byte
	dirs    int64 // the directories marked reached
}

func (w *walker) push(ino, from uint64) error {
	be := binary.BigEndian
	return w.queue.Append(be.AppendUint64(be.AppendUint64(make([]byte, 0, 16), ino), from))
}

// walk marks the directory ino of rank rank reached, and everything the
// walk reaches from it; it returns how many inodes it marked besides
// ino. A directory reached again through another entry, or whose ".."
// does not name the directory it was reached from, is reported.
func (w *walker) walk(ctx context.Context, ino uint64, rank int64) (int64, error) {
	if was, err := w.reached.TestAndSet(rank); err != nil {
		return 0, err
	} else if !was {
		w.dirs++ // a walk starts at a directory
	}
	if err := w.push(ino, ino); err != nil {
		return 0, err
	}
	marked, q := int64(0), [16]byte{}
	for ; w.head < w.queue.Len(); w.head++ {
		if w.head%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, fmt.Errorf("check: reachability: %w", err)
			}
		}
		if err := w.queue.Load(w.head, q[:]); err != nil {
			return 0, err
		}
		d, from := binary.BigEndian.Uint64(q[:]), binary.BigEndian.Uint64(q[8:])
		visit := func(r []byte) error {
			target := binary.BigEndian.Uint64(r[8:])
			rank, ft := edgeRank(r)
			if ft == dotdot {
				if target != from && from != d {
					w.c.add("dir.parent", d, "directory", fmt.Errorf("\"..\" names inode %d, but the entry it is reached by is in directory %d", target, from))
				}
				return nil
			}
			was, err := w.reached.TestAndSet(rank)
			if err != nil || (was && ft != dir.FtDir) {
				return err
			}
			if was {
				w.c.add("dir.parent", d, "directory", fmt.Errorf("an entry names directory %d, which another entry names: a directory has one parent", target))
				return nil
			}
			marked++
			if ft != dir.FtDir {
				return nil
			}
			w.dirs++
			return w.push(target, d)
		}
		if err := w.edges.VisitPrefix(q[:8], w.buf, visit); err != nil {
			return 0, err
		}
		if w.files != nil {
			if err := w.files.VisitPrefix(q[:8], w.buf, visit); err != nil {
				return 0, err
			}
		}
	}
	return marked, nil
}

// markFiles marks reached every file a reached directory names: the
// walk from the root went over the directories alone. inodes are the
// inodes in use in rank order; the file edges are sorted by directory.
func (w *walker) markFiles(ctx context.Context, files *workspace.Array, inodes iter.Seq[[]byte], ierr *error) error {
	cur := workspace.NewCursor(ctx, files)
	edge, eok := cur.Next()
	rank := int64(-1)
	for rec := range inodes {
		rank++
		ino := binary.BigEndian.Uint64(rec)
		for ; eok && binary.BigEndian.Uint64(edge) < ino; edge, eok = cur.Next() {
		}
		if !eok {
			break
		}
		if binary.BigEndian.Uint64(edge) > ino {
			continue
		}
		reached, err := w.reached.Test(rank)
		if err != nil {
			return err
		}
		for ; eok && binary.BigEndian.Uint64(edge) == ino; edge, eok = cur.Next() {
			if !reached {
				continue
			}
			target, _ := edgeRank(edge)
			if _, err := w.reached.TestAndSet(target); err != nil {
				return err
			}
		}
	}
	return errors.Join(cur.Err(), *ierr)
}

// reachability walks the tree from the root over the edges the
// link-count join staged, then reports each directory in use, with
// links, that the walk did not reach, once per disconnected tree, as
// xfs_repair's phase 6 does: first the directories no unreached
// directory names (the tops of cut-off trees), then, in inode order,
// one directory of each cycle cut off from the root; each report walks
// what it cut off so that nothing below is reported again. inodes is
// the join's walk of the inodes in use, in rank order.
func (c *contentCheck) reachability(ctx context.Context, g *edges, inodes iter.Seq[[]byte], ierr *error) error {
	defer g.release()
	if g.rootRank < 0 {
		return nil // no root to walk from: the root's own findings say why
	}
	if err := g.a.SortKey(ctx, 8); err != nil { // by directory: the walk reads a directory's edges together
		return err
	}
	w := &walker{c: c, edges: g.a, buf: make([]byte, 512*edgeRecLen)}
	var err error
	if w.reached, err = c.ws.NewBitset(g.n); err != nil {
		return err
	}
	defer w.reached.Release()
	if w.queue, err = c.ws.NewArray(16); err != nil {
		return err
	}
	defer w.queue.Release()
	if _, err := w.walk(ctx, c.fs.RootIno(), g.rootRank); err != nil {
		return err
	}
	if w.dirs == g.dirs {
		// Every directory in use is reached: nothing is cut off, and the
		// passes below, which look for unreached directories, would
		// read every inode and edge again to find none; the files'
		// edges are not even sorted.
		return nil
	}
	// Directories are cut off. The walks that report them count what
	// they cut off, files too: the files the root's tree names are
	// marked first, so that none of them is counted.
	if err := g.files.SortKey(ctx, 8); err != nil {
		return err
	}
	if err := w.markFiles(ctx, g.files, inodes, ierr); err != nil {
		return err
	}
	w.files = g.files
	// named: the inodes an unreached directory names (not itself).
	named, err := c.ws.NewBitset(g.n)
	if err != nil {
		return err
	}
	defer named.Release()
	unreachedDir := func(rank int64, rec []byte) (bool, error) {
		ino, nlink, ft := binary.BigEndian.Uint64(rec), binary.BigEndian.Uint32(rec[8:]), rec[12]
		if ft != dir.FtDir || nlink == 0 || c.metadata(ino) {
			return false, nil
		}
		was, err := w.reached.Test(rank)
		return !was, err
	}
	cur := workspace.NewCursor(ctx, g.a)
	nextEdge := cur.Next
	edge, eok := nextEdge()
	rank := int64(-1)
	for rec := range inodes {
		rank++
		ino := binary.BigEndian.Uint64(rec)
		for ; eok && binary.BigEndian.Uint64(edge) < ino; edge, eok = nextEdge() {
		}
		if eok && binary.BigEndian.Uint64(edge) > ino {
			continue
		}
		un, err := unreachedDir(rank, rec)
		if err != nil {
			return err
		}
		for ; eok && binary.BigEndian.Uint64(edge) == ino; edge, eok = nextEdge() {
			if rank, ft := edgeRank(edge); un && binary.BigEndian.Uint64(edge[8:]) != ino && ft != dotdot {
				if _, err := named.TestAndSet(rank); err != nil {
					return err
				}
			}
		}
	}
	if err := errors.Join(cur.Err(), *ierr); err != nil {
		return err
	}
	for _, tops := range []bool{true, false} {
		rank := int64(-1)
		for rec := range inodes {
			rank++
			un, err := unreachedDir(rank, rec)
			if err != nil {
				return err
			}
			if !un {
				continue
			}
			if isNamed, err := named.Test(rank); err != nil || (tops && isNamed) {
				if err != nil {
					return err
				}
				continue
			}
			ino := binary.BigEndian.Uint64(rec)
			n, err := w.walk(ctx, ino, rank)
			if err != nil {
				return err
			}
			how := map[bool]string{true: "no directory names it", false: "only directories it leads to name it"}[tops]
			c.add("inode.unreachable", ino, "directory", fmt.Errorf("directory not reachable from the root (inode %d): %s; %d inodes below it are cut off with it", c.fs.RootIno(), how, n))
		}
		if *ierr != nil {
			return *ierr
		}
	}
	return nil
}

// Package view renders xfsbox's views: the files of the mounted tree
// (README, geometry, superblocks, AG headers, btree records, shapes and
// blocks, free-space histograms) as text, JSON and raw bytes.
//
// It is the one place views are rendered: the FUSE tree serves them and
// `xfsbox dump` prints them, so scripts work without /dev/fuse. It must
// not import go-fuse, and a view must stream into its writer rather than
// build large outputs in memory.
package view

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// Entry is one name in a directory of the tree.
type Entry struct {
	Name string
	Dir  bool
}

// File is a renderable view.
type File struct {
	Path   string
	Render func(ctx context.Context, w io.Writer) error
}

// ErrNotFound is wrapped when a path names nothing in the tree.
var ErrNotFound = errors.New("no such view")

// ErrIsDir is returned when a directory is rendered.
var ErrIsDir = errors.New("is a directory")

// Tree resolves paths of the view tree over one opened filesystem.
type Tree struct {
	FS *fsys.FS
	// Workspace configures the workspaces checks stage records in.
	Workspace workspace.Options

	healthState healthCache
	journal     journalCache

	mu      sync.Mutex
	reached map[reachedKey][]uint32 // blocks each walk reached, sorted
}

type reachedKey struct {
	ag uint32
	t  xfsformat.BtreeType
}

// NewTree makes the view tree of fs.
func NewTree(fs *fsys.FS) *Tree { return &Tree{FS: fs, reached: map[reachedKey][]uint32{}} }

// Invalidate forgets everything cached about the image (after a write).
func (t *Tree) Invalidate() {
	t.mu.Lock()
	t.reached = map[reachedKey][]uint32{}
	t.mu.Unlock()
	t.healthState.mu.Lock()
	t.healthState.results = nil
	t.healthState.mu.Unlock()
	t.journal.reset()
}

func notFound(p string) error { return fmt.Errorf("%s: %w", p, ErrNotFound) }

func split(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

var headerNames = []string{"sb", "agf", "agi", "agfl"}

func withFormats(names ...string) []Entry {
	var out []Entry
	for _, n := range names {
		out = append(out, Entry{n, false}, Entry{n + ".json", false}, Entry{n + ".raw", false})
	}
	return out
}

// List returns the entries of directory p.
func (t *Tree) List(ctx context.Context, p string) ([]Entry, error) {
	parts := split(p)
	switch {
	case len(parts) == 0:
		out := []Entry{{"README", false}, {"geometry", false}, {"geometry.json", false}, {"health", false}, {"health.json", false}}
		out = append(out, withFormats("sb")...)
		return append(out, Entry{"ag", true}, Entry{"inodes", true}, Entry{JournalDir, true}, Entry{OwnerDir, true}), nil
	case len(parts) == 1 && parts[0] == "ag":
		out := make([]Entry, 0, t.FS.Geo.AGCount)
		for i := uint32(0); i < t.FS.Geo.AGCount; i++ {
			out = append(out, Entry{strconv.FormatUint(uint64(i), 10), true})
		}
		return out, nil
	}
	if parts[0] == "inodes" {
		return t.listInodes(ctx, parts[1:])
	}
	if parts[0] == JournalDir {
		return t.listJournal(ctx, parts[1:])
	}
	if parts[0] == OwnerDir && len(parts) == 1 {
		return nil, nil // a name for every block: looked up, not listed
	}
	agno, ok := t.agOf(parts)
	if !ok {
		return nil, notFound(p)
	}
	switch len(parts) {
	case 2:
		out := withFormats(headerNames...)
		out = append(out, Entry{"freesp", false}, Entry{"health", false}, Entry{"health.json", false})
		for _, bt := range xfsformat.BtreeTypes {
			if t.FS.HasBtree(bt) {
				out = append(out, Entry{bt.String(), true})
			}
		}
		return out, nil
	case 3, 4:
		bt, ok := t.parseBtree(parts[2])
		if !ok {
			return nil, notFound(p)
		}
		if len(parts) == 3 {
			return []Entry{{"records", false}, {"records.json", false}, {"shape", false}, {"blocks", true}}, nil
		}
		if parts[3] != "blocks" {
			return nil, notFound(p)
		}
		blocks, err := t.reachedBlocks(ctx, agno, bt)
		if err != nil {
			return nil, err
		}
		out := make([]Entry, 0, 2*len(blocks))
		for _, b := range blocks {
			n := strconv.FormatUint(uint64(b), 10)
			out = append(out, Entry{n, false}, Entry{n + ".raw", false})
		}
		return out, nil
	}
	return nil, notFound(p)
}

// Stat tells whether p exists and is a directory.
func (t *Tree) Stat(ctx context.Context, p string) (dir bool, err error) {
	parts := split(p)
	if len(parts) == 0 {
		return true, nil
	}
	if len(parts) == 2 && parts[0] == "inodes" {
		// Any inode slot, allocated or free, without listing them all.
		if _, ok := t.parseIno(parts[1]); ok {
			return true, nil
		}
		return false, notFound(p)
	}
	if len(parts) == 2 && parts[0] == OwnerDir {
		if _, _, ok := t.parseOwner(parts[1]); ok {
			return false, nil
		}
		return false, notFound(p)
	}
	parent := strings.Join(parts[:len(parts)-1], "/")
	ents, err := t.List(ctx, parent)
	if err != nil {
		return false, err
	}
	name := parts[len(parts)-1]
	// blocks/N lookups are answered without listing the whole directory.
	for _, e := range ents {
		if e.Name == name {
			return e.Dir, nil
		}
	}
	return false, notFound(p)
}

// agOf is the AG of a path below ag/N (parts[0] "ag", parts[1] N).
func (t *Tree) agOf(parts []string) (uint32, bool) {
	if len(parts) < 2 || parts[0] != "ag" {
		return 0, false
	}
	return t.parseAG(parts[1])
}

func (t *Tree) parseAG(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || uint32(n) >= t.FS.Geo.AGCount || strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return uint32(n), true
}

func (t *Tree) parseBtree(s string) (xfsformat.BtreeType, bool) {
	for _, bt := range xfsformat.BtreeTypes {
		if bt.String() == s && t.FS.HasBtree(bt) {
			return bt, true
		}
	}
	return 0, false
}

// Open resolves p to a renderable file.
func (t *Tree) Open(ctx context.Context, p string) (*File, error) {
	parts := split(p)
	f := func(r func(ctx context.Context, w io.Writer) error) (*File, error) {
		return &File{Path: strings.Join(parts, "/"), Render: r}, nil
	}
	if len(parts) == 1 {
		switch parts[0] {
		case "README":
			return f(t.renderREADME)
		case "geometry":
			return f(t.renderGeometry)
		case "geometry.json":
			return f(t.renderGeometryJSON)
		case "health", "health.json":
			asJSON := parts[0] == "health.json"
			return f(func(ctx context.Context, w io.Writer) error { return t.renderHealth(ctx, w, fsys.AllAGs, asJSON) })
		case "ag", "inodes", JournalDir, OwnerDir:
			return nil, ErrIsDir
		}
		if r := t.headerRenderer(0, parts[0]); r != nil {
			if strings.HasPrefix(parts[0], "sb") {
				return f(r)
			}
		}
		return nil, notFound(p)
	}
	if len(parts) > 0 && parts[0] == "inodes" {
		return t.openInode(parts[1:])
	}
	if len(parts) > 0 && parts[0] == JournalDir {
		return t.openJournal(ctx, parts[1:])
	}
	if len(parts) > 0 && parts[0] == OwnerDir {
		return t.openOwner(parts[1:])
	}
	if len(parts) == 0 {
		return nil, ErrIsDir
	}
	// Below ag/N, by depth, as in List (what each depth holds differs).
	agno, ok := t.agOf(parts)
	if !ok {
		return nil, notFound(p)
	}
	switch len(parts) {
	case 2:
		return nil, ErrIsDir
	case 3:
		if parts[2] == "freesp" {
			return f(func(ctx context.Context, w io.Writer) error { return t.renderFreesp(ctx, w, agno) })
		}
		if parts[2] == "health" || parts[2] == "health.json" {
			asJSON := parts[2] == "health.json"
			return f(func(ctx context.Context, w io.Writer) error { return t.renderHealth(ctx, w, fsys.OneAG(agno), asJSON) })
		}
		if r := t.headerRenderer(agno, parts[2]); r != nil {
			return f(r)
		}
		if _, ok := t.parseBtree(parts[2]); ok {
			return nil, ErrIsDir
		}
		return nil, notFound(p)
	case 4:
		bt, ok := t.parseBtree(parts[2])
		if !ok {
			return nil, notFound(p)
		}
		switch parts[3] {
		case "records":
			return f(func(ctx context.Context, w io.Writer) error { return t.renderRecords(ctx, w, agno, bt, false) })
		case "records.json":
			return f(func(ctx context.Context, w io.Writer) error { return t.renderRecords(ctx, w, agno, bt, true) })
		case "shape":
			return f(func(ctx context.Context, w io.Writer) error { return t.renderShape(ctx, w, agno, bt) })
		case "blocks":
			return nil, ErrIsDir
		}
		return nil, notFound(p)
	case 5:
		bt, ok := t.parseBtree(parts[2])
		if !ok || parts[3] != "blocks" {
			return nil, notFound(p)
		}
		name, raw := strings.CutSuffix(parts[4], ".raw")
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != name {
			return nil, notFound(p)
		}
		blocks, err := t.reachedBlocks(ctx, agno, bt)
		if err != nil {
			return nil, err
		}
		if _, found := slices.BinarySearch(blocks, uint32(n)); !found {
			return nil, notFound(p)
		}
		return f(func(ctx context.Context, w io.Writer) error { return t.renderBlock(w, agno, bt, uint32(n), raw) })
	}
	return nil, notFound(p)
}

// reachedBlocks returns (and caches) the sorted blocks a walk of the tree
// reaches.
func (t *Tree) reachedBlocks(ctx context.Context, agno uint32, bt xfsformat.BtreeType) ([]uint32, error) {
	k := reachedKey{agno, bt}
	t.mu.Lock()
	blocks, ok := t.reached[k]
	t.mu.Unlock()
	if ok {
		return blocks, nil
	}
	w := &fsys.Walk{FS: t.FS, AG: agno, Type: bt}
	err := w.Run(ctx, func(v *fsys.Visit) error {
		blocks = append(blocks, v.AGBno)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(blocks)
	t.mu.Lock()
	t.reached[k] = blocks
	t.mu.Unlock()
	return blocks, nil
}

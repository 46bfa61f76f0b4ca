package forensicgt

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// planned is one entry the generator makes, before it exists.
type planned struct {
	path  string
	kind  Kind
	group string
	size  int64
	// written: the ranges written (sparse files); nil: all of it.
	written []Range
	// prealloc: ranges fallocated first (unwritten extents); keepSize
	// fallocates them without changing the size (blocks past EOF).
	prealloc []Range
	keepSize bool
	target   string
	xattrs   []xattrPlan
	// frag: written with the other files of its group block by block
	// in turn, O_DIRECT, so each block is an extent of its own.
	frag bool
	// want is the format a directory is made to have.
	want DirFormat
	// doomed: inside a subtree removed whole; deletable: a candidate
	// for the deletion of single entries.
	doomed    bool
	deletable bool
}

type xattrPlan struct {
	name string
	size int
}

// sizes are the file sizes the tree covers; small the ones cheap enough
// to repeat.
var (
	sizes = []int64{0, 1, 511, 4095, 4096, 4097, 64 << 10, 1 << 20, 3 << 20}
	small = []int64{0, 1, 511, 4095, 4096, 4097, 64 << 10}
)

// plan is the tree, parents before children, the same for every variant
// of a spec. The entry counts suit 4 KiB directory blocks, which mkfs
// makes for every block size Spec allows (its -n size default); Generate
// checks with xfs_db that each directory has the format it is named for.
func plan(s Spec) []*planned {
	bs := s.BlockSize
	var out []*planned
	dir := func(p, group string, want DirFormat) {
		out = append(out, &planned{path: p, kind: Directory, group: group, want: want})
	}
	file := func(p, group string, size int64) *planned {
		e := &planned{path: p, kind: Regular, group: group, size: size}
		out = append(out, e)
		return e
	}
	link := func(p, group, target string) {
		out = append(out, &planned{path: p, kind: Symlink, group: group, target: target})
	}
	dir("/", "root", "")

	// Shortform: a few entries.
	dir("/sf", "sf", Shortform)
	file("/sf/a", "sf", 4097)
	file("/sf/b", "sf", 1)
	file("/sf/c", "sf", 64<<10)
	link("/sf/l", "sf", "../block/"+blockName(3))

	// Block: ~30 entries of 20-character names, every size once.
	dir("/block", "block", Block)
	const nblock = 30
	for i := range nblock {
		if i == 7 || i == 19 {
			link("/block/"+blockName(i), "block", longTarget(s.Seed, "/block", 40+i))
			continue
		}
		file("/block/"+blockName(i), "block", sizeAt(i))
	}

	// Leaf: a few hundred entries, more than a block holds, fewer than
	// one leaf block indexes.
	dir("/leaf", "leaf", Leaf)
	const nleaf = 300
	for i := range nleaf {
		size := small[i%len(small)]
		if i == nleaf/2 {
			size = 1 << 20
		}
		file(fmt.Sprintf("/leaf/leaf-entry-%04d-%s", i, token(s.Seed, "leaf", i, 8)), "leaf", size)
	}

	// Node: a few thousand long names: leafn blocks under a node block,
	// and free-index blocks.
	dir("/node", "node", Node)
	for i := range s.NodeEntries {
		file("/node/"+nodeName(s.Seed, "node", i), "node", nodeSize(i))
	}

	// Files of more than 21 extents (bmbt format): written block by
	// block in turn.
	dir("/frag", "frag", "")
	for i, n := range []int{48, 48, 24} {
		sz := int64(n*bs) - int64(100*i)
		if i == 1 {
			sz = int64(n * bs)
		}
		out = append(out, &planned{path: fmt.Sprintf("/frag/frag-%c", 'a'+i), kind: Regular, group: "frag", size: sz, frag: true})
	}

	// Sparse and preallocated files.
	dir("/sparse", "sparse", "")
	file("/sparse/hole-middle", "sparse", 1<<20).written = []Range{{0, 8192}, {512 << 10, 4096 + 123}, {1<<20 - 5000, 5000}}
	file("/sparse/hole-start", "sparse", 256<<10).written = []Range{{200 << 10, 56 << 10}}
	file("/sparse/hole-end", "sparse", 2<<20).written = []Range{{0, 100000}}
	pre := file("/sparse/prealloc", "sparse", 256<<10)
	pre.prealloc, pre.written = []Range{{0, 256 << 10}}, []Range{{64 << 10, 8 << 10}}
	beyond := file("/sparse/prealloc-beyond-eof", "sparse", 10000)
	beyond.prealloc, beyond.keepSize, beyond.written = []Range{{0, 1 << 20}}, true, []Range{{0, 10000}}

	// Symlinks: inline targets and remote ones (a block of their own).
	dir("/links", "links", "")
	link("/links/inline", "links", "../sf/a")
	link("/links/dangling", "links", "nowhere/at/all")
	link("/links/remote", "links", longTarget(s.Seed, "/links/remote", 700))
	link("/links/remote-long", "links", longTarget(s.Seed, "/links/remote-long", 1000))

	// Extended attributes: local, a leaf block of them, remote values.
	dir("/xattr", "xattr", "")
	file("/xattr/local", "xattr", 100).xattrs = []xattrPlan{{"user.small", 16}}
	many := file("/xattr/leaf", "xattr", 4096)
	for i := range 30 {
		many.xattrs = append(many.xattrs, xattrPlan{fmt.Sprintf("user.attr-%02d", i), 40})
	}
	file("/xattr/remote", "xattr", 10000).xattrs = []xattrPlan{{"user.remote", 6000}}
	file("/xattr/mixed", "xattr", 0).xattrs = []xattrPlan{{"user.a", 10}, {"user.b", 20}, {"user.c", 30}, {"user.big", 2000}}

	// Files the wrapped variant touches to churn the log: made before
	// the deletions, so that churning allocates nothing.
	dir("/churn", "churn", "")
	for i := range 32 {
		file(fmt.Sprintf("/churn/c%02d", i), "churn", 0)
	}

	// Subtrees removed whole, one of each directory format.
	dir("/doomed", "doomed", Shortform)
	dir("/doomed/sf", "doomed", Shortform)
	file("/doomed/sf/x", "doomed", 1)
	file("/doomed/sf/y", "doomed", 4097)
	file("/doomed/sf/z", "doomed", 64<<10)
	link("/doomed/sf/w", "doomed", "../../block/"+blockName(4))
	dir("/doomed/block", "doomed", Block)
	for i := range nblock - 6 {
		file("/doomed/block/"+blockName(i), "doomed", sizeAt(i))
	}
	link("/doomed/block/link-to-remote", "doomed", longTarget(s.Seed, "/doomed/block/link-to-remote", 600))
	for i := range 2 {
		out = append(out, &planned{path: fmt.Sprintf("/doomed/block/frag-%d", i), kind: Regular, group: "doomed", size: int64(30*bs) - int64(i), frag: true})
	}
	dir("/doomed/block/sub", "doomed", Shortform)
	file("/doomed/block/sub/one", "doomed", 4096)
	file("/doomed/block/sub/two", "doomed", 511)
	dir("/doomed/leaf", "doomed", Leaf)
	for i := range nleaf * 5 / 6 {
		file(fmt.Sprintf("/doomed/leaf/gone-entry-%04d-%s", i, token(s.Seed, "doomed/leaf", i, 8)), "doomed", small[(i+3)%len(small)])
	}
	file("/doomed/leaf/with-xattr", "doomed", 5000).xattrs = []xattrPlan{{"user.remote", 5000}, {"user.small", 8}}
	dir("/doomed/node", "doomed", Node)
	for i := range s.NodeEntries * 3 / 5 {
		file("/doomed/node/"+nodeName(s.Seed, "doomed/node", i), "doomed", nodeSize(i+5))
	}

	for _, e := range out {
		switch {
		case strings.HasPrefix(e.path, "/doomed/"):
			e.doomed = true
		case e.kind != Directory && e.group != "churn":
			e.deletable = true
		}
	}
	return out
}

// blockName is a 20-character name (shortform would hold only about a
// dozen of them, so 30 make a block directory).
func blockName(i int) string { return fmt.Sprintf("block-entry-name-%03d", i) }

// sizeAt cycles through sizes, then small ones.
func sizeAt(i int) int64 {
	if i < len(sizes) {
		return sizes[i]
	}
	return small[i%len(small)]
}

// nodeSize: most node entries are empty; every tenth holds data.
func nodeSize(i int) int64 {
	if i%10 != 0 {
		return 0
	}
	return small[(i/10)%len(small)]
}

// nodeName is a name of 50 to 90 characters.
func nodeName(seed uint64, where string, i int) string {
	n := 40 + int(unit(seed, "nodelen/"+where, fmt.Sprint(i))*41)
	return fmt.Sprintf("%05d-%s", i, token(seed, where, i, n))
}

// token is n lowercase letters drawn from (seed, where, i).
func token(seed uint64, where string, i, n int) string {
	var b strings.Builder
	for j := 0; b.Len() < n; j++ {
		k := key(seed, "token/"+where, fmt.Sprint(i, "/", j))
		for _, c := range k {
			if b.Len() == n {
				break
			}
			b.WriteByte('a' + c%26)
		}
	}
	return b.String()
}

// longTarget is a symlink target of n bytes: path components of letters.
func longTarget(seed uint64, where string, n int) string {
	var b strings.Builder
	b.WriteString("../")
	for i := 0; b.Len() < n; i++ {
		b.WriteString(token(seed, "target"+where, i, 12))
		b.WriteByte('/')
	}
	return b.String()[:n]
}

// chooseDeletions marks, in each group of deletable entries (by parent
// directory), the share spec.DeleteFraction of them with the lowest
// draw, at least one and never all; doomed subtrees go whole. It
// returns the paths to remove one by one, in deletion order, and the
// subtree roots to remove whole, in order.
func chooseDeletions(s Spec, entries []*planned) (singles []string, subtrees []string) {
	byParent := map[string][]*planned{}
	var parents []string
	for _, e := range entries {
		if !e.deletable {
			continue
		}
		p := path.Dir(e.path)
		if _, ok := byParent[p]; !ok {
			parents = append(parents, p)
		}
		byParent[p] = append(byParent[p], e)
	}
	draw := func(e *planned) float64 { return unit(s.Seed, "delete", e.path) }
	for _, p := range parents {
		g := slices.Clone(byParent[p])
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, func(a, b *planned) int {
			switch da, db := draw(a), draw(b); {
			case da < db:
				return -1
			case da > db:
				return 1
			}
			return strings.Compare(a.path, b.path)
		})
		n := int(float64(len(g))*s.DeleteFraction + 0.5)
		n = max(1, min(n, len(g)-1))
		for _, e := range g[:n] {
			singles = append(singles, e.path)
		}
	}
	// Interleave the directories' deletions in a fixed but mixed order.
	slices.SortFunc(singles, func(a, b string) int {
		switch da, db := unit(s.Seed, "order", a), unit(s.Seed, "order", b); {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return strings.Compare(a, b)
	})
	subtrees = []string{"/doomed/sf", "/doomed/block", "/doomed/leaf", "/doomed/node"}
	return singles, subtrees
}

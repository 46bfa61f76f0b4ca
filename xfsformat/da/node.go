package da

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/xfsbox/xfsbox/xfsformat"
)

// MaxDepth is XFS_DA_NODE_MAXDEPTH: the most levels a da-btree has,
// leaves included; a node's level is at most MaxDepth-1.
const MaxDepth = 5

// Node header sizes: the blkinfo, then count and level (and, on v3,
// 4 bytes of padding).
const (
	nodeHdrSize  = BlkInfoSize + 4
	node3HdrSize = BlkInfo3Size + 8
	nodeEntSize  = 8 // xfs_da_node_entry: hashval, before
)

// NodeEntry is one entry of a node: every name below Before hashes to
// at most Hash.
type NodeEntry struct {
	Hash   uint32
	Before uint32 // the child's block number in the fork (dablk)
}

// Node is a da-btree node block (XFS_DA_NODE_MAGIC, XFS_DA3_NODE_MAGIC).
type Node struct {
	Info  BlkInfo
	Count uint16
	Level uint16
	Pad   uint32 // v3 only
	Buf   []byte
}

// DecodeNode decodes a node block. It fails only on a buffer too short
// for the header; a wrong magic is left to Verify.
func DecodeNode(buf []byte) (*Node, error) {
	info, err := DecodeBlkInfo(buf)
	if err != nil {
		return nil, err
	}
	n := &Node{Info: info, Buf: buf}
	off := info.Size()
	if len(buf) < n.hdrSize() {
		return nil, xfsformat.Errorf(xfsformat.ErrShort, "da node", -1, -1, "", "", "need %d bytes, have %d", n.hdrSize(), len(buf))
	}
	n.Count, n.Level = binary.BigEndian.Uint16(buf[off:]), binary.BigEndian.Uint16(buf[off+2:])
	if info.V3 {
		n.Pad = binary.BigEndian.Uint32(buf[off+4:])
	}
	return n, nil
}

func (n *Node) hdrSize() int {
	if n.Info.V3 {
		return node3HdrSize
	}
	return nodeHdrSize
}

// MaxEntries is how many entries the block has room for.
func (n *Node) MaxEntries() int { return max(len(n.Buf)-n.hdrSize(), 0) / nodeEntSize }

// NumEntries is Count clamped to the room in the block.
func (n *Node) NumEntries() int { return min(int(n.Count), n.MaxEntries()) }

// Entry returns entry i (0 <= i < NumEntries).
func (n *Node) Entry(i int) NodeEntry {
	off := n.hdrSize() + i*nodeEntSize
	return NodeEntry{binary.BigEndian.Uint32(n.Buf[off:]), binary.BigEndian.Uint32(n.Buf[off+4:])}
}

// Fields are the node's header as xfs_db prints a directory's node:
// under "nhdr" (FieldsAt). Entries are Entry(i), which xfs_db prints as
// the array nbtree of [hashval,before].
func (n *Node) Fields(crcOK bool) []xfsformat.Field { return n.FieldsAt("nhdr", crcOK) }

// FieldsAt are the node's header under prefix: prefix.info.* (see
// BlkInfo.Fields), prefix.count, prefix.level; xfs_db does not print
// the pad. Directories' nodes print under "nhdr" (types dir3 and dir2),
// attribute forks' under "hdr".
func (n *Node) FieldsAt(prefix string, crcOK bool) []xfsformat.Field {
	return append(n.Info.Fields(prefix+".info", crcOK), dec(prefix+".count", uint64(n.Count)), dec(prefix+".level", uint64(n.Level)))
}

// Verify checks a node block as the kernel's xfs_da3_node_verify does,
// and what xfs_repair adds: the magic for the filesystem's version, the
// v3 identity, a level in 1..MaxDepth-1, a count in 1..the room in the
// block, and hashes in order. daddr is where the block was read from,
// owner the inode (0: not checked).
func (n *Node) Verify(v5 bool, uuid xfsformat.UUID, daddr, owner uint64) []error {
	want := uint16(NodeMagic)
	if v5 {
		want = Node3Magic
	}
	if n.Info.Magic != want {
		return []error{xfsformat.Errorf(xfsformat.ErrMagic, "da node", -1, -1, "hdr.info.magic", xfsformat.HexText(uint64(n.Info.Magic)), "not a da node block (want %#x)", want)}
	}
	errs := n.Info.Verify("da node", uuid, daddr, owner)
	if n.Level == 0 || n.Level >= MaxDepth {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, "da node", -1, -1, "hdr.level", strconv.Itoa(int(n.Level)), "a node's level is 1 to %d", MaxDepth-1))
	}
	if n.Count == 0 || int(n.Count) > n.MaxEntries() {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, "da node", -1, -1, "hdr.count", strconv.Itoa(int(n.Count)), "a node holds 1 to %d entries", n.MaxEntries()))
	}
	for i := 1; i < n.NumEntries(); i++ {
		if n.Entry(i).Hash < n.Entry(i-1).Hash {
			errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, "da node", -1, -1, fmt.Sprintf("btree[%d].hashval", i), xfsformat.HexText(uint64(n.Entry(i).Hash)), "hash below the previous entry's %#x", n.Entry(i-1).Hash))
			break
		}
	}
	return errs
}

// IsNodeMagic reports whether magic is a da node's (v4 or v3).
func IsNodeMagic(magic uint16) bool { return magic == NodeMagic || magic == Node3Magic }

// ErrLoop is returned when a da-btree walk meets a block twice or a
// level that does not go down by one: a damaged tree, which must end
// the walk instead of looping.
var ErrLoop = errors.New("da-btree loop or level out of order")

// ReadFunc reads the directory or attribute block at dablk (its block
// number in the fork, in directory/attr block units).
type ReadFunc func(dablk uint32) ([]byte, error)

// Lookup descends from the node at root to the leaf block whose names
// may hash to hash, as xfs_da3_node_lookup_int does: in each node the
// first entry whose hash is at least hash (the last entry otherwise).
// It returns the leaf's dablk. A root that is already a leaf is
// returned as is. Names of one hash may continue in the leaf's forward
// siblings; the caller follows Forw while the hash matches.
func Lookup(read ReadFunc, root uint32, hash uint32) (uint32, error) {
	blk := root
	level := -1
	for depth := 0; ; depth++ {
		if depth >= MaxDepth {
			return 0, fmt.Errorf("da-btree at %d: %w: deeper than %d levels", root, ErrLoop, MaxDepth)
		}
		buf, err := read(blk)
		if err != nil {
			return 0, err
		}
		if len(buf) < BlkInfoSize || !IsNodeMagic(binary.BigEndian.Uint16(buf[8:])) {
			return blk, nil
		}
		n, err := DecodeNode(buf)
		if err != nil {
			return 0, err
		}
		if level >= 0 && int(n.Level) != level-1 || n.Level == 0 || n.NumEntries() == 0 {
			return 0, fmt.Errorf("da node %d (level %d, %d entries): %w", blk, n.Level, n.NumEntries(), ErrLoop)
		}
		level = int(n.Level)
		next := n.Entry(n.NumEntries() - 1).Before
		for i := range n.NumEntries() {
			if e := n.Entry(i); e.Hash >= hash {
				next = e.Before
				break
			}
		}
		blk = next
	}
}

// Leaves calls fn for every leaf below the node at root, in hash order,
// reading each node once: a depth-first walk over the nodes' entries
// (not the leaves' sibling links, which a damaged tree may break). A
// root that is a leaf is the only leaf. A node met twice or a level out
// of order ends the walk with ErrLoop.
func Leaves(read ReadFunc, root uint32, fn func(dablk uint32, buf []byte) error) error {
	seen := map[uint32]bool{}
	var walk func(blk uint32, level int) error
	walk = func(blk uint32, level int) error {
		if seen[blk] {
			return fmt.Errorf("da block %d met twice: %w", blk, ErrLoop)
		}
		seen[blk] = true
		buf, err := read(blk)
		if err != nil {
			return err
		}
		if len(buf) < BlkInfoSize || !IsNodeMagic(binary.BigEndian.Uint16(buf[8:])) {
			if level > 0 {
				return fmt.Errorf("da block %d is a leaf where a level-%d node belongs: %w", blk, level, ErrLoop)
			}
			return fn(blk, buf)
		}
		n, err := DecodeNode(buf)
		if err != nil {
			return err
		}
		if level >= 0 && int(n.Level) != level || n.Level == 0 || n.Level >= MaxDepth {
			return fmt.Errorf("da node %d has level %d: %w", blk, n.Level, ErrLoop)
		}
		for i := range n.NumEntries() {
			if err := walk(n.Entry(i).Before, int(n.Level)-1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root, -1)
}

// HashPath checks what xfs_da3_fixhashpath keeps and xfs_repair checks:
// each node entry's hash is the last (largest) hash in the block below
// it. Feed it every node (Node) and the last hash of every block (Last,
// nodes and leaves alike); it calls Report for each entry that
// disagrees.
type HashPath struct {
	Report  func(node uint32, index int, hash, child, last uint32)
	parents map[uint32]hashPointer
}

type hashPointer struct {
	node  uint32
	index int
	hash  uint32
}

// Node records node n at dablk: its last hash against its own parent's
// entry, and its entries as the parents of the blocks they point at.
func (p *HashPath) Node(dablk uint32, n *Node) {
	if p.parents == nil {
		p.parents = map[uint32]hashPointer{}
	}
	if c := n.NumEntries(); c > 0 {
		p.Last(dablk, n.Entry(c-1).Hash)
	}
	for i := range n.NumEntries() {
		e := n.Entry(i)
		if _, dup := p.parents[e.Before]; !dup {
			p.parents[e.Before] = hashPointer{dablk, i, e.Hash}
		}
	}
}

// Last checks the last hash of the block at dablk against the node
// entry that points at it.
func (p *HashPath) Last(dablk, hash uint32) {
	if ptr, ok := p.parents[dablk]; ok && ptr.hash != hash {
		p.Report(ptr.node, ptr.index, ptr.hash, dablk, hash)
	}
}

// Siblings checks the sibling pointers of a da-btree as xfs_repair
// does: the root has none, and the leaves, fed in order (Leaf), each
// point back at the one before and forward at the one after (End checks
// the last). Report gets the block, the field ("forw" or "back"), what
// it says and what it should say.
type Siblings struct {
	Report   func(dablk uint32, field string, got, want uint32)
	prev     uint32
	prevForw uint32
	started  bool
}

// Root checks the root block's (a node or a lone leaf) pointers.
func (s *Siblings) Root(dablk uint32, info BlkInfo) {
	if info.Forw != 0 {
		s.Report(dablk, "forw", info.Forw, 0)
	}
	if info.Back != 0 {
		s.Report(dablk, "back", info.Back, 0)
	}
}

// Leaf checks the next leaf in hash order.
func (s *Siblings) Leaf(dablk uint32, info BlkInfo) {
	switch {
	case !s.started && info.Back != 0:
		s.Report(dablk, "back", info.Back, 0)
	case s.started && info.Back != s.prev:
		s.Report(dablk, "back", info.Back, s.prev)
	}
	if s.started && s.prevForw != dablk {
		s.Report(s.prev, "forw", s.prevForw, dablk)
	}
	s.prev, s.prevForw, s.started = dablk, info.Forw, true
}

// End checks the last leaf's forward pointer.
func (s *Siblings) End() {
	if s.started && s.prevForw != 0 {
		s.Report(s.prev, "forw", s.prevForw, 0)
	}
}

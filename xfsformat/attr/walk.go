package attr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/xfsbox/xfsbox/xfsformat"
	"github.com/xfsbox/xfsbox/xfsformat/da"
)

// NoBlock is Attr.Block of a shortform attribute.
const NoBlock = ^uint32(0)

// Attr is one attribute as a walk meets it. Its slices alias the block
// (or fork) it was decoded from: copy them to keep them past the
// callback, or past the life of the buffer the ReadFunc returned.
type Attr struct {
	Flags    uint8  // namespace, LOCAL, INCOMPLETE bits as stored
	Name     []byte // the name without a namespace prefix
	Value    []byte // the value when it is local (nil when remote)
	ValueLen uint32 // the value's length, local or remote
	Remote   bool   // the value is in blocks of its own
	ValueBlk uint32 // remote: the value's first attr fork block
	Hash     uint32 // leaf: as stored; shortform: computed (Hash, without ASCII-CI)
	Block    uint32 // the leaf's attr block number, NoBlock for shortform
	Index    int    // entry index in its leaf or shortform list
	// Err is set when the entry could not be decoded (its name lies
	// outside its block, or the shortform list was cut); Name, Value
	// and the lengths are then unset.
	Err error
}

// Namespace is the attribute's namespace.
func (a *Attr) Namespace() Namespace { return NamespaceOf(a.Flags) }

// Incomplete reports whether the attribute is being set or removed
// (listxattr and getxattr do not see it).
func (a *Attr) Incomplete() bool { return a.Flags&FlagIncomplete != 0 }

// LinuxNames are the names listxattr shows for the attribute.
func (a *Attr) LinuxNames() []string { return LinuxNames(a.Flags, a.Name) }

// Check judges the attribute itself, whatever its block's state: a
// valid name for its namespace (xfs_attr_namecheck, which listxattr
// enforces), a stored hash that is the name's (leaf entries; the
// kernel's lookups go by it: xfs_repair checks it), and for a parent
// pointer a local 12-byte xfs_parent_rec whose directory inode
// validIno accepts (nil: any). asciiCI is the filesystem's ASCII-CI
// feature, which parent pointer hashes follow.
func (a *Attr) Check(asciiCI bool, validIno func(uint64) bool) []error {
	if a.Err != nil {
		return []error{a.Err}
	}
	st, field := a.where()
	var errs []error
	if !NameOK(a.Flags, a.Name) {
		errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, field+"name", charns(a.Name), "not a valid %s attribute name", a.Namespace()))
	}
	if a.Flags&FlagParent != 0 {
		switch rec, err := DecodeParentRec(a.Value); {
		case a.Remote || err != nil:
			errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, field+"valuelen", fmt.Sprint(a.ValueLen), "a parent pointer's value is a local %d-byte record", ParentRecSize))
		case validIno != nil && !validIno(rec.Ino):
			errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, field+"value", fmt.Sprint(rec.Ino), "parent inode %d is not a valid directory inode number", rec.Ino))
		}
	}
	if a.Block != NoBlock && (a.Flags&FlagParent == 0 || !a.Remote) {
		if want := Hash(a.Flags, a.Name, a.Value, asciiCI); a.Hash != want {
			errs = append(errs, xfsformat.Errorf(xfsformat.ErrRange, st, -1, -1, fmt.Sprintf("entries[%d].hashval", a.Index), xfsformat.HexText(uint64(a.Hash)), "the name hashes to %#x", want))
		}
	}
	return errs
}

// where names the structure and field prefix of the attribute as
// xfs_db would.
func (a *Attr) where() (st, prefix string) {
	if a.Block == NoBlock {
		return "attr shortform", fmt.Sprintf("list[%d].", a.Index)
	}
	return fmt.Sprintf("attr leaf %d", a.Block), fmt.Sprintf("nvlist[%d].", a.Index)
}

// WalkFunc is called with each attribute; an error it returns ends the
// walk and is returned as is.
type WalkFunc func(a *Attr) error

// WalkShortform calls fn for each attribute of a local attr fork, in
// list order. It fails only on a fork too short for the header; a list
// cut by the end of the fork ends with an Attr whose Err says so.
func WalkShortform(fork []byte, fn WalkFunc) error {
	sf, err := DecodeShortform(fork)
	if err != nil {
		return err
	}
	for i, e := range sf.Entries {
		a := Attr{Flags: e.Flags, Name: e.Name, Value: e.Value, ValueLen: uint32(e.ValueLen),
			Hash: da.HashName(e.Name), Block: NoBlock, Index: i}
		if e.Flags&FlagParent != 0 {
			a.Hash = Hash(e.Flags, e.Name, e.Value, false)
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	if sf.Short {
		i := len(sf.Entries)
		return fn(&Attr{Block: NoBlock, Index: i,
			Err: xfsformat.Errorf(xfsformat.ErrShort, "attr shortform", -1, -1, fmt.Sprintf("list[%d]", i), "", "entry %d of %d runs past the %d-byte fork", i, sf.Count, len(fork))})
	}
	return nil
}

// WalkLeaf calls fn for each entry of a leaf block (at attr block
// dablk), in entry (hash) order.
func WalkLeaf(l *Leaf, dablk uint32, fn WalkFunc) error {
	for i := range l.NumEntries() {
		a := l.attr(i, dablk)
		if err := fn(&a); err != nil {
			return err
		}
	}
	return nil
}

func (l *Leaf) attr(i int, dablk uint32) Attr {
	e := l.Entry(i)
	a := Attr{Flags: e.Flags, Hash: e.Hash, Block: dablk, Index: i}
	n, err := l.Name(i)
	if err != nil {
		a.Err = err
		return a
	}
	a.Name, a.ValueLen = n.Name, n.ValueLen
	if n.Local {
		a.Value = n.Value
	} else {
		a.Remote, a.ValueBlk = true, n.ValueBlk
	}
	return a
}

// ErrNotLeaf is returned by a walk that meets, where a leaf belongs, a
// block that is not an attr leaf.
var ErrNotLeaf = errors.New("not an attr leaf block")

// WalkBlocks calls fn for each attribute of an attr fork in leaf or
// node form (extents or btree format), leaf by leaf in hash order:
// read returns attr block dablk (one filesystem block); block 0 is the
// root, a leaf or a da node. The walk goes down the nodes' entries
// (xfsformat/da's Leaves: a loop or a level out of order ends it with
// da.ErrLoop), holding one block at a time.
func WalkBlocks(read da.ReadFunc, fn WalkFunc) error {
	return da.Leaves(read, 0, func(dablk uint32, buf []byte) error {
		l, err := leafAt(dablk, buf)
		if err != nil {
			return err
		}
		return WalkLeaf(l, dablk, fn)
	})
}

func leafAt(dablk uint32, buf []byte) (*Leaf, error) {
	l, err := DecodeLeaf(buf)
	if err != nil {
		return nil, err
	}
	if !IsLeafMagic(l.Hdr.Info.Magic) {
		return nil, fmt.Errorf("attr block %d (magic %#x): %w", dablk, l.Hdr.Info.Magic, ErrNotLeaf)
	}
	return l, nil
}

// ErrNoAttr is returned by the lookups when there is no such attribute.
var ErrNoAttr = errors.New("no such attribute")

// matches is xfs_attr_match for a lookup by namespace and name: the
// namespace bits and the name equal, and not incomplete.
func matches(flags uint8, name []byte, ns Namespace, want []byte) bool {
	return flags&(NamespaceMask|FlagIncomplete) == uint8(ns) && bytes.Equal(name, want)
}

// LookupShortform finds an attribute of a local fork by namespace and
// name (not a parent pointer: those are found by name and value).
func LookupShortform(fork []byte, ns Namespace, name []byte) (*Attr, error) {
	var found *Attr
	err := WalkShortform(fork, func(a *Attr) error {
		if a.Err == nil && matches(a.Flags, a.Name, ns, name) {
			found = a
			return errStop
		}
		return nil
	})
	if found != nil {
		return found, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, ErrNoAttr
}

var errStop = errors.New("stop")

// LookupBlocks finds an attribute of a leaf or node form fork by
// namespace and name as the kernel does: down the da-btree by the
// name's hash, then through the leaf's entries of that hash and on
// into its forward siblings while the hash continues.
func LookupBlocks(read da.ReadFunc, ns Namespace, name []byte) (*Attr, error) {
	hash := da.HashName(name)
	blk, err := da.Lookup(read, 0, hash)
	if err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	for !seen[blk] {
		seen[blk] = true
		buf, err := read(blk)
		if err != nil {
			return nil, err
		}
		l, err := leafAt(blk, buf)
		if err != nil {
			return nil, err
		}
		n := l.NumEntries()
		for i := range n {
			e := l.Entry(i)
			if e.Hash > hash {
				return nil, ErrNoAttr
			}
			if e.Hash < hash {
				continue
			}
			if a := l.attr(i, blk); a.Err == nil && matches(a.Flags, a.Name, ns, name) {
				return &a, nil
			}
		}
		if n == 0 || l.Entry(n-1).Hash != hash || l.Hdr.Info.Forw == 0 {
			return nil, ErrNoAttr
		}
		blk = l.Hdr.Info.Forw
	}
	return nil, fmt.Errorf("attr leaf %d met twice following forward links: %w", blk, da.ErrLoop)
}

// CheckOpts say what a fork's blocks must agree with.
type CheckOpts struct {
	V5      bool
	UUID    xfsformat.UUID // sb_meta_uuid
	Owner   uint64         // the inode (0: not checked)
	ASCIICI bool           // the ASCII-CI feature (parent pointer hashes)
	// Daddr maps an attr block to the daddr it was read from, for the
	// v5 blocks' self-address check; nil: every block passes it.
	Daddr func(dablk uint32) uint64
	// ValidIno judges parent pointers' directory inode numbers; nil:
	// any.
	ValidIno func(uint64) bool
	// NoIncomplete: a leaf entry still flagged incomplete is wrong (the
	// log is clean, so no recovery will finish or remove it; xfs_repair:
	// "attribute entry #N in attr block B, inode I is INCOMPLETE").
	NoIncomplete bool
}

// CheckBlocks walks a leaf or node form fork and reports, through
// report, everything wrong with it: each node and leaf block's
// verifier (da.Node.Verify, Leaf.Verify, their CRCs on v5), hashes in
// order across the leaves, each node entry's hash equal to the last
// hash of the block below it, and each attribute's Check. Remote values
// are not read. It returns what ended the walk early: a read error, a
// loop, a block that is neither node nor leaf.
func CheckBlocks(read da.ReadFunc, o CheckOpts, report func(error)) error {
	daddr := func(dablk uint32) uint64 { return 0 }
	if o.Daddr != nil {
		daddr = o.Daddr
	}
	identity := func(blk uint32, errs []error) {
		for _, e := range errs {
			var fe *xfsformat.FormatError
			if o.Daddr == nil && errors.As(e, &fe) && fe.Field == "hdr.info.bno" {
				continue
			}
			report(fmt.Errorf("attr block %d: %w", blk, e))
		}
	}
	checked := func(dablk uint32, buf []byte) {
		if o.V5 && !xfsformat.CRCOK(buf, da.CRCOffset) {
			report(fmt.Errorf("attr block %d: %w", dablk, xfsformat.Errorf(xfsformat.ErrCRC, "attr block", -1, -1, "hdr.info.crc", "", "CRC does not match the block")))
		}
	}
	hp := &da.HashPath{Report: func(node uint32, i int, hash, child, last uint32) {
		report(xfsformat.Errorf(xfsformat.ErrRange, fmt.Sprintf("attr node %d", node), -1, -1, fmt.Sprintf("btree[%d].hashval", i), xfsformat.HexText(uint64(hash)), "block %d below it ends at hash %#x", child, last))
	}}
	sib := &da.Siblings{Report: func(dablk uint32, field string, got, want uint32) {
		report(xfsformat.Errorf(xfsformat.ErrRange, fmt.Sprintf("attr block %d", dablk), -1, -1, "hdr.info.hdr."+field, itoa(int(got)), "should be %d", want))
	}}
	nodes := func(dablk uint32) ([]byte, error) {
		buf, err := read(dablk)
		if err != nil || len(buf) < da.BlkInfoSize || !da.IsNodeMagic(binary.BigEndian.Uint16(buf[8:])) {
			return buf, err
		}
		checked(dablk, buf)
		if n, err := da.DecodeNode(buf); err == nil {
			identity(dablk, n.Verify(o.V5, o.UUID, daddr(dablk), o.Owner))
			if dablk == 0 {
				sib.Root(dablk, n.Info)
			}
			hp.Node(dablk, n)
		}
		return buf, nil
	}
	var last uint32
	first := true
	err := da.Leaves(nodes, 0, func(dablk uint32, buf []byte) error {
		l, err := leafAt(dablk, buf)
		if err != nil {
			return err
		}
		checked(dablk, buf)
		sib.Leaf(dablk, l.Hdr.Info)
		verrs := l.Verify(o.V5, o.UUID, daddr(dablk), o.Owner)
		identity(dablk, verrs)
		if len(verrs) == 0 {
			for _, e := range l.CheckSpace() {
				report(fmt.Errorf("attr block %d: %w", dablk, e))
			}
		}
		if n := l.NumEntries(); n > 0 {
			if h := l.Entry(0).Hash; !first && h < last {
				report(xfsformat.Errorf(xfsformat.ErrRange, fmt.Sprintf("attr leaf %d", dablk), -1, -1, "entries[0].hashval", xfsformat.HexText(uint64(h)), "below the previous leaf's last hash %#x", last))
			}
			last, first = l.Entry(n-1).Hash, false
			hp.Last(dablk, last)
		}
		return WalkLeaf(l, dablk, func(a *Attr) error {
			for _, e := range a.Check(o.ASCIICI, o.ValidIno) {
				report(e)
			}
			if o.NoIncomplete && a.Err == nil && a.Incomplete() {
				report(xfsformat.Errorf(xfsformat.ErrRange, fmt.Sprintf("attr leaf %d", dablk), -1, -1, fmt.Sprintf("entries[%d].incomplete", a.Index), "1", "an incomplete attribute %q, and the log is clean: nothing will finish or remove it", a.Name))
			}
			return nil
		})
	})
	if err == nil {
		sib.End()
	}
	return err
}

// CheckShortform reports everything wrong with a local attr fork: the
// kernel's verifier (Shortform.Verify) and each attribute's Check.
func CheckShortform(fork []byte, o CheckOpts, report func(error)) error {
	sf, err := DecodeShortform(fork)
	if err != nil {
		return err
	}
	for _, e := range sf.Verify() {
		report(e)
	}
	return WalkShortform(fork, func(a *Attr) error {
		if a.Err != nil {
			return nil // a list cut by the fork's end: Verify said so
		}
		for _, e := range a.Check(o.ASCIICI, o.ValidIno) {
			report(e)
		}
		return nil
	})
}

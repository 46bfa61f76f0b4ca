package xfsformat

// Where each AG btree's root and height live: the AGF for the free-space,
// rmap and refcount trees, the AGI for the inode trees. One table, so
// that reading, checking, rendering and rebuilding a tree's root go
// through the same accessors instead of a switch each.

type rootSlot struct {
	inAGI             bool
	rootName, lvlName string // the header's field names, as xfs_db prints them
	fields            func(agf *AGF, agi *AGI) (root, level *uint32)
	present           func(g *Geometry) bool
}

var rootSlots = [NumBtreeTypes]rootSlot{
	Bnobt: {false, "bnoroot", "bnolevel", func(f *AGF, _ *AGI) (*uint32, *uint32) { return &f.BnoRoot, &f.BnoLevel }, nil},
	Cntbt: {false, "cntroot", "cntlevel", func(f *AGF, _ *AGI) (*uint32, *uint32) { return &f.CntRoot, &f.CntLevel }, nil},
	Inobt: {true, "root", "level", func(_ *AGF, i *AGI) (*uint32, *uint32) { return &i.Root, &i.Level }, nil},
	Finobt: {true, "free_root", "free_level", func(_ *AGF, i *AGI) (*uint32, *uint32) { return &i.FreeRoot, &i.FreeLevel },
		func(g *Geometry) bool { return g.Finobt }},
	Rmapbt: {false, "rmaproot", "rmaplevel", func(f *AGF, _ *AGI) (*uint32, *uint32) { return &f.RmapRoot, &f.RmapLevel },
		func(g *Geometry) bool { return g.Rmapbt }},
	Refcountbt: {false, "refcntroot", "refcntlevel", func(f *AGF, _ *AGI) (*uint32, *uint32) { return &f.RefcntRoot, &f.RefcntLevel },
		func(g *Geometry) bool { return g.Reflink }},
}

// InAGI reports whether the tree's root and level are in the AGI (the
// inode trees) rather than the AGF.
func (o *BtreeOps) InAGI() bool { return rootSlots[o.Type].inAGI }

// RootFields are the names of the header fields holding the tree's root
// and level, as xfs_db prints them.
func (o *BtreeOps) RootFields() (root, level string) {
	s := rootSlots[o.Type]
	return s.rootName, s.lvlName
}

// Present reports whether a filesystem of geometry g has this tree (the
// finobt, rmapbt and refcountbt are features).
func (o *BtreeOps) Present(g *Geometry) bool {
	p := rootSlots[o.Type].present
	return p == nil || p(g)
}

// Root reads the tree's root block and level from its AG header; the
// header the tree does not live in may be nil.
func (o *BtreeOps) Root(agf *AGF, agi *AGI) (root, level uint32) {
	if (o.InAGI() && agi == nil) || (!o.InAGI() && agf == nil) {
		return 0, 0
	}
	r, l := rootSlots[o.Type].fields(agf, agi)
	return *r, *l
}

// SetRoot stores the tree's root block and level in its AG header.
func (o *BtreeOps) SetRoot(agf *AGF, agi *AGI, root, level uint32) {
	r, l := rootSlots[o.Type].fields(agf, agi)
	*r, *l = root, level
}
